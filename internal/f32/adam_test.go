package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// refAdam is the optimizer's formula as the engine wrote it before the
// kernel existed, kept here, independent of the kernels, as the reference.
func refAdam(w, grad, M, V []float32, lr, wd, b1, b2, eps float64, bc1, bc2 float64) {
	step := lr / bc1
	for i, wi := range w {
		gi := float64(grad[i]) + float64(wd*float64(wi))
		m := float64(b1*float64(M[i])) + float64((1-b1)*gi)
		v := float64(b2*float64(V[i])) + float64((1-b2)*gi*gi)
		M[i], V[i] = float32(m), float32(v)
		w[i] = float32(float64(wi) - step*m/(math.Sqrt(v)/bc2+eps))
	}
}

// adamCase draws parameters, gradients and moments of mixed magnitudes,
// with zeros, subnormals and large values among them.
func adamCase(rng *rand.Rand, n int) (w, g, m, v []float32) {
	pick := func(scale float32) float32 {
		switch rng.IntN(12) {
		case 0:
			return 0
		case 1:
			return math.Float32frombits(uint32(rng.IntN(1 << 23))) // subnormal
		case 2:
			return (2*rng.Float32() - 1) * 1e30
		}
		return (2*rng.Float32() - 1) * scale * float32(math.Pow(10, -float64(rng.IntN(8))))
	}
	w, g, m, v = make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	for i := range n {
		w[i], g[i], m[i] = pick(1), pick(1), pick(0.1)
		v[i] = float32(math.Abs(float64(pick(0.01))))
	}
	return w, g, m, v
}

func TestAdam(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	lr, wd, b1, b2, eps := 0.00085, 5e-4, 0.9, 0.999, 1e-8
	for _, stepNo := range []int{1, 2, 37, 5000} {
		bc1 := 1 - math.Pow(b1, float64(stepNo))
		bc2 := math.Sqrt(1 - math.Pow(b2, float64(stepNo)))
		s := &AdamStep{WD: wd, B1: b1, C1: 1 - b1, B2: b2, C2: 1 - b2, Step: lr / bc1, BC2: bc2, Eps: eps}
		for _, n := range testLengths {
			w, g, m, v := adamCase(rng, n)
			ww, wm, wv := append([]float32(nil), w...), append([]float32(nil), m...), append([]float32(nil), v...)
			refAdam(ww, g, wm, wv, lr, wd, b1, b2, eps, bc1, bc2)
			forEachPath(t, func(t *testing.T, path string) {
				for _, off := range []int{0, 1, 3} {
					gw, bufW := placed(w, off)
					gm, bufM := placed(m, off)
					gv, bufV := placed(v, off)
					Adam(gw, g, gm, gv, s)
					what := fmt.Sprintf("step %d n=%d off=%d", stepNo, n, off)
					sameBits(t, what+" w", gw, ww)
					sameBits(t, what+" M", gm, wm)
					sameBits(t, what+" V", gv, wv)
					checkGuards(t, bufW, gw, off)
					checkGuards(t, bufM, gm, off)
					checkGuards(t, bufV, gv, off)
				}
			})
		}
	}
}

func TestAdamPanics(t *testing.T) {
	s := &AdamStep{}
	for _, c := range []struct {
		name          string
		w, g, m, v    int
		wantSubstring string
	}{
		{"short grad", 4, 3, 4, 4, "len(grad)=3"},
		{"short M", 4, 4, 2, 4, "len(M)=2"},
		{"short V", 4, 4, 4, 1, "len(V)=1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				r := fmt.Sprint(recover())
				if !strings.Contains(r, c.wantSubstring) {
					t.Fatalf("panic %q, want it to name %q", r, c.wantSubstring)
				}
			}()
			Adam(make([]float32, c.w), make([]float32, c.g), make([]float32, c.m), make([]float32, c.v), s)
		})
	}
}
