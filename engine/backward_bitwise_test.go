package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/asfnet/asf/internal/f32"
)

// convBackwardPerElement is convBackward as it was before the input channels
// of a position were taken together: one input element at a time, one f32.Dot
// per kernel row. convBackward must give bitwise its results.
func convBackwardPerElement(l *Layer, w, gw []float32, h, dA, dH, fi []float32, needPrev bool) {
	k, co, wd := l.K, l.Out.C, l.Out.W
	p, q := l.Pad, l.K-1-l.Pad
	for e, v := range h {
		need := needPrev && (fi == nil || fi[e] > 0)
		if v == 0 && !need {
			continue
		}
		c := l.coord[3*e : 3*e+3]
		ci, x, y := int(c[0]), int(c[1]), int(c[2])
		if l.Stride > 1 {
			var acc float32
			convOutputs(l, x, y, func(ky, j, oy, ox int) {
				a := dA[(oy*wd+ox)*co:][:co]
				off := ((ci*k+ky)*k + j) * co
				if v != 0 {
					f32.Axpy(v, a, gw[off:][:co])
				}
				if need {
					acc += f32.Dot(w[off:][:co], a)
				}
			})
			if need {
				dH[e] = acc
			}
			continue
		}
		j0, j1 := max(0, q-x), min(k, wd-x+q)
		if j0 >= j1 {
			continue
		}
		n := (j1 - j0) * co
		var acc float32
		for ky := 0; ky < k; ky++ {
			oy := y - ky + p
			if oy < 0 || oy >= l.Out.H {
				continue
			}
			a := dA[(oy*wd+x-q+j0)*co:][:n]
			off := ((ci*k+ky)*k + j0) * co
			if v != 0 {
				f32.Axpy(v, a, gw[off:][:n])
			}
			if need {
				acc += f32.Dot(w[off:][:n], a)
			}
		}
		if need {
			dH[e] = acc
		}
	}
}

// testValues returns n values of which about a fraction zero are zero and the
// rest spread over many magnitudes and both signs.
func testValues(rng *rand.Rand, n int, zero float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		if rng.Float64() < zero {
			continue
		}
		v[i] = (2*rng.Float32() - 1) * float32(math.Ldexp(1, rng.IntN(24)-12))
	}
	return v
}

// bitsEqual fails the test unless got and want are bitwise equal.
func bitsEqual(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v (%#08x), the reference gives %v (%#08x)", what, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// TestConvBackwardBitwise compares convBackward with the per-element loop on
// conv layers of every shape the grouping could get wrong: input channel
// counts around the group of 4 of f32.Dot4 and convBackward's group of 64,
// kernels with their rows clipped at the edges, any padding, stride 2, dense
// and sparse input values, every element needed (BPTT) or only where FI > 0
// (ASF-BP), and no dL/dh wanted (first layer).
func TestConvBackwardBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 1))
	cases := []struct {
		spec string
		in   Shape
	}{
		{"20C5", Shape{C: 1, H: 9, W: 9}},
		{"50C5", Shape{C: 20, H: 12, W: 12}},
		{"7C3", Shape{C: 2, H: 5, W: 6}},
		{"3C3p0", Shape{C: 3, H: 6, W: 5}},
		{"5C3p2", Shape{C: 5, H: 4, W: 4}},
		{"4C2p1", Shape{C: 6, H: 5, W: 5}},
		{"4C2p0", Shape{C: 4, H: 5, W: 5}},
		{"9C1", Shape{C: 7, H: 3, W: 4}},
		{"6C5", Shape{C: 65, H: 6, W: 6}},
		{"2C3", Shape{C: 130, H: 4, W: 3}},
		{"33C7", Shape{C: 4, H: 6, W: 8}},
		{"8C3s2", Shape{C: 6, H: 7, W: 7}},
		{"5C4s2p1", Shape{C: 3, H: 8, W: 6}},
	}
	for _, c := range cases {
		n, err := BuildNet(c.spec+"-10FC", c.in, DefaultConfig())
		if err != nil {
			t.Fatalf("%s: %v", c.spec, err)
		}
		l := &n.Layers[0]
		w := testValues(rng, l.WLen, 0)
		for _, zeroH := range []float64{0, 0.8, 1} {
			for _, mode := range []string{"all", "fi", "none"} {
				what := fmt.Sprintf("%s on %v, %.0f%% zero input, dL/dh %s", c.spec, c.in, 100*zeroH, mode)
				h := testValues(rng, c.in.Size(), zeroH)
				dA := testValues(rng, l.Out.Size(), 0.1)
				var fi []float32
				if mode == "fi" {
					fi = testValues(rng, c.in.Size(), 0.5)
				}
				gw0 := testValues(rng, l.WLen, 0)
				dH0 := make([]float32, c.in.Size())
				for i := range dH0 {
					dH0[i] = -7 // never a result: shows which elements were written
				}
				needPrev := mode != "none"
				wantGW, wantDH := append([]float32(nil), gw0...), append([]float32(nil), dH0...)
				convBackwardPerElement(l, w, wantGW, h, dA, wantDH, fi, needPrev)
				// Without scratch, with scratch at every alignment, and with
				// scratch too small for the aligned copy.
				rowPad := (l.K*l.Out.C + 15) &^ 15
				for _, buf := range [][]float32{nil, make([]float32, c.in.C*rowPad+16)[rng.IntN(16):], make([]float32, c.in.C*rowPad-1)} {
					gw, dH := append([]float32(nil), gw0...), append([]float32(nil), dH0...)
					convBackward(l, w, gw, c.in, h, dA, dH, fi, needPrev, buf)
					bitsEqual(t, fmt.Sprintf("%s, scratch %d: dL/dW", what, len(buf)), gw, wantGW)
					bitsEqual(t, fmt.Sprintf("%s, scratch %d: dL/dh", what, len(buf)), dH, wantDH)
				}
			}
		}
	}
}

// TestRowDotsBitwise compares rowDots with one f32.Dot per row, for every
// group tail and with a mask that skips rows.
func TestRowDotsBitwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 2))
	for _, rows := range []int{0, 1, 2, 3, 4, 5, 63, 64, 65, 131, 800} {
		for _, out := range []int{1, 10, 33, 200} {
			for _, masked := range []bool{false, true} {
				w := testValues(rng, rows*out, 0)
				x := testValues(rng, out, 0.2)
				var mask []float32
				if masked {
					mask = testValues(rng, rows, 0.5)
				}
				got, want := make([]float32, rows), make([]float32, rows)
				for i := range got {
					got[i], want[i] = -7, -7
					if mask == nil || mask[i] > 0 {
						want[i] = f32.Dot(w[i*out:(i+1)*out], x)
					}
				}
				rowDots(got, mask, w, out, x)
				bitsEqual(t, fmt.Sprintf("%d rows of %d, mask %v", rows, out, masked), got, want)
			}
		}
	}
}
