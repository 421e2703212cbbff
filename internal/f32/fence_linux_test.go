package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fenced returns n zeroed elements of size bytes that end where a page that
// can be neither read nor written begins, so that a kernel touching memory
// past the end faults instead of passing unnoticed. The mapping is released
// when the test ends.
func fenced(t *testing.T, n, size int) unsafe.Pointer {
	t.Helper()
	page := unix.Getpagesize()
	span := (n*size + page - 1) / page * page
	mem, err := unix.Mmap(-1, 0, span+page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		t.Fatalf("mmap: %v", err)
	}
	t.Cleanup(func() { unix.Munmap(mem) })
	if err := unix.Mprotect(mem[span:], unix.PROT_NONE); err != nil {
		t.Fatalf("mprotect: %v", err)
	}
	return unsafe.Pointer(&mem[span-n*size])
}

func fencedFloats(t *testing.T, v []float32) []float32 {
	s := unsafe.Slice((*float32)(fenced(t, len(v), 4)), len(v))
	copy(s, v)
	return s
}

// TestNeuronStepFenced runs NeuronStep on slices that end at an
// inaccessible page, out's room for indices included: reading or writing
// past any of them crashes the test.
func TestNeuronStepFenced(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(10, 10))
		for _, n := range []int{1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 47, 63, 100} {
			for _, c := range neuronCases {
				I0, V0, FI0, FO0 := neuronState(rng, n, c.vth)
				for k := range V0[n/2:] { // make the last half fire
					I0[n/2+k], V0[n/2+k] = c.vth, c.vth
				}
				wI, wV, wFI, wFO := slices.Clone(I0), slices.Clone(V0), slices.Clone(FI0), slices.Clone(FO0)
				want := refNeuronStep(wI, wV, wFI, wFO, c.vth, c.leak, c.subtract, nil)
				I, V, FI, FO := fencedFloats(t, I0), fencedFloats(t, V0), fencedFloats(t, FI0), fencedFloats(t, FO0)
				out := unsafe.Slice((*int32)(fenced(t, n, 4)), n)[:0]
				got := NeuronStep(I, V, FI, FO, c.vth, c.leak, c.subtract, out)
				what := fmt.Sprintf("%v n=%d", c, n)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: out = %v, want %v", what, got, want)
				}
				sameBits(t, what+" V", V, wV)
				sameBits(t, what+" FI", FI, wFI)
				sameBits(t, what+" FO", FO, wFO)
				sameBits(t, what+" I", I, wI)
			}
		}
	})
}

// TestDotRowsFenced runs DotRows with the last row, v and dst ending at an
// inaccessible page: reading or writing past any of them crashes the test.
func TestDotRowsFenced(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(16, 16))
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 65, 250} {
			for _, m := range []int{1, 2, 3, 4, 5, 6, 7} {
				stride := n + 1
				rows0 := randVec(rng, (m-1)*stride+n)
				v0 := randVec(rng, n)
				idx := make([]int32, m)
				for i := range idx {
					idx[i] = int32(m - 1 - i) // the last row first
				}
				rows, v := fencedFloats(t, rows0), fencedFloats(t, v0)
				dst := fencedFloats(t, make([]float32, m))
				DotRows(dst, rows, stride, idx, v)
				for i, j := range idx {
					if want := refDot(rows0[int(j)*stride:][:n], v0); math.Float32bits(dst[i]) != math.Float32bits(want) {
						t.Fatalf("n=%d rows=%d: dst[%d] = %v, documented order gives %v", n, m, i, dst[i], want)
					}
				}
			}
		}
	})
}
