package engine

import (
	"math"

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
				for j := range prev.dH {
					if prevFI == nil || prevFI[j] > 0 {
						prev.dH[j] = f32.Dot(w[j*out:(j+1)*out], dA)
					}
				}
			}
		case Conv:
			convBackward(l, w, gw, prevShape, prev.H, dA, prev.dH, prevFI, needPrev)
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
func convBackward(l *Layer, w, gw []float32, in Shape, h, dA, dH, fi []float32, needPrev bool) {
	k, co, wd := l.K, l.Out.C, l.Out.W
	p, q := l.Pad, l.K-1-l.Pad
	for e, v := range h {
		need := needPrev && (fi == nil || fi[e] > 0)
		if v == 0 && !need {
			continue
		}
		c := l.coord[3*e : 3*e+3]
		ci, x, y := int(c[0]), int(c[1]), int(c[2])
		if l.Stride > 1 {
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
			continue
		}
		j0, j1 := max(0, q-x), min(k, wd-x+q)
		if j0 >= j1 {
			continue
		}
		n := (j1 - j0) * co
		var acc float32
		for ky := 0; ky < k; ky++ {
			oy := y - ky + p
			if oy < 0 || oy >= l.Out.H {
				continue
			}
			a := dA[(oy*wd+x-q+j0)*co:][:n]
			off := ((ci*k+ky)*k + j0) * co
			if v != 0 {
				f32.Axpy(v, a, gw[off:][:n])
			}
			if need {
				acc += f32.Dot(w[off:][:n], a)
			}
		}
		if need {
			dH[e] = acc
		}
	}
}
