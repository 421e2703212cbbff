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
func (w *Worker) step(ctx context.Context, t task) *cluster.Report {
	start := time.Now()
	w.mu.Lock()
	r := w.run
	w.mu.Unlock()
	rep := &cluster.Report{ID: w.cfg.ID, Job: t.Job, Generation: t.Generation, Step: int(t.Step)}
	fail := func(kind cluster.FailureKind, err error) *cluster.Report {
		if ctx.Err() != nil && kind != cluster.FailureFatal {
			kind = cluster.FailureAborted
		}
		rep.OK, rep.Failure, rep.Err = false, kind, err.Error()
		rep.StepTime = time.Since(start)
		w.log.Info("step failed", "generation", t.Generation, "step", t.Step, "kind", kind, "err", err)
		return rep
	}
	if r == nil || t.Job != r.job.ID {
		return fail(cluster.FailureSync, fmt.Errorf("%w: task of job %q", ErrTask, t.Job))
	}
	w.lastGen.Store(max(w.lastGen.Load(), t.Generation))
	size, rank := len(t.Ring), int(t.Rank)
	step, epoch, sie := int(t.Step), int(t.Epoch), int(t.StepInEpoch)
	switch {
	case size < 1 || rank < 0 || rank >= size || t.Ring[rank].ID != w.cfg.ID:
		return fail(cluster.FailureFatal, fmt.Errorf("%w: rank %d in a ring of %d", ErrTask, rank, size))
	case step < 0 || epoch < 0 || epoch >= r.job.Epochs || sie < 0 || sie >= r.units.StepsPerEpoch || sie%r.units.UnitSteps != 0 || step != epoch*r.units.PerEpoch+sie/r.units.UnitSteps:
		return fail(cluster.FailureFatal, fmt.Errorf("%w: unit %d is not epoch %d step %d of %d-step epochs in units of %d (%d epochs)",
			ErrTask, step, epoch, sie, r.units.StepsPerEpoch, r.units.UnitSteps, r.job.Epochs))
	case int(t.LocalSteps) != min(r.units.UnitSteps, r.units.StepsPerEpoch-sie) && (r.avg || t.LocalSteps != 0):
		return fail(cluster.FailureFatal, fmt.Errorf("%w: %d local steps from step %d; this worker expects %d",
			ErrTask, t.LocalSteps, sie, min(r.units.UnitSteps, r.units.StepsPerEpoch-sie)))
	}
	if t.BaseErr != nil {
		return fail(cluster.FailureFatal, t.BaseErr)
	}
	want := t.Base
	base, synced, err := w.base(ctx, r, t, cluster.Held{Step: step, Digest: want})
	if err != nil {
		return fail(cluster.FailureSync, err)
	}
	rep.SyncTime = synced
	if r.avg {
		return w.localSteps(ctx, r, t, base, rep, start, fail)
	}

	// The micro-batches of this ring position: j = rank, rank+W, ...
	acc := r.acc
	mine, took, err := r.prep.Compute(base.model, r.perm(epoch), epoch, sie,
		func(n int) []int { return dataset.Assign(n, size, rank) }, r.wss, acc)
	if err != nil {
		return fail(cluster.FailureFatal, fmt.Errorf("micro-batches of step %d: %w", step, err))
	}
	for _, j := range mine {
		rep.Micro = append(rep.Micro, j)
	}
	rep.ComputeTime = took
	if h := w.cfg.Hooks.BeforeReduce; h != nil {
		h(ctx, step)
	}
	if err := ctx.Err(); err != nil {
		return fail(cluster.FailureAborted, err)
	}

	t1 := time.Now()
	if size > 1 {
		tr, err := w.transport(t.Generation, t.Ring[(rank+1)%size].Addr)
		if err != nil {
			return fail(cluster.FailureAborted, err)
		}
		stall := time.Duration(t.StallMs) * time.Millisecond
		if stall <= 0 {
			stall = allreduce.DefaultConfig().StallTimeout
		}
		cfg := allreduce.DefaultConfig()
		cfg.Job, cfg.Generation, cfg.Step, cfg.Rank, cfg.Size, cfg.StallTimeout = r.job.ID, t.Generation, uint64(step), rank, size, stall
		// Packed: the int64 sums, bit for bit, in the bytes each block needs
		// (a gradient at 2^32 needs about half of int64's eight).
		sent, err := allreduce.AllReduceSent(ctx, tr, cfg, allreduce.Packed, acc)
		if err != nil {
			kind := cluster.FailureAborted
			if errors.Is(err, allreduce.ErrOverflow) {
				kind = cluster.FailureFatal
			}
			return fail(kind, err)
		}
		rep.ReduceBytes = sent
	}
	rep.ReduceTime = time.Since(t1)

	next := w.copyOf(base)
	next.step = step + 1
	st, err := next.opt.Apply(next.model, acc, epoch)
	if err != nil {
		return fail(cluster.FailureFatal, fmt.Errorf("applying step %d: %w", step, err))
	}
	w.observeSpikes(r.prep.Net, st)
	return w.keep(base, next, rep, cluster.StepStats{MSE: st.MSE, CE: st.CE, Correct: st.Correct, Samples: st.Samples}, start)
}

// keep makes next, the state computed from base, the tentative state (if
// base is still the committed one: a newer instruction may have replaced it)
// and completes the successful report.
func (w *Worker) keep(base, next *replica, rep *cluster.Report, stats cluster.StepStats, start time.Time) *cluster.Report {
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
func (w *Worker) base(ctx context.Context, r *jobRun, t task, want cluster.Held) (*replica, time.Duration, error) {
	w.mu.Lock()
	var comm, tent *cluster.Held
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
func (w *Worker) sync(ctx context.Context, r *jobRun, t task, want cluster.Held) (*replica, time.Duration, error) {
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
	got := cluster.Held{Step: u, Digest: model.Digest()}
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
