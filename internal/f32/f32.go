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

// DotRows sets dst[i], for each i < len(idx), to the dot product of v with
// the row of rows that idx[i] names:
//
//	dst[i] = Dot(rows[j*stride:j*stride+len(v)], v)   with j = idx[i]
//
// each bitwise equal to that Dot on every kernel set: the same products,
// summed in the same order and reduced the same way. The rows are computed
// several at a time, which shares the loads of v and overlaps their
// summations: this is the transposed product of a layer's backward pass, the
// weight rows of several inputs against one output gradient.
//
// It panics if len(dst) < len(idx), if stride < 0, or if some j of idx is
// negative or its row ends beyond len(rows).
func DotRows(dst, rows []float32, stride int, idx []int32, v []float32) {
	if len(dst) < len(idx) {
		panicShort("DotRows", "dst", len(dst), "idx", len(idx))
	}
	checkRows("DotRows", len(v), len(rows), stride, idx)
	if len(idx) == 0 {
		return
	}
	if useAsm {
		dotRowsAsm(dst[:len(idx)], rows, stride, idx, v)
	} else {
		dotRowsGo(dst[:len(idx)], rows, stride, idx, v)
	}
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
	checkRows("IndexAddRows", len(dst), len(rows), stride, idx)
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

// checkRows panics unless every row of n elements named by idx lies within
// rows, for the kernel fn (IndexAddRows, whose rows are as long as dst, or
// DotRows, whose rows are as long as v).
func checkRows(fn string, n, nrows, stride int, idx []int32) {
	if stride < 0 {
		panic(fmt.Sprintf("f32: %s: stride %d is negative", fn, stride))
	}
	if len(idx) == 0 {
		return
	}
	if n > nrows {
		short := "dst"
		if fn == "DotRows" {
			short = "v"
		}
		panic(fmt.Sprintf("f32: %s: len(rows)=%d is shorter than len(%s)=%d", fn, nrows, short, n))
	}
	// maxJ is the largest row index whose row ends within rows; dividing
	// instead of multiplying j*stride avoids overflow.
	maxJ := uint64(1<<31 - 1)
	if stride > 0 {
		maxJ = uint64((nrows - n) / stride)
	}
	for p, j := range idx {
		if j < 0 || uint64(j) > maxJ {
			panicIndex(fn, p, j, n, nrows, stride)
		}
	}
}

// panicIndex reports idx[p] = j out of range; kept out of line so the check
// loop stays small.
//
//go:noinline
func panicIndex(fn string, p int, j int32, n, nrows, stride int) {
	panic(fmt.Sprintf("f32: %s: idx[%d]=%d names row [%d:%d+%d] outside len(rows)=%d (stride %d)",
		fn, p, j, int64(j)*int64(stride), int64(j)*int64(stride), n, nrows, stride))
}

// panicShort reports a slice that is shorter than the one it pairs with.
//
//go:noinline
func panicShort(fn, short string, nshort int, long string, nlong int) {
	panic(fmt.Sprintf("f32: %s: len(%s)=%d is shorter than len(%s)=%d", fn, short, nshort, long, nlong))
}
