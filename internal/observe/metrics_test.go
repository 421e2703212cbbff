package observe

import (
	"math"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/worker"
	"github.com/prometheus/client_golang/prometheus"
)

// gather returns each series' value keyed by its name and label values
// ("name,v1,v2"); summaries as name_sum and name_count.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetValue()
			}
			switch {
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetSummary() != nil:
				out[mf.GetName()+"_sum"+key[len(mf.GetName()):]] = m.GetSummary().GetSampleSum()
				out[mf.GetName()+"_count"+key[len(mf.GetName()):]] = float64(m.GetSummary().GetSampleCount())
			}
		}
	}
	return out
}

func TestCoordinator(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	snap := coordinator.Snapshot{Time: now, Job: "j", Spec: "8C3-10FC", Dataset: "synthetic", Phase: "running",
		Generation: 3, Ring: []string{"a", "b", "c"}, Step: 40, TotalSteps: 100, Epoch: 1, Loss: 0.5, Accuracy: 0.75,
		SamplesPerSec: 1234, Commits: 10, CommitSeconds: 2.5, ReduceBytesPerStep: 4096, Retries: 2,
		Members: []coordinator.MemberSnapshot{
			{ID: "a", State: "ring", Rank: 0, Steps: 10, LastStep: 0.3, MeanStep: 0.3, LastCompute: 0.1},
			{ID: "b", State: "ring", Rank: 1, Steps: 10, LastStep: 0.3, MeanStep: 0.3, LastCompute: 0.1},
			{ID: "c", State: "ring", Rank: 2, Steps: 10, LastStep: 0.3, MeanStep: 0.3, LastCompute: 0.3},
			{ID: "d", State: "waiting", Rank: -1},
		},
		Steps:       []coordinator.StepSnapshot{{Step: 40, StepTime: 0.3}},
		Generations: make([]coordinator.GenerationSnapshot, 3),
		Checkpoints: []coordinator.CheckpointSnapshot{{ID: 1, Step: 20, Saved: now.Add(-time.Minute)}, {ID: 2, Step: 40, Saved: now.Add(-5 * time.Second)}},
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&coordinatorCollector{snap: func() coordinator.Snapshot { return snap }})
	got := gather(t, reg)
	want := map[string]float64{
		"asf_coordinator_job_info,synthetic,j,running,8C3-10FC": 1,
		"asf_coordinator_step":                     40,
		"asf_coordinator_total_steps":              100,
		"asf_coordinator_step_seconds_sum":         2.5,
		"asf_coordinator_step_seconds_count":       10,
		"asf_coordinator_last_step_seconds":        0.3,
		"asf_coordinator_samples_per_second":       1234,
		"asf_coordinator_loss":                     0.5,
		"asf_coordinator_accuracy":                 0.75,
		"asf_coordinator_generation":               3,
		"asf_coordinator_generation_changes_total": 3,
		"asf_coordinator_members,ring":             3,
		"asf_coordinator_members,waiting":          1,
		"asf_coordinator_members,loading":          0,
		"asf_coordinator_ring_size":                3,
		"asf_coordinator_step_retries_total":       2,
		"asf_coordinator_reduce_bytes_per_step":    4096,
		"asf_coordinator_checkpoints":              2,
		"asf_coordinator_checkpoint_age_seconds":   5,
		"asf_coordinator_checkpoint_step":          40,
		"asf_coordinator_worker_step_seconds,c":    0.3,
		"asf_coordinator_worker_rank,d":            -1,
		"asf_coordinator_worker_straggler_ratio,a": 1,
		"asf_coordinator_worker_straggler_ratio,c": 3,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["asf_coordinator_worker_straggler_ratio,d"]; ok {
		t.Error("a worker outside the ring has a straggler ratio")
	}
	if _, ok := got["asf_coordinator_test_accuracy"]; ok {
		t.Error("test accuracy exported before any evaluation")
	}
}

func TestWorkers(t *testing.T) {
	stats := []worker.Stats{
		{ID: "w0", Steps: 4, StepSeconds: 2, ComputeSeconds: 1.5, ReduceSeconds: 0.4, Reduces: 4, ReduceBytes: 800, UpdateSeconds: 0.08, AheadTaken: 3, AheadDropped: 1,
			Samples: 128, Loss: 0.2, LastStep: 500 * time.Millisecond, Layers: []string{"8C3", "P2", "10FC"},
			FiringRates: []float64{0.1, 0.05, 0}},
		{ID: "w1", Steps: 3, FailedSteps: 1},
	}
	reg := newRegistry()
	reg.MustRegister(&workersCollector{stats: func() []worker.Stats { return stats }})
	got := gather(t, reg)
	want := map[string]float64{
		"asf_worker_steps_total,w0":               4,
		"asf_worker_failed_steps_total,w1":        1,
		"asf_worker_step_seconds_sum,w0":          2,
		"asf_worker_step_seconds_count,w0":        4,
		"asf_worker_allreduce_seconds_sum,w0":     0.4,
		"asf_worker_allreduce_seconds_count,w0":   4,
		"asf_worker_allreduce_bytes_total,w0":     800,
		"asf_worker_update_seconds_sum,w0":        0.08,
		"asf_worker_ahead_steps_total,taken,w0":   3,
		"asf_worker_ahead_steps_total,dropped,w0": 1,
		"asf_worker_samples_total,w0":             128,
		"asf_worker_last_step_seconds,w0":         0.5,
		"asf_worker_firing_rate,0,8C3,w0":         0.1,
		"asf_worker_firing_rate,1,P2,w0":          0.05,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || math.Abs(g-v) > 1e-9 {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
	if _, ok := got["go_goroutines"]; !ok {
		t.Error("newRegistry lacks the Go collector")
	}
}

func TestMedianCompute(t *testing.T) {
	m := func(rank int, s float64) coordinator.MemberSnapshot {
		return coordinator.MemberSnapshot{Rank: rank, LastCompute: s}
	}
	for _, tc := range []struct {
		name string
		ms   []coordinator.MemberSnapshot
		want float64
	}{
		{"none", nil, 0},
		{"odd", []coordinator.MemberSnapshot{m(0, 3), m(1, 1), m(2, 2)}, 2},
		{"even", []coordinator.MemberSnapshot{m(0, 1), m(1, 4)}, 2.5},
		{"outside the ring and no step yet are left out", []coordinator.MemberSnapshot{m(-1, 9), m(0, 0), m(1, 1)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := medianCompute(tc.ms); got != tc.want {
				t.Fatalf("medianCompute = %v, want %v", got, tc.want)
			}
		})
	}
}
