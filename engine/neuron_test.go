package engine

import (
	"slices"
	"testing"
)

// TestNeuronTraces checks single-neuron dynamics against hand-computed values.
func TestNeuronTraces(t *testing.T) {
	tests := []struct {
		name       string
		vth, leak  float32
		reset      Reset
		in         []float32
		wantSpikes []int
		wantV      []float32 // V after each step
		wantFI     float32
	}{
		{"IF hard reset", 1, 1, ResetZero, []float32{0.6, 0.6, 0.6, 0.3, 1.5},
			[]int{1, 4}, []float32{0.6, 0, 0.6, 0.9, 0}, 3.6},
		{"LIF hard reset", 1, 0.5, ResetZero, []float32{0.6, 0.6, 0.6, 0.3, 1.5},
			[]int{2, 4}, []float32{0.3, 0.45, 0, 0.15, 0}, 3.6},
		{"IF subtract", 1, 1, ResetSubtract, []float32{0.6, 0.6, 0.6, 0.3, 1.5},
			[]int{1, 3, 4}, []float32{0.6, 0.2, 0.8, 0.1, 0.6}, 3.6},
		{"pooling neuron strict threshold", 0.75, 1, ResetZero, []float32{0.75, 0.75, 0.5, 0.25},
			[]int{1}, []float32{0.75, 0, 0.5, 0.75}, 2.25},
		{"negative current", 1, 1, ResetZero, []float32{-0.5, 1.2, 0.4},
			[]int{2}, []float32{-0.5, 0.7, 0}, 1.1},
	}
	for _, tc := range tests {
		b := &layerBuf{I: make([]float32, 1), V: make([]float32, 1), FI: make([]float32, 1), FO: make([]float32, 1)}
		b.ev.reset()
		var spikes []int
		for step, i := range tc.in {
			b.I[0] = i
			neuronStep(b, tc.vth, tc.leak, tc.reset)
			if len(b.ev.at(step)) == 1 {
				spikes = append(spikes, step)
			}
			if d := b.V[0] - tc.wantV[step]; d > 1e-6 || d < -1e-6 {
				t.Errorf("%s: V after step %d = %v, want %v", tc.name, step, b.V[0], tc.wantV[step])
			}
			if b.I[0] != 0 {
				t.Errorf("%s: I not cleared after step %d", tc.name, step)
			}
		}
		if !slices.Equal(spikes, tc.wantSpikes) {
			t.Errorf("%s: spikes at %v, want %v", tc.name, spikes, tc.wantSpikes)
		}
		if b.FO[0] != float32(len(tc.wantSpikes)) {
			t.Errorf("%s: FO = %v, want %d", tc.name, b.FO[0], len(tc.wantSpikes))
		}
		if d := b.FI[0] - tc.wantFI; d > 1e-5 || d < -1e-5 {
			t.Errorf("%s: FI = %v, want %v", tc.name, b.FI[0], tc.wantFI)
		}
	}
}

// TestForwardByHand runs a two-layer FC network with direct input and checks the
// spikes and the output against a hand computation.
func TestForwardByHand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T = 4
	cfg.Encoding = Direct
	n, err := BuildNet("1FC-1FC", Shape{1, 1, 2}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(n, 1)
	copy(m.Weights(0), []float32{1, 2}) // I = 0.5*1 + 0.25*2 = 1 every step
	copy(m.Weights(1), []float32{3})
	ws := NewWorkspace(n)
	o, err := ws.Predict(m, []float32{0.5, 0.25}, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// V: 1 (not > 1), 2 -> spike, 1, 2 -> spike: FO = 2, FI = 4.
	if fo, fi := ws.lay[0].FO[0], ws.lay[0].FI[0]; fo != 2 || fi != 4 {
		t.Fatalf("FO, FI = %v, %v; want 2, 4", fo, fi)
	}
	for step, want := range []int{0, 1, 0, 1} {
		if got := len(ws.SpikeTimes(0, step)); got != want {
			t.Errorf("step %d: %d spikes, want %d", step, got, want)
		}
	}
	// o = W2 * FO / (T * Vth) = 3 * 2 / 4.
	if o[0] != 1.5 {
		t.Fatalf("o = %v, want 1.5", o[0])
	}
}

// TestPoolingLayers checks average pooling neurons and max pooling of spikes on a
// hand-made spike pattern.
func TestPoolingLayers(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T = 2
	n, err := BuildNet("P2-MP2-1FC", Shape{1, 4, 4}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ws := NewWorkspace(n)
	// Input spikes (HWC = row-major for C=1): step 0 three spikes in the top-left
	// window, step 1 three again plus one in the top-right window.
	ws.in.ev.reset()
	ws.in.ev.idx = append(ws.in.ev.idx, 0, 1, 4)
	ws.in.ev.close()
	ws.in.ev.idx = append(ws.in.ev.idx, 0, 1, 5, 2)
	ws.in.ev.close()
	l := &n.Layers[0]
	b := &ws.lay[0]
	b.ev.reset()
	for step := 0; step < 2; step++ {
		ws.accumulate(l, nil, n.Input, b.I, ws.in.ev.at(step), nil, 0)
		neuronStep(b, l.Vth, 1, ResetZero)
	}
	// Top-left pooling neuron: I = 0.75 (no spike, strict >), then 1.5 -> spike.
	// Top-right: 0.25 at step 1 only.
	if b.FO[0] != 1 || b.FI[0] != 1.5 || b.FI[1] != 0.25 || b.FO[1] != 0 {
		t.Fatalf("pool FO %v FI %v", b.FO, b.FI)
	}
	if got := b.ev.at(1); !slices.Equal(got, []int32{0}) {
		t.Fatalf("pool spikes at step 1: %v", got)
	}
	ws.maxPoolForward(&n.Layers[1], b, n.Layers[0].Out, &ws.lay[1])
	if got := ws.lay[1].H[0]; got != 1 {
		t.Fatalf("max pool H = %v, want 1", got)
	}
	if got := ws.lay[1].ev.at(1); !slices.Equal(got, []int32{0}) {
		t.Fatalf("max pool spikes at step 1: %v", got)
	}
}

// TestEventsEncodingByHand: with 2 frames over T = 4, steps 0-1 see frame 0 and
// steps 2-3 frame 1, each value weighing as that many spikes.
func TestEventsEncodingByHand(t *testing.T) {
	cfg := DefaultConfig()
	cfg.T = 4
	cfg.Encoding = Events
	cfg.Frames = 2
	n, err := BuildNet("1FC-1FC", Shape{1, 1, 1}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := NewModel(n, 1)
	m.Weights(0)[0] = 1
	m.Weights(1)[0] = 1
	ws := NewWorkspace(n)
	if _, err := ws.Predict(m, []float32{1.5, 0.2}, 1, 0); err != nil {
		t.Fatal(err)
	}
	// V: 1.5 spike, 1.5 spike, 0.2, 0.4: FO = 2, FI = 3.4; FO_0 = 3.4.
	if fo, fi := ws.lay[0].FO[0], ws.lay[0].FI[0]; fo != 2 || fi != float32(1.5)+1.5+0.2+0.2 {
		t.Fatalf("FO, FI = %v, %v", fo, fi)
	}
	if h := ws.in.H[0]; h != float32(1.5)+1.5+0.2+0.2 {
		t.Fatalf("FO_0 = %v", h)
	}
	if _, err := ws.Predict(m, []float32{1.5}, 1, 0); err == nil {
		t.Fatal("a sample with one frame too few was accepted")
	}
}
