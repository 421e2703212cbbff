package f32

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// sink keeps benchmark results alive.
var sink float32

// benchPaths runs body once per kernel set as a sub-benchmark named
// impl=<set>, so that `benchstat -col /impl` compares them. Besides the wall
// time it reports the CPU time of the benchmark's thread per call
// (cpu-ns/op), which other processes on a busy machine disturb far less,
// and flops floating-point operations per call over that CPU time as GFLOP/s.
func benchPaths(b *testing.B, flops int, body func()) {
	for _, p := range paths() {
		b.Run("impl="+p, func(b *testing.B) {
			defer setPath(p)()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			start := threadCPU(b)
			for b.Loop() {
				body()
			}
			cpu := threadCPU(b) - start
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(flops)*float64(b.N)/cpu.Seconds()/1e9, "GFLOP/s")
		})
	}
}

func benchAddTo(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	dst, src := randVec(rng, n), randVec(rng, n)
	benchPaths(b, n, func() { AddTo(dst, src) })
}

func benchAxpy(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := randVec(rng, n), randVec(rng, n)
	benchPaths(b, 2*n, func() { Axpy(1e-3, x, y) })
}

func benchDot(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	x, y := randVec(rng, n), randVec(rng, n)
	benchPaths(b, 2*n, func() { sink += Dot(x, y) })
}

// benchDotRows computes m dot products of n elements against one vector,
// with DotRows or (rows=false) with m calls of Dot, for the same flops. The
// rows follow each other; see benchDotRowsStride for rows at another stride.
func benchDotRows(b *testing.B, n, m int, rows bool) { benchDotRowsStride(b, n, m, n, rows) }

// benchDotRowsStride is benchDotRows with the rows stride elements apart (a
// multiple of 16 puts every row at a 64-byte boundary, as the large
// allocation starts at one).
func benchDotRowsStride(b *testing.B, n, m, stride int, rows bool) {
	rng := rand.New(rand.NewPCG(1, 2))
	w, v, dst := randVec(rng, (m-1)*stride+n), randVec(rng, n), make([]float32, m)
	idx := make([]int32, m)
	for i := range idx {
		idx[i] = int32(i)
	}
	if rows {
		benchPaths(b, 2*n*m, func() { DotRows(dst, w, stride, idx, v) })
		return
	}
	benchPaths(b, 2*n*m, func() {
		for i := range dst {
			dst[i] = Dot(w[i*stride:][:n], v)
		}
	})
}

func benchScale(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randVec(rng, n)
	benchPaths(b, n, func() { Scale(1, x) }) // alpha 1 keeps x away from denormals
}

func benchAddConst(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randVec(rng, n)
	benchPaths(b, n, func() { AddConst(x, 1e-3) })
}

// benchIndexAddRows adds nidx distinct rows, in increasing order as a layer
// enumerates its spikes, of an nrows x n weight matrix to a vector of n.
func benchIndexAddRows(b *testing.B, n, nidx, nrows int) {
	rng := rand.New(rand.NewPCG(1, 2))
	rows, dst := randVec(rng, nrows*n), randVec(rng, n)
	idx := make([]int32, 0, nidx)
	for _, j := range rng.Perm(nrows)[:nidx] {
		idx = append(idx, int32(j))
	}
	slices.Sort(idx)
	benchPaths(b, n*nidx, func() { IndexAddRows(dst, rows, n, idx) })
}

func BenchmarkAddTo50(b *testing.B)  { benchAddTo(b, 50) }
func BenchmarkAddTo250(b *testing.B) { benchAddTo(b, 250) }
func BenchmarkAxpy50(b *testing.B)   { benchAxpy(b, 50) }
func BenchmarkAxpy250(b *testing.B)  { benchAxpy(b, 250) }
func BenchmarkDot50(b *testing.B)    { benchDot(b, 50) }
func BenchmarkDot250(b *testing.B)   { benchDot(b, 250) }

// The transposed products of the MNIST network's backward: 20 input channels
// of a 5x5 kernel row of 50 outputs (up to 250 elements), and the 200 rows of
// an FC layer against a gradient of 10 and of 200.
func BenchmarkDotRows20x250(b *testing.B)        { benchDotRows(b, 250, 20, true) }
func BenchmarkDotRows20x250Aligned(b *testing.B) { benchDotRowsStride(b, 250, 20, 256, true) }
func BenchmarkDotRows20x150(b *testing.B)        { benchDotRows(b, 150, 20, true) }
func BenchmarkDotRows200x10(b *testing.B)        { benchDotRows(b, 10, 200, true) }
func BenchmarkDotRows200x200(b *testing.B)       { benchDotRows(b, 200, 200, true) }
func BenchmarkDotLoop20x250(b *testing.B)        { benchDotRows(b, 250, 20, false) }
func BenchmarkDotLoop20x150(b *testing.B)        { benchDotRows(b, 150, 20, false) }
func BenchmarkDotLoop200x10(b *testing.B)        { benchDotRows(b, 10, 200, false) }
func BenchmarkDotLoop200x200(b *testing.B)       { benchDotRows(b, 200, 200, false) }
func BenchmarkScale250(b *testing.B)             { benchScale(b, 250) }
func BenchmarkAddConst250(b *testing.B)          { benchAddConst(b, 250) }

// The FC layers of the MNIST network 20C5-P2-50C5-P2-200FC-10FC: 2450 inputs
// to 200 outputs, and 200 to 10; and a wide layer of 1024 outputs.
func BenchmarkIndexAddRows200x300(b *testing.B)  { benchIndexAddRows(b, 200, 300, 2450) }
func BenchmarkIndexAddRows10x100(b *testing.B)   { benchIndexAddRows(b, 10, 100, 200) }
func BenchmarkIndexAddRows1024x500(b *testing.B) { benchIndexAddRows(b, 1024, 500, 2048) }

// benchNeuronStep steps a layer of n IF neurons with the engine's defaults
// (vth 1, leak 1, reset to 0). Each call first refills the currents I (which
// NeuronStep clears) from one of 16 vectors of values uniform in [0, 0.1), so
// that about 5% of the neurons fire per step once the potentials have
// settled; the refill, a copy of 4n bytes, is part of the time. Floating-point
// operations are counted as 3 per neuron (two additions, one multiply).
func benchNeuronStep(b *testing.B, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	cur := make([][]float32, 16)
	for s := range cur {
		cur[s] = make([]float32, n)
		for k := range cur[s] {
			cur[s][k] = 0.1 * rng.Float32()
		}
	}
	I, V, FI, FO := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
	out := make([]int32, 0, n)
	step := 0
	body := func() {
		copy(I, cur[step%len(cur)])
		step++
		out = NeuronStep(I, V, FI, FO, 1, 1, false, out[:0])
	}
	// Let the potentials settle, then check the firing rate.
	for range 200 {
		body()
	}
	spikes := 0
	for range 200 {
		body()
		spikes += len(out)
	}
	if rate := float64(spikes) / float64(200*n); rate < 0.03 || rate > 0.07 {
		b.Fatalf("%.1f%% of the neurons fire per step, want about 5%%", 100*rate)
	}
	benchPaths(b, 3*n, body)
}

// Layers of the MNIST network 20C5-P2-50C5-P2-200FC-10FC: the 200 FC
// neurons, the 20x14x14 pooling neurons and the 20x28x28 first conv layer.
func BenchmarkNeuronStep200(b *testing.B)   { benchNeuronStep(b, 200) }
func BenchmarkNeuronStep3920(b *testing.B)  { benchNeuronStep(b, 3920) }
func BenchmarkNeuronStep15680(b *testing.B) { benchNeuronStep(b, 15680) }
