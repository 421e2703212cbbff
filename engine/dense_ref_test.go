package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas32"
)

// The event-driven convolution (spikes scatter weight blocks, channels-last,
// flipped kernels) checked against an independent dense reference: im2col and
// a gonum blas32 Gemm on the standard [cout][cin][ky][kx] weights.
//
// Forward: a conv layer's accumulated input current is linear in its input's
// spike counts, FI = W * FO_prev (no biases), wherever the input is the
// encoded sample or a layer of neurons. Backward (ASF-BP, docs/algorithm.md
// section 4): dL/dW = dL/da * im2col(h_prev)^T and dL/dh_prev =
// col2im(W^T * dL/da), where h_prev is the equivalent network's input value
// and dL/da the layer's masked gradient, both read from the workspace.

// im2col is the (cin*k*k) x (oh*ow) matrix of conv layer l's input h (HWC):
// row (c*k+ky)*k+kx, column oy*ow+ox holds h[c, oy*s+ky-p, ox*s+kx-p], 0 in
// the padding.
func im2col(l *Layer, h []float32) blas32.General {
	in, out, k, s, p := l.In, l.Out, l.K, max(1, l.Stride), l.Pad
	cols := blas32.General{Rows: in.C * k * k, Cols: out.H * out.W, Stride: out.H * out.W}
	cols.Data = make([]float32, cols.Rows*cols.Cols)
	for c := range in.C {
		for ky := range k {
			for kx := range k {
				r := (c*k+ky)*k + kx
				for oy := range out.H {
					for ox := range out.W {
						y, x := oy*s+ky-p, ox*s+kx-p
						if y >= 0 && y < in.H && x >= 0 && x < in.W {
							cols.Data[r*cols.Stride+oy*out.W+ox] = h[(y*in.W+x)*in.C+c]
						}
					}
				}
			}
		}
	}
	return cols
}

// col2im adds the columns matrix cols (as im2col lays it out) back onto an
// HWC input of layer l.
func col2im(l *Layer, cols blas32.General) []float32 {
	in, out, k, s, p := l.In, l.Out, l.K, max(1, l.Stride), l.Pad
	h := make([]float32, in.Size())
	for c := range in.C {
		for ky := range k {
			for kx := range k {
				r := (c*k+ky)*k + kx
				for oy := range out.H {
					for ox := range out.W {
						y, x := oy*s+ky-p, ox*s+kx-p
						if y >= 0 && y < in.H && x >= 0 && x < in.W {
							h[(y*in.W+x)*in.C+c] += cols.Data[r*cols.Stride+oy*out.W+ox]
						}
					}
				}
			}
		}
	}
	return h
}

// stdMatrix is conv layer l's tensor of flat (weights or gradient, internal
// layout) in the standard layout, as a cout x (cin*k*k) matrix.
func stdMatrix(t *testing.T, n *Net, flat []float32, l *Layer) blas32.General {
	t.Helper()
	for _, ts := range n.ToStandard(flat, "weight") {
		if ts.Name == l.Name()+".weight" {
			return blas32.General{Rows: l.Out.C, Cols: l.In.C * l.K * l.K, Stride: l.In.C * l.K * l.K, Data: ts.Data}
		}
	}
	t.Fatalf("no standard tensor for %s", l.Name())
	return blas32.General{}
}

// chw is an HWC activation as a channels x positions matrix.
func chw(s Shape, hwc []float32) blas32.General {
	g := blas32.General{Rows: s.C, Cols: s.H * s.W, Stride: s.H * s.W, Data: make([]float32, len(hwc))}
	for q := range s.H * s.W {
		for c := range s.C {
			g.Data[c*g.Stride+q] = hwc[q*s.C+c]
		}
	}
	return g
}

func gemm(tA, tB blas.Transpose, a, b blas32.General) blas32.General {
	rows, cols := a.Rows, b.Cols
	if tA == blas.Trans {
		rows = a.Cols
	}
	if tB == blas.Trans {
		cols = b.Rows
	}
	c := blas32.General{Rows: rows, Cols: cols, Stride: cols, Data: make([]float32, rows*cols)}
	blas32.Gemm(tA, tB, 1, a, b, 0, c)
	return c
}

// near compares float32 sums made in different orders.
func near(got, want float32) bool {
	return math.Abs(float64(got-want)) <= 1e-4+1e-4*math.Abs(float64(want))
}

func TestConvAgainstDenseReference(t *testing.T) {
	tests := []struct {
		spec string
		in   Shape
	}{
		{"4C3-P2-6C3-P2-5FC-3FC", Shape{2, 10, 10}},
		{"3C5-P2-4C3S2-6FC-3FC", Shape{1, 12, 12}},    // stride 2 after pooling neurons
		{"4C4P1-MP2-5C3P0-4FC-2FC", Shape{3, 11, 11}}, // even kernel, explicit padding; a conv after max pooling
		{"5C3-5C3-P2-4FC-3FC", Shape{2, 8, 8}},        // conv on conv: the input is the previous layer's spike counts
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.T, cfg.Gain = 12, 1
			n, err := BuildNet(tc.spec, tc.in, cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := NewModel(n, 7)
			for li := range m.Scales {
				m.Scales[li] = 0.5 + 0.1*float64(li) // scales != 1 enter the masks
			}
			rng := rand.New(rand.NewPCG(3, 4))
			x := make([]float32, tc.in.Size())
			for i := range x {
				x[i] = rng.Float32()
			}
			ws := NewWorkspace(n)
			ws.Forward(m, x, 11, 0, 5)
			clear(ws.Grad)
			ws.Backward(m, 1)
			checked := 0
			for li := range n.Layers {
				l := &n.Layers[li]
				if l.Kind != Conv {
					continue
				}
				if l.BLen > 0 {
					t.Fatalf("%s: the reference has no biases", l.Name())
				}
				prev, prevKind := ws.lower(li), Kind(-1)
				if li > 0 {
					prevKind = n.Layers[li-1].Kind
				}
				cols := im2col(l, prev.H)
				w := stdMatrix(t, n, m.Params, l)
				b := &ws.lay[li]

				// Forward: FI = W * FO_prev, unless the input is a max pool (its
				// per-step outputs are not a function of its FO).
				if prevKind != MaxPool {
					fi := gemm(blas.NoTrans, blas.NoTrans, w, cols)
					got := chw(l.Out, b.FI)
					for i := range fi.Data {
						if !near(got.Data[i], fi.Data[i]) {
							t.Fatalf("%s forward: FI[%d] = %v, dense reference %v", l.Name(), i, got.Data[i], fi.Data[i])
						}
					}
				}

				// Backward: dL/dW = dA * cols^T.
				dA := chw(l.Out, b.dA)
				gw := gemm(blas.NoTrans, blas.Trans, dA, cols)
				got := stdMatrix(t, n, ws.Grad, l)
				nonzero := 0
				for i := range gw.Data {
					if !near(got.Data[i], gw.Data[i]) {
						t.Fatalf("%s backward: dL/dW[%d] = %v, dense reference %v", l.Name(), i, got.Data[i], gw.Data[i])
					}
					if gw.Data[i] != 0 {
						nonzero++
					}
				}
				if nonzero == 0 {
					t.Fatalf("%s: the gradient is all zero: the check proves nothing", l.Name())
				}

				// dL/dh_prev = col2im(W^T * dA), where the engine computes it:
				// every element below a max pool, elements with FI > 0 below
				// neurons (the mask zeroes the others), none for the input.
				if li > 0 {
					dh := col2im(l, gemm(blas.Trans, blas.NoTrans, w, dA))
					for e, want := range dh {
						if prevKind != MaxPool && prev.FI[e] <= 0 {
							continue
						}
						if !near(prev.dH[e], want) {
							t.Fatalf("%s backward: dL/dh[%d] of %s = %v, dense reference %v", l.Name(), e, n.Layers[li-1].Name(), prev.dH[e], want)
						}
					}
				}
				checked++
			}
			if checked < 2 {
				t.Fatalf("%d conv layers checked", checked)
			}
			t.Log(fmt.Sprintf("%d conv layers match the dense reference", checked))
		})
	}
}
