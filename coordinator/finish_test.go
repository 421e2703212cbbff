package coordinator_test

import (
	"context"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
)

// A finished job stops serving as soon as every worker has been told and the
// test evaluations have ended, not at the end of FinishGrace (an hour here: a
// coordinator that waited for it would run into the test's context), and
// never before its last epoch's evaluation is recorded.
func TestStopsWhenEveryWorkerIsTold(t *testing.T) {
	for _, tc := range []struct {
		name   string
		noTest bool
	}{
		{"no test set", true},
		{"evaluated epochs", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := job.Default()
			j.ID, j.Dataset, j.Spec = "told", "synthetic", "4C3-P2-10FC"
			j.Neuron.T, j.Epochs, j.Batch, j.Micro, j.TrainSize, j.TestSize = 4, 2, 16, 8, 32, 16
			dir := t.TempDir()
			cc := coordinator.DefaultConfig(j).Loopback()
			cc.DataDir, cc.StorePath, cc.NoTest, cc.FinishGrace = dir, dir+"/asf.db", tc.noTest, time.Hour
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			res, err := inproc.Run(ctx, inproc.Config{Coordinator: cc, Workers: 2})
			if err != nil {
				t.Fatalf("the coordinator did not stop once both workers were told the job is done: %v", err)
			}
			if len(res.Epochs) != j.Epochs {
				t.Fatalf("%d epoch reports, want %d", len(res.Epochs), j.Epochs)
			}
			for _, e := range res.Epochs {
				if e.HasTest == tc.noTest {
					t.Errorf("epoch %d: HasTest %v with NoTest %v: the job stopped before its evaluation ended", e.Epoch, e.HasTest, tc.noTest)
				}
			}
		})
	}
}
