package engine

import (
	"fmt"
	"math"

	"github.com/asfnet/asf/internal/f32"
)

// Batch is a set of samples handed to the engine: one micro-batch for training, or
// any number of samples for evaluation.
type Batch struct {
	X     [][]float32 // samples in CHW order, each of Net.Input.Size() values
	Y     []int       // labels in [0, classes)
	Index []int       // global sample indices: they key the random streams
}

// Len is the number of samples.
func (b Batch) Len() int { return len(b.X) }

func (b Batch) check(n *Net) error {
	if len(b.Y) != len(b.X) || len(b.Index) != len(b.X) {
		return fmt.Errorf("%w: batch has %d samples, %d labels and %d indices", ErrShape, len(b.X), len(b.Y), len(b.Index))
	}
	size, classes := n.SampleSize(), n.Classes()
	for i, x := range b.X {
		if len(x) != size {
			return fmt.Errorf("%w: sample %d has %d values; the network's input %v (x %d frames) needs %d", ErrShape, b.Index[i], len(x), n.Input, max(1, n.Config.Frames), size)
		}
		if b.Y[i] < 0 || b.Y[i] >= classes {
			return fmt.Errorf("%w: sample %d has label %d; the network has %d classes", ErrShape, b.Index[i], b.Y[i], classes)
		}
	}
	return nil
}

// events holds the spikes of one layer over the window: the flat (HWC) indices of
// the neurons that fired at step t are idx[off[t]:off[t+1]]. For the input layer a
// negative entry -(i+1) is a negative spike of element i.
type events struct {
	idx []int32
	off []int32
}

func (e *events) reset() {
	e.idx = e.idx[:0]
	e.off = append(e.off[:0], 0)
}

func (e *events) close() { e.off = append(e.off, int32(len(e.idx))) }

func (e *events) at(t int) []int32 { return e.idx[e.off[t]:e.off[t+1]] }

// layerBuf is the per-layer scratch of a Workspace.
type layerBuf struct {
	I, V   []float32 // input current of the current step, membrane potential
	FI, FO []float32 // accumulated input current and spike count over the window
	H      []float32 // the value this layer feeds forward in the equivalent network
	arg    []int32   // max pooling: the input element each output took its value from
	mark   []int32   // max pooling: step+1 at which an output element last spiked
	neg    []int32   // max pooling of signed input spikes: (step+1)<<3 | count of -1 spikes
	dH, dA []float32 // gradients of the loss by H and by the layer's pre-activation
	ev     events
}

// Workspace holds all scratch memory for running samples through a Net. One
// Workspace serves one goroutine; reuse it across calls to avoid allocation.
type Workspace struct {
	net   *Net
	lay   []layerBuf
	in    layerBuf  // the input layer: ev (Poisson spikes), H = FO_0
	pix   []int32   // nonzero input elements (CHW index)
	thr   []uint64  // Poisson threshold per nonzero element
	sgn   []bool    // negative input element
	cur   []float32 // direct encoding: the constant first-layer current
	chans []int32   // conv accumulation: the channels that fired at one input position
	fr    []float32 // events encoding: the sample's frames in HWC order
	out   []float32 // output o
	dOut  []float32
	Grad  []float32 // float gradient accumulated over the current micro-batch
	st    []statAcc // per layer statistics of the current micro-batch
	acc   []int64   // RunMicroBatches: this goroutine's partial sum
	bp    *bpttBuf  // BPTT's backward scratch (bptt.go), allocated on first use
}

// statAcc accumulates, over a micro-batch, one layer's scale sums and spike total.
type statAcc struct {
	fo, fi float64 // filtered sums for the scale estimate
	spikes float64 // all spikes
}

// NewWorkspace allocates a Workspace for n.
func NewWorkspace(n *Net) *Workspace {
	ws := &Workspace{net: n, lay: make([]layerBuf, len(n.Layers)), st: make([]statAcc, len(n.Layers))}
	for i, l := range n.Layers {
		size := l.Out.Size()
		b := &ws.lay[i]
		b.H = make([]float32, size)
		b.dH = make([]float32, size)
		if l.Spiking {
			b.I = make([]float32, size)
			b.V = make([]float32, size)
			b.FI = make([]float32, size)
			b.FO = b.H
			b.dA = make([]float32, size)
		}
		if l.Kind == MaxPool {
			b.arg = make([]int32, size)
			b.mark = make([]int32, size)
			b.neg = make([]int32, size)
		}
		if l.Output {
			b.dA = make([]float32, size)
		}
	}
	ws.in.H = make([]float32, n.Input.Size())
	ws.out = make([]float32, n.Classes())
	ws.dOut = make([]float32, n.Classes())
	ws.Grad = make([]float32, n.NParams)
	return ws
}

// encode prepares the input of one sample: Poisson spikes for every step into
// ws.in.ev (and FO_0 into ws.in.H), or the constant direct current.
func (ws *Workspace) encode(x []float32, k0 uint64, epochOrZero uint64, domain uint64, sample uint64) {
	n := ws.net
	cfg := n.Config
	in := n.Input
	h := ws.in.H
	clear(h)
	// CHW element i is HWC element ((y*W)+x)*C + c.
	hwc := func(i int) int32 {
		c := i / (in.H * in.W)
		r := i % (in.H * in.W)
		return int32(r*in.C + c)
	}
	switch cfg.Encoding {
	case Direct:
		for i, v := range x {
			h[hwc(i)] = v * float32(cfg.T)
		}
		return
	case Events:
		size := in.Size()
		ws.fr = append(ws.fr[:0], make([]float32, len(x))...)
		for f := 0; f < cfg.Frames; f++ {
			for i, v := range x[f*size : (f+1)*size] {
				ws.fr[f*size+int(hwc(i))] = v
			}
		}
		for t := 0; t < cfg.T; t++ {
			fr := ws.frame(t)
			for i, v := range fr {
				h[i] += v
			}
		}
		return
	}
	ws.pix, ws.thr, ws.sgn = ws.pix[:0], ws.thr[:0], ws.sgn[:0]
	for i, v := range x {
		if v == 0 || v != v {
			continue
		}
		p := float64(v) * float64(cfg.Gain)
		neg := p < 0
		if neg {
			p = -p
		}
		if p > 1 {
			p = 1
		}
		ws.pix = append(ws.pix, int32(i))
		ws.thr = append(ws.thr, uint64(math.Ceil(p*(1<<32))))
		ws.sgn = append(ws.sgn, neg)
	}
	ev := &ws.in.ev
	ev.reset()
	for t := 0; t < cfg.T; t++ {
		kt := key(k0, domain, epochOrZero, sample, uint64(t))
		for j, i := range ws.pix {
			r := at(kt, uint64(i)>>1)
			if i&1 == 0 {
				r >>= 32
			} else {
				r &= 0xffffffff
			}
			if r < ws.thr[j] {
				e := hwc(int(i))
				if ws.sgn[j] {
					h[e]--
					ev.idx = append(ev.idx, -(e + 1))
				} else {
					h[e]++
					ev.idx = append(ev.idx, e)
				}
			}
		}
		ev.close()
	}
}

// frame returns the input frame of step t for the events encoding (HWC order).
func (ws *Workspace) frame(t int) []float32 {
	cfg := ws.net.Config
	size := ws.net.Input.Size()
	f := t * cfg.Frames / cfg.T
	return ws.fr[f*size : (f+1)*size]
}

// forward runs one sample through the network over the window and leaves every
// layer's FI, FO, H and the output o in ws. x is the sample in CHW order.
func (ws *Workspace) forward(m *Model, x []float32, seed, domain, epoch, sample uint64) {
	n := ws.net
	cfg := n.Config
	ws.encode(x, seed, epoch, domain, sample)
	prev := &ws.in
	prevShape := n.Input
	for li := range n.Layers {
		l := &n.Layers[li]
		b := &ws.lay[li]
		switch {
		case l.Output:
			// o = W_N^T h_{N-1} / (T * Vth_N)
			clear(ws.out)
			w := m.Weights(li)
			for j, v := range prev.H {
				if v != 0 {
					f32.Axpy(v, w[j*l.Out.C:(j+1)*l.Out.C], ws.out)
				}
			}
			if bias := m.Bias(li); bias != nil {
				// The bias is a current at every step: T*b over the window.
				f32.Axpy(float32(cfg.T), bias, ws.out)
			}
			f32.Scale(1/(float32(cfg.T)*l.Vth), ws.out)
		case l.Kind == MaxPool:
			ws.maxPoolForward(l, prev, prevShape, b)
		default:
			clear(b.V)
			clear(b.FI)
			clear(b.FO)
			clear(b.I)
			b.ev.reset()
			var w []float32
			if l.WLen > 0 {
				w = m.Weights(li)
			}
			direct := li == 0 && cfg.Encoding == Direct
			if direct {
				// The input current is the same at every step: compute it once.
				ws.cur = append(ws.cur[:0], make([]float32, len(b.I))...)
				ws.accumulate(l, w, prevShape, ws.cur, nil, prev.H, 1/float32(cfg.T))
				addBias(l, m.Bias(li), ws.cur)
			}
			bias := m.Bias(li)
			if direct {
				bias = nil // already in ws.cur
			}
			events := li == 0 && cfg.Encoding == Events
			// Pooling neurons never leak, even in LIF networks (the reference's
			// pooling neurons are plain integrate-and-fire); conv and FC neurons do.
			leak := cfg.Leak
			if l.Kind == AvgPool {
				leak = 1
			}
			for t := 0; t < cfg.T; t++ {
				if direct {
					copy(b.I, ws.cur)
				} else if events {
					ws.accumulate(l, w, prevShape, b.I, nil, ws.frame(t), 1)
				} else {
					ws.accumulate(l, w, prevShape, b.I, prev.ev.at(t), nil, 0)
				}
				addBias(l, bias, b.I)
				neuronStep(b, l.Vth, leak, cfg.Reset)
			}
		}
		prev = b
		prevShape = l.Out
	}
}

// addBias adds a layer's bias (one value per output channel; nil for none) to the
// currents I of one step, at every position.
func addBias(l *Layer, bias, I []float32) {
	if bias == nil {
		return
	}
	co := l.Out.C
	for p := 0; p+co <= len(I); p += co {
		f32.AddTo(I[p:p+co], bias)
	}
}

// accumulate adds layer l's input current to I: from the spikes in ev (each adding
// its weights, negative entries subtracting them), or, when ev is nil, from the dense
// input dense scaled by scale.
func (ws *Workspace) accumulate(l *Layer, w []float32, in Shape, I []float32, ev []int32, dense []float32, scale float32) {
	switch l.Kind {
	case Conv:
		add := func(e int32, v float32) {
			convScatter(l, w, in, I, int(e), v)
		}
		if ev == nil {
			for e, v := range dense {
				if v != 0 {
					add(int32(e), v*scale)
				}
			}
			return
		}
		// Spikes come in increasing HWC order, so the channels that fired at one
		// input position are adjacent: their weight blocks go to the same outputs
		// and are added in one pass (IndexAddRows adds them in event order, so the
		// sums are bitwise those of one spike at a time).
		cin := int32(in.C)
		for i := 0; i < len(ev); {
			e := ev[i]
			if e < 0 {
				add(-e-1, -1)
				i++
				continue
			}
			j := i + 1
			for j < len(ev) && ev[j] >= 0 && ev[j]/cin == e/cin {
				j++
			}
			if j-i == 1 {
				add(e, 1)
			} else {
				ws.chans = ws.chans[:0]
				for _, c := range ev[i:j] {
					ws.chans = append(ws.chans, c%cin)
				}
				convScatterChannels(l, w, I, int(e), ws.chans)
			}
			i = j
		}
	case AvgPool:
		if ev == nil {
			for e, v := range dense {
				if v != 0 {
					poolAdd(l, in, I, int(e), float32(0.25*v*scale))
				}
			}
			return
		}
		for _, e := range ev {
			if e >= 0 {
				poolAdd(l, in, I, int(e), 0.25)
			} else {
				poolAdd(l, in, I, int(-e-1), -0.25)
			}
		}
	case FC:
		out := l.Out.C
		if ev == nil {
			for e, v := range dense {
				if v != 0 {
					f32.Axpy(v*scale, w[e*out:(e+1)*out], I)
				}
			}
			return
		}
		pos := true
		for _, e := range ev {
			if e < 0 {
				pos = false
				break
			}
		}
		if pos {
			f32.IndexAddRows(I, w, out, ev)
			return
		}
		for _, e := range ev {
			if e >= 0 {
				f32.AddTo(I, w[int(e)*out:(int(e)+1)*out])
			} else {
				f32.Axpy(-1, w[int(-e-1)*out:int(-e)*out], I)
			}
		}
	}
}

// convScatter adds v times the weights of input element e (HWC index into shape in)
// to the conv output currents I: with padding p, q = K-1-p and weights
// [cin][ky][j][cout], I[oy][x-q+j][:] += v * W[cin][ky][j][:] for oy = y-ky+p,
// over the in-range j (for "same" padding of an odd kernel, q = p = K/2). Strided
// layers take convScatterStrided.
func convScatter(l *Layer, w []float32, in Shape, I []float32, e int, v float32) {
	if l.Stride > 1 {
		convScatterStrided(l, w, I, e, v)
		return
	}
	c := l.coord[3*e : 3*e+3]
	ci, x, y := int(c[0]), int(c[1]), int(c[2])
	k, co, wd := l.K, l.Out.C, l.Out.W
	p, q := l.Pad, l.K-1-l.Pad
	j0, j1 := max(0, q-x), min(k, wd-x+q)
	if j0 >= j1 {
		return
	}
	n := (j1 - j0) * co
	for ky := 0; ky < k; ky++ {
		oy := y - ky + p
		if oy < 0 || oy >= l.Out.H {
			continue
		}
		dst := I[(oy*wd+x-q+j0)*co:][:n]
		src := w[((ci*k+ky)*k+j0)*co:][:n]
		if v == 1 {
			f32.AddTo(dst, src)
		} else {
			f32.Axpy(v, src, dst)
		}
	}
}

// convScatterChannels adds the weights of input channels chans at the input position
// of element e (HWC) to the conv output currents I, as convScatter(l, w, in, I, e', 1)
// for each e' at that position with a channel in chans, in that order:
// I[oy][x-p+j][:] += sum over c in chans of W[c][ky][j][:].
func convScatterChannels(l *Layer, w []float32, I []float32, e int, chans []int32) {
	if l.Stride > 1 {
		base := e - int(l.coord[3*e])
		for _, ch := range chans {
			convScatterStrided(l, w, I, base+int(ch), 1)
		}
		return
	}
	c := l.coord[3*e : 3*e+3]
	x, y := int(c[1]), int(c[2])
	k, co, wd := l.K, l.Out.C, l.Out.W
	p, q := l.Pad, l.K-1-l.Pad
	j0, j1 := max(0, q-x), min(k, wd-x+q)
	if j0 >= j1 {
		return
	}
	n := (j1 - j0) * co
	stride := k * k * co
	for ky := 0; ky < k; ky++ {
		oy := y - ky + p
		if oy < 0 || oy >= l.Out.H {
			continue
		}
		f32.IndexAddRows(I[(oy*wd+x-q+j0)*co:][:n], w[(ky*k+j0)*co:], stride, chans)
	}
}

// convOutputs calls f(ky, j, oy, ox) for every kernel tap (ky, j = K-1-kx) by
// which input position (x, y) reaches an output (oy, ox) of a conv layer with
// stride s and padding p: oy*s = y+p-ky, ox*s = x+p-kx.
func convOutputs(l *Layer, x, y int, f func(ky, j, oy, ox int)) {
	k, s, p := l.K, l.Stride, l.Pad
	for ky := 0; ky < k; ky++ {
		ry := y + p - ky
		if ry < 0 || ry%s != 0 || ry/s >= l.Out.H {
			continue
		}
		for kx := 0; kx < k; kx++ {
			rx := x + p - kx
			if rx < 0 || rx%s != 0 || rx/s >= l.Out.W {
				continue
			}
			f(ky, k-1-kx, ry/s, rx/s)
		}
	}
}

// convScatterStrided is convScatter for stride > 1: the outputs an input reaches
// are not adjacent, so each kernel tap adds its block of Cout weights.
func convScatterStrided(l *Layer, w []float32, I []float32, e int, v float32) {
	c := l.coord[3*e : 3*e+3]
	ci, x, y := int(c[0]), int(c[1]), int(c[2])
	k, co, wd := l.K, l.Out.C, l.Out.W
	convOutputs(l, x, y, func(ky, j, oy, ox int) {
		dst := I[(oy*wd+ox)*co:][:co]
		src := w[((ci*k+ky)*k+j)*co:][:co]
		if v == 1 {
			f32.AddTo(dst, src)
		} else {
			f32.Axpy(v, src, dst)
		}
	})
}

// poolAdd adds v to the pooling neuron that input element e (HWC in shape in) feeds.
func poolAdd(l *Layer, in Shape, I []float32, e int, v float32) {
	if t := l.target[e]; t >= 0 {
		I[t] += v
	}
}

// neuronStep integrates one step of current into the layer's neurons, records the
// spikes and the accumulated flows, and clears I for the next step:
//
//	FI += I; V += I; s = V > Vth; V = 0 (or V -= Vth) where s; V *= leak; FO += s.
func neuronStep(b *layerBuf, vth, leak float32, reset Reset) {
	b.ev.idx = f32.NeuronStep(b.I, b.V, b.FI, b.FO, vth, leak, reset == ResetSubtract, b.ev.idx)
	b.ev.close()
}

// maxPoolForward passes the max of the spikes of each 2x2 window on at each step,
// and sets H to the max pool of the input's H (the equivalent network's value) with
// arg recording where each maximum came from (first in window order on ties).
//
// Spikes are signed only at the input (Poisson spikes of signed pixels): there the
// max of a window is +1 if any element spiked +1, -1 if all four spiked -1, and no
// spike otherwise (an element that did not spike counts as 0).
func (ws *Workspace) maxPoolForward(l *Layer, prev *layerBuf, in Shape, b *layerBuf) {
	T := ws.net.Config.T
	out := l.Out
	b.ev.reset()
	clear(b.mark)
	clear(b.neg)
	// window maps input element e (HWC) to its output element, or -1 outside.
	window := func(e int32) int {
		c := int(e) % in.C
		x := int(e) / in.C % in.W / 2
		y := int(e) / (in.C * in.W) / 2
		if x >= out.W || y >= out.H {
			return -1
		}
		return (y*out.W+x)*out.C + c
	}
	for t := 0; t < T; t++ {
		stamp := int32(t + 1)
		negative := false
		for _, e := range prev.ev.at(t) {
			if e < 0 {
				negative = true
				continue
			}
			o := window(e)
			if o >= 0 && b.mark[o] != stamp {
				b.mark[o] = stamp
				b.ev.idx = append(b.ev.idx, int32(o))
			}
		}
		if negative {
			// neg[o] packs the step stamp (high bits) and the count of -1 spikes
			// of the window at that step (low 3 bits).
			for _, e := range prev.ev.at(t) {
				if e >= 0 {
					continue
				}
				o := window(-e - 1)
				if o < 0 || b.mark[o] == stamp {
					continue
				}
				n := int32(1)
				if b.neg[o]>>3 == stamp {
					n = b.neg[o]&7 + 1
				}
				b.neg[o] = stamp<<3 | n
				if n == 4 {
					b.ev.idx = append(b.ev.idx, -int32(o)-1)
				}
			}
		}
		b.ev.close()
	}
	for y := 0; y < out.H; y++ {
		for x := 0; x < out.W; x++ {
			for c := 0; c < out.C; c++ {
				best, arg := float32(math.Inf(-1)), int32(0)
				for dy := 0; dy < 2; dy++ {
					for dx := 0; dx < 2; dx++ {
						i := ((2*y+dy)*in.W+2*x+dx)*in.C + c
						if v := prev.H[i]; v > best {
							best, arg = v, int32(i)
						}
					}
				}
				o := (y*out.W+x)*out.C + c
				b.H[o], b.arg[o] = best, arg
			}
		}
	}
}
