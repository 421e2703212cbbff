package worker

// Computing ahead: in gradient mode a worker that has reported step s starts
// computing its micro-batches of step s+1 at once, on the state step s left,
// instead of idling until the coordinator has gathered every report and
// handed out the next instruction. When that instruction comes and asks for
// what was computed (same base state, place in the job, ring size and rank),
// the step takes the result and goes straight to the all-reduce; otherwise
// it is dropped and the step computes as before.
//
// Nothing is decided ahead: the reduction, the update and the report still
// wait for the instruction, and a micro-batch's gradient is a function of
// the base state, the step's place in the job and the worker's share alone,
// so a step that takes an ahead result is bit for bit the step that would
// have computed it. What is saved is the coordinator's round trip (the wait
// for the slowest report, the commit, the poll's answer), which otherwise
// leaves the worker idle in every step.

import (
	"time"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/internal/job"
)

// aheadKey is what a step's compute depends on besides the job run: the base
// state, the step's place in the job and the worker's share of the ring.
type aheadKey struct {
	base       job.Held
	epoch, sie int
	size, rank int
	run        *jobRun
}

// ahead is a compute started before its instruction came.
type ahead struct {
	key   aheadKey
	from  *replica      // the state it reads: it is not recycled while in use (setLocked)
	start time.Time     // when it started
	done  chan struct{} // closed when the compute has ended
	// Set before done is closed.
	mine []int
	took time.Duration
	err  error
}

// startAhead starts computing the step after t, whose report rep has just
// been sent, if the worker computes ahead and the step after t exists: on
// the tentative state t left, with t's ring and rank. It runs on its own
// goroutine; the next step takes or drops it (computeStep), and the serve
// loop waits for it when it ends (endAhead). The serve loop calls it between
// steps, so no step is in flight.
func (w *Worker) startAhead(t order, rep *job.Report) {
	if !w.cfg.ComputeAhead || !rep.OK || t.Kind != job.TaskCompute {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r, from := w.run, w.tent
	if w.ahead != nil || r == nil || r.avg || r.job.ID != t.Job || from == nil || from.digest != rep.Digest ||
		from.step != t.Step+1 || from.step >= r.units.Total {
		return
	}
	epoch, sie, _ := r.units.Unit(from.step)
	a := &ahead{key: aheadKey{base: from.held(), epoch: epoch, sie: sie, size: len(t.Ring), rank: t.Rank, run: r},
		from: from, start: time.Now(), done: make(chan struct{})}
	w.ahead = a
	go func() {
		defer close(a.done)
		a.mine, a.took, a.err = r.compute(from, a.key)
	}()
}

// endAhead ends the compute started ahead, if any: it waits for it (it uses
// the run's workspaces and accumulator) and returns it.
func (w *Worker) endAhead() *ahead {
	w.mu.Lock()
	a := w.ahead
	w.mu.Unlock()
	if a == nil {
		return nil
	}
	<-a.done
	w.mu.Lock()
	w.ahead = nil
	w.mu.Unlock()
	return a
}

// computeStep computes the worker's micro-batches of a step into r.acc, or
// takes them from the compute started ahead if it computed the same (it is
// returned then; nil when the step computed).
func (w *Worker) computeStep(r *jobRun, base *replica, epoch, sie, size, rank int) ([]int, time.Duration, *ahead, error) {
	key := aheadKey{base: base.held(), epoch: epoch, sie: sie, size: size, rank: rank, run: r}
	if a := w.endAhead(); a != nil {
		if a.key == key && a.err == nil {
			w.obs.ahead(true)
			return a.mine, a.took, a, nil
		}
		w.obs.ahead(false)
		w.log.Debug("dropped the compute done ahead", "had", a.key.base.String(), "want", key.base.String(), "err", a.err)
	}
	mine, took, err := r.compute(base, key)
	return mine, took, nil, err
}

// compute computes the micro-batches k names (j = rank, rank+size, ...) on
// the state from into r.acc.
func (r *jobRun) compute(from *replica, k aheadKey) ([]int, time.Duration, error) {
	return r.prep.Compute(from.model, r.perm(k.epoch), k.epoch, k.sie,
		func(n int) []int { return dataset.Assign(n, k.size, k.rank) }, r.wss, r.acc)
}
