package f32

import "math"

// AdamStep holds the constants of one Adam step, all in float64 (see Adam).
// C1 and C2 are 1-B1 and 1-B2; Step is the learning rate over the first
// moment's bias correction and BC2 the square root of the second's.
type AdamStep struct {
	WD, B1, C1, B2, C2, Step, BC2, Eps float64
}

// Adam applies one bias-corrected Adam step, with the weight decay added to
// the gradient, to every parameter w[i], in float64 arithmetic on the float32
// state, each line one IEEE-754 double precision operation per element in
// this order (no fused multiply-add on any path):
//
//	g := float64(grad[i]) + WD*float64(w[i])
//	m := B1*float64(M[i]) + C1*g
//	v := B2*float64(V[i]) + (C2*g)*g
//	M[i], V[i] = float32(m), float32(v)
//	w[i] = float32(float64(w[i]) - (Step*m)/(math.Sqrt(v)/BC2 + Eps))
//
// The square root and the divisions are correctly rounded in IEEE-754, in
// the vector units as in the scalar ones, so every kernel set gives bitwise
// the same result (NaN payloads aside). With AddRounded it is one of the two
// kernels of the package that compute in double precision: it is the
// optimizer step, whose float64 formula the engine has always used.
//
// It panics if grad, M or V is shorter than w. The slices must not overlap.
func Adam(w, grad, M, V []float32, s *AdamStep) {
	n := len(w)
	switch {
	case len(grad) < n:
		panicShort("Adam", "grad", len(grad), "w", n)
	case len(M) < n:
		panicShort("Adam", "M", len(M), "w", n)
	case len(V) < n:
		panicShort("Adam", "V", len(V), "w", n)
	}
	grad, M, V = grad[:n], M[:n], V[:n]
	done := 0
	if useAsm {
		// The assembly takes whole vectors of 8 (AVX-512) or 4 (AVX2) lanes;
		// the Go loop does the rest.
		done = n &^ 7
		if done > 0 {
			adamAsm(w[:done], grad[:done], M[:done], V[:done], s)
		}
	}
	adamGo(w[done:], grad[done:], M[done:], V[done:], s)
}

// adamGo is Adam in Go; the slices have equal lengths. Every product is
// converted to float64 explicitly, which forbids the compiler from fusing it
// into a multiply-add (it would on arm64 otherwise).
func adamGo(w, grad, M, V []float32, s *AdamStep) {
	wd, b1, c1, b2, c2, step, bc2, eps := s.WD, s.B1, s.C1, s.B2, s.C2, s.Step, s.BC2, s.Eps
	grad, M, V = grad[:len(w)], M[:len(w)], V[:len(w)]
	for i, wi := range w {
		g := float64(grad[i]) + float64(wd*float64(wi))
		m := float64(b1*float64(M[i])) + float64(c1*g)
		v := float64(b2*float64(V[i])) + float64(float64(c2*g)*g)
		M[i], V[i] = float32(m), float32(v)
		w[i] = float32(float64(wi) - float64(step*m)/(math.Sqrt(v)/bc2+eps))
	}
}
