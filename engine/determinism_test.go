package engine

import (
	"runtime"
	"slices"
	"testing"
)

// detSetup builds a small conv network and a batch of 24 random-ish samples.
func detSetup(t *testing.T) (*Net, Batch) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.T = 12
	cfg.Gain = 1
	n, err := BuildNet("6C3-P2-8C3-P2-12FC-4FC", Shape{1, 12, 12}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var b Batch
	g := newNormalStream(42)
	for i := 0; i < 24; i++ {
		x := make([]float32, 144)
		for j := range x {
			if v := g.next(); v > 0 {
				x[j] = float32(min(v, 1))
			}
		}
		b.X = append(b.X, x)
		b.Y = append(b.Y, i%4)
		b.Index = append(b.Index, 1000+i)
	}
	return n, b
}

func split(b Batch, m int) []Batch {
	var out []Batch
	for i := 0; i < b.Len(); i += m {
		j := min(i+m, b.Len())
		out = append(out, Batch{X: b.X[i:j], Y: b.Y[i:j], Index: b.Index[i:j]})
	}
	return out
}

func wss(n *Net, k int) []*Workspace {
	out := make([]*Workspace, k)
	for i := range out {
		out[i] = NewWorkspace(n)
	}
	return out
}

// TestResultIndependentOfGrouping: the fixed-point sum of the micro-batches is
// bitwise the same whatever the number of goroutines and however the micro-batch
// results are grouped and ordered before summing.
func TestResultIndependentOfGrouping(t *testing.T) {
	n, b := detSetup(t)
	m := NewModel(n, 3)
	mbs := split(b, 4)
	ref := make([]int64, n.ResultLen())
	if err := RunMicroBatches(m, mbs, 9, 2, wss(n, 1), ref); err != nil {
		t.Fatal(err)
	}
	nonzero := 0
	for _, v := range ref[:n.NParams] {
		if v != 0 {
			nonzero++
		}
	}
	if nonzero < n.NParams/4 {
		t.Fatalf("only %d of %d gradient entries are nonzero: the test would prove little", nonzero, n.NParams)
	}
	for _, k := range []int{2, 3, 5} {
		got := make([]int64, n.ResultLen())
		if err := RunMicroBatches(m, mbs, 9, 2, wss(n, k), got); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, ref) {
			t.Fatalf("%d goroutines give a different sum", k)
		}
	}
	// Each micro-batch alone, then summed in reverse order in two groups, as two
	// workers of a ring would.
	parts := make([][]int64, len(mbs))
	ws := NewWorkspace(n)
	for i, mb := range mbs {
		parts[i] = make([]int64, n.ResultLen())
		if err := ws.MicroBatch(m, mb, 9, 2, parts[i]); err != nil {
			t.Fatal(err)
		}
	}
	g1, g2 := make([]int64, n.ResultLen()), make([]int64, n.ResultLen())
	for i := len(parts) - 1; i >= 0; i-- {
		dst := g1
		if i%2 == 1 {
			dst = g2
		}
		if err := AddResults(dst, parts[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := AddResults(g2, g1); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g2, ref) {
		t.Fatal("regrouped micro-batch sums differ")
	}
	// A different epoch draws different spikes: the result must change.
	other := make([]int64, n.ResultLen())
	if err := RunMicroBatches(m, mbs, 9, 3, wss(n, 1), other); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(other, ref) {
		t.Fatal("epoch does not affect the spikes")
	}
}

// TestTrainingIndependentOfGOMAXPROCS trains a few steps under GOMAXPROCS 1 and 2
// with different goroutine counts and compares the model digests.
func TestTrainingIndependentOfGOMAXPROCS(t *testing.T) {
	n, b := detSetup(t)
	run := func(procs, threads int) [32]byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := NewModel(n, 3)
		cfg := DefaultTrainConfig()
		cfg.ScaleEvery = 1
		opt := NewOptimizer(cfg, n.NParams)
		acc := make([]int64, n.ResultLen())
		w := wss(n, threads)
		for step := 0; step < 4; step++ {
			clear(acc)
			if err := RunMicroBatches(m, split(b, 6), 9, step/2, w, acc); err != nil {
				t.Fatal(err)
			}
			if _, err := opt.Apply(m, acc, step/2); err != nil {
				t.Fatal(err)
			}
		}
		return m.Digest()
	}
	ref := run(1, 1)
	for _, c := range [][2]int{{2, 2}, {2, 3}, {1, 4}} {
		if got := run(c[0], c[1]); got != ref {
			t.Fatalf("GOMAXPROCS %d with %d goroutines: digest differs", c[0], c[1])
		}
	}
}

// TestOverflowDetected: a gradient beyond the fixed-point range is an error, not a
// wrapped sum.
func TestOverflowDetected(t *testing.T) {
	acc := []int64{1<<62 + 1<<61}
	if err := addQuantized(acc, []float32{float32(1 << 29)}); err == nil {
		t.Fatal("overflowing sum accepted")
	}
	if err := addQuantized([]int64{0}, []float32{float32(1 << 31)}); err == nil {
		t.Fatal("out-of-range value accepted")
	}
	nan := float32(0)
	nan /= nan
	if err := addQuantized([]int64{0}, []float32{nan}); err == nil {
		t.Fatal("NaN accepted")
	}
	if err := AddResults([]int64{1 << 62}, []int64{1 << 62}); err == nil {
		t.Fatal("AddResults wrapped around")
	}
}
