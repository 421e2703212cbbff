package local

import (
	"context"
	"testing"

	"github.com/asfnet/asf/internal/job"
)

func synthJob() job.Job {
	j := job.Default()
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

// TestSyntheticLearns trains a small SNN on the synthetic set: it must exceed 95%
// test accuracy within a couple of epochs.
func TestSyntheticLearns(t *testing.T) {
	res, err := Run(context.Background(), synthJob(), Options{DataDir: t.TempDir(), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	last := res.Epochs[len(res.Epochs)-1]
	t.Logf("epochs: %+v", res.Epochs)
	if !last.HasTest || last.TestAcc < 0.95 {
		t.Fatalf("test accuracy %.4f after %d epochs; want > 0.95", last.TestAcc, len(res.Epochs))
	}
}

// TestDeterministicAcrossThreads: the same job gives bitwise the same weights with
// one, two or three goroutines.
func TestDeterministicAcrossThreads(t *testing.T) {
	j := synthJob()
	j.TrainSize = 320
	j.TestSize = 50
	j.Optim.ScaleEvery = 1
	dir := t.TempDir()
	var ref [32]byte
	for i, threads := range []int{1, 2, 3} {
		res, err := Run(context.Background(), j, Options{DataDir: dir, Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		d := res.Model.Digest()
		if i == 0 {
			ref = d
		} else if d != ref {
			t.Fatalf("%d threads: weights differ from 1 thread", threads)
		}
	}
	j.Seed++
	res, err := Run(context.Background(), j, Options{DataDir: dir, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Model.Digest() == ref {
		t.Fatal("another seed gave the same weights")
	}
}
