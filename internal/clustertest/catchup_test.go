package clustertest

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/asfnet/asf/coordinator"
)

// A job stopped while an epoch's test evaluation runs loses that evaluation;
// resumed, it evaluates the epoch-end checkpoint again, so every epoch has
// its test accuracy, the same as in an uninterrupted run.
func TestMissedEvaluationRedone(t *testing.T) {
	_, _, dir := reference(t)
	j := SmallJob()
	store := t.TempDir() + "/asf.db"
	run := func(ctx context.Context, store string, hook func(epoch int)) (map[int]coordinator.EpochReport, error) {
		var mu sync.Mutex
		reps := map[int]coordinator.EpochReport{}
		_, err := RunInProc(ctx, InProc{Job: j, DataDir: dir, StorePath: store, Workers: 1, Logger: testLogger(t),
			Tweak: func(c *coordinator.Config) {
				c.NoTest = false
				c.Hooks.BeforeEvaluate = hook
				c.OnEpoch = func(r coordinator.EpochReport) {
					mu.Lock()
					reps[r.Epoch] = r
					mu.Unlock()
				}
			}})
		return reps, err
	}
	ref, err := run(context.Background(), t.TempDir()+"/ref.db", nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ref) != j.Epochs || !ref[0].HasTest {
		t.Fatalf("the uninterrupted run reported %v, want %d epochs with test accuracy", ref, j.Epochs)
	}

	// Stopped when epoch 1's evaluation begins: the evaluation is lost.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got, err := run(ctx, store, func(epoch int) {
		if epoch == 0 {
			cancel()
			<-ctx.Done()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("the stopped run: %v, want context.Canceled", err)
	}
	if _, ok := got[0]; ok {
		t.Fatalf("the stopped run reported epoch 1 (%+v): its evaluation was not lost", got[0])
	}

	// Resumed: epoch 1 is evaluated from its checkpoint, epoch 2 as usual.
	got, err = run(context.Background(), store, nil)
	if err != nil {
		t.Fatal(err)
	}
	for e := range j.Epochs {
		r, ok := got[e]
		switch {
		case !ok || !r.HasTest:
			t.Errorf("epoch %d: no test accuracy after the resume (%+v)", e+1, r)
		case r.TestAcc != ref[e].TestAcc || r.Test.Correct != ref[e].Test.Correct:
			t.Errorf("epoch %d: test accuracy %v after the resume, %v without the stop", e+1, r.TestAcc, ref[e].TestAcc)
		case r.TrainLoss != ref[e].TrainLoss || r.TrainAcc != ref[e].TrainAcc:
			t.Errorf("epoch %d: train loss %v acc %v after the resume, %v %v without the stop", e+1, r.TrainLoss, r.TrainAcc, ref[e].TrainLoss, ref[e].TrainAcc)
		}
	}
}
