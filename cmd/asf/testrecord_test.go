package main

import (
	"strings"
	"testing"
)

// TestTestRecord: the summary names the last epoch's and the best epoch's accuracy.
func TestTestRecord(t *testing.T) {
	for _, tc := range []struct {
		accs []float64
		want string
	}{
		{nil, ""},
		{[]float64{0.98}, "last 98.00% (epoch 1), best 98.00% (epoch 1;"},
		{[]float64{0.98, 0.991, 0.99}, "last 99.00% (epoch 3), best 99.10% (epoch 2;"},
		{[]float64{0.5, 0.5}, "last 50.00% (epoch 2), best 50.00% (epoch 1;"},
	} {
		var r testRecord
		for i, a := range tc.accs {
			r.add(i+1, a)
		}
		got := r.summary()
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("accuracies %v: summary %q, want it to contain %q", tc.accs, got, tc.want)
		}
	}
}
