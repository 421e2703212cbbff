package allreduce

import (
	"fmt"
	"math"
)

// Quantize performs dst[i] = round(src[i] * scale), the fixed-point form that the
// Int64 codec sums exactly. It fails with an error wrapping ErrOverflow, naming
// the element, when a value is NaN or its scaled value is outside ±2^63.
// It panics if the lengths differ.
func Quantize(dst []int64, src []float64, scale float64) error {
	if len(dst) != len(src) {
		panic(fmt.Sprintf("allreduce: Quantize length mismatch: dst %d, src %d", len(dst), len(src)))
	}
	for i, v := range src {
		q := math.Round(v * scale)
		// -2^63 is representable, 2^63 is not; NaN fails both comparisons.
		if !(q >= -(1<<63) && q < 1<<63) {
			return fmt.Errorf("%w: element %d: %g * scale %g = %g is not an int64", ErrOverflow, i, v, scale, q)
		}
		dst[i] = int64(q)
	}
	return nil
}

// Mean performs dst[i] = sum[i] / (scale * count): it turns the fixed-point sum of
// count contributions back into their mean, dividing once, after the sum. It
// panics if the lengths differ or count < 1.
func Mean(dst []float64, sum []int64, scale float64, count int) {
	if len(dst) != len(sum) || count < 1 {
		panic(fmt.Sprintf("allreduce: Mean: dst %d, sum %d elements, count %d", len(dst), len(sum), count))
	}
	d := scale * float64(count)
	for i, s := range sum {
		dst[i] = float64(s) / d
	}
}

// ScaleFor returns the largest power of two s such that terms values of absolute
// value at most maxAbs, each quantised with scale s, sum to at most 2^62 in
// absolute value: well inside int64, in any order. Powers of two keep the
// quantisation step exact. It returns 0 when maxAbs or terms is not positive and
// finite, or no such power of two exists.
func ScaleFor(maxAbs float64, terms int) float64 {
	if !(maxAbs > 0) || math.IsInf(maxAbs, 0) || terms < 1 {
		return 0
	}
	// Want terms * (maxAbs*s + 0.5) <= 2^62; the 0.5 is the rounding of each term.
	limit := math.Ldexp(1, 62)/float64(terms) - 0.5
	if limit <= 0 {
		return 0
	}
	_, exp := math.Frexp(limit / maxAbs) // limit/maxAbs = f * 2^exp, 0.5 <= f < 1
	s := math.Ldexp(1, exp-1)
	if s*maxAbs > limit {
		s /= 2
	}
	return s
}
