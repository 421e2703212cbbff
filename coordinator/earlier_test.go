package coordinator

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/job"
)

// A resumed job knows the epochs its earlier runs finished, so that asf train
// --resume reports the best test accuracy of the whole job, not of its last
// piece: resets forget them, rollbacks drop the epochs after the step rolled
// back to, and an epoch done again replaces the first report.
func TestEarlierEpochs(t *testing.T) {
	epoch := func(e int, acc float64) checkpoint.MetricPoint {
		return checkpoint.MetricPoint{Kind: "epoch", Epoch: e, Step: 2 * (e + 1), TestAcc: acc, HasTest: true}
	}
	tests := []struct {
		name   string
		points []checkpoint.MetricPoint
		want   []EpochTest
	}{
		{"none", nil, nil},
		{"two epochs", []checkpoint.MetricPoint{epoch(0, 0.5), epoch(1, 0.7)},
			[]EpochTest{{0, 2, 0.5, true}, {1, 4, 0.7, true}}},
		{"rollback into epoch 1", []checkpoint.MetricPoint{epoch(0, 0.5), epoch(1, 0.7), {Kind: "rollback", Step: 3}},
			[]EpochTest{{0, 2, 0.5, true}}},
		{"epoch 1 done again", []checkpoint.MetricPoint{epoch(0, 0.5), epoch(1, 0.7), {Kind: "rollback", Step: 2}, epoch(1, 0.6)},
			[]EpochTest{{0, 2, 0.5, true}, {1, 4, 0.6, true}}},
		{"reset", []checkpoint.MetricPoint{epoch(0, 0.5), {Kind: "reset"}, epoch(0, 0.4)},
			[]EpochTest{{0, 2, 0.4, true}}},
		{"no test", []checkpoint.MetricPoint{{Kind: "epoch", Epoch: 0, Step: 2}},
			[]EpochTest{{0, 2, 0, false}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := t.TempDir() + "/asf.db"
			j := smallJob()
			run := func(c Config) *Coordinator {
				co, err := New(ctx, c)
				if err != nil {
					t.Fatal(err)
				}
				cctx, cancel := context.WithCancel(ctx)
				cancel()
				if _, err := co.Run(cctx); !errors.Is(err, context.Canceled) {
					t.Fatalf("Run with a cancelled context: %v", err)
				}
				return co
			}
			if got := run(testConfig(t, j, store)).Earlier(); got != nil {
				t.Fatalf("a new job: Earlier = %v, want nil", got)
			}
			s, err := checkpoint.Open(store, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.points {
				tc.points[i].Job = j.ID
			}
			if err := s.AppendMetrics(tc.points...); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			c := testConfig(t, job.Job{ID: j.ID}, store)
			c.Resume = true
			if got := run(c).Earlier(); !slices.Equal(got, tc.want) {
				t.Fatalf("Earlier = %v, want %v", got, tc.want)
			}
		})
	}
}
