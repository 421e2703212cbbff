package engine

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

// refBase holds what the surrogate network detaches at the base point: the
// membrane H0(t) of every spiking layer, the arg-max of every MP2 window at every
// step, and of the spike counts (for an MP2 that feeds the output layer).
type refBase struct {
	H    [][][]float64 // [layer][t][neuron]
	arg  [][][]int     // [layer][t][output]
	carg [][]int       // [layer][output]
}

// refInput returns the input of the first layer at step t as float64 (HWC).
func refInput(n *Net, ws *Workspace, t int) []float64 {
	h := make([]float64, n.Input.Size())
	switch n.Config.Encoding {
	case Direct:
		for i, v := range ws.in.H {
			h[i] = float64(v) / float64(n.Config.T)
		}
	case Events:
		for i, v := range ws.frame(t) {
			h[i] = float64(v)
		}
	default:
		for _, e := range ws.in.ev.at(t) {
			if e >= 0 {
				h[e] = 1
			} else {
				h[-e-1] = -1
			}
		}
	}
	return h
}

// firstMax returns the index (into h, HWC of shape in) of the first element of
// the 2x2 window of output o (HWC of shape out) holding the window's maximum.
func firstMax(in, out Shape, h []float64, o int) int {
	c, x, y := o%out.C, o/out.C%out.W, o/(out.C*out.W)
	best, arg := math.Inf(-1), 0
	for dy := 0; dy < 2; dy++ {
		for dx := 0; dx < 2; dx++ {
			i := ((2*y+dy)*in.W+2*x+dx)*in.C + c
			if h[i] > best {
				best, arg = h[i], i
			}
		}
	}
	return arg
}

// refSurrogate runs the surrogate network in float64 with the standard-layout
// weights std: the forward of the engine written step by step from the formulas
// (independently of its event-driven kernels), where each spike is
// s = [H0 > Vth] + sigma(H - Vth) - sigma(H0 - Vth) with H0 the base point's
// membrane (so s has the Heaviside's value and the surrogate's derivative), and
// the reset uses s (Config.ResetGrad) or the detached [H0 > Vth]. With base.H nil
// it records the base point into base. It returns the loss and every layer's
// spike count per neuron.
func refSurrogate(n *Net, ws *Workspace, std [][]float64, y int, base *refBase) (float64, [][]int) {
	cfg := n.Config
	T := cfg.T
	alpha := float64(cfg.Slope())
	record := base.H == nil
	if record {
		base.H = make([][][]float64, len(n.Layers))
		base.arg = make([][][]int, len(n.Layers))
		base.carg = make([][]int, len(n.Layers))
	}
	V := make([][]float64, len(n.Layers))
	count := make([][]float64, len(n.Layers))
	spikes := make([][]int, len(n.Layers))
	for li, l := range n.Layers {
		spikes[li] = make([]int, l.Out.Size())
		V[li] = make([]float64, l.Out.Size())
		count[li] = make([]float64, l.Out.Size())
		if record {
			base.H[li] = make([][]float64, T)
			base.arg[li] = make([][]int, T)
		}
	}
	inCount := make([]float64, n.Input.Size())
	last := len(n.Layers) - 1
	for t := 0; t < T; t++ {
		h := refInput(n, ws, t)
		for i, v := range h {
			inCount[i] += v
		}
		wi := 0
		for li, l := range n.Layers {
			if l.Output {
				break
			}
			var next []float64
			switch l.Kind {
			case MaxPool:
				next = make([]float64, l.Out.Size())
				if record {
					base.arg[li][t] = make([]int, l.Out.Size())
					for o := range next {
						base.arg[li][t][o] = firstMax(l.In, l.Out, h, o)
					}
				}
				for o := range next {
					next[o] = h[base.arg[li][t][o]]
				}
			default:
				var W []float64
				if l.WLen > 0 {
					W = std[wi]
					wi++
				}
				a := refLinear(l, l.In, W, h)
				if record {
					base.H[li][t] = make([]float64, len(a))
				}
				next = make([]float64, len(a))
				vth := float64(l.Vth)
				leak := float64(cfg.Leak)
				if l.Kind == AvgPool {
					leak = 1 // pooling neurons never leak
				}
				for i := range a {
					H := V[li][i] + a[i]
					if record {
						base.H[li][t][i] = H
					}
					H0 := base.H[li][t][i]
					theta := 0.0
					if H0 > vth {
						theta = 1
						spikes[li][i]++
					}
					s := theta + (surrogateValue(cfg.Surrogate, alpha, H-vth) - surrogateValue(cfg.Surrogate, alpha, H0-vth))
					sr := theta
					if cfg.ResetGrad {
						sr = s
					}
					var v float64
					if cfg.Reset == ResetSubtract {
						v = H - vth*sr
					} else {
						v = H * (1 - sr)
					}
					V[li][i] = leak * v
					next[i] = s
				}
			}
			for i, v := range next {
				count[li][i] += v
			}
			h = next
		}
	}
	// The output layer reads the count of the layer below (for an MP2, the max
	// pool of the counts below it, as the forward does).
	lo := n.Layers[last]
	var hin []float64
	switch {
	case last == 0:
		hin = inCount
	case n.Layers[last-1].Kind == MaxPool:
		mp := n.Layers[last-1]
		below := inCount
		if last >= 2 {
			below = count[last-2]
		}
		if record {
			base.carg[last-1] = make([]int, mp.Out.Size())
			for o := range base.carg[last-1] {
				base.carg[last-1][o] = firstMax(mp.In, mp.Out, below, o)
			}
		}
		hin = make([]float64, mp.Out.Size())
		for o := range hin {
			hin[o] = below[base.carg[last-1][o]]
		}
	default:
		hin = count[last-1]
	}
	a := refLinear(lo, lo.In, std[len(std)-1], hin)
	var loss float64
	for k, v := range a {
		o := v / (float64(T) * float64(lo.Vth))
		target := 0.0
		if k == y {
			target = 1
		}
		loss += (o - target) * (o - target)
	}
	return loss, spikes
}

// fdSample builds spec with cfg, a model with larger weights (so that every layer
// fires) and a nonnegative (or, with neg, partly negative) sample.
func fdSample(t *testing.T, spec string, in Shape, cfg Config, neg bool) (*Net, *Model, []float32) {
	t.Helper()
	n, err := BuildNet(spec, in, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(n, 7)
	for i := range m.Params {
		m.Params[i] *= 1.5
	}
	x := make([]float32, n.SampleSize())
	g := newNormalStream(99)
	for i := range x {
		x[i] = float32(math.Abs(g.next())) / 2
		if neg && i%3 == 0 {
			x[i] = -x[i]
		}
	}
	return n, m, x
}

func toFloat64(ts []Tensor) [][]float64 {
	out := make([][]float64, len(ts))
	for i, tw := range ts {
		out[i] = make([]float64, len(tw.Data))
		for j, v := range tw.Data {
			out[i][j] = float64(v)
		}
	}
	return out
}

// TestBPTTGradientFiniteDifferences: BPTT's gradient equals the central finite
// difference of the surrogate network's loss, for every weight of small networks
// covering conv (K=3 and 5), P2, MP2 (inside and before the output), FC, IF and
// LIF, hard and subtract reset, detached and attached reset, the three surrogates
// and the three encodings.
func TestBPTTGradientFiniteDifferences(t *testing.T) {
	tests := []struct {
		name string
		spec string
		in   Shape
		cfg  func(*Config)
		neg  bool
	}{
		{"fc IF atan signed input", "6FC-5FC-3FC", Shape{1, 3, 3}, func(c *Config) { c.T = 10; c.Gain = 1 }, true},
		{"conv pools fc fast-sigmoid", "4C3-P2-6C3-MP2-8FC-3FC", Shape{1, 8, 8}, func(c *Config) {
			c.T = 12
			c.Gain = 1
			c.Surrogate = FastSigmoid
		}, false},
		{"direct LIF subtract reset-grad", "3C3-P2-4FC", Shape{2, 4, 4}, func(c *Config) {
			c.T = 12
			c.Encoding = Direct
			c.Leak = 0.9
			c.Reset = ResetSubtract
			c.ResetGrad = true
		}, false},
		{"K=5 LIF hard reset-grad sigmoid", "4C5-P2-5FC-3FC", Shape{1, 8, 8}, func(c *Config) {
			c.T = 10
			c.Gain = 1
			c.Leak = 0.8
			c.ResetGrad = true
			c.Surrogate = Sigmoid
			c.SurrogateSlope = 2
		}, false},
		{"events subtract", "4C3-P2-6FC-3FC", Shape{2, 6, 6}, func(c *Config) {
			c.T = 9
			c.Encoding = Events
			c.Frames = 3
			c.Reset = ResetSubtract
			c.SurrogateSlope = 1
		}, false},
		{"MP2 before the output", "4C3-MP2-3FC", Shape{1, 6, 6}, func(c *Config) { c.T = 8; c.Gain = 1 }, false},
		{"first layer MP2", "MP2-5FC-3FC", Shape{1, 6, 6}, func(c *Config) { c.T = 8; c.Gain = 1 }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.cfg(&cfg)
			cfg.Method = BPTT
			n, m, x := fdSample(t, tc.spec, tc.in, cfg, tc.neg)
			const label = 1
			ws := NewWorkspace(n)
			ws.forward(m, x, 3, domainTrain, 0, 5)
			ws.sampleLoss(label)
			grad := make([]float32, n.NParams)
			ws.gradient(m, grad)
			std := toFloat64(m.ExportWeights())
			var base refBase
			_, spikes := refSurrogate(n, ws, std, label, &base)
			for li, l := range n.Layers {
				if !l.Spiking {
					continue
				}
				if len(ws.lay[li].ev.idx) == 0 {
					t.Fatalf("layer %s never fired: test would not exercise it", l.Name())
				}
				for i, c := range spikes[li] {
					if float32(c) != ws.lay[li].FO[i] {
						t.Fatalf("layer %s neuron %d: reference forward fires %d spikes, engine %v", l.Name(), i, c, ws.lay[li].FO[i])
					}
				}
			}
			gm := &Model{Net: n, Params: grad, Scales: m.Scales}
			const eps = 1e-4
			for ti, tw := range gm.ExportWeights() {
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
					lp, _ := refSurrogate(n, ws, std, label, &base)
					std[ti][j] = orig - eps
					lm, _ := refSurrogate(n, ws, std, label, &base)
					std[ti][j] = orig
					num := (lp - lm) / (2 * eps)
					if d := math.Abs(num - float64(tw.Data[j])); d > 1e-3*maxAbs+1e-5 {
						t.Fatalf("%s[%d]: analytic %v, numeric %v (max |g| %v)", tw.Name, j, tw.Data[j], num, maxAbs)
					}
				}
			}
		})
	}
}

// TestBPTTResetConvention: attaching the reset to the graph (SpikingJelly's
// detach_reset=False) changes the gradient of a network that spikes, and
// detaching it (snnTorch, the default) is what the zero value gives.
func TestBPTTResetConvention(t *testing.T) {
	for _, reset := range []Reset{ResetZero, ResetSubtract} {
		grads := map[bool][]float32{}
		for _, rg := range []bool{false, true} {
			cfg := DefaultConfig()
			cfg.T = 10
			cfg.Gain = 1
			cfg.Method = BPTT
			cfg.Reset = reset
			cfg.ResetGrad = rg
			n, m, x := fdSample(t, "4C3-P2-6FC-3FC", Shape{1, 6, 6}, cfg, false)
			ws := NewWorkspace(n)
			ws.forward(m, x, 3, domainTrain, 0, 5)
			ws.sampleLoss(1)
			grads[rg] = make([]float32, n.NParams)
			ws.gradient(m, grads[rg])
		}
		same := true
		for i := range grads[false] {
			if grads[false][i] != grads[true][i] {
				same = false
			}
		}
		if same {
			t.Fatalf("reset %v: ResetGrad does not change the gradient", reset)
		}
	}
	if DefaultConfig().ResetGrad {
		t.Fatal("the default must detach the reset")
	}
}

// TestBPTTRecomputeMatchesForward: the membrane the backward recomputes fires
// exactly the spikes of the forward, step by step, in every layer (IF and LIF
// with pooling neurons, both resets, the three encodings).
func TestBPTTRecomputeMatchesForward(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"IF hard poisson", func(c *Config) {}},
		{"LIF subtract poisson", func(c *Config) { c.Leak = 0.8; c.Reset = ResetSubtract }},
		{"LIF direct", func(c *Config) { c.Leak = 0.9; c.Encoding = Direct }},
		{"events", func(c *Config) { c.Encoding = Events; c.Frames = 4 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.T = 16
			cfg.Gain = 1
			tc.cfg(&cfg)
			n, m, x := fdSample(t, "4C3-P2-6C3-MP2-8FC-3FC", Shape{2, 8, 8}, cfg, false)
			ws := NewWorkspace(n)
			ws.forward(m, x, 3, domainTrain, 0, 5)
			ws.bptt()
			for li := range n.Layers {
				l := &n.Layers[li]
				if !l.Spiking {
					continue
				}
				H := ws.bpttMembrane(m, l)
				size := l.Out.Size()
				for step := 0; step < cfg.T; step++ {
					var got []int32
					for i, h := range H[step*size : (step+1)*size] {
						if h > l.Vth {
							got = append(got, int32(i))
						}
					}
					want := ws.lay[li].ev.at(step)
					if len(got) != len(want) {
						t.Fatalf("%s step %d: recompute fires %d, forward %d", l.Name(), step, len(got), len(want))
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s step %d: recompute fires %v, forward %v", l.Name(), step, got, want)
						}
					}
				}
			}
		})
	}
}

func TestSurrogates(t *testing.T) {
	for _, tc := range []struct {
		s     Surrogate
		slope float32
		at0   float64 // sigma'(0)
	}{
		{ATan, 0, 1},          // alpha/2 with SpikingJelly's alpha 2
		{ATan, 4, 2},          // alpha/2
		{FastSigmoid, 0, 1},   // 1/(1+0)^2 for any slope
		{FastSigmoid, 10, 1},  //
		{Sigmoid, 0, 1},       // alpha/4 with SpikingJelly's alpha 4
		{Sigmoid, 2, 0.5},     // alpha/4
		{Sigmoid, 1e3, 250.0}, // steep
	} {
		cfg := Config{Surrogate: tc.s, SurrogateSlope: tc.slope}
		alpha := cfg.Slope()
		xs := []float32{-0.7, -0.1, 0, 0.05, 0.3, 1.5}
		H := make([]float32, len(xs))
		for i, x := range xs {
			H[i] = x + 1 // vth 1
		}
		out := make([]float32, len(xs))
		surrogateGrad(tc.s, alpha, H, 1, out)
		for i, x := range xs {
			const h = 1e-6
			num := (surrogateValue(tc.s, float64(alpha), float64(x)+h) - surrogateValue(tc.s, float64(alpha), float64(x)-h)) / (2 * h)
			if math.Abs(num-float64(out[i])) > 1e-3*math.Max(1, num) {
				t.Errorf("%v slope %v: sigma'(%v) = %v, derivative of sigma %v", tc.s, alpha, x, out[i], num)
			}
			if x == 0 && math.Abs(float64(out[i])-tc.at0) > 1e-5*tc.at0 {
				t.Errorf("%v slope %v: sigma'(0) = %v, want %v", tc.s, alpha, out[i], tc.at0)
			}
		}
	}
}

func TestMethodConfig(t *testing.T) {
	// The ASF defaults leave the method out of the JSON (so existing jobs keep
	// their digests); BPTT settings round-trip.
	b, err := json.Marshal(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "method") || strings.Contains(string(b), "surrogate") {
		t.Fatalf("default config JSON names the method: %s", b)
	}
	c := DefaultConfig()
	c.Method, c.Surrogate, c.SurrogateSlope, c.ResetGrad = BPTT, FastSigmoid, 10, true
	b, err = json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"method":"bptt"`) || !strings.Contains(string(b), `"surrogate":"fast-sigmoid"`) {
		t.Fatalf("JSON %s", b)
	}
	var back Config
	if err := json.Unmarshal(b, &back); err != nil || back != c {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"method":"rtrl"}`), &back); err == nil || !strings.Contains(err.Error(), "rtrl") {
		t.Fatalf("unknown method: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"asf with surrogate", func(c *Config) { c.Surrogate = Sigmoid }, "BPTT settings"},
		{"asf with reset grad", func(c *Config) { c.ResetGrad = true }, "BPTT settings"},
		{"negative slope", func(c *Config) { c.Method = BPTT; c.SurrogateSlope = -1 }, "SurrogateSlope"},
		{"NaN slope", func(c *Config) { c.Method = BPTT; c.SurrogateSlope = float32(math.NaN()) }, "SurrogateSlope"},
		{"unknown method", func(c *Config) { c.Method = 7 }, "Method"},
		{"unknown surrogate", func(c *Config) { c.Method = BPTT; c.Surrogate = 9 }, "Surrogate"},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", tc.name, err, tc.want)
		}
	}
	c = DefaultConfig()
	c.Surrogate = Sigmoid
	if err := c.Validate(); !errors.Is(err, ErrMethod) {
		t.Errorf("asf with a surrogate: %v, want ErrMethod", err)
	}
}
