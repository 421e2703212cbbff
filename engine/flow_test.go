package engine

import (
	"math"
	"testing"
)

// TestFlowsAreLinear is an independent check of the forward pass on which the
// equivalent network rests: for every spiking layer, the accumulated input
// current FI_n equals W_n applied once to the spike counts of the layer below,
// FI_n = W_n * FO_{n-1} (sum over t of W_n s_{n-1}(t)), computed in float64 from
// the standard-layout weights and the counted spike events (not from FO or the
// engine's kernels). Covers K=3 and K=5 convolutions, P2, MP2 and FC, and the
// three encodings.
func TestFlowsAreLinear(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec string
		in   Shape
		cfg  func(*Config)
		neg  bool
	}{
		{"K=3 pools", "4C3-P2-6C3-MP2-8FC-3FC", Shape{1, 8, 8}, func(c *Config) { c.T = 16; c.Gain = 1 }, false},
		{"K=5 LeNet-like", "4C5-P2-6C5-P2-10FC-3FC", Shape{1, 12, 12}, func(c *Config) { c.T = 20; c.Gain = 1 }, true},
		{"K=5 LIF direct", "3C5-P2-5FC", Shape{2, 6, 6}, func(c *Config) { c.T = 10; c.Encoding = Direct; c.Leak = 0.9 }, false},
		{"events", "4C3-P2-6FC-3FC", Shape{2, 6, 6}, func(c *Config) { c.T = 9; c.Encoding = Events; c.Frames = 3 }, false},
		{"stride 2 padding 1", "4C3s2p1-5C3-P2-6FC-3FC", Shape{2, 9, 9}, func(c *Config) { c.T = 12; c.Gain = 1 }, true},
		{"valid, even kernel, stride 3", "4C4p0-3C5s3p2-5FC-3FC", Shape{1, 12, 11}, func(c *Config) { c.T = 10; c.Gain = 1 }, false},
		{"padding 2 of a 3x3 kernel, direct", "3C3p2-4C3s2-4FC", Shape{1, 5, 5}, func(c *Config) { c.T = 10; c.Encoding = Direct }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.cfg(&cfg)
			n, m, x := fdSample(t, tc.spec, tc.in, cfg, tc.neg)
			ws := NewWorkspace(n)
			ws.forward(m, x, 3, domainTrain, 0, 5)
			std := toFloat64(m.ExportWeights())
			// count of the input: spikes per element, or the whole window's current.
			count := make([]float64, n.Input.Size())
			for step := 0; step < cfg.T; step++ {
				for i, v := range refInput(n, ws, step) {
					count[i] += v
				}
			}
			wi := 0
			checked := 0
			for li, l := range n.Layers {
				var W []float64
				if l.WLen > 0 {
					W = std[wi]
					wi++
				}
				b := &ws.lay[li]
				if l.Spiking {
					want := refLinear(l, l.In, W, count)
					var scale float64
					for _, v := range want {
						scale = math.Max(scale, math.Abs(v))
					}
					if scale == 0 {
						t.Fatalf("%s: no input current: the test would check nothing", l.Name())
					}
					for i, v := range want {
						if d := math.Abs(float64(b.FI[i]) - v); d > 1e-5*scale*float64(cfg.T) {
							t.Fatalf("%s[%d]: FI = %v, W * FO_{n-1} = %v", l.Name(), i, b.FI[i], v)
						}
					}
					checked++
				}
				// The count this layer passes on: its spike events, counted.
				next := make([]float64, l.Out.Size())
				for step := 0; step < cfg.T && !l.Output; step++ {
					for _, e := range b.ev.at(step) {
						next[e]++
					}
				}
				count = next
			}
			if checked == 0 {
				t.Fatal("no spiking layer checked")
			}
		})
	}
}
