package job

import (
	"slices"
	"testing"

	"github.com/asfnet/asf/dataset"
)

// TrainBatch augments each sample by its own placement (a function of the seed,
// the epoch and the sample index only) without touching the data set; without
// augmentation it passes the samples through uncopied.
func TestTrainBatch(t *testing.T) {
	s := dataset.Synthetic(dataset.DefaultSyntheticConfig())
	orig := slices.Clone(s.X)
	j := synthJob()
	idx := []int{5, 0, 17}
	plain := TrainBatch(j, s, idx, 3)
	for i, k := range idx {
		if &plain.X[i][0] != &s.Sample(k)[0] || plain.Y[i] != int(s.Y[k]) {
			t.Fatalf("sample %d: without augmentation TrainBatch must pass the data through", k)
		}
	}
	j.Augment = dataset.Augment{CropPad: 3, Flip: true}
	b := TrainBatch(j, s, idx, 3)
	changed := 0
	for i, k := range idx {
		want := j.Augment.Apply(nil, s.Sample(k), s.Frames, s.C, s.H, s.W, s.Zero, j.Augment.Draw(j.Seed, 3, k))
		if !slices.Equal(b.X[i], want) {
			t.Fatalf("sample %d: not the placement Draw(seed, epoch, index) gives", k)
		}
		if !slices.Equal(b.X[i], s.Sample(k)) {
			changed++
		}
	}
	if changed == 0 {
		t.Fatal("augmentation changed none of the samples")
	}
	if !slices.Equal(s.X, orig) {
		t.Fatal("TrainBatch modified the data set")
	}
	// Same batch, other position in the step: same inputs (no dependence on order).
	b2 := TrainBatch(j, s, []int{17, 5}, 3)
	if !slices.Equal(b2.X[0], b.X[2]) || !slices.Equal(b2.X[1], b.X[0]) {
		t.Fatal("a sample's augmentation depends on its position in the batch")
	}
}

// synthJob is a small job on the synthetic data set.
func synthJob() Job {
	j := Default()
	j.ID = "synthetic-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 10
	j.Epochs = 2
	j.Batch = 32
	j.Micro = 8
	j.Optim.LR = 0.005
	return j
}
