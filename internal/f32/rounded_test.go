package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refAddRounded is the engine's loop as it was written before the kernel,
// independent of the kernels: it returns the index of the element that
// stopped it, or len(g).
func refAddRounded(acc []int64, g []float32, scale, limit float64) int {
	for i, v := range g {
		if v == 0 {
			continue
		}
		x := float64(v) * scale
		if !(x < limit && x > -limit) {
			return i
		}
		q := int64(math.Round(x))
		s := acc[i] + q
		if (acc[i] > 0 && q > 0 && s < 0) || (acc[i] < 0 && q < 0 && s >= 0) {
			return i
		}
		acc[i] = s
	}
	return len(g)
}

// roundCase draws gradients that hit every rounding case at scale 2^32:
// exact halves of both signs, values just beside them, zeros, and a spread
// of magnitudes; and sums to add them to.
func roundCase(rng *rand.Rand, n int) (acc []int64, g []float32) {
	acc, g = make([]int64, n), make([]float32, n)
	for i := range n {
		switch rng.IntN(8) {
		case 0:
			g[i] = 0
		case 1: // k + 1/2 units of 2^-32, exactly
			g[i] = float32(float64(rng.IntN(1<<20)-1<<19)+0.5) / (1 << 32)
		case 2: // just beside a half
			h := float32(float64(rng.IntN(1<<20)-1<<19)+0.5) / (1 << 32)
			g[i] = math.Nextafter32(h, float32(math.Inf(int(rng.IntN(2)*2-1))))
		case 3:
			g[i] = float32(-0.0)
		default:
			g[i] = (2*rng.Float32() - 1) * float32(math.Pow(10, -float64(rng.IntN(10))))
		}
		acc[i] = rng.Int64N(1<<50) - 1<<49
	}
	return acc, g
}

func TestAddRounded(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	const scale, limit = 1 << 32, 1 << 62
	type mutate func(acc []int64, g []float32, at int)
	cases := []struct {
		name string
		f    mutate
	}{
		{"clean", nil},
		{"NaN", func(_ []int64, g []float32, at int) { g[at] = float32(math.NaN()) }},
		{"+Inf", func(_ []int64, g []float32, at int) { g[at] = float32(math.Inf(1)) }},
		{"out of range", func(_ []int64, g []float32, at int) { g[at] = -(1 << 30) }},
		{"overflow up", func(acc []int64, g []float32, at int) { acc[at], g[at] = math.MaxInt64-5, 1 }},
		{"overflow down", func(acc []int64, g []float32, at int) { acc[at], g[at] = math.MinInt64+5, -1 }},
		{"edge, no overflow", func(acc []int64, g []float32, at int) { acc[at], g[at] = math.MaxInt64-(1<<32), 1 }},
		// Beyond the AVX2 path's 2^51 but in range: the Go loop takes the
		// block and the vector path resumes after it.
		{"beyond 2^51", func(_ []int64, g []float32, at int) {
			g[at] = -(1 << 21) - 0.5
			if at+13 < len(g) {
				g[at+13] = 1 << 25
			}
		}},
	}
	for _, c := range cases {
		for _, n := range testLengths {
			for _, at := range []int{0, n / 2, n - 1} {
				if n == 0 && c.f != nil {
					continue
				}
				acc, g := roundCase(rng, n)
				if c.f != nil {
					c.f(acc, g, at)
				}
				want := slices.Clone(acc)
				wantN := refAddRounded(want, g, scale, limit)
				forEachPath(t, func(t *testing.T, path string) {
					got := slices.Clone(acc)
					gotN := AddRounded(got, g, scale, limit)
					what := fmt.Sprintf("%s n=%d at=%d", c.name, n, at)
					if gotN != wantN {
						t.Fatalf("%s: added %d elements, want %d", what, gotN, wantN)
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s: acc[%d] = %d, want %d (g %v)", what, i, got[i], want[i], g[i])
						}
					}
				})
			}
		}
	}
}
