package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// testLengths covers every length up to 70 (all tail sizes of every block
// size) and longer vectors around the block boundaries of 32, 64 and 112.
var testLengths = func() []int {
	var n []int
	for i := 0; i <= 70; i++ {
		n = append(n, i)
	}
	return append(n, 95, 96, 97, 111, 112, 113, 127, 128, 129, 200, 223, 224, 225, 250, 256, 1000, 1031)
}()

// guard is the value written around every destination slice; a kernel that
// writes outside its slice changes it.
const guard = float32(-12345.5)

// forEachPath runs f once for each kernel set this CPU can run, with that
// set selected.
func forEachPath(t *testing.T, f func(t *testing.T, path string)) {
	t.Helper()
	for _, p := range paths() {
		t.Run(p, func(t *testing.T) {
			defer setPath(p)()
			f(t, p)
		})
	}
}

// randVec returns n values uniform in [-1, 1).
func randVec(rng *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = 2*rng.Float32() - 1
	}
	return v
}

// placed returns a copy of v that starts off elements into a buffer with
// 8 guard values before and after it, and the buffer itself.
func placed(v []float32, off int) (s, buf []float32) {
	buf = make([]float32, 8+off+len(v)+8)
	for i := range buf {
		buf[i] = guard
	}
	s = buf[8+off : 8+off+len(v) : 8+off+len(v)]
	copy(s, v)
	return s, buf
}

// checkGuards fails unless buf holds guard everywhere outside s.
func checkGuards(t *testing.T, buf, s []float32, off int) {
	t.Helper()
	for i := range buf {
		if i >= 8+off && i < 8+off+len(s) {
			continue
		}
		if buf[i] != guard {
			t.Fatalf("wrote outside the destination: buf[%d] = %v (slice at [%d:%d])", i, buf[i], 8+off, 8+off+len(s))
		}
	}
}

// sameBits fails unless got and want are bitwise equal.
func sameBits(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: len %d, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v (%#08x), want %v (%#08x)", what, i,
				got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
		}
	}
}

// mulAdd32 returns a*b+c with the product rounded to float32 first.
func mulAdd32(a, b, c float32) float32 { return c + float32(a*b) }

// refDot is the documented summation order, written independently of the
// kernels: 32 lane sums (the last block padded with zeros), then the
// pairwise reduction.
func refDot(x, y []float32) float32 {
	var s [32]float32
	n := (len(x) + 31) / 32 * 32
	for i := 0; i < n; i++ {
		var a, b float32
		if i < len(x) {
			a, b = x[i], y[i]
		}
		s[i%32] = mulAdd32(a, b, s[i%32])
	}
	var v [8]float32
	for k := range v {
		v[k] = (s[k] + s[k+16]) + (s[k+8] + s[k+24])
	}
	var w [4]float32
	for k := range w {
		w[k] = v[k] + v[k+4]
	}
	return (w[0] + w[2]) + (w[1] + w[3])
}

func TestAddTo(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(1, 1))
		for _, n := range testLengths {
			for off := range 8 {
				d0, src := randVec(rng, n), randVec(rng, n+off%2) // src may be longer
				want := make([]float32, n)
				for i := range want {
					want[i] = d0[i] + src[i]
				}
				dst, buf := placed(d0, off)
				s, _ := placed(src, 7-off)
				AddTo(dst, s)
				sameBits(t, fmt.Sprintf("n=%d off=%d", n, off), dst, want)
				checkGuards(t, buf, dst, off)
			}
		}
	})
}

func TestScaleAndAddConst(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(2, 2))
		for _, n := range testLengths {
			for off := range 8 {
				x0 := randVec(rng, n)
				alpha, c := 3*rng.Float32()-1.5, 3*rng.Float32()-1.5
				wantS, wantC := make([]float32, n), make([]float32, n)
				for i := range x0 {
					wantS[i] = x0[i] * alpha
					wantC[i] = x0[i] + c
				}
				x, buf := placed(x0, off)
				Scale(alpha, x)
				sameBits(t, fmt.Sprintf("Scale n=%d off=%d", n, off), x, wantS)
				checkGuards(t, buf, x, off)
				x, buf = placed(x0, off)
				AddConst(x, c)
				sameBits(t, fmt.Sprintf("AddConst n=%d off=%d", n, off), x, wantC)
				checkGuards(t, buf, x, off)
			}
		}
	})
}

func TestAxpy(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(3, 3))
		for _, n := range testLengths {
			for off := range 8 {
				y0, x0 := randVec(rng, n), randVec(rng, n+off%3)
				alpha := 4*rng.Float32() - 2
				want := make([]float32, n)
				for i := range want {
					want[i] = mulAdd32(alpha, x0[i], y0[i])
				}
				y, buf := placed(y0, off)
				x, _ := placed(x0, (off+3)%8)
				Axpy(alpha, x, y)
				sameBits(t, fmt.Sprintf("n=%d off=%d", n, off), y, want)
				checkGuards(t, buf, y, off)
				// Against float64: one or two roundings of a float32 result.
				for i := range y {
					exact := float64(alpha)*float64(x0[i]) + float64(y0[i])
					tol := 0x1p-23 * (math.Abs(float64(alpha)*float64(x0[i])) + math.Abs(float64(y0[i])))
					if math.Abs(float64(y[i])-exact) > tol {
						t.Fatalf("n=%d [%d] = %v, float64 gives %v (tolerance %g)", n, i, y[i], exact, tol)
					}
				}
			}
		}
	})
}

// TestUnfused checks that no path fuses the multiply-add of Axpy and Dot:
// with a = 1+2^-12, a*a = 1+2^-11+2^-24 rounds to 1+2^-11 in float32, so
// a*a - (1+2^-11) is 0 with a rounded product, 2^-24 fused.
func TestUnfused(t *testing.T) {
	a := float32(1 + 0x1p-12)
	b := float32(1 + 0x1p-11)
	forEachPath(t, func(t *testing.T, path string) {
		want := float32(0)
		for _, n := range []int{1, 7, 8, 15, 16, 33, 70} {
			x, y := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], y[i] = a, -b
			}
			Axpy(a, x, y)
			for i := range y {
				if y[i] != want {
					t.Fatalf("Axpy n=%d: y[%d] = %g, want %g", n, i, y[i], want)
				}
			}
		}
		// Lane 0 of Dot sums x[0]*y[0] = -b, then adds x[32]*y[32] = a*a.
		for _, n := range []int{33, 40, 64, 70} {
			x, y := make([]float32, n), make([]float32, n)
			x[0], y[0], x[32], y[32] = -b, 1, a, a
			if got := Dot(x, y); got != want {
				t.Fatalf("Dot n=%d = %g, want %g", n, got, want)
			}
		}
	})
}

func TestDot(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(4, 4))
		for _, n := range testLengths {
			x0, y0 := randVec(rng, n), randVec(rng, n+1)
			want := refDot(x0, y0[:n])
			var exact, mag float64
			for i := range x0 {
				exact += float64(x0[i]) * float64(y0[i])
				mag += math.Abs(float64(x0[i]) * float64(y0[i]))
			}
			for off := range 8 {
				x, _ := placed(x0, off)
				y, _ := placed(y0, (off*3)%8)
				got := Dot(x, y)
				if math.Float32bits(got) != math.Float32bits(want) {
					t.Fatalf("n=%d off=%d: Dot = %v, documented order gives %v", n, off, got, want)
				}
				// Standard error bound for a sum of n products.
				if tol := float64(n+1) * 0x1p-24 * mag; math.Abs(float64(got)-exact) > tol {
					t.Fatalf("n=%d: Dot = %v, float64 gives %v (tolerance %g)", n, got, exact, tol)
				}
			}
		}
	})
}

// TestPathsAgree compares every assembly path with the Go path on the same
// inputs: bitwise for the elementwise kernels, within rounding for Axpy and
// Dot.
func TestPathsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	type result struct {
		add, scale, addc, axpy, iar []float32
		dot                         float32
		dotRows                     []float32
	}
	run := func(x, y []float32, alpha float32, idx []int32, rows []float32) result {
		var r result
		r.add = append([]float32(nil), y...)
		AddTo(r.add, x)
		r.scale = append([]float32(nil), y...)
		Scale(alpha, r.scale)
		r.addc = append([]float32(nil), y...)
		AddConst(r.addc, alpha)
		r.axpy = append([]float32(nil), y...)
		Axpy(alpha, x, r.axpy)
		r.iar = append([]float32(nil), y...)
		IndexAddRows(r.iar, rows, len(y)+5, idx)
		r.dot = Dot(x, y)
		r.dotRows = make([]float32, len(idx))
		DotRows(r.dotRows, rows, len(y)+5, idx, x)
		return r
	}
	for _, n := range testLengths {
		x, y := randVec(rng, n), randVec(rng, n)
		alpha := 2*rng.Float32() - 1
		rows := randVec(rng, 40*(n+5))
		idx := make([]int32, 25)
		for i := range idx {
			idx[i] = int32(rng.IntN(40))
		}
		var want result
		func() {
			defer setPath("go")()
			want = run(x, y, alpha, idx, rows)
		}()
		for _, p := range paths()[1:] {
			func() {
				defer setPath(p)()
				got := run(x, y, alpha, idx, rows)
				what := fmt.Sprintf("%s n=%d", p, n)
				sameBits(t, what+" AddTo", got.add, want.add)
				sameBits(t, what+" Scale", got.scale, want.scale)
				sameBits(t, what+" AddConst", got.addc, want.addc)
				sameBits(t, what+" IndexAddRows", got.iar, want.iar)
				sameBits(t, what+" Axpy", got.axpy, want.axpy)
				sameBits(t, what+" Dot", []float32{got.dot}, []float32{want.dot})
				sameBits(t, what+" DotRows", got.dotRows, want.dotRows)
			}()
		}
	}
}

func TestIndexAddRows(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(6, 6))
		for _, n := range testLengths {
			for _, stride := range []int{n, n + 3, n / 2, 0} {
				for _, nidx := range []int{0, 1, 3, 37} {
					nrows := 50
					rows := randVec(rng, (nrows-1)*stride+n+rng.IntN(3))
					idx := make([]int32, nidx)
					for i := range idx {
						idx[i] = int32(rng.IntN(nrows)) // duplicates included
					}
					d0 := randVec(rng, n)
					want := append([]float32(nil), d0...)
					for _, j := range idx {
						for i := range want {
							want[i] += rows[int(j)*stride+i]
						}
					}
					off := rng.IntN(8)
					dst, buf := placed(d0, off)
					r, _ := placed(rows, 7-off)
					IndexAddRows(dst, r, stride, idx)
					sameBits(t, fmt.Sprintf("n=%d stride=%d nidx=%d off=%d", n, stride, nidx, off), dst, want)
					checkGuards(t, buf, dst, off)
				}
			}
		}
	})
}

// TestIndexAddRowsLastRow names the last row, which ends exactly at
// len(rows), and repeats an index, with values that identify each element.
func TestIndexAddRowsLastRow(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		for _, n := range []int{1, 5, 8, 13, 16, 31, 64, 100, 113} {
			stride := n + 1
			rows := make([]float32, 3*stride+n)
			for i := range rows {
				rows[i] = float32(i)
			}
			dst := make([]float32, n)
			IndexAddRows(dst, rows, stride, []int32{3, 0, 3})
			for i := range dst {
				if want := float32(2*(3*stride+i) + i); dst[i] != want {
					t.Fatalf("n=%d: dst[%d] = %v, want %v", n, i, dst[i], want)
				}
			}
		}
	})
}

// TestDotAlignment checks that Dot of the same values is bitwise the same at
// every address.
func TestDotAlignment(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(7, 7))
		for _, n := range []int{7, 31, 33, 100, 250, 1031} {
			x0, y0 := randVec(rng, n), randVec(rng, n)
			x, _ := placed(x0, 0)
			y, _ := placed(y0, 0)
			first := Dot(x, y)
			for off := 1; off < 8; off++ {
				x, _ := placed(x0, off)
				y, _ := placed(y0, 8-off)
				if got := Dot(x, y); math.Float32bits(got) != math.Float32bits(first) {
					t.Fatalf("n=%d: Dot at offset %d = %v, at offset 0 = %v", n, off, got, first)
				}
			}
		}
	})
}

func TestPanics(t *testing.T) {
	f := make([]float32, 10)
	tests := []struct {
		name string
		call func()
		msg  string
	}{
		{"AddTo short src", func() { AddTo(f[:5], f[:4]) }, "AddTo: len(src)=4 is shorter than len(dst)=5"},
		{"Axpy short x", func() { Axpy(1, f[:2], f[:3]) }, "Axpy: len(x)=2 is shorter than len(y)=3"},
		{"Dot short y", func() { Dot(f[:3], f[:1]) }, "Dot: len(y)=1 is shorter than len(x)=3"},
		{"DotRows short dst", func() { DotRows(f[:1], f, 2, []int32{0, 1}, f[:2]) }, "DotRows: len(dst)=1 is shorter than len(idx)=2"},
		{"DotRows negative stride", func() { DotRows(f, f, -1, nil, f[:2]) }, "DotRows: stride -1 is negative"},
		{"DotRows negative index", func() { DotRows(f, f, 2, []int32{0, -1}, f[:2]) }, "DotRows: idx[1]=-1"},
		{"DotRows row past end", func() { DotRows(f, f, 3, []int32{2, 3}, f[:2]) }, "DotRows: idx[1]=3 names row [9:9+2] outside len(rows)=10"},
		{"DotRows v longer than rows", func() { DotRows(f, f, 0, []int32{0}, make([]float32, 11)) }, "DotRows: len(rows)=10 is shorter than len(v)=11"},
		{"IndexAddRows negative stride", func() { IndexAddRows(f[:2], f, -1, nil) }, "stride -1 is negative"},
		{"IndexAddRows negative index", func() { IndexAddRows(f[:2], f, 2, []int32{0, -1}) }, "idx[1]=-1"},
		{"IndexAddRows row past end", func() { IndexAddRows(f[:2], f, 3, []int32{2, 3}) }, "idx[1]=3 names row [9:9+2] outside len(rows)=10"},
		{"IndexAddRows dst longer than rows", func() { IndexAddRows(make([]float32, 11), f, 0, []int32{0}) }, "len(rows)=10 is shorter than len(dst)=11"},
		{"IndexAddRows huge index", func() { IndexAddRows(f[:1], f, math.MaxInt, []int32{1}) }, "idx[0]=1"},
		{"NeuronStep short V", func() { NeuronStep(f[:4], f[:3], f, f, 1, 1, false, nil) }, "NeuronStep: len(V)=3 is shorter than len(I)=4"},
		{"NeuronStep short FI", func() { NeuronStep(f[:4], f, f[:2], f, 1, 1, false, nil) }, "NeuronStep: len(FI)=2 is shorter than len(I)=4"},
		{"NeuronStep short FO", func() { NeuronStep(f[:4], f, f, nil, 1, 1, true, nil) }, "NeuronStep: len(FO)=0 is shorter than len(I)=4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("did not panic")
				}
				if s := fmt.Sprint(r); !strings.Contains(s, tt.msg) {
					t.Fatalf("panic %q does not contain %q", s, tt.msg)
				}
			}()
			tt.call()
		})
	}
}

// TestNoPanic lists the edge cases that are valid.
func TestNoPanic(t *testing.T) {
	f := make([]float32, 10)
	AddTo(nil, nil)
	AddTo(f[:3], f[:5]) // longer src: only len(dst) is used
	Axpy(1, f, nil)
	if Dot(nil, f) != 0 {
		t.Fatal("Dot of empty slices is not 0")
	}
	DotRows(nil, nil, 1, nil, f) // no rows named
	d := []float32{1, 1, 1}
	if DotRows(d, f, 2, []int32{4, 5}, nil); d[0] != 0 || d[1] != 0 || d[2] != 1 {
		t.Fatalf("DotRows with an empty v gives %v, want [0 0 1]", d) // empty rows: dot 0
	}
	DotRows(d, f[2:], 0, []int32{7}, f[:2])   // stride 0: every index names row 0
	DotRows(d, f, 4, []int32{2}, f[:2])       // last row ends exactly at len(rows)
	IndexAddRows(f[:2], nil, 5, nil)          // no rows named
	IndexAddRows(nil, f, 3, []int32{3})       // empty rows of dst
	IndexAddRows(f[:2], f[2:], 0, []int32{7}) // stride 0: every index names row 0
	IndexAddRows(f[:2], f[2:], 3, []int32{2}) // last row ends exactly at len(rows)
}
