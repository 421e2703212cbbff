package engine

import (
	"math"
	"testing"
)

// refEquivalent evaluates the loss of the equivalent network of docs/algorithm.md section 4 in
// float64, from the standard-layout weights ws (one per weighted layer, in order),
// with every layer's value h_n = FO_n + M_n (.) (a_n - a0_n). It is written from the
// formulas, independently of the engine's event-driven kernels. If a0 is nil it
// records a_n into the returned slice (the detached values at the base point).
func refEquivalent(n *Net, w *Workspace, scales []float64, std [][]float64, y int, a0 [][]float64) (float64, [][]float64) {
	h := make([]float64, len(w.in.H))
	for i, v := range w.in.H {
		h[i] = float64(v)
	}
	in := n.Input
	record := a0 == nil
	if record {
		a0 = make([][]float64, len(n.Layers))
	}
	wi := 0
	var loss float64
	for li, l := range n.Layers {
		b := &w.lay[li]
		var a []float64
		switch l.Kind {
		case Conv, FC:
			a = refLinear(l, in, std[wi], h)
			wi++
			if l.BLen > 0 {
				for i := range a {
					a[i] += float64(n.Config.T) * std[wi][i%l.BLen]
				}
				wi++
			}
		case AvgPool:
			a = refLinear(l, in, nil, h)
		case MaxPool:
			next := make([]float64, l.Out.Size())
			for o := range next {
				next[o] = h[b.arg[o]]
			}
			h, in = next, l.Out
			continue
		}
		if record {
			a0[li] = append([]float64(nil), a...)
		}
		if l.Output {
			for k, v := range a {
				o := v / (float64(n.Config.T) * float64(l.Vth))
				t := 0.0
				if k == y {
					t = 1
				}
				loss += (o - t) * (o - t)
			}
			break
		}
		next := make([]float64, len(a))
		for i := range a {
			next[i] = float64(b.FO[i])
			if b.FI[i] > 0 {
				next[i] += scales[li] * (a[i] - a0[li][i])
			}
		}
		h, in = next, l.Out
	}
	return loss, a0
}

// refLinear applies layer l's linear map (conv with "same" padding, FC, or 2x2
// average) in float64 to the input h (HWC, shape in), with the standard-layout
// weights W (conv [cout][cin][ky][kx], FC [out][in] over CHW-flattened inputs).
func refLinear(l Layer, in Shape, W, h []float64) []float64 {
	var a []float64
	switch l.Kind {
	case Conv:
		k, ci, co := l.K, in.C, l.Out.C
		p, st := l.Pad, l.Stride
		a = make([]float64, l.Out.Size())
		for oy := 0; oy < l.Out.H; oy++ {
			for ox := 0; ox < l.Out.W; ox++ {
				for o := 0; o < co; o++ {
					var s float64
					for c := 0; c < ci; c++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*st+ky-p, ox*st+kx-p
								if iy < 0 || iy >= in.H || ix < 0 || ix >= in.W {
									continue
								}
								s += W[((o*ci+c)*k+ky)*k+kx] * h[(iy*in.W+ix)*ci+c]
							}
						}
					}
					a[(oy*l.Out.W+ox)*co+o] = s
				}
			}
		}
	case FC:
		a = make([]float64, l.Out.C)
		for o := range a {
			for e := range h {
				a[o] += W[o*len(h)+hwcToCHW(in, e)] * h[e]
			}
		}
	case AvgPool:
		a = make([]float64, l.Out.Size())
		for y := 0; y < l.Out.H; y++ {
			for x := 0; x < l.Out.W; x++ {
				for c := 0; c < in.C; c++ {
					var s float64
					for dy := 0; dy < 2; dy++ {
						for dx := 0; dx < 2; dx++ {
							s += h[((2*y+dy)*in.W+2*x+dx)*in.C+c]
						}
					}
					a[(y*l.Out.W+x)*in.C+c] = s / 4
				}
			}
		}
	}
	return a
}

func TestGradientFiniteDifferences(t *testing.T) {
	tests := []struct {
		name string
		spec string
		in   Shape
		cfg  func(*Config)
		neg  bool
	}{
		{"conv pools fc", "4C3-P2-6C3-MP2-8FC-3FC", Shape{1, 8, 8}, func(c *Config) { c.T = 16; c.Gain = 1 }, false},
		{"fc signed input", "6FC-5FC-3FC", Shape{1, 3, 3}, func(c *Config) { c.T = 10; c.Gain = 1 }, true},
		{"direct LIF subtract", "3C3-P2-4FC", Shape{2, 4, 4}, func(c *Config) {
			c.T = 12
			c.Encoding = Direct
			c.Leak = 0.9
			c.Reset = ResetSubtract
		}, false},
		{"vgg-like", "3C3-3C3-P2-4C3-MP2-5FC-2FC", Shape{2, 6, 6}, func(c *Config) { c.T = 8; c.Gain = 1 }, false},
		{"events", "4C3-P2-6FC-3FC", Shape{2, 6, 6}, func(c *Config) { c.T = 9; c.Encoding = Events; c.Frames = 3 }, false},
		{"K=5", "4C5-P2-5C5-P2-6FC-3FC", Shape{1, 12, 12}, func(c *Config) { c.T = 10; c.Gain = 1 }, false},
		{"K=5 LIF", "3C5-P2-4FC", Shape{2, 7, 7}, func(c *Config) { c.T = 12; c.Gain = 1; c.Leak = 0.85 }, true},
		{"stride 2 padding 1", "4C3s2p1-5C3-P2-6FC-3FC", Shape{2, 9, 9}, func(c *Config) { c.T = 12; c.Gain = 1 }, false},
		{"biases", "4C3b-P2-5C3s2b-6FCb-3FCb", Shape{1, 8, 8}, func(c *Config) { c.T = 12; c.Gain = 1 }, false},
		{"biases direct LIF", "3C3p0b-4FCb-3FC", Shape{2, 5, 5}, func(c *Config) { c.T = 10; c.Encoding = Direct; c.Leak = 0.9 }, false},
		{"valid, even kernel, stride 3", "4C4p0-3C5s3p2-5FC-3FC", Shape{1, 12, 11}, func(c *Config) { c.T = 10; c.Gain = 1 }, true},
		{"padding 2 of a 3x3 kernel", "3C3p2-4FC", Shape{1, 5, 5}, func(c *Config) { c.T = 10; c.Gain = 1; c.Leak = 0.9 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.cfg(&cfg)
			n, err := BuildNet(tc.spec, tc.in, cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := NewModel(n, 7)
			for i := range m.Scales {
				m.Scales[i] = 0.5 + 0.1*float64(i) // non-trivial scales
			}
			// Larger weights so that every layer fires.
			for i := range m.Params {
				m.Params[i] *= 1.5
			}
			x := make([]float32, n.SampleSize())
			g := newNormalStream(99)
			for i := range x {
				x[i] = float32(math.Abs(g.next())) / 2
				if tc.neg && i%3 == 0 {
					x[i] = -x[i]
				}
			}
			const label = 1
			ws := NewWorkspace(n)
			ws.forward(m, x, 3, domainTrain, 0, 5)
			ws.sampleLoss(label)
			grad := make([]float32, n.NParams)
			ws.backward(m, grad)
			for li, l := range n.Layers {
				if l.Spiking {
					if fired := len(ws.lay[li].ev.idx); fired == 0 {
						t.Fatalf("layer %s never fired: test would not exercise it", l.Name())
					}
				}
			}
			gm := &Model{Net: n, Params: grad, Scales: m.Scales}
			analytic := gm.ExportWeights()
			base := m.ExportWeights()
			std := make([][]float64, len(base))
			for i, tw := range base {
				std[i] = make([]float64, len(tw.Data))
				for j, v := range tw.Data {
					std[i][j] = float64(v)
				}
			}
			_, a0 := refEquivalent(n, ws, m.Scales, std, label, nil)
			const eps = 1e-3
			for ti, tw := range analytic {
				var maxAbs float64
				for _, v := range tw.Data {
					maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
				}
				if maxAbs == 0 {
					t.Fatalf("%s: zero gradient: test would not check it", tw.Name)
				}
				for j := range std[ti] {
					orig := std[ti][j]
					std[ti][j] = orig + eps
					lp, _ := refEquivalent(n, ws, m.Scales, std, label, a0)
					std[ti][j] = orig - eps
					lm, _ := refEquivalent(n, ws, m.Scales, std, label, a0)
					std[ti][j] = orig
					num := (lp - lm) / (2 * eps)
					if d := math.Abs(num - float64(tw.Data[j])); d > 1e-3*maxAbs+1e-4 {
						t.Fatalf("%s[%d]: analytic %v, numeric %v (max |g| %v)", tw.Name, j, tw.Data[j], num, maxAbs)
					}
				}
			}
		})
	}
}
