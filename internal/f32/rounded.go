package f32

import "math"

// AddRounded adds the float32 values of g, scaled and rounded to integers,
// into acc, element by element from the first:
//
//	x := float64(g[i]) * scale
//	acc[i] += int64(math.Round(x))   // half away from zero
//
// until an element cannot be added: |x| is not below limit (or x is NaN), or
// the sum leaves the int64 range. It returns the number of elements added,
// len(g) when all were; acc[i] of the element that stopped it, and of every
// element after it, is unchanged, so the caller can report that element. An
// element whose value is zero adds nothing. limit must be at most 2^63.
//
// This is a micro-batch's gradient turned into fixed point and summed. The
// AVX-512 path (with AVX512DQ's conversions between doubles and int64) does 8
// elements a step and the AVX2 path 4, with the same IEEE-754 multiply and
// the same rounding built from exact steps, so every kernel set gives bitwise
// the same sums. The AVX2 path takes |x| < 2^51 only; a block with a larger
// element, or with one that stops the sum, goes through the Go loop, which
// reports the element or adds the block, and the vector path resumes after it.
//
// It panics if acc is shorter than g.
func AddRounded(acc []int64, g []float32, scale, limit float64) int {
	if len(acc) < len(g) {
		panic("f32: AddRounded: len(acc) is shorter than len(g)")
	}
	acc = acc[:len(g)]
	done := 0
	if useAsm {
		vec, fast := addRounded2Asm, min(limit, 1<<51)
		if useAVX512 && hasAVX512DQ() {
			vec, fast = addRounded5Asm, limit
		}
		for n := len(g) &^ 7; done < n; {
			done += vec(acc[done:n], g[done:n], scale, fast)
			if done == n {
				break
			}
			// The block of 4 (or 8) at done stopped the vector path.
			end := min(done+8, n)
			if k := addRoundedGo(acc[done:end], g[done:end], scale, limit); k < end-done {
				return done + k
			}
			done = end
		}
	}
	return done + addRoundedGo(acc[done:], g[done:], scale, limit)
}

// addRoundedGo is AddRounded in Go; len(acc) == len(g).
func addRoundedGo(acc []int64, g []float32, scale, limit float64) int {
	acc = acc[:len(g)]
	for i, v := range g {
		if v == 0 {
			continue
		}
		x := float64(v) * scale
		if !(x < limit && x > -limit) { // also catches NaN
			return i
		}
		q := int64(math.Round(x))
		a := acc[i]
		s := a + q
		if (a > 0 && q > 0 && s < 0) || (a < 0 && q < 0 && s >= 0) {
			return i
		}
		acc[i] = s
	}
	return len(g)
}
