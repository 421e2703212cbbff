//go:build !purego

package f32

import "golang.org/x/sys/cpu"

// The kernel set in use, fixed at start-up (the fastest the CPU has, unless
// KernelsEnv names one); tests and benchmarks switch it with setPath.
// useAVX512 is read by the assembly, which takes its AVX-512 branch when it
// is set.
var useAsm, useAVX512 = startPath(mustRequestedKernels())

// startPath returns useAsm and useAVX512 for the named kernel set, which
// this CPU can run; "" is the fastest set.
func startPath(name string) (asm, avx512 bool) {
	switch name {
	case "":
		return hasAVX2(), hasAVX512()
	case "go":
		return false, false
	}
	return true, name == "avx512"
}

// useAVX512Set reports whether the AVX-512 branch is selected.
func useAVX512Set() bool { return useAVX512 }

// hasAVX2 reports whether the CPU can run the AVX2 branch of the assembly.
// Every CPU with AVX2 has POPCNT, which NeuronStep uses; it is checked
// all the same. (The kernels use no fused multiply-add: see the package
// documentation.)
func hasAVX2() bool { return cpu.X86.HasAVX2 && cpu.X86.HasPOPCNT }

// hasAVX512DQ reports whether the AVX-512 branch of AddRounded can run: it
// needs AVX512DQ's conversions between doubles and int64 and its mask tests.
func hasAVX512DQ() bool { return hasAVX512() && cpu.X86.HasAVX512DQ }

// hasAVX512 reports whether the CPU can run the AVX-512 branch.
func hasAVX512() bool { return hasAVX2() && cpu.X86.HasAVX512F }

// paths lists the kernel sets this CPU can run, portable first.
func paths() []string {
	p := []string{"go"}
	if hasAVX2() {
		p = append(p, "avx2")
	}
	if hasAVX512() {
		p = append(p, "avx512")
	}
	return p
}

// setPath selects a kernel set by name ("go", "avx2", "avx512") for tests and
// benchmarks and returns a function that restores the previous choice. It
// panics if the CPU lacks the named set.
func setPath(name string) (restore func()) {
	ok := false
	for _, p := range paths() {
		ok = ok || p == name
	}
	if !ok {
		panic("f32: this CPU cannot run kernel set " + name)
	}
	oldAsm, old512 := useAsm, useAVX512
	useAsm = name != "go"
	useAVX512 = name == "avx512"
	return func() { useAsm, useAVX512 = oldAsm, old512 }
}

// The assembly kernels (f32_amd64.s). The exported functions have checked
// the lengths: each kernel reads and writes exactly len(dst) (len(y) for
// axpyAsm, len(x) for dotAsm and scaleAsm) elements of each slice.

//go:noescape
func addToAsm(dst, src []float32)

//go:noescape
func axpyAsm(alpha float32, x, y []float32)

//go:noescape
func dotAsm(x, y []float32) float32

//go:noescape
func scaleAsm(alpha float32, x []float32)

//go:noescape
func addConstAsm(x []float32, c float32)

// adamAsm is Adam on len(w) elements, a multiple of 8, with grad, M and V
// as long as w.
//
//go:noescape
func adamAsm(w, grad, M, V []float32, s *AdamStep)

// addRounded5Asm (AVX-512F and DQ) and addRounded2Asm (AVX2) are AddRounded
// on len(g) elements, a multiple of 8, with acc as long as g; they stop at
// the first block of 8 or 4 that holds an element they cannot add (for
// addRounded2Asm also one whose |x| is 2^51 or more), leaving that block
// unchanged, and return the elements done.
//
//go:noescape
func addRounded5Asm(acc []int64, g []float32, scale, limit float64) int

//go:noescape
func addRounded2Asm(acc []int64, g []float32, scale, limit float64) int

// indexAddRowsAsm needs len(dst) > 0, len(idx) > 0 and every row in range.
//
//go:noescape
func indexAddRowsAsm(dst, rows []float32, stride int, idx []int32)

// dotRowsAsm needs len(idx) > 0, len(dst) == len(idx) and every row in range.
//
//go:noescape
func dotRowsAsm(dst, rows []float32, stride int, idx []int32, v []float32)

// neuronStepAsm is NeuronStep on len(I) > 0 neurons, with len(V), len(FI)
// and len(FO) equal to len(I) and len(out) >= len(I). It writes the indices
// of the neurons that fire to out[0:c] and returns c; it may also write
// anything to out[c:len(I)].
//
//go:noescape
func neuronStepAsm(I, V, FI, FO []float32, vth, leak float32, subtract bool, out []int32) int

// compressTable[m] lists the positions of the set bits of m in increasing
// order (then zeros): the AVX2 branch of neuronStepAsm turns the 8-lane mask
// m of the neurons that fired into their indices with it.
var compressTable = func() (t [256][8]uint8) {
	for m := range t {
		j := 0
		for b := range 8 {
			if m>>b&1 != 0 {
				t[m][j] = uint8(b)
				j++
			}
		}
	}
	return t
}()
