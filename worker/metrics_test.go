package worker_test

import (
	"context"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
)

// After a job on two workers, each worker's Stats account for its steps:
// times, bytes all-reduced, samples, loss and the firing rate of every layer.
func TestStats(t *testing.T) {
	j := job.Default()
	j.ID = "stats-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 4
	j.Epochs = 1
	j.Batch, j.Micro = 16, 8
	j.TrainSize, j.TestSize = 64, 16
	cc := coordinator.DefaultConfig(j)
	cc.DataDir = t.TempDir()
	cc.StartWorkers = 2
	cc.NoTest = true
	cc.FinishGrace = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := inproc.Start(ctx, inproc.Config{Coordinator: cc, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cl.Run(); err != nil {
		t.Fatal(err)
	}
	steps := int64(j.TrainSize / j.Batch)
	for _, id := range []string{"w0", "w1"} {
		s := cl.Worker(id).W.Stats()
		switch {
		case s.ID != id || s.Job != j.ID:
			t.Errorf("%s: id %q job %q", id, s.ID, s.Job)
		case s.Steps != steps || s.FailedSteps != 0:
			t.Errorf("%s: %d steps (%d failed), want %d", id, s.Steps, s.FailedSteps, steps)
		case s.StepSeconds <= 0 || s.ComputeSeconds <= 0 || s.ReduceSeconds <= 0 || s.LastStep <= 0:
			t.Errorf("%s: times %+v", id, s)
		case s.Reduces != steps || s.ReduceBytes <= 0:
			t.Errorf("%s: %d reduces of %d bytes, want %d reduces", id, s.Reduces, s.ReduceBytes, steps)
		case s.Samples != steps*int64(j.Batch) || s.Loss <= 0:
			t.Errorf("%s: %d samples, loss %v", id, s.Samples, s.Loss)
		case len(s.Layers) != 3 || len(s.FiringRates) != 3:
			t.Errorf("%s: layers %q rates %v, want 3 each", id, s.Layers, s.FiringRates)
		case s.FiringRates[0] <= 0 || s.FiringRates[0] > 1 || s.FiringRates[2] != 0:
			t.Errorf("%s: firing rates %v: want the conv layer's in (0,1] and the output layer's 0", id, s.FiringRates)
		}
	}
}
