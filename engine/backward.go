package engine

import (
	"math"
	"unsafe"

	"github.com/asfnet/asf/internal/detmath"
	"github.com/asfnet/asf/internal/f32"
)

// sampleLoss computes, for the output o in ws.out and label y, the loss
// L = sum_k (o_k - Y_k)^2, the cross-entropy of softmax(o), whether argmax(o) == y,
// and dL/do = 2(o - Y) into ws.dOut.
func (ws *Workspace) sampleLoss(y int) (mse, ce float64, correct bool) {
	o := ws.out
	best := 0
	maxO := math.Inf(-1)
	for k, v := range o {
		t := 0.0
		if k == y {
			t = 1
		}
		d := float64(v) - t
		mse += float64(d * d)
		ws.dOut[k] = float32(2 * d)
		if float64(v) > maxO {
			maxO, best = float64(v), k
		}
	}
	var z float64
	for _, v := range o {
		z += detmath.Exp(float64(v) - maxO)
	}
	ce = detmath.Log(z) - (float64(o[y]) - maxO)
	return mse, ce, best == y
}

// backward back-propagates dL/do (in ws.dOut) once through the equivalent network
// of the sample in ws (docs/algorithm.md section 4), adding dL/dW into grad.
func (ws *Workspace) backward(m *Model, grad []float32) {
	n := ws.net
	T := float32(n.Config.T)
	last := len(n.Layers) - 1
	for li := last; li >= 0; li-- {
		l := &n.Layers[li]
		b := &ws.lay[li]
		prev, prevShape := &ws.in, n.Input
		var prevLayer *Layer
		if li > 0 {
			prev, prevShape, prevLayer = &ws.lay[li-1], n.Layers[li-1].Out, &n.Layers[li-1]
		}
		// needPrev: whether dL/dh of the previous layer is wanted, and where.
		needPrev := li > 0
		var prevFI []float32 // nil: every element needed; else only where FI > 0
		if needPrev && prevLayer.Spiking {
			prevFI = prev.FI
		}
		if needPrev {
			clear(prev.dH)
		}
		var dA []float32
		switch {
		case l.Output:
			// o = W h / (T Vth): dL/da = dL/do / (T Vth).
			dA = b.dA
			copy(dA, ws.dOut)
			f32.Scale(1/(T*l.Vth), dA)
		case l.Kind == MaxPool:
			if needPrev {
				for o, g := range b.dH {
					if g != 0 {
						prev.dH[b.arg[o]] += g
					}
				}
			}
			continue
		default:
			// dL/da = dL/dh (.) S [FI > 0]
			dA = b.dA
			s := float32(m.Scales[li])
			for i, fi := range b.FI {
				if fi > 0 {
					dA[i] = b.dH[i] * s
				} else {
					dA[i] = 0
				}
			}
		}
		var gw, w []float32
		if l.WLen > 0 {
			gw = grad[l.WOff : l.WOff+l.WLen]
			w = m.Weights(li)
		}
		if l.BLen > 0 {
			// The bias adds T*b to the layer's accumulated input: dL/db = T * sum of
			// dL/da over the positions.
			gb := gw[l.WLen-l.BLen:]
			for p := 0; p+l.BLen <= len(dA); p += l.BLen {
				f32.Axpy(T, dA[p:p+l.BLen], gb)
			}
		}
		switch l.Kind {
		case FC:
			out := l.Out.C
			for j, h := range prev.H {
				if h != 0 {
					f32.Axpy(h, dA, gw[j*out:(j+1)*out])
				}
			}
			if needPrev {
				rowDots(prev.dH, prevFI, w, out, dA)
			}
		case Conv:
			convBackward(l, w, gw, prevShape, prev.H, dA, prev.dH, prevFI, needPrev, nil)
		case AvgPool:
			if needPrev {
				for i, t := range l.target {
					if t >= 0 {
						prev.dH[i] = 0.25 * dA[t]
					}
				}
			}
		}
	}
}

// convBackward computes, for a conv layer with weights w ([cin][ky][j][cout]) and
// input values h (HWC), dL/dW += dA correlated with h, and, when needPrev, dL/dh =
// the transposed convolution of dA, only where fi > 0 (all elements if fi is nil).
//
// Each dL/dh element is the sum, starting from +0, over the kernel rows ky in
// increasing ky, of one f32.Dot of a weight row with a slice of dA that depends
// only on the element's position and ky. convBackward takes the kernel rows in
// the outer loop and adds each row's term into dH, so that the weights of one
// kernel row (all input channels) stay in the cache while every position uses
// them; the input channels of a position, which share the slice of dA, go
// through one f32.DotRows, which computes each dot product bitwise as f32.Dot.
// Every dL/dh element thus receives the same additions in the same order as
// one f32.Dot per element and kernel row accumulated in a register would give.
// dL/dW is a separate pass over the input elements that are not zero, in
// increasing order as before, so each of its elements receives its products
// in the same order too.
//
// rowBuf, when it is not nil and large enough, is scratch space for a copy of
// each kernel row's weights whose rows start at 64-byte boundaries: most
// positions read them from there (f32.DotRows's loads are faster when they do
// not straddle cache lines; the arithmetic does not depend on addresses).
func convBackward(l *Layer, w, gw []float32, in Shape, h, dA, dH, fi []float32, needPrev bool, rowBuf []float32) {
	if l.Stride > 1 {
		convBackwardStrided(l, w, gw, h, dA, dH, fi, needPrev)
		return
	}
	k, co, wd := l.K, l.Out.C, l.Out.W
	p, q := l.Pad, l.K-1-l.Pad
	cin := in.C
	wstride := k * k * co // from the weights of one input channel to the next
	// window returns the kernel columns j0..j1-1 of a position in column x that
	// reach an output; j0 >= j1 when none does.
	window := func(x int) (j0, j1 int) { return max(0, q-x), min(k, wd-x+q) }

	// dL/dW: for each input element that is not zero, in increasing order, one
	// Axpy per kernel row.
	for e, v := range h {
		if v == 0 {
			continue
		}
		c := l.coord[3*e : 3*e+3]
		ci, x, y := int(c[0]), int(c[1]), int(c[2])
		j0, j1 := window(x)
		if j0 >= j1 {
			continue
		}
		n := (j1 - j0) * co
		for ky := 0; ky < k; ky++ {
			oy := y - ky + p
			if oy < 0 || oy >= l.Out.H {
				continue
			}
			f32.Axpy(v, dA[(oy*wd+x-q+j0)*co:][:n], gw[((ci*k+ky)*k+j0)*co:][:n])
		}
	}
	if !needPrev {
		return
	}

	// dL/dh: +0, then the term of each kernel row in turn.
	for base := 0; base < len(h); base += cin {
		if j0, j1 := window(int(l.coord[3*base+1])); j0 >= j1 {
			continue
		}
		for e := base; e < base+cin; e++ {
			if fi == nil || fi[e] > 0 {
				dH[e] = 0
			}
		}
	}
	// The channels c0..c1-1 of a position at a time: d holds their dot
	// products, idx their indices from c0 (all of them when fi is nil).
	var d [convGroup]float32
	var all, sel [convGroup]int32
	for i := range all {
		all[i] = int32(i)
	}
	// The rows of the positions whose window is not clipped on the left (j0 = 0)
	// are read from aw, the kernel row's weights copied with rows of rowPad
	// elements from a 64-byte boundary.
	rowPad := (k*co + 15) &^ 15
	var aw []float32
	if rowBuf != nil {
		aw = aligned64(rowBuf)
		if len(aw) < cin*rowPad {
			aw = nil
		}
	}
	for ky := 0; ky < k; ky++ {
		if aw != nil {
			for ci := 0; ci < cin; ci++ {
				copy(aw[ci*rowPad:][:k*co], w[ci*wstride+ky*k*co:][:k*co])
			}
		}
		for base := 0; base < len(h); base += cin {
			c := l.coord[3*base : 3*base+3]
			x, y := int(c[1]), int(c[2])
			oy := y - ky + p
			j0, j1 := window(x)
			if oy < 0 || oy >= l.Out.H || j0 >= j1 {
				continue
			}
			n := (j1 - j0) * co
			a := dA[(oy*wd+x-q+j0)*co:][:n]
			woff := (ky*k + j0) * co // offset of the row within a channel's weights
			for c0 := 0; c0 < cin; c0 += convGroup {
				c1 := min(cin, c0+convGroup)
				idx := all[:c1-c0]
				if fi != nil {
					m := 0
					for i, f := range fi[base+c0 : base+c1] {
						if f > 0 {
							sel[m] = int32(i)
							m++
						}
					}
					idx = sel[:m]
				}
				rows, stride := w[c0*wstride+woff:], wstride
				if aw != nil && j0 == 0 {
					rows, stride = aw[c0*rowPad:], rowPad
				}
				f32.DotRows(d[:len(idx)], rows, stride, idx, a)
				dh := dH[base+c0 : base+c1]
				for i, j := range idx {
					dh[j] += d[i]
				}
			}
		}
	}
}

// aligned64 returns the part of buf from its first element at a 64-byte
// boundary (empty if there is none).
func aligned64(buf []float32) []float32 {
	if len(buf) == 0 {
		return nil
	}
	skip := int((64 - uintptr(unsafe.Pointer(&buf[0]))%64) % 64 / 4)
	return buf[min(skip, len(buf)):]
}

// convGroup bounds the input channels convBackward takes together at one
// position, and the rows rowDots gives f32.DotRows at once (stack arrays of
// that size hold their indices and results).
const convGroup = 64

// rowDots sets dst[j] = f32.Dot(w[j*stride:][:len(x)], x) for every j < len(dst)
// with mask == nil or mask[j] > 0, bitwise as that f32.Dot computes it, leaving
// the other elements as they are: the backward of a fully connected layer.
func rowDots(dst, mask, w []float32, stride int, x []float32) {
	var sel [convGroup]int32
	var out [convGroup]float32
	for j0 := 0; j0 < len(dst); j0 += convGroup {
		j1 := min(len(dst), j0+convGroup)
		m := 0
		for j := j0; j < j1; j++ {
			if mask == nil || mask[j] > 0 {
				sel[m] = int32(j - j0)
				m++
			}
		}
		f32.DotRows(out[:m], w[j0*stride:], stride, sel[:m], x)
		for i, j := range sel[:m] {
			dst[j0+int(j)] = out[i]
		}
	}
}

// convBackwardStrided is convBackward for stride > 1, one input element at a
// time: the outputs an input reaches are not adjacent, so each kernel tap has
// its own block of Cout weights.
func convBackwardStrided(l *Layer, w, gw []float32, h, dA, dH, fi []float32, needPrev bool) {
	k, co, wd := l.K, l.Out.C, l.Out.W
	for e, v := range h {
		need := needPrev && (fi == nil || fi[e] > 0)
		if v == 0 && !need {
			continue
		}
		c := l.coord[3*e : 3*e+3]
		ci, x, y := int(c[0]), int(c[1]), int(c[2])
		var acc float32
		convOutputs(l, x, y, func(ky, j, oy, ox int) {
			a := dA[(oy*wd+ox)*co:][:co]
			off := ((ci*k+ky)*k + j) * co
			if v != 0 {
				f32.Axpy(v, a, gw[off:][:co])
			}
			if need {
				acc += f32.Dot(w[off:][:co], a)
			}
		})
		if need {
			dH[e] = acc
		}
	}
}
