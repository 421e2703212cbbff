package coordinator_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
)

// Observe, called concurrently while a two-worker job runs, ends with the
// whole job in its history: every step, both members with step times, the
// generations, the epochs and the checkpoints kept in the store.
func TestObserve(t *testing.T) {
	j := job.Default()
	j.ID = "observe-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 4
	j.Epochs = 2
	j.Batch, j.Micro = 16, 8
	j.TrainSize, j.TestSize = 64, 16
	cc := coordinator.DefaultConfig(j)
	cc.DataDir = t.TempDir()
	cc.StartWorkers = 2
	cc.CheckpointEvery = 2
	cc.FinishGrace = 100 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := inproc.Start(ctx, inproc.Config{Coordinator: cc, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	co := cl.Coordinator()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a dashboard polling while the job runs
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				if _, err := json.Marshal(co.Observe()); err != nil {
					t.Errorf("encoding a snapshot: %v", err)
					return
				}
			}
		}
	}()
	res, err := cl.Run()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	s := co.Observe()
	total := j.Epochs * (j.TrainSize / j.Batch)
	if s.Phase != "done" || s.Step != total || s.TotalSteps != total {
		t.Errorf("phase %q step %d of %d, want done at %d", s.Phase, s.Step, s.TotalSteps, total)
	}
	if len(s.Steps) != total || int(s.Commits) != total {
		t.Fatalf("%d steps in the history, %d commits; want %d", len(s.Steps), s.Commits, total)
	}
	for i, p := range s.Steps {
		if p.Step != i+1 || p.StepTime <= 0 || len(p.WorkerTimes) != p.Workers || p.Workers < 1 {
			t.Errorf("step point %d: %+v", i, p)
		}
	}
	if len(s.Members) != 2 {
		t.Fatalf("members %+v, want 2", s.Members)
	}
	for _, m := range s.Members {
		if m.Steps == 0 || m.LastStep <= 0 || m.MeanStep <= 0 || m.Addr == "" {
			t.Errorf("member %+v: no step times or address", m)
		}
	}
	if len(s.Generations) == 0 || s.Generations[len(s.Generations)-1].Generation != res.Generation {
		t.Errorf("generations %+v, want the last to be %d", s.Generations, res.Generation)
	}
	if len(s.EpochsDone) != j.Epochs || !s.EpochsDone[j.Epochs-1].HasTest {
		t.Errorf("epochs %+v, want %d with a test accuracy", s.EpochsDone, j.Epochs)
	}
	if len(s.Checkpoints) == 0 || s.Checkpoints[len(s.Checkpoints)-1].Step != total {
		t.Errorf("checkpoints %+v, want the last at step %d", s.Checkpoints, total)
	}
	// A copy: changing it does not change the coordinator's history.
	s.Steps[0].WorkerTimes["x"] = 1
	s.Generations[0].Ring[0] = "changed"
	if again := co.Observe(); len(again.Steps[0].WorkerTimes) == len(s.Steps[0].WorkerTimes) || again.Generations[0].Ring[0] == "changed" {
		t.Error("Observe shares its history with the caller")
	}
}
