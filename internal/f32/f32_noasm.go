//go:build !amd64 || purego

package f32

// useAsm is false: this build has only the Go kernels, and the compiler
// drops the calls below.
const useAsm = false

// KernelsEnv may only name "go" here; anything else stops the process.
var _ = mustRequestedKernels()

// useAVX512Set reports whether the AVX-512 branch is selected: never here.
func useAVX512Set() bool { return false }

// useAVX512 and hasAVX512DQ are false: no assembly here.
const useAVX512 = false

func hasAVX512DQ() bool { return false }

func addToAsm(dst, src []float32)                  { panic(noAsm) }
func axpyAsm(alpha float32, x, y []float32)        { panic(noAsm) }
func dotAsm(x, y []float32) float32                { panic(noAsm) }
func scaleAsm(alpha float32, x []float32)          { panic(noAsm) }
func addConstAsm(x []float32, c float32)           { panic(noAsm) }
func adamAsm(w, grad, M, V []float32, s *AdamStep) { panic(noAsm) }
func addRounded5Asm(acc []int64, g []float32, scale, limit float64) int {
	panic(noAsm)
}
func addRounded2Asm(acc []int64, g []float32, scale, limit float64) int {
	panic(noAsm)
}

func indexAddRowsAsm(dst, rows []float32, stride int, idx []int32) { panic(noAsm) }
func dotRowsAsm(dst, rows []float32, stride int, idx []int32, v []float32) {
	panic(noAsm)
}
func neuronStepAsm(I, V, FI, FO []float32, vth, leak float32, subtract bool, out []int32) int {
	panic(noAsm)
}

const noAsm = "f32: no assembly kernels in this build"

// paths lists the kernel sets this build can run: only the Go code.
func paths() []string { return []string{"go"} }

// setPath selects a kernel set by name for tests and benchmarks; only "go"
// exists here. It returns a function that restores the previous choice.
func setPath(name string) (restore func()) {
	if name != "go" {
		panic("f32: no kernel set " + name + " in this build")
	}
	return func() {}
}
