package worker

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/asfnet/asf/allreduce"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/internal/job"
)

// Fixed-point scales of the weights-mode average (powers of two: exact
// steps). A value times its scale times the ring size must stay within int64;
// Quantize and the reduction fail with ErrOverflow otherwise, never wrap.
var (
	scaleWeights = math.Ldexp(1, 40) // weights, first moments and ASF scales: |x| < 2^23/W, steps of 1e-12
	scaleSquares = math.Ldexp(1, 50) // Adam second moments (squared gradients): |v| < 2^13/W, steps of 1e-15
	scaleLoss    = math.Ldexp(1, 20) // loss sums over a unit's samples
)

// localSteps runs a unit of weights mode (local SGD): the task's local steps
// on this worker's micro-batches with its own optimizer, then the state
// (weights, optimizer moments, ASF scales) is averaged over the ring in fixed
// point, so that every replica ends the unit with the same state. The result
// depends on the ring size W (each worker's micro-batches do), not on which
// worker holds which rank: deterministic for a fixed W.
func (w *Worker) localSteps(ctx context.Context, r *jobRun, t order, base *replica, rep *job.Report,
	start time.Time, fail func(job.FailureKind, error) *job.Report) *job.Report {
	size, rank := len(t.Ring), t.Rank
	epoch, first, n := t.Epoch, t.StepInEpoch, t.LocalSteps
	next := w.copyOf(base)
	next.step = base.step + 1
	perm := r.perm(epoch)
	var mse, ce float64
	var correct, samples int
	t0 := time.Now()
	off := 0
	for s := range n {
		nAll := 0
		mine, _, err := r.prep.Compute(next.model, perm, epoch, first+s,
			func(n int) []int { nAll = n; return dataset.Assign(n, size, rank) }, r.wss, r.acc)
		if err != nil {
			return fail(job.FailureFatal, fmt.Errorf("micro-batches of step %d of epoch %d: %w", first+s, epoch, err))
		}
		for _, j := range mine {
			rep.Micro = append(rep.Micro, off+j)
		}
		off += nAll
		st, err := next.opt.Apply(next.model, r.acc, epoch)
		if err != nil {
			return fail(job.FailureFatal, fmt.Errorf("local step %d of epoch %d: %w", first+s, epoch, err))
		}
		mse, ce, correct, samples = mse+st.MSE, ce+st.CE, correct+st.Correct, samples+st.Samples
		w.observeSpikes(r.prep.Net, st)
	}
	rep.ComputeTime = time.Since(t0)
	if h := w.cfg.Hooks.BeforeReduce; h != nil {
		h(ctx, t.Step)
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
		if err := r.quantize(next, mse, ce, correct, samples); err != nil {
			return fail(job.FailureFatal, err)
		}
		cfg := allreduce.DefaultConfig()
		cfg.Job, cfg.Generation, cfg.Step, cfg.Rank, cfg.Size = r.job.ID, t.Generation, uint64(t.Step), rank, size
		if t.Stall > 0 {
			cfg.StallTimeout = t.Stall
		}
		if err := allreduce.AllReduceInt64(ctx, tr, cfg, r.vec); err != nil {
			kind := job.FailureAborted
			if errors.Is(err, allreduce.ErrOverflow) {
				kind = job.FailureFatal
			}
			return fail(kind, err)
		}
		mse, ce, correct, samples = r.average(next, size)
		rep.ReduceBytes = int64(2*(size-1)) * int64(len(r.vec)) * 8 / int64(size)
	}
	rep.ReduceTime = time.Since(t1)
	return w.keep(base, next, rep, job.StepStats{MSE: mse, CE: ce, Correct: correct, Samples: samples}, start)
}

// The layout of the averaged vector: weights, first moments, second moments
// (Adam), ASF scales, then four sums (MSE, CE, correct, samples).
func (r *jobRun) segments(x *replica) (np, nv, ns int) {
	return len(x.model.Params), len(x.opt.V), len(x.model.Scales)
}

// quantize writes x's state and the unit's statistics into r.vec.
func (r *jobRun) quantize(x *replica, mse, ce float64, correct, samples int) error {
	np, nv, ns := r.segments(x)
	n := 2*np + nv + ns + 4
	if len(r.vec) != n {
		r.vec = make([]int64, n)
	}
	if len(r.f64) < np {
		r.f64 = make([]float64, np)
	}
	put := func(dst []int64, src []float32, scale float64, what string) error {
		f := r.f64[:len(src)]
		for i, v := range src {
			f[i] = float64(v)
		}
		if err := allreduce.Quantize(dst, f, scale); err != nil {
			return fmt.Errorf("averaging the %s: %w", what, err)
		}
		return nil
	}
	v := r.vec
	if err := put(v[:np], x.model.Params, scaleWeights, "weights"); err != nil {
		return err
	}
	if err := put(v[np:2*np], x.opt.M, scaleWeights, "first moments"); err != nil {
		return err
	}
	if err := put(v[2*np:2*np+nv], x.opt.V, scaleSquares, "second moments"); err != nil {
		return err
	}
	if err := allreduce.Quantize(v[2*np+nv:2*np+nv+ns], x.model.Scales, scaleWeights); err != nil {
		return fmt.Errorf("averaging the ASF scales: %w", err)
	}
	tail := v[2*np+nv+ns:]
	if err := allreduce.Quantize(tail[:2], []float64{mse, ce}, scaleLoss); err != nil {
		return fmt.Errorf("summing the losses: %w", err)
	}
	tail[2], tail[3] = int64(correct), int64(samples)
	return nil
}

// average turns the summed r.vec into the mean state, written into x, and
// returns the summed statistics.
func (r *jobRun) average(x *replica, size int) (mse, ce float64, correct, samples int) {
	np, nv, ns := r.segments(x)
	v := r.vec
	get := func(dst []float32, src []int64, scale float64) {
		f := r.f64[:len(src)]
		allreduce.Mean(f, src, scale, size)
		for i, a := range f {
			dst[i] = float32(a)
		}
	}
	get(x.model.Params, v[:np], scaleWeights)
	get(x.opt.M, v[np:2*np], scaleWeights)
	get(x.opt.V, v[2*np:2*np+nv], scaleSquares)
	allreduce.Mean(x.model.Scales, v[2*np+nv:2*np+nv+ns], scaleWeights, size)
	tail := v[2*np+nv+ns:]
	return float64(tail[0]) / scaleLoss, float64(tail[1]) / scaleLoss, int(tail[2]), int(tail[3])
}
