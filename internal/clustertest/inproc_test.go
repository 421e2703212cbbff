package clustertest

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/local"
)

func TestInProcDeterminism(t *testing.T) {
	j := SmallJob()
	dir := t.TempDir()
	ref := LocalDigest(t, j, dir)
	for _, n := range []int{1, 2, 3} {
		cfg := coordinator.DefaultConfig(j)
		cfg.DataDir = dir
		cfg.StorePath = t.TempDir() + "/asf.db"
		cfg.StartWorkers = n
		cfg.NoTest = true
		start := time.Now()
		res, err := inproc.Run(context.Background(), inproc.Config{Coordinator: cfg, Workers: n})
		if err != nil {
			t.Fatalf("%d workers: %v", n, err)
		}
		t.Logf("%d workers: %v, digest %x, generation %d", n, time.Since(start), res.Final.Digest[:8], res.Generation)
		if res.Final.Digest != ref {
			t.Fatalf("%d workers: digest %s, local run %s", n, hex.EncodeToString(res.Final.Digest[:]), hex.EncodeToString(ref[:]))
		}
	}
}

// SmallJob is the job of the cluster tests: a small network on a few hundred
// synthetic samples, so that a run takes a fraction of a second.
func SmallJob() job.Job {
	j := job.Default()
	j.ID = "cluster-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 8
	j.Epochs = 2
	j.Batch = 32
	j.Micro = 8
	j.TrainSize = 320
	j.TestSize = 64
	j.Optim.LR = 0.005
	j.Optim.ScaleEvery = 1
	return j
}

// LocalDigest trains j with the engine alone and returns the final digest.
func LocalDigest(t testing.TB, j job.Job, dir string) [32]byte {
	t.Helper()
	res, err := local.Run(context.Background(), j, local.Options{DataDir: dir, Threads: 2, NoTest: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.Model.Digest()
}
