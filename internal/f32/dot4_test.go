package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// awkwardVec returns n values mixing the cases that expose a changed
// summation order or operand handling: signed zeros, denormals, large and
// tiny magnitudes (whose products may overflow to infinities or underflow),
// and ordinary values in [-1, 1).
func awkwardVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		sign := float32(1)
		if rng.IntN(2) == 0 {
			sign = -1
		}
		switch rng.IntN(8) {
		case 0:
			v[i] = sign * 0
		case 1: // denormal: exponent field 0, random mantissa
			v[i] = math.Float32frombits(rng.Uint32() & 0x807fffff)
		case 2:
			v[i] = sign * (1 + rng.Float32()) * float32(math.Ldexp(1, rng.IntN(64)))
		case 3:
			v[i] = sign * (1 + rng.Float32()) * float32(math.Ldexp(1, -rng.IntN(64)))
		default:
			v[i] = 2*rng.Float32() - 1
		}
	}
	return v
}

// sameOrBothNaN reports whether a and b have the same bits, or are both NaN
// (the Go reference may produce another NaN payload than the assembly).
func sameOrBothNaN(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || a != a && b != b
}

// TestDot4 checks on every kernel set that each result of Dot4 is bitwise
// the Dot of its row with y on the same set, and follows the documented
// order (refDot), for every tail length, at every alignment, with rows
// longer than y whose extra elements (NaN) must not be read.
func TestDot4(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(14, 14))
		for _, n := range testLengths {
			for trial := range 4 {
				gen := randVec
				if trial%2 == 1 {
					gen = awkwardVec
				}
				y0 := gen(rng, n)
				var x0 [4][]float32
				for r := range x0 {
					x0[r] = append(gen(rng, n), float32(math.NaN()), float32(math.NaN()))[:n+trial%3]
				}
				for off := range 8 {
					y, _ := placed(y0, off)
					var x [4][]float32
					for r := range x {
						x[r], _ = placed(x0[r], (off+3*r+1)%8)
					}
					got := [4]float32{}
					got[0], got[1], got[2], got[3] = Dot4(x[0], x[1], x[2], x[3], y)
					for r := range got {
						what := fmt.Sprintf("n=%d trial=%d off=%d row %d", n, trial, off, r)
						if want := Dot(x[r][:n], y); math.Float32bits(got[r]) != math.Float32bits(want) {
							t.Fatalf("%s: Dot4 = %v (%#08x), Dot = %v (%#08x)", what,
								got[r], math.Float32bits(got[r]), want, math.Float32bits(want))
						}
						if want := refDot(x0[r][:n], y0); !sameOrBothNaN(got[r], want) {
							t.Fatalf("%s: Dot4 = %v (%#08x), documented order gives %v (%#08x)", what,
								got[r], math.Float32bits(got[r]), want, math.Float32bits(want))
						}
					}
				}
			}
		}
	})
}

// TestDot4SharedRows passes the same slice as several rows and as y, as a
// caller padding a short group does.
func TestDot4SharedRows(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(15, 15))
		for _, n := range []int{0, 1, 31, 32, 33, 250} {
			a, b := randVec(rng, n), randVec(rng, n)
			d0, d1, d2, d3 := Dot4(a, b, a, a, a)
			wa, wb := Dot(a, a), Dot(b, a)
			if !sameBits32(d0, wa) || !sameBits32(d1, wb) || !sameBits32(d2, wa) || !sameBits32(d3, wa) {
				t.Fatalf("n=%d: Dot4 = %v %v %v %v, want %v %v %v %v", n, d0, d1, d2, d3, wa, wb, wa, wa)
			}
		}
	})
}

func sameBits32(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }
