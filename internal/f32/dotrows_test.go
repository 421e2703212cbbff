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

// dotRowsLengths are the row lengths TestDotRows tries: every tail of the
// 32-element block up to 70, then longer rows around the block boundaries.
var dotRowsLengths = func() []int {
	var n []int
	for i := 0; i <= 70; i++ {
		n = append(n, i)
	}
	return append(n, 95, 96, 97, 127, 128, 129, 200, 250, 256, 1031)
}()

// TestDotRows checks on every kernel set that each result of DotRows is
// bitwise the Dot of its row with v on the same set, and follows the
// documented order (refDot): for every tail length, every count of rows
// around the groups of 2 and 4 the kernels take, rows named twice, rows that
// overlap (stride < len(v)) or coincide (stride 0), ordinary and awkward
// values, at every alignment; elements of dst past len(idx) stay untouched.
func TestDotRows(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(14, 14))
		for _, n := range dotRowsLengths {
			for trial, m := range []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 13} {
				gen := randVec
				if trial%2 == 1 {
					gen = awkwardVec
				}
				stride := []int{n, n + 3, n / 2, 0}[trial%4]
				nrows := 11
				rows0 := gen(rng, (nrows-1)*stride+n+rng.IntN(3))
				v0 := gen(rng, n)
				idx := make([]int32, m)
				for i := range idx {
					idx[i] = int32(rng.IntN(nrows))
				}
				off := rng.IntN(8)
				rows, _ := placed(rows0, off)
				v, _ := placed(v0, (off+3)%8)
				d0 := make([]float32, m+2)
				dst, buf := placed(d0, (off+5)%8)
				DotRows(dst, rows, stride, idx, v)
				for i, j := range idx {
					what := fmt.Sprintf("n=%d rows=%d stride=%d off=%d: dst[%d] (row %d)", n, m, stride, off, i, j)
					row := rows[int(j)*stride:][:n]
					if want := Dot(row, v); math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Fatalf("%s = %v (%#08x), Dot = %v (%#08x)", what,
							dst[i], math.Float32bits(dst[i]), want, math.Float32bits(want))
					}
					if want := refDot(rows0[int(j)*stride:][:n], v0); !sameOrBothNaN(dst[i], want) {
						t.Fatalf("%s = %v (%#08x), documented order gives %v (%#08x)", what,
							dst[i], math.Float32bits(dst[i]), want, math.Float32bits(want))
					}
				}
				for i := m; i < len(dst); i++ {
					if dst[i] != 0 {
						t.Fatalf("n=%d rows=%d: wrote dst[%d] = %v past len(idx)", n, m, i, dst[i])
					}
				}
				checkGuards(t, buf, dst, (off+5)%8)
			}
		}
	})
}
