package engine

import (
	"errors"
	"math"
	"strings"
	"testing"
)

// TestBiasForward checks layers with biases against the float64 reference: the
// accumulated input of every spiking layer is FI = W * FO_{n-1} + T*b, and the
// output o = (W h + T b) / (T Vth).
func TestBiasForward(t *testing.T) {
	for _, enc := range []Encoding{Poisson, Direct} {
		cfg := DefaultConfig()
		cfg.T, cfg.Gain, cfg.Encoding = 12, 1, enc
		n, m, x := fdSample(t, "4C3s2p1b-P2-5FCb-3FCb", Shape{C: 2, H: 9, W: 9}, cfg, false)
		for li := range n.Layers {
			for i, b := range m.Bias(li) {
				b = float32(i%3) * 0.05
				m.Bias(li)[i] = b
			}
		}
		if m.Bias(1) != nil || len(m.Bias(0)) != 4 || len(m.Bias(3)) != 3 {
			t.Fatalf("bias slices: %d %d %d", len(m.Bias(0)), len(m.Bias(1)), len(m.Bias(3)))
		}
		ws := NewWorkspace(n)
		ws.forward(m, x, 3, domainTrain, 0, 5)
		std := toFloat64(m.ExportWeights())
		count := make([]float64, n.Input.Size())
		for step := 0; step < cfg.T; step++ {
			for i, v := range refInput(n, ws, step) {
				count[i] += v
			}
		}
		wi := 0
		for li, l := range n.Layers {
			var W, B []float64
			if l.WLen > 0 {
				W, B = std[wi], std[wi+1]
				wi += 2
			}
			want := refLinear(l, l.In, W, count)
			for i := range want {
				if B != nil {
					want[i] += float64(cfg.T) * B[i%l.BLen]
				}
			}
			b := &ws.lay[li]
			got := b.FI
			if l.Output {
				got = ws.out
				for i := range want {
					want[i] /= float64(cfg.T) * float64(l.Vth)
				}
			}
			for i, v := range want {
				if math.Abs(float64(got[i])-v) > 1e-4*math.Max(1, math.Abs(v)) {
					t.Fatalf("%v %s[%d]: engine %v, reference %v", enc, l.Name(), i, got[i], v)
				}
			}
			next := make([]float64, l.Out.Size())
			for step := 0; step < cfg.T && !l.Output; step++ {
				for _, e := range b.ev.at(step) {
					next[e]++
				}
			}
			count = next
		}
	}
}

func TestBiasExportImport(t *testing.T) {
	n, err := BuildNet("3C3b-P2-4FCb-2FC", Shape{C: 1, H: 6, W: 6}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if n.Spec.String() != "3C3b-P2-4FCb-2FC" || n.NParams != 3*9+3+4*27+4+2*4 {
		t.Fatalf("spec %s, %d params", n.Spec, n.NParams)
	}
	m := NewModel(n, 1)
	for _, b := range [][]float32{m.Bias(0), m.Bias(2)} {
		for i := range b {
			if b[i] != 0 {
				t.Fatal("biases must start at 0")
			}
			b[i] = float32(i) + 0.5
		}
	}
	ts := m.ExportWeights()
	names := []string{}
	for _, tn := range ts {
		names = append(names, tn.Name)
	}
	if strings.Join(names, ",") != "conv1.weight,conv1.bias,fc3.weight,fc3.bias,fc4.weight" {
		t.Fatalf("tensors %v", names)
	}
	m2 := NewModel(n, 2)
	if err := m2.ImportWeights(ts); err != nil {
		t.Fatal(err)
	}
	if m2.Digest() != m.Digest() {
		t.Fatal("biases did not round-trip")
	}
	if err := m2.ImportWeights(ts[:1]); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), `"conv1.bias"`) {
		t.Fatalf("missing bias tensor: %v", err)
	}
	cfg := DefaultConfig()
	cfg.Method = BPTT
	if _, err := BuildNet("3C3b-2FC", Shape{C: 1, H: 6, W: 6}, cfg); !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), "BPTT") {
		t.Fatalf("BPTT with a bias: %v", err)
	}
}
