package local

import (
	"context"
	"testing"

	"github.com/asfnet/asf/dataset"
)

// Augmented training is bitwise the same for any thread count, and differs from
// training without augmentation.
func TestAugmentDeterministicAcrossThreads(t *testing.T) {
	j := synthJob()
	j.Epochs, j.TrainSize, j.TestSize = 1, 192, 32
	dir := t.TempDir()
	plain, err := Run(context.Background(), j, Options{DataDir: dir, Threads: 1, NoTest: true})
	if err != nil {
		t.Fatal(err)
	}
	j.Augment = dataset.Augment{CropPad: 2, Flip: true}
	var ref [32]byte
	for i, threads := range []int{1, 3} {
		res, err := Run(context.Background(), j, Options{DataDir: dir, Threads: threads, NoTest: true})
		if err != nil {
			t.Fatal(err)
		}
		if d := res.Model.Digest(); i == 0 {
			ref = d
		} else if d != ref {
			t.Fatalf("%d threads: weights differ from 1 thread", threads)
		}
	}
	if ref == plain.Model.Digest() {
		t.Fatal("augmentation did not change the training")
	}
}
