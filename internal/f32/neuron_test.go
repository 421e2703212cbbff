package f32

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refNeuronStep is the loop of NeuronStep's documentation, written out
// independently of the kernels.
func refNeuronStep(I, V, FI, FO []float32, vth, leak float32, subtract bool, out []int32) []int32 {
	for k := range I {
		FI[k] += I[k]
		v := V[k] + I[k]
		I[k] = 0
		if v > vth {
			FO[k] += 1
			out = append(out, int32(k))
			if subtract {
				v -= vth
			} else {
				v = 0
			}
		}
		V[k] = v * leak
	}
	return out
}

// neuronCase is a threshold, leak and reset mode.
type neuronCase struct {
	vth, leak float32
	subtract  bool
}

func (c neuronCase) String() string {
	return fmt.Sprintf("vth=%v leak=%v subtract=%v", c.vth, c.leak, c.subtract)
}

var neuronCases = []neuronCase{
	{1, 1, false}, // the engine's defaults
	{1, 1, true},
	{0.75, 0.9, false},
	{0.75, 0.9, true},
}

// neuronState returns the I, V, FI and FO of n neurons: mostly random values
// around the threshold, with a share of edge cases (v exactly at vth or just
// above it, NaN, infinite, negative and signed-zero currents, subnormal
// potentials, -0 counts).
func neuronState(rng *rand.Rand, n int, vth float32) (I, V, FI, FO []float32) {
	I, V, FI, FO = make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	above := math.Nextafter32(vth, float32(math.Inf(1)))
	for k := range n {
		I[k] = (2*rng.Float32() - 0.5) * vth
		V[k] = (2.2*rng.Float32() - 1) * vth
		FI[k] = 20*rng.Float32() - 5
		FO[k] = float32(rng.IntN(10))
		switch rng.IntN(24) {
		case 0:
			I[k], V[k] = 0, vth // v == vth: no spike
		case 1:
			I[k], V[k] = vth, float32(math.Copysign(0, -1)) // v == vth
		case 2:
			I[k], V[k] = 0, above // just above: spike
		case 3:
			I[k], V[k] = above-vth, vth // rounds to vth or above
		case 4:
			I[k] = math.Float32frombits(0x7fc00000 | uint32(rng.IntN(1<<22))) // NaN
		case 5:
			I[k] = float32(math.Inf(1))
		case 6:
			I[k] = float32(math.Inf(-1))
		case 7:
			negz := float32(math.Copysign(0, -1))
			I[k], V[k], FI[k], FO[k] = negz, negz, negz, negz
		case 8:
			I[k] = -10 * rng.Float32() * vth // strongly negative
		case 9:
			V[k] = math.Float32frombits(uint32(rng.IntN(1 << 23))) // subnormal
		case 10, 11, 12:
			I[k] = 0 // no input: the common case
		case 13:
			FO[k] = float32(math.Copysign(0, -1))
		}
	}
	return
}

// outGuard marks the elements of out's backing array that NeuronStep must
// not write.
const outGuard = int32(-77)

func TestNeuronStep(t *testing.T) {
	lengths := append(slices.Clone(testLengths), 2450, 3920)
	forEachPath(t, func(t *testing.T, path string) {
		rng := rand.New(rand.NewPCG(8, 8))
		for _, c := range neuronCases {
			for _, n := range lengths {
				for off := range 8 {
					what := fmt.Sprintf("%v n=%d off=%d", c, n, off)
					I0, V0, FI0, FO0 := neuronState(rng, n, c.vth)
					wI, wV, wFI, wFO := slices.Clone(I0), slices.Clone(V0), slices.Clone(FI0), slices.Clone(FO0)
					prefix := []int32{int32(rng.IntN(100)), int32(rng.IntN(100))}[:rng.IntN(3)]
					want := refNeuronStep(wI, wV, wFI, wFO, c.vth, c.leak, c.subtract, slices.Clone(prefix))

					I, bufI := placed(I0, off)
					V, bufV := placed(V0, (off+1)%8)
					FI, bufFI := placed(FI0, (off+3)%8)
					FO, bufFO := placed(FO0, (off+5)%8)
					// Even offsets give out exactly the room NeuronStep needs,
					// so it must write in place, and guards after it; odd
					// ones give it too little, so it must reallocate.
					room := n
					if off%2 == 1 {
						room = rng.IntN(n + 1)
					}
					buf := make([]int32, len(prefix)+room+8)
					for i := range buf {
						buf[i] = outGuard
					}
					copy(buf, prefix)
					out := buf[: len(prefix) : len(prefix)+room]

					got := NeuronStep(I, V, FI, FO, c.vth, c.leak, c.subtract, out)

					sameBits(t, what+" I", I, wI)
					sameBits(t, what+" V", V, wV)
					sameBits(t, what+" FI", FI, wFI)
					sameBits(t, what+" FO", FO, wFO)
					checkGuards(t, bufI, I, off)
					checkGuards(t, bufV, V, (off+1)%8)
					checkGuards(t, bufFI, FI, (off+3)%8)
					checkGuards(t, bufFO, FO, (off+5)%8)
					if !slices.Equal(got, want) {
						t.Fatalf("%s: out = %v, want %v", what, got, want)
					}
					if cap(got)-len(got) < n-(len(want)-len(prefix)) {
						t.Fatalf("%s: returned cap %d len %d, want room for %d more", what, cap(got), len(got), n)
					}
					if room == n && n > 0 && &got[:1][0] != &buf[0] {
						t.Fatalf("%s: out reallocated although it had room for %d indices", what, n)
					}
					for i := len(prefix) + room; i < len(buf); i++ {
						if buf[i] != outGuard {
							t.Fatalf("%s: wrote out's backing array at %d, beyond len(out)+len(I) = %d", what, i, len(prefix)+room)
						}
					}
					if room < n && !slices.Equal(buf[:len(prefix)], prefix) {
						t.Fatalf("%s: changed the old out's elements %v, were %v", what, buf[:len(prefix)], prefix)
					}
				}
			}
		}
	})
}

// TestNeuronStepAllMasks fires every pattern of 8 consecutive neurons (the
// 256 masks of an AVX2 block) at 16 alignments to the blocks of the
// kernels, and checks the indices against the pattern itself.
func TestNeuronStepAllMasks(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		for _, c := range neuronCases {
			for shift := range 16 {
				n := shift + 256*8 + 5
				I, V := make([]float32, n), make([]float32, n)
				FI, FO := make([]float32, n), make([]float32, n)
				var want []int32
				for m := range 256 {
					for b := range 8 {
						k := shift + 8*m + b
						I[k] = 0.25 * c.vth
						if m>>b&1 != 0 {
							V[k] = c.vth
							want = append(want, int32(k))
						}
					}
				}
				wI, wV, wFI, wFO := slices.Clone(I), slices.Clone(V), slices.Clone(FI), slices.Clone(FO)
				ref := refNeuronStep(wI, wV, wFI, wFO, c.vth, c.leak, c.subtract, nil)
				if !slices.Equal(ref, want) {
					t.Fatalf("the reference fires %v, want %v", ref, want)
				}
				got := NeuronStep(I, V, FI, FO, c.vth, c.leak, c.subtract, nil)
				what := fmt.Sprintf("%v shift=%d", c, shift)
				if !slices.Equal(got, want) {
					t.Fatalf("%s: fired %v\nwant %v", what, got, want)
				}
				sameBits(t, what+" V", V, wV)
				sameBits(t, what+" FI", FI, wFI)
				sameBits(t, what+" FO", FO, wFO)
			}
		}
	})
}

// TestNeuronStepSequence runs a layer for many steps, appending the spikes
// of all steps to one slice as the engine does, and compares every path with
// the reference after each step.
func TestNeuronStepSequence(t *testing.T) {
	const n, steps = 1000, 40
	for _, c := range neuronCases {
		rng := rand.New(rand.NewPCG(9, 9))
		cur := make([][]float32, steps)
		for s := range cur {
			cur[s] = make([]float32, n)
			for k := range cur[s] {
				cur[s][k] = 0.3 * c.vth * rng.Float32() // 5-15% fire per step
			}
		}
		run := func(step func(I, V, FI, FO []float32, out []int32) []int32) (V, FI, FO []float32, out []int32, ends []int) {
			I := make([]float32, n)
			V, FI, FO = make([]float32, n), make([]float32, n), make([]float32, n)
			for s := range steps {
				copy(I, cur[s])
				out = step(I, V, FI, FO, out)
				ends = append(ends, len(out))
			}
			return
		}
		wV, wFI, wFO, wOut, wEnds := run(func(I, V, FI, FO []float32, out []int32) []int32 {
			return refNeuronStep(I, V, FI, FO, c.vth, c.leak, c.subtract, out)
		})
		if len(wOut) < steps*n/20 {
			t.Fatalf("%v: only %d spikes in %d steps of %d neurons", c, len(wOut), steps, n)
		}
		for _, p := range paths() {
			func() {
				defer setPath(p)()
				V, FI, FO, out, ends := run(func(I, V, FI, FO []float32, out []int32) []int32 {
					return NeuronStep(I, V, FI, FO, c.vth, c.leak, c.subtract, out)
				})
				what := fmt.Sprintf("%s %v", p, c)
				if !slices.Equal(ends, wEnds) || !slices.Equal(out, wOut) {
					t.Fatalf("%s: spikes differ from the reference (step ends %v, want %v)", what, ends, wEnds)
				}
				sameBits(t, what+" V", V, wV)
				sameBits(t, what+" FI", FI, wFI)
				sameBits(t, what+" FO", FO, wFO)
			}()
		}
	}
}

// TestNeuronStepEmpty checks that no neurons leave out as it is.
func TestNeuronStepEmpty(t *testing.T) {
	forEachPath(t, func(t *testing.T, path string) {
		out := []int32{4, 2}
		got := NeuronStep(nil, nil, nil, nil, 1, 1, false, out)
		if len(got) != 2 || cap(got) != cap(out) || &got[0] != &out[0] {
			t.Fatalf("NeuronStep of no neurons returned %v (cap %d), want out unchanged", got, cap(got))
		}
		if got := NeuronStep(nil, nil, nil, nil, 1, 1, true, nil); got != nil {
			t.Fatalf("NeuronStep of no neurons with nil out returned %v", got)
		}
		// Longer V, FI and FO: only len(I) neurons are touched.
		V := []float32{2, 2, 2}
		FI := []float32{0, 0, 0}
		FO := []float32{0, 0, 0, 0}
		got = NeuronStep([]float32{0.5}, V, FI, FO, 1, 1, false, nil)
		if !slices.Equal(got, []int32{0}) || !slices.Equal(V, []float32{0, 2, 2}) ||
			!slices.Equal(FI, []float32{0.5, 0, 0}) || !slices.Equal(FO, []float32{1, 0, 0, 0}) {
			t.Fatalf("got out=%v V=%v FI=%v FO=%v", got, V, FI, FO)
		}
	})
}
