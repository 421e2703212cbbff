package engine

import (
	"runtime"
	"slices"
	"testing"
)

// bpttSetup is detSetup's network and batch trained with BPTT (LIF, subtract
// reset, fast sigmoid), so that every BPTT path of a conv network is exercised.
func bpttSetup(t *testing.T) (*Net, Batch) {
	t.Helper()
	asf, b := detSetup(t)
	cfg := asf.Config
	cfg.Method = BPTT
	cfg.Surrogate = FastSigmoid
	cfg.Leak = 0.9
	cfg.Reset = ResetSubtract
	n, err := NewNet(asf.Spec, asf.Input, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return n, b
}

// TestBPTTResultIndependentOfGrouping: BPTT's micro-batch results go through the
// same fixed-point sum, so any number of goroutines and any grouping of the
// micro-batches give bitwise the same result; and it is not ASF-BP's.
func TestBPTTResultIndependentOfGrouping(t *testing.T) {
	n, b := bpttSetup(t)
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
	if nonzero < n.NParams/2 {
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
	parts := make([]int64, n.ResultLen())
	ws := NewWorkspace(n)
	for i := len(mbs) - 1; i >= 0; i-- {
		if err := ws.MicroBatch(m, mbs[i], 9, 2, parts); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(parts, ref) {
		t.Fatal("micro-batches summed in reverse order differ")
	}
	asfCfg := n.Config
	asfCfg.Method, asfCfg.Surrogate = ASF, ATan
	an, err := NewNet(n.Spec, n.Input, asfCfg)
	if err != nil {
		t.Fatal(err)
	}
	am := &Model{Net: an, Params: m.Params, Scales: m.Scales}
	other := make([]int64, an.ResultLen())
	if err := RunMicroBatches(am, mbs, 9, 2, wss(an, 1), other); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(other[:n.NParams], ref[:n.NParams]) {
		t.Fatal("BPTT and ASF-BP give the same gradient: the method is not dispatched")
	}
}

// TestBPTTTrainingIndependentOfGOMAXPROCS trains a few BPTT steps under
// GOMAXPROCS 1 and 2 with different goroutine counts and compares digests.
func TestBPTTTrainingIndependentOfGOMAXPROCS(t *testing.T) {
	n, b := bpttSetup(t)
	run := func(procs, threads int) [32]byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := NewModel(n, 3)
		opt := NewOptimizer(DefaultTrainConfig(), n.NParams)
		acc := make([]int64, n.ResultLen())
		w := wss(n, threads)
		for step := 0; step < 3; step++ {
			clear(acc)
			if err := RunMicroBatches(m, split(b, 6), 9, step, w, acc); err != nil {
				t.Fatal(err)
			}
			if _, err := opt.Apply(m, acc, step); err != nil {
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

// TestBPTTIgnoresScales: the ASF scales are no part of BPTT: a scale epoch
// leaves them at 1 and applies the reduced gradient as it is.
func TestBPTTIgnoresScales(t *testing.T) {
	n, b := bpttSetup(t)
	m := NewModel(n, 3)
	acc := make([]int64, n.ResultLen())
	if err := RunMicroBatches(m, split(b, 6), 9, 0, wss(n, 2), acc); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultTrainConfig()
	cfg.ScaleEvery = 1
	want := m.Clone()
	grad := make([]float32, n.NParams)
	if _, err := n.DecodeResult(acc, grad); err != nil {
		t.Fatal(err)
	}
	NewOptimizer(cfg, n.NParams).Update(want.Params, grad, cfg.LRAt(0))
	if _, err := NewOptimizer(cfg, n.NParams).Apply(m, acc, 0); err != nil {
		t.Fatal(err)
	}
	for l, s := range m.Scales {
		if s != 1 {
			t.Fatalf("layer %d: scale %v after a BPTT scale epoch", l, s)
		}
	}
	if m.Digest() != want.Digest() {
		t.Fatal("Apply changed the BPTT gradient")
	}
}
