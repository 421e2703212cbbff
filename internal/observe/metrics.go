package observe

// The Prometheus side. Each node builds its own registry (never the global
// default) with newRegistry and registers the collectors of what it runs: a
// coordinatorCollector reads coordinator.Observe and a workersCollector reads
// worker.Stats at every scrape, so the figures are never stale and a departed
// worker's series disappear with it.
//
// Every metric is named asf_<role>_<what>; per-worker series carry the label
// worker="<id>", so that a straggler stands out in one query:
//
//	asf_coordinator_worker_straggler_ratio > 1.5
//
// docs/observability.md lists them all.

import (
	"slices"
	"strconv"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/worker"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// newRegistry returns a registry holding the Go runtime and process
// collectors.
func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

type desc struct {
	*prometheus.Desc
	typ prometheus.ValueType
}

func gauge(name, help string, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), prometheus.GaugeValue}
}

func counter(name, help string, labels ...string) desc {
	return desc{prometheus.NewDesc(name, help, labels, nil), prometheus.CounterValue}
}

func summary(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, labels, nil)
}

func (d desc) metric(v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d.Desc, d.typ, v, labels...)
}

// Coordinator metrics.
var (
	cInfo       = gauge("asf_coordinator_job_info", "The job the coordinator runs and its phase (value 1).", "job", "spec", "dataset", "phase")
	cStep       = gauge("asf_coordinator_step", "Training steps completed.")
	cTotal      = gauge("asf_coordinator_total_steps", "Training steps of the whole job.")
	cEpoch      = gauge("asf_coordinator_epoch", "Epoch in progress (0-based).")
	cStepSecs   = summary("asf_coordinator_step_seconds", "Step time of the committed steps: the slowest ring member's (count and sum since the coordinator started).")
	cLastStep   = gauge("asf_coordinator_last_step_seconds", "Step time of the last committed step (its slowest ring member).")
	cSPS        = gauge("asf_coordinator_samples_per_second", "Training throughput over the epoch in progress.")
	cLoss       = gauge("asf_coordinator_loss", "Mean training loss (MSE) over the epoch in progress.")
	cAcc        = gauge("asf_coordinator_accuracy", "Training accuracy over the epoch in progress (0..1).")
	cTestAcc    = gauge("asf_coordinator_test_accuracy", "Test accuracy after the last evaluated epoch (0..1).")
	cGen        = gauge("asf_coordinator_generation", "Current generation (ring configuration) number.")
	cGenChanges = counter("asf_coordinator_generation_changes_total", "Generations formed since the coordinator started.")
	cMembers    = gauge("asf_coordinator_members", "Registered workers by state (ring, waiting, loading).", "state")
	cRing       = gauge("asf_coordinator_ring_size", "Workers in the current ring.")
	cRetries    = counter("asf_coordinator_step_retries_total", "Step attempts abandoned and redone.")
	cRecomp     = counter("asf_coordinator_recomputed_steps_total", "Commits that repeated a step committed before a rollback.")
	cReduceB    = gauge("asf_coordinator_reduce_bytes_per_step", "Bytes each ring member sends in one step's all-reduce.")
	cCkptAge    = gauge("asf_coordinator_checkpoint_age_seconds", "Seconds since the newest kept checkpoint was saved.")
	cCkptStep   = gauge("asf_coordinator_checkpoint_step", "Training step of the newest kept checkpoint.")
	cCkpts      = gauge("asf_coordinator_checkpoints", "Checkpoints kept in the store for the job.")
	cWStep      = gauge("asf_coordinator_worker_step_seconds", "Each worker's last step time as it reported it.", "worker")
	cWMean      = gauge("asf_coordinator_worker_mean_step_seconds", "Each worker's mean step time.", "worker")
	cWCompute   = gauge("asf_coordinator_worker_compute_seconds", "Each worker's computation time in its last step.", "worker")
	cWReduce    = gauge("asf_coordinator_worker_reduce_seconds", "Each worker's all-reduce time in its last step.", "worker")
	cWSteps     = counter("asf_coordinator_worker_steps_total", "Steps each worker reported.", "worker")
	cWRank      = gauge("asf_coordinator_worker_rank", "Each worker's ring position (-1 outside the ring).", "worker")
	cWSlow      = gauge("asf_coordinator_worker_straggler_ratio", "Each ring member's last computation time over the ring's median (above 1.5: a straggler). Computation, not step time: in a synchronous ring every member's step lasts as long as the slowest one's.", "worker")
)

var coordDescs = []*prometheus.Desc{cInfo.Desc, cStep.Desc, cTotal.Desc, cEpoch.Desc, cStepSecs, cLastStep.Desc, cSPS.Desc,
	cLoss.Desc, cAcc.Desc, cTestAcc.Desc, cGen.Desc, cGenChanges.Desc, cMembers.Desc, cRing.Desc, cRetries.Desc, cRecomp.Desc,
	cReduceB.Desc, cCkptAge.Desc, cCkptStep.Desc, cCkpts.Desc, cWStep.Desc, cWMean.Desc, cWCompute.Desc, cWReduce.Desc,
	cWSteps.Desc, cWRank.Desc, cWSlow.Desc}

// coordinatorCollector collects the metrics of a coordinator from the
// snapshots snap returns (usually (*coordinator.Coordinator).Observe), read at
// every scrape.
type coordinatorCollector struct {
	snap func() coordinator.Snapshot
}

// Describe implements prometheus.Collector.
func (c *coordinatorCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range coordDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *coordinatorCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.snap()
	ch <- cInfo.metric(1, s.Job, s.Spec, s.Dataset, s.Phase)
	ch <- cStep.metric(float64(s.Step))
	ch <- cTotal.metric(float64(s.TotalSteps))
	ch <- cEpoch.metric(float64(s.Epoch))
	ch <- prometheus.MustNewConstSummary(cStepSecs, uint64(s.Commits), s.CommitSeconds, nil)
	if n := len(s.Steps); n > 0 {
		ch <- cLastStep.metric(s.Steps[n-1].StepTime)
	}
	ch <- cSPS.metric(s.SamplesPerSec)
	ch <- cLoss.metric(s.Loss)
	ch <- cAcc.metric(s.Accuracy)
	if s.HasTest {
		ch <- cTestAcc.metric(s.TestAccuracy)
	}
	ch <- cGen.metric(float64(s.Generation))
	ch <- cGenChanges.metric(float64(len(s.Generations)))
	states := map[string]int{"ring": 0, "waiting": 0, "loading": 0}
	for _, m := range s.Members {
		states[m.State]++
	}
	for st, n := range states {
		ch <- cMembers.metric(float64(n), st)
	}
	ch <- cRing.metric(float64(len(s.Ring)))
	ch <- cRetries.metric(float64(s.Retries))
	ch <- cRecomp.metric(float64(s.Recomputed))
	ch <- cReduceB.metric(float64(s.ReduceBytesPerStep))
	ch <- cCkpts.metric(float64(len(s.Checkpoints)))
	if n := len(s.Checkpoints); n > 0 {
		newest := slices.MaxFunc(s.Checkpoints, func(a, b coordinator.CheckpointSnapshot) int { return a.Saved.Compare(b.Saved) })
		ch <- cCkptAge.metric(max(0, s.Time.Sub(newest.Saved).Seconds()))
		ch <- cCkptStep.metric(float64(newest.Step))
	}
	med := medianCompute(s.Members)
	for _, m := range s.Members {
		ch <- cWStep.metric(m.LastStep, m.ID)
		ch <- cWMean.metric(m.MeanStep, m.ID)
		ch <- cWCompute.metric(m.LastCompute, m.ID)
		ch <- cWReduce.metric(m.LastReduce, m.ID)
		ch <- cWSteps.metric(float64(m.Steps), m.ID)
		ch <- cWRank.metric(float64(m.Rank), m.ID)
		if m.Rank >= 0 && med > 0 && m.LastCompute > 0 {
			ch <- cWSlow.metric(m.LastCompute/med, m.ID)
		}
	}
}

// medianCompute is the median last computation time of the ring members that
// have reported a step (0 if none).
func medianCompute(ms []coordinator.MemberSnapshot) float64 {
	var ts []float64
	for _, m := range ms {
		if m.Rank >= 0 && m.LastCompute > 0 {
			ts = append(ts, m.LastCompute)
		}
	}
	if len(ts) == 0 {
		return 0
	}
	slices.Sort(ts)
	n := len(ts)
	if n%2 == 1 {
		return ts[n/2]
	}
	return (ts[n/2-1] + ts[n/2]) / 2
}

// Worker metrics; every series carries the worker's id.
var (
	wSteps    = counter("asf_worker_steps_total", "Steps this worker computed and reported successfully.", "worker")
	wFailed   = counter("asf_worker_failed_steps_total", "Step attempts that failed (aborted by a generation change, sync errors).", "worker")
	wStepSecs = summary("asf_worker_step_seconds", "Time of the successful steps, from task to report.", "worker")
	wCompSecs = summary("asf_worker_compute_seconds", "Computation time of the successful steps (forward and ASF-BP backward).", "worker")
	wRedSecs  = summary("asf_worker_allreduce_seconds", "All-reduce time of the steps that reduced with ring neighbours.", "worker")
	wUpdSecs  = summary("asf_worker_update_seconds", "Time of the successful steps' updates after the all-reduce (optimizer step, weights digest, state copy).", "worker")
	wAhead    = counter("asf_worker_ahead_steps_total", "Steps whose micro-batches were computed ahead, before their instruction came, by outcome (taken, or dropped because the instruction asked for another computation).", "worker", "outcome")
	wSyncSecs = counter("asf_worker_sync_seconds_total", "Time spent fetching states from peers or the coordinator.", "worker")
	wRedBytes = counter("asf_worker_allreduce_bytes_total", "Bytes this worker sent in all-reduces.", "worker")
	wLastStep = gauge("asf_worker_last_step_seconds", "Time of the last successful step.", "worker")
	wLastRed  = gauge("asf_worker_last_allreduce_seconds", "All-reduce time of the last successful step.", "worker")
	wSamples  = counter("asf_worker_samples_total", "Samples of the global batches of the steps taken (rate() = samples/s).", "worker")
	wLoss     = gauge("asf_worker_loss", "Training loss (MSE) of the last step's batch.", "worker")
	wAcc      = gauge("asf_worker_accuracy", "Training accuracy of the last step's batch (0..1).", "worker")
	wGen      = gauge("asf_worker_generation", "Generation of the last step computed.", "worker")
	wStep     = gauge("asf_worker_step", "The last step (unit of work) computed.", "worker")
	wSynced   = counter("asf_worker_synced_states_total", "States fetched from peers or the coordinator.", "worker")
	wRate     = gauge("asf_worker_firing_rate", "Mean spikes per neuron per time step of each layer in the last step.", "worker", "layer", "name")
)

var workerDescs = []*prometheus.Desc{wSteps.Desc, wFailed.Desc, wStepSecs, wCompSecs, wRedSecs, wUpdSecs, wAhead.Desc, wSyncSecs.Desc, wRedBytes.Desc,
	wLastStep.Desc, wLastRed.Desc, wSamples.Desc, wLoss.Desc, wAcc.Desc, wGen.Desc, wStep.Desc, wSynced.Desc, wRate.Desc}

// workersCollector collects the metrics of the workers of a process (one in
// asf-worker, several in the embedded `asf train`) from stats, read at every
// scrape.
type workersCollector struct {
	stats func() []worker.Stats
}

// Describe implements prometheus.Collector.
func (c *workersCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range workerDescs {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *workersCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		id := s.ID
		ch <- wSteps.metric(float64(s.Steps), id)
		ch <- wFailed.metric(float64(s.FailedSteps), id)
		ch <- prometheus.MustNewConstSummary(wStepSecs, uint64(s.Steps), s.StepSeconds, nil, id)
		ch <- prometheus.MustNewConstSummary(wCompSecs, uint64(s.Steps), s.ComputeSeconds, nil, id)
		ch <- prometheus.MustNewConstSummary(wRedSecs, uint64(s.Reduces), s.ReduceSeconds, nil, id)
		ch <- prometheus.MustNewConstSummary(wUpdSecs, uint64(s.Steps), s.UpdateSeconds, nil, id)
		ch <- wAhead.metric(float64(s.AheadTaken), id, "taken")
		ch <- wAhead.metric(float64(s.AheadDropped), id, "dropped")
		ch <- wSyncSecs.metric(s.SyncSeconds, id)
		ch <- wRedBytes.metric(float64(s.ReduceBytes), id)
		ch <- wLastStep.metric(seconds(s.LastStep), id)
		ch <- wLastRed.metric(seconds(s.LastReduce), id)
		ch <- wSamples.metric(float64(s.Samples), id)
		ch <- wLoss.metric(s.Loss, id)
		ch <- wAcc.metric(s.Accuracy, id)
		ch <- wGen.metric(float64(s.Generation), id)
		ch <- wStep.metric(float64(s.Step), id)
		ch <- wSynced.metric(float64(s.Synced), id)
		for l, r := range s.FiringRates {
			ch <- wRate.metric(r, id, strconv.Itoa(l), s.Layers[l])
		}
	}
}

func seconds(d time.Duration) float64 { return d.Seconds() }
