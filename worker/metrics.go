package worker

// What the worker measures for its metrics endpoint: step, compute and
// all-reduce times, bytes reduced, loss, accuracy and per-layer firing rates.

import (
	"slices"
	"sync"
	"time"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// Stats are the worker's cumulative and latest measurements. Cumulative
// figures count the steps this process computed and reported successfully.
type Stats struct {
	ID         string
	Job        string
	Generation uint64 // of the last step computed
	Step       int    // the last step computed (unit of work)
	// Steps and FailedSteps count the step attempts that succeeded and failed.
	Steps       int64
	FailedSteps int64
	// Cumulative seconds of the successful steps: the whole step, the
	// computation, the all-reduce (of the steps that reduced), and fetching
	// states from peers.
	StepSeconds, ComputeSeconds, ReduceSeconds, SyncSeconds float64
	// UpdateSeconds is the cumulative time of the optimizer steps, weights
	// digests and state copies after the all-reduces.
	UpdateSeconds float64
	// AheadTaken and AheadDropped count the steps whose micro-batches were
	// computed ahead, before their instruction came, and taken, or dropped
	// because the instruction asked for something else (ahead.go).
	AheadTaken, AheadDropped int64
	// Last successful step.
	LastStep, LastCompute, LastReduce time.Duration
	// ReduceBytes is what this worker sent in all-reduces; Reduces counts the
	// steps that all-reduced (those in a ring of more than one).
	ReduceBytes int64
	Reduces     int64
	// Samples counts the samples of the global batches of the steps; Loss and
	// Accuracy are those of the last step's batch.
	Samples        int64
	Loss, Accuracy float64
	// Layers names each layer (conv1, pool2, fc3...); FiringRates is, per layer, the
	// mean spikes per neuron per time step in the last step (0 for layers
	// without neurons).
	Layers      []string
	FiringRates []float64
	// Synced counts the states fetched from peers or the coordinator.
	Synced int
}

// observed is the state behind Stats, under its own lock.
type observed struct {
	mu sync.Mutex
	s  Stats
}

// observeReport counts a step report about to be sent.
func (w *Worker) observeReport(rep *job.Report) {
	o := &w.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	o.s.Generation, o.s.Step = rep.Generation, rep.Step
	if !rep.OK {
		o.s.FailedSteps++
		return
	}
	// Whole microseconds, as the coordinator sees them.
	us := func(d time.Duration) time.Duration { return d.Truncate(time.Microsecond) }
	o.s.Steps++
	o.s.LastStep, o.s.LastCompute, o.s.LastReduce = us(rep.StepTime), us(rep.ComputeTime), us(rep.ReduceTime)
	o.s.StepSeconds += o.s.LastStep.Seconds()
	o.s.ComputeSeconds += o.s.LastCompute.Seconds()
	o.s.SyncSeconds += us(rep.SyncTime).Seconds()
	o.s.UpdateSeconds += us(rep.UpdateTime).Seconds()
	if b := rep.ReduceBytes; b > 0 {
		o.s.ReduceBytes += b
		o.s.Reduces++
		o.s.ReduceSeconds += o.s.LastReduce.Seconds()
	}
	o.s.Samples += int64(rep.Stats.Samples)
	if n := rep.Stats.Samples; n > 0 {
		o.s.Loss, o.s.Accuracy = rep.Stats.MSE/float64(n), float64(rep.Stats.Correct)/float64(n)
	}
}

// ahead counts a compute done ahead, taken or dropped.
func (o *observed) ahead(taken bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if taken {
		o.s.AheadTaken++
	} else {
		o.s.AheadDropped++
	}
}

// observeSpikes records the per-layer firing rates of a step's statistics.
func (w *Worker) observeSpikes(n *engine.Net, st engine.Stats) {
	if len(st.Spikes) != len(n.Layers) || st.Samples == 0 {
		return
	}
	o := &w.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.s.Layers) != len(n.Layers) {
		o.s.Layers = make([]string, len(n.Layers))
		o.s.FiringRates = make([]float64, len(n.Layers))
	}
	for l, ly := range n.Layers {
		o.s.Layers[l] = ly.Name()
		o.s.FiringRates[l] = 0
		if d := float64(st.Samples) * float64(n.Config.T) * float64(ly.Out.Size()); ly.Spiking && d > 0 {
			o.s.FiringRates[l] = st.Spikes[l] / d
		}
	}
}

// Stats returns a copy of the worker's measurements; safe for concurrent use.
func (w *Worker) Stats() Stats {
	w.mu.Lock()
	job, synced := "", w.synced
	if w.run != nil {
		job = w.run.job.ID
	}
	w.mu.Unlock()
	o := &w.obs
	o.mu.Lock()
	defer o.mu.Unlock()
	s := o.s
	s.ID, s.Job, s.Synced = w.cfg.ID, job, synced
	s.Layers, s.FiringRates = slices.Clone(s.Layers), slices.Clone(s.FiringRates)
	return s
}
