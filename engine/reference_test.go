package engine

import (
	"math"
	"slices"
	"testing"
)

// TestPoolingNeuronsNeverLeak: under LIF the pooling neurons of P2 integrate without
// leak (the reference's pooling neurons), while conv and FC neurons leak.
func TestPoolingNeuronsNeverLeak(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T = 12
	cfg.Encoding = Direct
	cfg.Leak = 0.5
	n, err := BuildNet("P2-1FC-1FC", Shape{1, 2, 2}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(n, 1)
	copy(m.Weights(1), []float32{0.3})
	copy(m.Weights(2), []float32{1})
	ws := NewWorkspace(n)
	// The pooling neuron gets I = 0.3 every step. Without leak V reaches 0.3, 0.6,
	// 0.9 > 0.75: a spike every third step, 4 in 12 steps. With leak 0.5 V would
	// settle at 0.6 and never spike.
	if _, err := ws.Predict(m, []float32{0.3, 0.3, 0.3, 0.3}, 1, 0); err != nil {
		t.Fatal(err)
	}
	if fo := ws.lay[0].FO[0]; fo != 4 {
		t.Fatalf("pooling neuron spiked %v times in 12 steps, want 4 (no leak)", fo)
	}
	// The FC neuron gets 0.3 per pooling spike, 4 times, one every third step: with
	// leak 0.5 its V never passes 1 (0.3 decays between inputs); without leak it
	// would reach 1.2 and spike once.
	if fo := ws.lay[1].FO[0]; fo != 0 {
		t.Fatalf("leaky FC neuron spiked %v times, want 0", fo)
	}
}

// TestMaxPoolSignedSpikes: MP2 on signed input spikes passes the max of each window:
// +1 if any element spiked +1, -1 only if all four spiked -1, else nothing.
func TestMaxPoolSignedSpikes(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float32 // 2x2 input; gain 1 with |x| = 1 spikes every step
		want []int32   // the max pool's events at each step
	}{
		{"all negative", []float32{-1, -1, -1, -1}, []int32{-1}},
		{"one positive", []float32{-1, -1, 1, -1}, []int32{0}},
		{"three negative one silent", []float32{-1, -1, -1, 0}, nil},
		{"all positive", []float32{1, 1, 1, 1}, []int32{0}},
		{"silent", []float32{0, 0, 0, 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.T = 3
			cfg.Gain = 1
			n, err := BuildNet("MP2-1FC", Shape{1, 2, 2}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := NewModel(n, 1)
			copy(m.Weights(1), []float32{1})
			ws := NewWorkspace(n)
			o, err := ws.Predict(m, tc.x, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			for step := 0; step < cfg.T; step++ {
				if got := ws.lay[0].ev.at(step); !slices.Equal(got, tc.want) && (len(got) > 0 || len(tc.want) > 0) {
					t.Fatalf("step %d: max pool events %v, want %v", step, got, tc.want)
				}
			}
			// o = W * sum_t s(t) / (T * Vth): +1, -1 or 0 per step.
			want := float32(0)
			if len(tc.want) == 1 {
				want = 1
				if tc.want[0] < 0 {
					want = -1
				}
			}
			if o[0] != want {
				t.Fatalf("output %v, want %v", o[0], want)
			}
		})
	}
}

// TestScalesUpdatedBeforeBackward: in a scale epoch the step uses the gradient of
// the backward whose masks carry the scales updated from the same batch (the
// reference order), although the workers computed it with the scales from before.
func TestScalesUpdatedBeforeBackward(t *testing.T) {
	n, b := detSetup(t)
	m := NewModel(n, 3)
	tc := DefaultTrainConfig()
	const epoch = 0 // a scale epoch (0 % 5 == 0)
	if !tc.ScaleEpoch(epoch) {
		t.Fatal("epoch 0 should be a scale epoch")
	}
	result := func(m *Model) []int64 {
		acc := make([]int64, n.ResultLen())
		if err := RunMicroBatches(m, split(b, 4), 9, epoch, wss(n, 1), acc); err != nil {
			t.Fatal(err)
		}
		return acc
	}
	// What Apply does: backward with the old scales, then the update.
	got := m.Clone()
	opt := NewOptimizer(tc, n.NParams)
	st, err := opt.Apply(got, result(m), epoch)
	if err != nil {
		t.Fatal(err)
	}
	// The reference order by hand: update the scales from this batch's sums, run the
	// backward with them, take the step without touching the scales again.
	upd := m.Clone()
	UpdateScales(upd, st, tc.ScaleMix)
	if slices.Equal(upd.Scales, m.Scales) {
		t.Fatal("the scales did not change: the test cannot tell the orders apart")
	}
	if !slices.Equal(got.Scales, upd.Scales) {
		t.Fatalf("scales after Apply %v, want %v", got.Scales, upd.Scales)
	}
	wantGrad := make([]float32, n.NParams)
	if _, err := n.DecodeResult(result(upd), wantGrad); err != nil {
		t.Fatal(err)
	}
	oldGrad := make([]float32, n.NParams)
	if _, err := n.DecodeResult(result(m), oldGrad); err != nil {
		t.Fatal(err)
	}
	relErr := func(g []float32) float64 {
		var num, den float64
		for i := range g {
			d := float64(g[i]) - float64(wantGrad[i])
			num += d * d
			den += float64(wantGrad[i]) * float64(wantGrad[i])
		}
		return math.Sqrt(num / den)
	}
	if e := relErr(opt.grad); e > 1e-5 {
		t.Fatalf("gradient applied differs from the updated-scale backward by %.3g (relative)", e)
	}
	if e := relErr(oldGrad); e < 1e-3 {
		t.Fatalf("old-scale and new-scale gradients differ by only %.3g: the test cannot tell the orders apart", e)
	}
	want := m.Clone()
	ref := NewOptimizer(tc, n.NParams)
	ref.Update(want.Params, wantGrad, tc.LRAt(epoch))
	var maxd float64
	for i := range want.Params {
		maxd = max(maxd, math.Abs(float64(want.Params[i]-got.Params[i])))
	}
	if maxd > 1e-6 {
		t.Fatalf("weights after Apply differ from the reference order by up to %g", maxd)
	}
}

// TestConvChannelGroupsBitwise: accumulating a conv layer's input one position at a
// time (all channels that fired there in one pass) gives bitwise the currents of
// adding one spike at a time in event order.
func TestConvChannelGroupsBitwise(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T = 8
	cfg.Gain = 1
	n, err := BuildNet("12C5-P2-9C3-3FC", Shape{2, 10, 10}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(n, 5)
	ws := NewWorkspace(n)
	g := newNormalStream(7)
	x := make([]float32, n.Input.Size())
	for i := range x {
		x[i] = float32(min(max(g.next(), -1), 1))
	}
	if _, err := ws.Predict(m, x, 1, 0); err != nil {
		t.Fatal(err)
	}
	l := &n.Layers[2] // 9C3 fed by the 12 pooling channels
	in := n.Layers[1].Out
	grouped, single := make([]float32, l.Out.Size()), make([]float32, l.Out.Size())
	multi := 0
	for step := 0; step < cfg.T; step++ {
		ev := ws.lay[1].ev.at(step)
		for i := 1; i < len(ev); i++ {
			if ev[i]/int32(in.C) == ev[i-1]/int32(in.C) {
				multi++
			}
		}
		ws.accumulate(l, m.Weights(2), in, grouped, ev, nil, 0)
		for _, e := range ev {
			convScatter(l, m.Weights(2), in, single, int(e), 1)
		}
		for i := range grouped {
			if math.Float32bits(grouped[i]) != math.Float32bits(single[i]) {
				t.Fatalf("step %d: current %d is %v grouped, %v one spike at a time", step, i, grouped[i], single[i])
			}
		}
	}
	if multi == 0 {
		t.Fatal("no two channels fired at one position: the test did not exercise the grouping")
	}
}
