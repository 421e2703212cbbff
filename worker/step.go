package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/asfnet/asf/allreduce"
	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
	"google.golang.org/grpc"
)

// Errors of a step.
var (
	// ErrNeedSync reports a task whose base state the worker does not hold and
	// for which the coordinator named no source.
	ErrNeedSync = errors.New("worker: the task's base state is not here and no source was named")
	// ErrTask reports a task that does not fit the job (a step outside it, a
	// rank outside the ring, an epoch that does not match the step).
	ErrTask = errors.New("worker: malformed task")
)

// step computes one step of one generation and returns the report to send.
func (w *Worker) step(ctx context.Context, t order) *job.Report {
	start := time.Now()
	w.mu.Lock()
	r := w.run
	w.mu.Unlock()
	rep := &job.Report{ID: w.cfg.ID, Job: t.Job, Generation: t.Generation, Step: t.Step}
	fail := func(kind job.FailureKind, err error) *job.Report {
		if ctx.Err() != nil && kind != job.FailureFatal {
			kind = job.FailureAborted
		}
		rep.OK, rep.Failure, rep.Err = false, kind, err.Error()
		rep.StepTime = time.Since(start)
		w.log.Info("step failed", "generation", t.Generation, "step", t.Step, "kind", kind, "err", err)
		return rep
	}
	if r == nil || t.Job != r.job.ID {
		return fail(job.FailureSync, fmt.Errorf("%w: task of job %q", ErrTask, t.Job))
	}
	w.lastGen.Store(max(w.lastGen.Load(), t.Generation))
	size, rank := len(t.Ring), t.Rank
	step, epoch, sie := t.Step, t.Epoch, t.StepInEpoch
	if err := r.check(t.Task, w.cfg.ID); err != nil {
		return fail(job.FailureFatal, err)
	}
	switch {
	case t.BaseErr != nil:
		return fail(job.FailureFatal, t.BaseErr)
	case !t.HasBase:
		return fail(job.FailureFatal, fmt.Errorf("%w: a compute task without base_digest", ErrTask))
	}
	want := t.Base
	base, synced, err := w.base(ctx, r, t, job.Held{Step: step, Digest: want})
	if err != nil {
		return fail(job.FailureSync, err)
	}
	rep.SyncTime = synced
	if r.avg {
		return w.localSteps(ctx, r, t, base, rep, start, fail)
	}

	// The micro-batches of this ring position: j = rank, rank+W, ...
	acc := r.acc
	mine, took, pre, err := w.computeStep(r, base, epoch, sie, size, rank)
	if pre != nil {
		start = pre.start // the step began with the compute done ahead
	}
	if err != nil {
		return fail(job.FailureFatal, fmt.Errorf("micro-batches of step %d: %w", step, err))
	}
	for _, j := range mine {
		rep.Micro = append(rep.Micro, j)
	}
	rep.ComputeTime = took
	if h := w.cfg.Hooks.BeforeReduce; h != nil {
		h(ctx, step)
	}
	if err := ctx.Err(); err != nil {
		return fail(job.FailureAborted, err)
	}

	t1 := time.Now()
	if size > 1 {
		tr, err := w.transport(t.Generation, t.Ring[(rank+1)%size].Addr)
		if err != nil {
			return fail(job.FailureAborted, err)
		}
		stall := t.Stall
		if stall <= 0 {
			stall = allreduce.DefaultConfig().StallTimeout
		}
		cfg := allreduce.DefaultConfig()
		cfg.Job, cfg.Generation, cfg.Step, cfg.Rank, cfg.Size, cfg.StallTimeout = r.job.ID, t.Generation, uint64(step), rank, size, stall
		// Packed: the int64 sums, bit for bit, in the bytes each block needs
		// (a gradient at 2^32 needs about half of int64's eight).
		sent, err := allreduce.AllReduceSent(ctx, tr, cfg, allreduce.Packed, acc)
		if err != nil {
			kind := job.FailureAborted
			if errors.Is(err, allreduce.ErrOverflow) {
				kind = job.FailureFatal
			}
			return fail(kind, err)
		}
		rep.ReduceBytes = sent
	}
	rep.ReduceTime = time.Since(t1)

	t2 := time.Now()
	next := w.copyOf(base)
	next.step = step + 1
	st, err := next.opt.Apply(next.model, acc, epoch)
	if err != nil {
		return fail(job.FailureFatal, fmt.Errorf("applying step %d: %w", step, err))
	}
	w.observeSpikes(r.prep.Net, st)
	rep = w.keep(base, next, rep, job.StepStats{MSE: st.MSE, CE: st.CE, Correct: st.Correct, Samples: st.Samples}, start)
	rep.UpdateTime = time.Since(t2)
	return rep
}

// check reports a compute task for worker self that does not fit the job
// run r: a rank outside its ring or not its own, a unit outside the job or at
// another place than the task says, a number of local steps that is not the
// unit's.
func (r *jobRun) check(t job.Task, self string) error {
	size, rank := len(t.Ring), t.Rank
	if size < 1 || rank < 0 || rank >= size || t.Ring[rank].ID != self {
		return fmt.Errorf("%w: rank %d in a ring of %d", ErrTask, rank, size)
	}
	u := r.units
	if t.Step < 0 || t.Step >= u.Total {
		return fmt.Errorf("%w: unit %d is not epoch %d step %d of %d-step epochs in units of %d (%d epochs)",
			ErrTask, t.Step, t.Epoch, t.StepInEpoch, u.StepsPerEpoch, u.UnitSteps, r.job.Epochs)
	}
	epoch, first, n := u.Unit(t.Step)
	switch {
	case t.Epoch != epoch || t.StepInEpoch != first:
		return fmt.Errorf("%w: unit %d is not epoch %d step %d of %d-step epochs in units of %d (%d epochs)",
			ErrTask, t.Step, t.Epoch, t.StepInEpoch, u.StepsPerEpoch, u.UnitSteps, r.job.Epochs)
	case t.LocalSteps != n && (r.avg || t.LocalSteps != 0):
		return fmt.Errorf("%w: %d local steps from step %d; this worker expects %d", ErrTask, t.LocalSteps, first, n)
	}
	return nil
}

// keep makes next, the state computed from base, the tentative state (if
// base is still the committed one: a newer instruction may have replaced it)
// and completes the successful report.
func (w *Worker) keep(base, next *replica, rep *job.Report, stats job.StepStats, start time.Time) *job.Report {
	next.digest = next.model.Digest()
	w.mu.Lock()
	if w.comm == base {
		w.setLocked(base, next)
	}
	w.steps++
	w.mu.Unlock()
	rep.OK = true
	rep.Digest = next.digest
	rep.Stats = stats
	rep.StepTime = time.Since(start)
	return rep
}

// base returns the state the task starts from: the committed state, the
// tentative one (which the task thereby commits), a fresh model for step 0, or
// a state fetched from the source the task names. It returns the time spent
// fetching.
func (w *Worker) base(ctx context.Context, r *jobRun, t order, want job.Held) (*replica, time.Duration, error) {
	w.mu.Lock()
	var comm, tent *job.Held
	if w.comm != nil {
		h := w.comm.held()
		comm = &h
	}
	if w.tent != nil {
		h := w.tent.held()
		tent = &h
	}
	switch pickBase(comm, tent, r.fresh, want) {
	case baseCommitted:
		w.setLocked(w.comm, nil) // a redo of the step: what was computed is dropped
	case baseTentative:
		w.setLocked(w.tent, nil)
	case baseFresh:
		w.setLocked(&replica{step: 0, model: engine.NewModel(r.prep.Net, r.job.Seed), opt: engine.NewOptimizer(r.job.TrainConfig(), r.prep.Net.NParams), digest: r.fresh}, nil)
	case baseSync:
		w.mu.Unlock()
		return w.sync(ctx, r, t, want)
	}
	b := w.comm
	w.mu.Unlock()
	return b, 0, nil
}

// sync fetches the state want from the task's source and makes it the
// committed state.
func (w *Worker) sync(ctx context.Context, r *jobRun, t order, want job.Held) (*replica, time.Duration, error) {
	src := t.Sync
	if src == nil || src.Addr == "" {
		return nil, 0, fmt.Errorf("%w: %s (holding %v)", ErrNeedSync, want, w.held())
	}
	t0 := time.Now()
	cc, err := grpc.NewClient(src.Addr, w.syncDialOptions()...)
	if err != nil {
		return nil, 0, err
	}
	defer cc.Close()
	fctx, cancel := context.WithTimeout(ctx, w.cfg.PullTimeout)
	defer cancel()
	st, enc, err := cluster.FetchStateLimit(fctx, cc, r.job.ID, want, cluster.StateBytesBound(r.prep.Net.NParams))
	if err != nil {
		return nil, 0, fmt.Errorf("from %s (%s): %w", src.ID, src.Addr, err)
	}
	j, model, opt, err := snapshot.Restore(st, r.prep.In)
	if err != nil {
		return nil, 0, fmt.Errorf("from %s: %w", src.Addr, err)
	}
	u, ok := r.units.UnitOf(st.Step)
	if !ok {
		u = -1
	}
	got := job.Held{Step: u, Digest: model.Digest()}
	switch {
	case string(j.JSON()) != r.json:
		return nil, 0, fmt.Errorf("%w: the state from %s belongs to another configuration of job %q", cluster.ErrTransfer, src.Addr, j.ID)
	case got != want:
		return nil, 0, fmt.Errorf("%w: asked %s for %s, got %s", cluster.ErrTransfer, src.Addr, want, got)
	}
	// Restore builds a network of its own; compute on ours (same spec and shape).
	model.Net = r.prep.Net
	b := &replica{step: want.Step, model: model, opt: opt, digest: got.Digest}
	w.mu.Lock()
	w.setLocked(b, nil)
	w.synced++
	w.mu.Unlock()
	d := time.Since(t0)
	w.log.Info("synced the state", "state", want.String(), "from", src.ID, "addr", src.Addr,
		"bytes", len(enc), "took", d.Round(time.Millisecond))
	return b, d, nil
}

// transport returns the reduction transport of generation gen, whose right
// neighbour serves at right; one per generation, reused across its steps.
func (w *Worker) transport(gen uint64, right string) (*allreduce.GRPCTransport, error) {
	if w.tr != nil && w.trGen == gen && w.trTo == right {
		return w.tr, nil
	}
	if w.tr != nil {
		_ = w.tr.Close()
		w.tr = nil
	}
	tr, err := allreduce.NewGRPCTransport(w.peer, right, w.peerDialOption())
	if err != nil {
		return nil, err
	}
	w.tr, w.trGen, w.trTo = tr, gen, right
	return tr, nil
}

// perm returns the permutation of epoch e (cached: a step needs it, and the
// next steps of the epoch too).
func (r *jobRun) perm(e int) []int {
	if p, ok := r.perms[e]; ok {
		return p
	}
	for k := range r.perms {
		if k < e-1 || k > e+1 {
			delete(r.perms, k)
		}
	}
	p := dataset.Perm(r.job.Seed, e, r.prep.Plan.N)
	r.perms[e] = p
	return p
}

// stateService implements asfpb.WorkerStateServer: it serves the states the
// worker holds.
type stateService struct {
	asfpb.UnimplementedWorkerStateServer
	w *Worker
}

// GetState implements asfpb.WorkerStateServer.
func (s *stateService) GetState(req *asfpb.StateRequest, stream asfpb.WorkerState_GetStateServer) error {
	w := s.w
	j, h, err := cluster.StateRequestFrom(req)
	if err != nil {
		return err
	}
	// Capture under the lock: a state that stops being held has its buffers
	// reused by the next step.
	w.mu.Lock()
	r := w.run
	var st *checkpoint.State
	for _, rp := range []*replica{w.comm, w.tent} {
		if rp != nil && r != nil && j == r.job.ID && rp.held() == h {
			e, sie, gs := r.position(h.Step)
			pos := snapshot.Position{Epoch: e, Step: gs, StepInEpoch: sie}
			st = snapshot.Capture(r.job, rp.model, rp.opt, pos, checkpoint.Summary{})
			break
		}
	}
	w.mu.Unlock()
	if st == nil {
		return cluster.NotFound(j, h)
	}
	enc, err := checkpoint.EncodeState(st)
	if err != nil {
		return err
	}
	return cluster.SendState(enc, stream.Send)
}
