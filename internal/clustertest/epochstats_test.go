package clustertest

import (
	"context"
	"sync"
	"testing"

	"github.com/asfnet/asf/coordinator"
)

// After a coordinator restart in the middle of an epoch, that epoch's train
// loss, cross-entropy and accuracy cover the whole epoch (the steps before the
// restart come from the metrics history): bitwise those of the uninterrupted
// run, not those of the steps after the restart alone. Here every node dies in
// the middle of each epoch (the coordinator restarts, the worker is killed and
// another joins), so the job goes back to its newest checkpoint and the
// history holds every step before it.
func TestEpochStatsAcrossRestart(t *testing.T) {
	_, _, dir := reference(t)
	j := SmallJob()
	run := func(workers int, schedule string) map[int]coordinator.EpochReport {
		sched, err := ParseSchedule(schedule)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		reps := map[int]coordinator.EpochReport{}
		_, err = RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db", Workers: workers,
			Schedule: sched, Logger: testLogger(t), Tweak: func(c *coordinator.Config) {
				c.OnEpoch = func(r coordinator.EpochReport) {
					mu.Lock()
					reps[r.Epoch] = r
					mu.Unlock()
				}
			}})
		if err != nil {
			t.Fatal(err)
		}
		return reps
	}
	ref := run(1, "")
	got := run(1, "7 coordinator restart-coordinator; 7 w0 kill; 7 w1 join; 16 coordinator restart-coordinator; 16 w1 kill; 16 w2 join")
	if len(ref) != j.Epochs || len(got) != j.Epochs {
		t.Fatalf("epoch reports: %d without restarts, %d with, want %d", len(ref), len(got), j.Epochs)
	}
	for e := range j.Epochs {
		a, b := ref[e], got[e]
		if a.TrainLoss != b.TrainLoss || a.TrainCE != b.TrainCE || a.TrainAcc != b.TrainAcc {
			t.Errorf("epoch %d: loss %v, ce %v, acc %v after restarts; %v, %v, %v without", e+1,
				b.TrainLoss, b.TrainCE, b.TrainAcc, a.TrainLoss, a.TrainCE, a.TrainAcc)
		}
	}
}
