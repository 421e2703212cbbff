package f32

import (
	"fmt"
	"math"
	"slices"
)

// AddTo computes dst[i] += src[i] for i < len(dst).
// It panics if len(src) < len(dst).
func AddTo(dst, src []float32) {
	if len(src) < len(dst) {
		panicShort("AddTo", "src", len(src), "dst", len(dst))
	}
	if useAsm {
		addToAsm(dst, src[:len(dst)])
	} else {
		addToGo(dst, src[:len(dst)])
	}
}

// Axpy computes y[i] += alpha*x[i] for i < len(y).
// It panics if len(x) < len(y).
func Axpy(alpha float32, x, y []float32) {
	if len(x) < len(y) {
		panicShort("Axpy", "x", len(x), "y", len(y))
	}
	if useAsm {
		axpyAsm(alpha, x[:len(y)], y)
	} else {
		axpyGo(alpha, x[:len(y)], y)
	}
}

// Dot returns sum_i x[i]*y[i] over i < len(x), summed in the order given in
// the package documentation. It panics if len(y) < len(x).
func Dot(x, y []float32) float32 {
	if len(y) < len(x) {
		panicShort("Dot", "y", len(y), "x", len(x))
	}
	if useAsm {
		return dotAsm(x, y[:len(x)])
	}
	return dotGo(x, y[:len(x)])
}

// Dot4 returns the dot products of y with x0, x1, x2 and x3 over the first
// n = len(y) elements, each bitwise equal to Dot(xi[:n], y): the same
// products, summed in the same order and reduced the same way on every
// kernel set. Computing four at once shares the loads of y and overlaps the
// four summations, which is faster than four calls of Dot. It panics if some
// xi is shorter than y.
func Dot4(x0, x1, x2, x3, y []float32) (d0, d1, d2, d3 float32) {
	n := len(y)
	switch {
	case len(x0) < n:
		panicShort("Dot4", "x0", len(x0), "y", n)
	case len(x1) < n:
		panicShort("Dot4", "x1", len(x1), "y", n)
	case len(x2) < n:
		panicShort("Dot4", "x2", len(x2), "y", n)
	case len(x3) < n:
		panicShort("Dot4", "x3", len(x3), "y", n)
	}
	x0, x1, x2, x3 = x0[:n], x1[:n], x2[:n], x3[:n]
	if useAsm {
		return dot4Asm(x0, x1, x2, x3, y)
	}
	return dotGo(x0, y), dotGo(x1, y), dotGo(x2, y), dotGo(x3, y)
}

// Scale computes x[i] *= alpha for every i.
func Scale(alpha float32, x []float32) {
	if useAsm {
		scaleAsm(alpha, x)
	} else {
		scaleGo(alpha, x)
	}
}

// AddConst computes x[i] += c for every i.
func AddConst(x []float32, c float32) {
	if useAsm {
		addConstAsm(x, c)
	} else {
		addConstGo(x, c)
	}
}

// IndexAddRows adds, for each j of idx in order, the row
// rows[j*stride : j*stride+len(dst)] to dst:
//
//	dst[i] += rows[j*stride+i]   for each j in idx, for i < len(dst)
//
// This is the event-driven accumulation of a fully connected layer: the sum of
// the weight rows of the inputs that spiked. Each element receives its rows in
// idx order, so the result is bitwise the same as that sequential loop. dst
// must not overlap rows.
//
// It panics if stride < 0, or if some j of idx is negative or its row ends
// beyond len(rows).
func IndexAddRows(dst []float32, rows []float32, stride int, idx []int32) {
	checkIndexAddRows(len(dst), len(rows), stride, idx)
	if len(dst) == 0 || len(idx) == 0 {
		return
	}
	if useAsm {
		indexAddRowsAsm(dst, rows, stride, idx)
	} else {
		indexAddRowsGo(dst, rows, stride, idx)
	}
}

// NeuronStep advances a layer of integrate-and-fire neurons by one time step
// and appends the indices of the neurons that fired to out, in increasing
// order, returning the extended slice. For each k < len(I):
//
//	FI[k] += I[k]
//	v := V[k] + I[k]
//	I[k] = 0
//	if v > vth { // strict: a NaN never fires
//		FO[k] += 1
//		out = append(out, int32(k))
//		if subtract { v -= vth } else { v = 0 }
//	}
//	V[k] = v * leak
//
// Each arithmetic step is one IEEE-754 single precision operation, so every kernel set
// gives bitwise the same V, FI, FO and out (NaN payloads aside). The multiply
// by leak is done even when leak is 1 (it leaves v unchanged).
//
// NeuronStep makes room for len(I) more indices in out first, as
// slices.Grow(out, len(I)) does, and may use that room beyond the indices it
// appends as scratch space: it never writes past out[len(out)+len(I)-1], but
// the elements of the returned slice's spare capacity are not preserved.
//
// It panics if V, FI or FO is shorter than I, or if len(I) exceeds
// math.MaxInt32. The four slices must not overlap.
func NeuronStep(I, V, FI, FO []float32, vth, leak float32, subtract bool, out []int32) []int32 {
	n := len(I)
	switch {
	case len(V) < n:
		panicShort("NeuronStep", "V", len(V), "I", n)
	case len(FI) < n:
		panicShort("NeuronStep", "FI", len(FI), "I", n)
	case len(FO) < n:
		panicShort("NeuronStep", "FO", len(FO), "I", n)
	case n > math.MaxInt32:
		panic(fmt.Sprintf("f32: NeuronStep: len(I)=%d does not fit the int32 indices", n))
	}
	if n == 0 {
		return out
	}
	out = slices.Grow(out, n)
	if useAsm {
		m := len(out)
		c := neuronStepAsm(I, V[:n], FI[:n], FO[:n], vth, leak, subtract, out[m:m+n])
		return out[:m+c]
	}
	return neuronStepGo(I, V[:n], FI[:n], FO[:n], vth, leak, subtract, out)
}

// checkIndexAddRows panics unless every row named by idx lies within rows.
func checkIndexAddRows(n, nrows, stride int, idx []int32) {
	if stride < 0 {
		panic(fmt.Sprintf("f32: IndexAddRows: stride %d is negative", stride))
	}
	if len(idx) == 0 {
		return
	}
	if n > nrows {
		panic(fmt.Sprintf("f32: IndexAddRows: len(rows)=%d is shorter than len(dst)=%d", nrows, n))
	}
	// maxJ is the largest row index whose row ends within rows; dividing
	// instead of multiplying j*stride avoids overflow.
	maxJ := uint64(1<<31 - 1)
	if stride > 0 {
		maxJ = uint64((nrows - n) / stride)
	}
	for p, j := range idx {
		if j < 0 || uint64(j) > maxJ {
			panicIndex(p, j, n, nrows, stride)
		}
	}
}

// panicIndex reports idx[p] = j out of range; kept out of line so the check
// loop stays small.
//
//go:noinline
func panicIndex(p int, j int32, n, nrows, stride int) {
	panic(fmt.Sprintf("f32: IndexAddRows: idx[%d]=%d names row [%d:%d+%d] outside len(rows)=%d (stride %d)",
		p, j, int64(j)*int64(stride), int64(j)*int64(stride), n, nrows, stride))
}

// panicShort reports a slice that is shorter than the one it pairs with.
//
//go:noinline
func panicShort(fn, short string, nshort int, long string, nlong int) {
	panic(fmt.Sprintf("f32: %s: len(%s)=%d is shorter than len(%s)=%d", fn, short, nshort, long, nlong))
}
