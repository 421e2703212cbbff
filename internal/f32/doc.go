// Package f32 provides float32 vector kernels for the training engine's inner
// loops: elementwise updates, dot products, the event-driven row
// accumulation of fully connected layers, the time step of a layer of
// integrate-and-fire neurons, the optimizer step and the conversion of a
// gradient to fixed point.
//
// On amd64 the kernels are Go assembly, chosen once at start-up from the CPU
// features reported by golang.org/x/sys/cpu: AVX-512F when present, else
// AVX2, else the portable Go code; the environment variable KernelsEnv pins
// the choice for a process. Other architectures, and builds with the purego
// tag, always use the portable Go code.
//
// # Determinism
//
// Every kernel gives bitwise identical results for identical inputs on a
// given build and CPU, whatever the alignment or address of the slices: no
// kernel peels elements to reach an aligned address, so the arithmetic
// performed on each element never depends on where the slice starts.
//
// Every kernel performs one IEEE-754 single precision operation per element
// and step, in a fixed order, so all paths (AVX-512, AVX2, Go on any
// architecture and GOAMD64 level) agree bitwise with each other (NaN
// payloads aside). Adam and AddRounded follow the same rule in double
// precision: one float64 operation per step of their formulas. In particular Axpy and Dot round the product to float32
// before adding it: no path uses a fused multiply-add. The assembly issues a
// multiply and an add; the Go code converts the product to float32
// explicitly, which the Go specification says prevents the compiler from
// fusing it (it would on arm64 and with GOAMD64=v3 otherwise). A fused
// multiply-add emulated exactly in Go (the float64 product of two float32
// values is exact; the sum must then be rounded to odd before the rounding to
// float32, or it double-rounds) measured 20 times slower than this Go Axpy,
// while dropping the fusion costs the assembly nothing measurable.
//
// # Summation order of Dot
//
// All paths use the same order. With n = len(x), 32 partial sums are formed,
// lane k (0 <= k < 32) accumulating the products of the elements i = k, k+32,
// k+64, ... in increasing i, starting from +0:
//
//	s[k] = (((0 + x[k]*y[k]) + x[k+32]*y[k+32]) + ...)
//
// The assembly paths pad the last partial block with zeros, so a lane whose
// last block holds no element adds 0*0 = +0 once more, which changes no
// lane: a sum that starts at +0 is never -0. The partial sums are then
// reduced pairwise:
//
//	v[k] = (s[k] + s[k+16]) + (s[k+8] + s[k+24])   for k < 8
//	w[k] = v[k] + v[k+4]                           for k < 4
//	Dot  = (w[0] + w[2]) + (w[1] + w[3])
//
// In every path each step s[k] += x[i]*y[i] rounds the product to float32
// before the addition.
//
// DotRows computes each of its dot products, of one row with v, exactly as Dot
// of that row and v: the same lanes, order and reduction, with the row as x.
//
// # Overlap
//
// The destination of a kernel must not partially overlap a source slice
// (identical slices are fine for the elementwise kernels); IndexAddRows
// requires dst and rows not to overlap at all, and NeuronStep requires its
// four slices not to overlap.
package f32
