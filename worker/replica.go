package worker

// The job run a worker computes and the training states it holds.

import (
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// jobRun is a job with its data, ready to compute.
type jobRun struct {
	job   job.Job
	json  string
	prep  *job.Prepared // the data, the input shape, the network and the plan
	units job.Units     // the unit of work: 1 training step in gradient mode, h local steps in weights mode
	avg   bool          // weights mode: local steps, then the weights are averaged
	wss   []*engine.Workspace
	fresh job.Digest
	acc   []int64
	perms map[int][]int
	vec   []int64   // weights mode: the quantised state being averaged
	f64   []float64 // weights mode: conversion buffer
}

// position is where in the job the state after u units is.
func (r *jobRun) position(u int) (epoch, stepInEpoch, steps int) {
	epoch, stepInEpoch, _ = r.units.Unit(u)
	return epoch, stepInEpoch, r.units.Steps(u)
}

// replica is one training state; it is never changed once stored.
type replica struct {
	step   int
	model  *engine.Model
	opt    *engine.Optimizer
	digest job.Digest
}

func (r *replica) held() job.Held { return job.Held{Step: r.step, Digest: r.digest} }

// setLocked replaces the held states (w.mu held); a state no longer held
// becomes the spare.
func (w *Worker) setLocked(comm, tent *replica) {
	for _, old := range []*replica{w.comm, w.tent} {
		if old != nil && old != comm && old != tent && (w.ahead == nil || old != w.ahead.from) {
			w.spare = old // (a state a compute ahead reads is left to the collector)
		}
	}
	w.comm, w.tent = comm, tent
}

// copyOf returns a copy of b for the step to change, in the spare's buffers
// when there is one (a step then allocates nothing).
func (w *Worker) copyOf(b *replica) *replica {
	w.mu.Lock()
	r := w.spare
	w.spare = nil
	w.mu.Unlock()
	if r == nil || len(r.model.Params) != len(b.model.Params) || len(r.model.Scales) != len(b.model.Scales) ||
		len(r.opt.M) != len(b.opt.M) || len(r.opt.V) != len(b.opt.V) {
		return &replica{step: b.step, model: b.model.Clone(), opt: b.opt.Clone()}
	}
	r.model.Net = b.model.Net
	copy(r.model.Params, b.model.Params)
	copy(r.model.Scales, b.model.Scales)
	r.opt.Config, r.opt.Step = b.opt.Config, b.opt.Step
	copy(r.opt.M, b.opt.M)
	copy(r.opt.V, b.opt.V)
	r.step, r.digest = b.step, b.digest
	return r
}

// heldLocked lists the states held (w.mu held).
func (w *Worker) heldLocked() []job.Held {
	var hs []job.Held
	for _, r := range []*replica{w.comm, w.tent} {
		if r != nil {
			hs = append(hs, r.held())
		}
	}
	return hs
}

func (w *Worker) held() []job.Held {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heldLocked()
}
