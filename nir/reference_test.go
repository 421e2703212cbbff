package nir

import (
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/hdf5"
)

// refSim simulates a NIR graph step by step following the node definitions
// (forward Euler with step dt; input spikes as values per step), in float64 and
// CHW order, independently of the engine: dense convolutions over padded inputs,
// no event lists, no weight permutations.
type refSim struct {
	chain  []chainNode
	dt     float64
	v      map[string][]float64 // membrane state of IF, LIF and I nodes
	counts map[string][]float64 // spikes of IF, LIF and Threshold nodes
	out    []float64
}

func newRefSim(t *testing.T, g *Graph, dt float64) *refSim {
	chain, err := linearize(g)
	if err != nil {
		t.Fatal(err)
	}
	return &refSim{chain: chain, dt: dt, v: map[string][]float64{}, counts: map[string][]float64{}}
}

func f64(t *testing.T, n chainNode, field string) ([]float64, []int) {
	t.Helper()
	d, ok := n.Params[field]
	if !ok {
		t.Fatalf("node %s has no %s", n.name, field)
	}
	switch d.Kind {
	case hdf5.Float32:
		out := make([]float64, len(d.F32))
		for i, v := range d.F32 {
			out[i] = float64(v)
		}
		return out, d.Shape
	case hdf5.Float64:
		return d.F64, d.Shape
	}
	out := make([]float64, len(d.Ints))
	for i, v := range d.Ints {
		out[i] = float64(v)
	}
	return out, d.Shape
}

func ints(t *testing.T, n chainNode, field string) []int {
	v, _ := f64(t, n, field)
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	if len(out) == 1 {
		out = append(out, out[0])
	}
	return out
}

// step runs one time step on input x of shape shape (CHW).
func (s *refSim) step(t *testing.T, x []float64, shape []int) {
	for _, n := range s.chain[1:] {
		switch n.Type {
		case "Conv2d":
			w, ws := f64(t, n, "weight")
			bias, _ := f64(t, n, "bias")
			st, pd := ints(t, n, "stride"), ints(t, n, "padding")
			co, ci, kh, kw := ws[0], ws[1], ws[2], ws[3]
			h, wd := shape[1], shape[2]
			oh, ow := (h+2*pd[0]-kh)/st[0]+1, (wd+2*pd[1]-kw)/st[1]+1
			y := make([]float64, co*oh*ow)
			for o := 0; o < co; o++ {
				for yy := 0; yy < oh; yy++ {
					for xx := 0; xx < ow; xx++ {
						sum := bias[o]
						for c := 0; c < ci; c++ {
							for ky := 0; ky < kh; ky++ {
								for kx := 0; kx < kw; kx++ {
									iy, ix := yy*st[0]+ky-pd[0], xx*st[1]+kx-pd[1]
									if iy >= 0 && iy < h && ix >= 0 && ix < wd {
										sum += w[((o*ci+c)*kh+ky)*kw+kx] * x[(c*h+iy)*wd+ix]
									}
								}
							}
						}
						y[(o*oh+yy)*ow+xx] = sum
					}
				}
			}
			x, shape = y, []int{co, oh, ow}
		case "SumPool2d", "AvgPool2d":
			k, st := ints(t, n, "kernel_size"), ints(t, n, "stride")
			c, h, wd := shape[0], shape[1], shape[2]
			oh, ow := (h-k[0])/st[0]+1, (wd-k[1])/st[1]+1
			y := make([]float64, c*oh*ow)
			for ch := 0; ch < c; ch++ {
				for yy := 0; yy < oh; yy++ {
					for xx := 0; xx < ow; xx++ {
						sum := 0.0
						for dy := 0; dy < k[0]; dy++ {
							for dx := 0; dx < k[1]; dx++ {
								sum += x[(ch*h+yy*st[0]+dy)*wd+xx*st[1]+dx]
							}
						}
						if n.Type == "AvgPool2d" {
							sum /= float64(k[0] * k[1])
						}
						y[(ch*oh+yy)*ow+xx] = sum
					}
				}
			}
			x, shape = y, []int{c, oh, ow}
		case "Flatten":
			shape = []int{len(x)}
		case "Linear", "Affine":
			w, ws := f64(t, n, "weight")
			y := make([]float64, ws[0])
			for o := range y {
				for i, v := range x {
					y[o] += w[o*ws[1]+i] * v
				}
			}
			if n.Type == "Affine" {
				b, _ := f64(t, n, "bias")
				for o := range y {
					y[o] += b[o]
				}
			}
			x, shape = y, []int{ws[0]}
		case "IF", "LIF":
			r, _ := f64(t, n, "r")
			th, _ := f64(t, n, "v_threshold")
			vr, _ := f64(t, n, "v_reset")
			v := s.v[n.name]
			if v == nil {
				v = make([]float64, len(x))
				s.v[n.name] = v
				s.counts[n.name] = make([]float64, len(x))
			}
			sub := n.Metadata[MetaReset] != nil
			z := make([]float64, len(x))
			for i := range x {
				if n.Type == "IF" {
					v[i] += r[i] * x[i] // dv/dt = R I with I a spike (or value) per step
				} else {
					tau, _ := f64(t, n, "tau")
					vl, _ := f64(t, n, "v_leak")
					v[i] += s.dt / tau[i] * (vl[i] - v[i] + r[i]*x[i])
				}
				if v[i] > th[i] {
					z[i] = 1
					s.counts[n.name][i]++
					if sub {
						v[i] -= th[i]
					} else {
						v[i] = vr[i]
					}
				}
			}
			x = z
		case "Threshold":
			th, _ := f64(t, n, "threshold")
			if s.counts[n.name] == nil {
				s.counts[n.name] = make([]float64, len(x))
			}
			z := make([]float64, len(x))
			for i := range x {
				if x[i] > th[i] {
					z[i] = 1
					s.counts[n.name][i]++
				}
			}
			x = z
		case "I":
			r, _ := f64(t, n, "r")
			v := s.v[n.name]
			if v == nil {
				v = make([]float64, len(x))
				s.v[n.name] = v
			}
			for i := range x {
				v[i] += r[i] * x[i]
			}
			x = v
		case "Output":
			s.out = x
		default:
			t.Fatalf("reference: node %s of type %s", n.name, n.Type)
		}
	}
}

// dyadic sets every weight to a small multiple of 1/16: all sums the engine and
// the reference form are then exact, in float32 as in float64, whatever their order.
func dyadic(m *engine.Model, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range m.Params {
		m.Params[i] = float32(r.IntN(15)-6) / 16
	}
}

// TestReferenceSimulation compares, for each test network, the spike counts of
// every spiking layer and the output of the engine with the reference simulation
// of the exported NIR graph (read back from its file), on random binary input
// frames (the events encoding, one frame per step): they are equal, spike for spike.
func TestReferenceSimulation(t *testing.T) {
	for k, m0 := range testNets(t) {
		cfg := m0.Net.Config
		cfg.Encoding, cfg.Frames = engine.Events, cfg.T
		net, err := engine.NewNet(m0.Net.Spec, m0.Net.Input, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := engine.NewModel(net, 7)
		dyadic(m, uint64(k))
		for li := range net.Layers {
			for i := range m.Bias(li) {
				m.Bias(li)[i] = float32(i%4-1) / 8
			}
		}
		t.Run(net.Spec.String(), func(t *testing.T) {
			g, err := Export(m, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.nir")
			if err := g.WriteFile(path); err != nil {
				t.Fatal(err)
			}
			g, err = ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			compareWithReference(t, m, g, 1, 3, 0)
		})
	}
}

// compareWithReference runs samples random binary-frame samples through the engine
// and the reference and compares spike counts per layer (allowing mismatches in
// at most tol of the neurons) and predictions.
//
// nodeOf names the NIR neuron node of asf layer li (nil: the names Export gives).
func compareWithReference(t *testing.T, m *engine.Model, g *Graph, dt float64, samples int, tol float64, nodeOf ...func(li int) string) {
	t.Helper()
	net := m.Net
	T, in := net.Config.T, net.Input
	ws := engine.NewWorkspace(net)
	r := rand.New(rand.NewPCG(3, 4))
	total := 0.0
	for s := 0; s < samples; s++ {
		x := make([]float32, in.Size()*T)
		for i := range x {
			if r.Float64() < 0.3 {
				x[i] = 1
			}
		}
		score, err := ws.Predict(m, x, 1, s)
		if err != nil {
			t.Fatal(err)
		}
		ref := newRefSim(t, g, dt)
		for step := 0; step < T; step++ {
			f := step * net.Config.Frames / T
			frame := make([]float64, in.Size())
			for i := range frame {
				frame[i] = float64(x[f*in.Size()+i])
			}
			ref.step(t, frame, []int{in.C, in.H, in.W})
		}
		for li, l := range net.Layers {
			if !l.Spiking {
				continue
			}
			name := l.Name() + "_if"
			if net.Config.Leak != 1 && l.Kind != engine.AvgPool {
				name = l.Name() + "_lif"
			}
			if len(nodeOf) > 0 {
				name = nodeOf[0](li)
			}
			want := ref.counts[name]
			got := ws.LayerSpikes(li)
			if len(want) != len(got) {
				t.Fatalf("layer %s: reference node %s has %d neurons, the engine %d", l.Name(), name, len(want), len(got))
			}
			bad := 0
			for e, c := range got {
				chw := e
				if l.Kind != engine.FC {
					chw = (e%l.Out.C)*l.Out.H*l.Out.W + e/l.Out.C
				}
				total += float64(c)
				if float64(c) != want[chw] {
					bad++
					if tol == 0 {
						t.Fatalf("sample %d layer %s neuron %d (CHW %d): engine %v spikes, reference %v", s, l.Name(), e, chw, c, want[chw])
					}
				}
			}
			if float64(bad) > tol*float64(len(got)) {
				t.Fatalf("sample %d layer %s: %d of %d neurons differ in spike count", s, l.Name(), bad, len(got))
			}
		}
		if argmax64(ref.out) != argmax32(score) {
			t.Fatalf("sample %d: engine predicts %d (%v), reference %d (%v)", s, argmax32(score), score, argmax64(ref.out), ref.out)
		}
		for i := range score {
			if math.Abs(float64(score[i])-ref.out[i]) > 1e-4*math.Max(1, math.Abs(ref.out[i])) {
				t.Fatalf("sample %d output %d: engine %v, reference %v", s, i, score[i], ref.out[i])
			}
		}
	}
	if total == 0 {
		t.Fatal("no neuron spiked: the comparison is vacuous")
	}
	t.Log(fmt.Sprintf("%d spikes compared", int(total)))
}

func argmax64(v []float64) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}

func argmax32(v []float32) int {
	b := 0
	for i, x := range v {
		if x > v[b] {
			b = i
		}
	}
	return b
}
