package allreduce

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

func TestInt64Accumulate(t *testing.T) {
	cases := []struct {
		name     string
		acc, add int64
		want     int64
		overflow bool
	}{
		{"small", 3, -5, -2, false},
		{"max + min", math.MaxInt64, math.MinInt64, -1, false},
		{"max + 0", math.MaxInt64, 0, math.MaxInt64, false},
		{"max + 1", math.MaxInt64, 1, 0, true},
		{"min + -1", math.MinInt64, -1, 0, true},
		{"half + half", 1 << 62, 1 << 62, 0, true},
		{"-half + -half", -(1 << 62), -(1 << 62), math.MinInt64, false},
	}
	for _, c := range cases {
		for _, off := range []int{0, 1} { // aligned (fast path) and misaligned wire
			t.Run(fmt.Sprintf("%s/offset %d", c.name, off), func(t *testing.T) {
				acc := []int64{7, c.acc, 9}
				wire := make([]byte, 32)[off : off+24]
				Int64.Encode(wire, []int64{1, c.add, 2})
				err := Int64.Accumulate(acc, wire)
				if c.overflow {
					if !errors.Is(err, ErrOverflow) {
						t.Fatalf("Accumulate = %v, want ErrOverflow", err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				got := make([]int64, 3)
				Int64.Decode(got, wire)
				for i, want := range []int64{8, c.want, 11} {
					if acc[i] != want || got[i] != want {
						t.Fatalf("element %d: acc %d, wire %d, want %d", i, acc[i], got[i], want)
					}
				}
			})
		}
	}
}

func TestFloat32Codec(t *testing.T) {
	src := []float32{1.5, -0, float32(math.Inf(1)), math.SmallestNonzeroFloat32, 3e38}
	for _, off := range []int{0, 1} { // aligned (fast path) and misaligned wire
		wire := make([]byte, 4*len(src)+4)[off : off+4*len(src)]
		Float32.Encode(wire, src)
		got := make([]float32, len(src))
		Float32.Decode(got, wire)
		for i := range src {
			if math.Float32bits(got[i]) != math.Float32bits(src[i]) {
				t.Fatalf("offset %d: round trip of element %d: %g, want %g", off, i, got[i], src[i])
			}
		}
		acc := []float32{1, 2, 3, 4, 5}
		if err := Float32.Accumulate(acc, wire); err != nil {
			t.Fatal(err)
		}
		Float32.Decode(got, wire)
		for i := range acc {
			if want := []float32{1, 2, 3, 4, 5}[i] + src[i]; acc[i] != want || got[i] != want {
				t.Fatalf("offset %d: element %d: acc %g, wire %g, want %g", off, i, acc[i], got[i], want)
			}
		}
	}
}

func TestQuantizeMean(t *testing.T) {
	src := []float64{0.5, -1.25, 3}
	q := make([]int64, 3)
	if err := Quantize(q, src, 1<<20); err != nil {
		t.Fatal(err)
	}
	if want := []int64{1 << 19, -5 << 18, 3 << 20}; q[0] != want[0] || q[1] != want[1] || q[2] != want[2] {
		t.Fatalf("Quantize = %v, want %v", q, want)
	}
	mean := make([]float64, 3)
	Mean(mean, q, 1<<20, 2)
	for i, v := range src {
		if mean[i] != v/2 {
			t.Fatalf("Mean element %d = %g, want %g", i, mean[i], v/2)
		}
	}
	for _, bad := range []float64{math.NaN(), math.Inf(-1), 1e300} {
		if err := Quantize(q[:1], []float64{bad}, 1); !errors.Is(err, ErrOverflow) {
			t.Errorf("Quantize(%g) = %v, want ErrOverflow", bad, err)
		}
	}
}

func TestScaleFor(t *testing.T) {
	cases := []struct {
		maxAbs float64
		terms  int
	}{{1, 1}, {1, 1000}, {3.7, 64}, {1e-9, 8}, {1e15, 3}}
	for _, c := range cases {
		s := ScaleFor(c.maxAbs, c.terms)
		if s <= 0 {
			t.Fatalf("ScaleFor(%g, %d) = %g", c.maxAbs, c.terms, s)
		}
		if _, e := math.Frexp(s); math.Ldexp(0.5, e) != s {
			t.Fatalf("ScaleFor(%g, %d) = %g, not a power of two", c.maxAbs, c.terms, s)
		}
		bound := func(s float64) float64 { return float64(c.terms) * (c.maxAbs*s + 0.5) }
		if bound(s) > 0x1p62 || bound(2*s) <= 0x1p62 {
			t.Fatalf("ScaleFor(%g, %d) = %g: the bound is %g with it and %g with twice it; want <= 2^62 < the latter",
				c.maxAbs, c.terms, s, bound(s), bound(2*s))
		}
	}
	for _, c := range []struct {
		maxAbs float64
		terms  int
	}{{0, 1}, {math.NaN(), 1}, {math.Inf(1), 1}, {1, 0}} {
		if s := ScaleFor(c.maxAbs, c.terms); s != 0 {
			t.Errorf("ScaleFor(%g, %d) = %g, want 0", c.maxAbs, c.terms, s)
		}
	}
}

func TestPlan(t *testing.T) {
	for n := range 40 {
		for w := 1; w <= 7; w++ {
			for _, ce := range []int{1, 3, 100} {
				p := newPlan(n, w, 0, ce)
				next := 0
				for s := range w {
					lo, hi := p.segment(s)
					if lo != next || hi < lo || hi-lo > n/w+1 || hi-lo < n/w {
						t.Fatalf("n=%d w=%d segment %d = [%d,%d), previous ended at %d", n, w, s, lo, hi, next)
					}
					cn := lo
					for c := range p.chunks(s) {
						clo, chi := p.chunk(s, c)
						if clo != cn || chi <= clo || chi-clo > ce || chi > hi {
							t.Fatalf("n=%d w=%d ce=%d segment %d chunk %d = [%d,%d)", n, w, ce, s, c, clo, chi)
						}
						cn = chi
					}
					if cn != hi {
						t.Fatalf("n=%d w=%d ce=%d segment %d: chunks end at %d, want %d", n, w, ce, s, cn, hi)
					}
					next = hi
				}
				if next != n {
					t.Fatalf("n=%d w=%d: segments end at %d", n, w, next)
				}
			}
		}
	}
}

var sinkErr error

// benchmarkAccumulate times codec.Accumulate on one 1 MiB chunk.
func benchmarkAccumulate[T int64 | float32](b *testing.B, codec Codec[T]) {
	n := (1 << 20) / codec.Size()
	acc := make([]T, n)
	wire := make([]byte, 1<<20)
	b.SetBytes(1 << 20)
	for b.Loop() {
		sinkErr = codec.Accumulate(acc, wire)
	}
}

func BenchmarkInt64Accumulate(b *testing.B)   { benchmarkAccumulate(b, Int64) }
func BenchmarkFloat32Accumulate(b *testing.B) { benchmarkAccumulate(b, Float32) }
