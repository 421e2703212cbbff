package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestCheckTask checks the worker's test of a compute task against its job
// run: 10-step epochs in units of 4 (units of 4, 4 and 2 steps), 2 epochs.
func TestCheckTask(t *testing.T) {
	ring := []job.Peer{{ID: "w0", Addr: "a:1"}, {ID: "w1", Addr: "b:2"}}
	for _, tc := range []struct {
		name string
		avg  bool
		task job.Task
		ok   bool
	}{
		{"first unit", true, job.Task{Step: 0, Epoch: 0, StepInEpoch: 0, LocalSteps: 4, Ring: ring, Rank: 1}, true},
		{"short last unit of an epoch", true, job.Task{Step: 2, Epoch: 0, StepInEpoch: 8, LocalSteps: 2, Ring: ring, Rank: 1}, true},
		{"second epoch", true, job.Task{Step: 4, Epoch: 1, StepInEpoch: 4, LocalSteps: 4, Ring: ring, Rank: 1}, true},
		{"last unit of the job", true, job.Task{Step: 5, Epoch: 1, StepInEpoch: 8, LocalSteps: 2, Ring: ring, Rank: 1}, true},
		{"gradient mode sends no local steps", false, job.Task{Step: 4, Epoch: 0, StepInEpoch: 4, Ring: ring, Rank: 1}, true},
		{"past the job", true, job.Task{Step: 6, Epoch: 2, StepInEpoch: 0, LocalSteps: 4, Ring: ring, Rank: 1}, false},
		{"negative unit", true, job.Task{Step: -1, Epoch: 0, StepInEpoch: 0, LocalSteps: 4, Ring: ring, Rank: 1}, false},
		{"another epoch", true, job.Task{Step: 4, Epoch: 0, StepInEpoch: 4, LocalSteps: 4, Ring: ring, Rank: 1}, false},
		{"another first step", true, job.Task{Step: 1, Epoch: 0, StepInEpoch: 5, LocalSteps: 4, Ring: ring, Rank: 1}, false},
		{"too many local steps", true, job.Task{Step: 2, Epoch: 0, StepInEpoch: 8, LocalSteps: 4, Ring: ring, Rank: 1}, false},
		{"weights mode without local steps", true, job.Task{Step: 0, Epoch: 0, StepInEpoch: 0, Ring: ring, Rank: 1}, false},
		{"another worker's rank", true, job.Task{Step: 0, Epoch: 0, StepInEpoch: 0, LocalSteps: 4, Ring: ring, Rank: 0}, false},
		{"rank outside the ring", true, job.Task{Step: 0, Epoch: 0, StepInEpoch: 0, LocalSteps: 4, Ring: ring, Rank: 2}, false},
		{"no ring", true, job.Task{Step: 0, Epoch: 0, StepInEpoch: 0, LocalSteps: 4}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &jobRun{job: job.Job{Epochs: 2}, units: job.NewUnits(10, 4, 2), avg: tc.avg}
			if !tc.avg {
				r.units = job.NewUnits(10, 1, 2)
			}
			err := r.check(tc.task, "w1")
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrTask) {
				t.Fatalf("check: %v, want ok=%v (ErrTask otherwise)", err, tc.ok)
			}
		})
	}
}

// TestCheckTaskPlaces compares the check of a unit's place with its
// definition (epoch e, first step f of the epoch: f is a multiple of the unit,
// the unit is e*PerEpoch + f/UnitSteps, within the job's epochs) over every
// place around a few layouts.
func TestCheckTaskPlaces(t *testing.T) {
	ring := []job.Peer{{ID: "w0"}}
	for _, l := range []struct{ steps, unit, epochs int }{{10, 1, 2}, {10, 4, 2}, {12, 4, 3}, {7, 8, 1}, {5, 5, 2}} {
		u := job.NewUnits(l.steps, l.unit, l.epochs)
		r := &jobRun{job: job.Job{Epochs: l.epochs}, units: u, avg: true}
		for step := -2; step <= u.Total+2; step++ {
			for e := -1; e <= l.epochs; e++ {
				for f := -1; f <= l.steps; f++ {
					n := min(l.unit, l.steps-f)
					want := step >= 0 && e >= 0 && e < l.epochs && f >= 0 && f < l.steps && f%l.unit == 0 && step == e*u.PerEpoch+f/l.unit
					err := r.check(job.Task{Step: step, Epoch: e, StepInEpoch: f, LocalSteps: n, Ring: ring}, "w0")
					if (err == nil) != want {
						t.Fatalf("%d-step epochs in units of %d: unit %d at epoch %d step %d: %v, want ok=%v", l.steps, l.unit, step, e, f, err, want)
					}
				}
			}
		}
	}
}

// TestEndOf checks how the driver names the end of a registration for the
// core (the core then decides what follows).
func TestEndOf(t *testing.T) {
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	live := context.Background()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want end
	}{
		{"finished", live, fmt.Errorf("%w", errDone), endDone},
		{"failed", live, fmt.Errorf("%w: weights mode with 0 local steps", ErrJobFailed), endFailed},
		{"told to rejoin", live, errRejoin, endRejoin},
		{"moved", live, errMoved, endMoved},
		{"lost", live, fmt.Errorf("%w: unavailable", errLost), endLost},
		{"unreachable", live, status.Error(codes.Unavailable, "connection refused"), endLost},
		{"no coordinator in the gossip", live, errors.New("no coordinator among the gossip members"), endLost},
		{"malformed registration", live, status.Error(codes.InvalidArgument, "grpc_addr is empty"), endInvalid},
		{"bad credentials", live, status.Error(codes.PermissionDenied, "join token"), endRefused},
		{"no credentials", live, status.Error(codes.Unauthenticated, "no token"), endRefused},
		{"canceled", canceled, status.Error(codes.Canceled, "context canceled"), endCanceled},
		{"done wins over a canceled context", canceled, errDone, endDone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := endOf(tc.ctx, tc.err); got != tc.want {
				t.Errorf("endOf(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestRetries checks the rule of the poll, the report and the gossip
// restart: the pause doubles up to RetryMax, the n-th consecutive failure is
// the last, and a success starts over.
func TestRetries(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RetryMin, cfg.RetryMax = time.Second, 4*time.Second
	r := cfg.retries(4)
	type try struct {
		ok    bool
		pause time.Duration
		last  bool
	}
	for i, s := range []try{
		{pause: time.Second}, {pause: 2 * time.Second}, {ok: true},
		{pause: time.Second}, {pause: 2 * time.Second}, {pause: 4 * time.Second}, {pause: 4 * time.Second, last: true},
	} {
		if s.ok {
			r.ok()
			continue
		}
		if pause, last := r.failed(); pause != s.pause || last != s.last {
			t.Fatalf("failure %d: pause %v, last %v; want %v, %v", i, pause, last, s.pause, s.last)
		}
	}
}
