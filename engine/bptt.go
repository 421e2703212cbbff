package engine

import "github.com/asfnet/asf/internal/f32"

// BPTT: back-propagation through time of the event-driven forward pass, with a
// surrogate derivative for the spike (Config.Method = BPTT).
//
// The forward pass is the one ASF-BP uses (workspace.go). For every spiking layer
// n (conv, FC, the neurons after an average pool) and step t it computes
//
//	H(t)  = V(t-1) + I(t),      I(t) = W_n * s_{n-1}(t)
//	s(t)  = [H(t) > Vth]
//	V'(t) = H(t) (1 - s(t))     (hard reset)   or   H(t) - Vth s(t)   (subtract)
//	V(t)  = leak V'(t)          (leak = 1 for pooling neurons)
//
// and the output layer o = W_N * sum_t s_{N-1}(t) / (T Vth_N). BPTT differentiates
// exactly this, with ds/dH replaced by sigma'(H - Vth) (surrogate.go). With
// G(t) = dL/ds(t) and dV(t) = dL/dV(t) (dV(T-1) = 0), backwards in t:
//
//	dV'(t) = leak dV(t)
//	dH(t)  = dV'(t) (1 - s(t)) + sigma'(t) (G(t) - r H(t) dV'(t))   (hard reset)
//	dH(t)  = dV'(t)            + sigma'(t) (G(t) - r Vth  dV'(t))   (subtract)
//	dI(t)  = dV(t-1) = dH(t)
//	dL/dW_n += dI(t) (x) s_{n-1}(t),    G_{n-1}(t) = W_n^T dI(t)
//
// where r = 1 with Config.ResetGrad (the gradient flows through the reset, as in
// SpikingJelly's default detach_reset=False) and r = 0 otherwise (the reset is
// detached, as snnTorch does and SpikingJelly with detach_reset=True). MP2 passes
// G(t) to the first element of each 2x2 window (in row-major window order) that
// holds the maximum at step t, which is the element PyTorch's max_pool2d gradient
// picks. The output layer's gradient by s_{N-1}(t) is the same at every step.
// If an MP2 feeds the output layer, o reads the max pool of the spike counts
// (as the forward computes it), so its gradient goes to the count's arg-max.
//
// # What is stored
//
// The forward keeps every layer's spikes as event lists (4 bytes per spike) and
// nothing per step besides. BPTT's backward needs H(t) of each layer: it does not
// store it during the forward but recomputes it, one layer at a time, from the
// spikes of the layer below (the same kernels and float32 operations as the
// forward, so the same H bitwise). Its scratch is three T x (largest layer)
// float32 buffers (H, then dI, in place; G of the layer; G of the layer below),
// allocated once per Workspace. The weight gradient visits only the spikes of the
// layer below (the sparse kernels of the forward); G_{n-1} = W_n^T dI(t) is dense,
// because the surrogate derivative is nonzero everywhere.

// bpttBuf is the scratch of the BPTT backward pass, allocated on first use.
type bpttBuf struct {
	h     []float32    // T x size: H(t) of one layer, overwritten by dL/dI(t)
	g     [2][]float32 // T x size: dL/ds(t) of the layer in progress and of the one below
	v     []float32    // membrane during the recompute, then dL/dV carried back in time
	cur   []float32    // input current of one step during the recompute
	sg    []float32    // surrogate derivative of one step
	dense []float32    // the input of a layer at one step, dense
	c     []float32    // output layer: the (time-constant) gradient by its input
}

// neuronLeak is the leak of layer l's neurons, as the forward applies it:
// Config.Leak, except for pooling neurons, which never leak.
func neuronLeak(cfg Config, l *Layer) float32 {
	if l.Kind == AvgPool {
		return 1
	}
	return cfg.Leak
}

// bptt returns the BPTT scratch of ws, allocating it on first use.
func (ws *Workspace) bptt() *bpttBuf {
	if ws.bp != nil {
		return ws.bp
	}
	n := ws.net
	T := n.Config.T
	size := n.Input.Size()
	for _, l := range n.Layers {
		size = max(size, l.Out.Size())
	}
	ws.bp = &bpttBuf{
		h:     make([]float32, T*size),
		g:     [2][]float32{make([]float32, T*size), make([]float32, T*size)},
		v:     make([]float32, size),
		cur:   make([]float32, size),
		sg:    make([]float32, size),
		dense: make([]float32, size),
		c:     make([]float32, size),
	}
	return ws.bp
}

// gradient adds the gradient of the sample in ws (after forward and sampleLoss)
// into grad, by the network's method.
func (ws *Workspace) gradient(m *Model, grad []float32) {
	if ws.net.Config.Method == BPTT {
		ws.bpttBackward(m, grad)
		return
	}
	ws.backward(m, grad)
}

// lower returns the buffer of the layer below layer li (the input for li = 0).
func (ws *Workspace) lower(li int) *layerBuf {
	if li == 0 {
		return &ws.in
	}
	return &ws.lay[li-1]
}

// bpttBackward back-propagates dL/do (in ws.dOut) through time, adding dL/dW into
// grad.
func (ws *Workspace) bpttBackward(m *Model, grad []float32) {
	n := ws.net
	T := n.Config.T
	bp := ws.bptt()
	last := len(n.Layers) - 1
	lo := &n.Layers[last]
	out := lo.Out.C
	dA := ws.lay[last].dA
	copy(dA, ws.dOut)
	f32.Scale(1/(float32(T)*lo.Vth), dA)
	gw, w := grad[lo.WOff:lo.WOff+lo.WLen], m.Weights(last)
	for j, h := range ws.lower(last).H {
		if h != 0 {
			f32.Axpy(h, dA, gw[j*out:(j+1)*out])
		}
	}
	k := last - 1
	if k < 0 {
		return
	}
	c := bp.c[:n.Layers[k].Out.Size()]
	for j := range c {
		c[j] = f32.Dot(w[j*out:(j+1)*out], dA)
	}
	if n.Layers[k].Kind == MaxPool {
		// o reads the max pool of the counts: route to the count's arg-max.
		if k == 0 {
			return
		}
		size := n.Layers[k-1].Out.Size()
		g := bp.g[0][:size]
		clear(g)
		for o, v := range c {
			g[ws.lay[k].arg[o]] += v
		}
		c = g
		k--
	}
	size := len(c)
	G := bp.g[0][:T*size]
	for t := 1; t < T; t++ {
		copy(G[t*size:(t+1)*size], c)
	}
	if &G[0] != &c[0] {
		copy(G[:size], c)
	}
	cur := 0
	for li := k; li >= 0; li-- {
		l := &n.Layers[li]
		G := bp.g[cur][:T*l.Out.Size()]
		var P []float32 // dL/ds(t) of the layer below, when it is wanted
		if li > 0 {
			P = bp.g[1-cur][:T*l.In.Size()]
			clear(P)
		}
		if l.Kind == MaxPool {
			if P != nil {
				ws.bpttMaxPool(l, G, P)
			}
		} else {
			ws.bpttLayer(m, l, G, P, grad)
		}
		cur = 1 - cur
	}
}

// denseSpikes writes the signed spikes ev into d (which must be zero) and returns d.
func denseSpikes(ev []int32, d []float32) []float32 {
	for _, e := range ev {
		if e >= 0 {
			d[e] = 1
		} else {
			d[-e-1] = -1
		}
	}
	return d
}

// clearSpikes undoes denseSpikes.
func clearSpikes(ev []int32, d []float32) {
	for _, e := range ev {
		if e < 0 {
			e = -e - 1
		}
		d[e] = 0
	}
}

// bpttMaxPool routes the per-step gradient G of an MP2 layer's outputs to its
// inputs (P): at each step to the first element of the window holding the max.
func (ws *Workspace) bpttMaxPool(l *Layer, G, P []float32) {
	T := ws.net.Config.T
	in, out := l.In, l.Out
	prev := ws.lower(l.Index)
	d := ws.bp.dense[:in.Size()]
	for t := 0; t < T; t++ {
		ev := prev.ev.at(t)
		denseSpikes(ev, d)
		g := G[t*out.Size() : (t+1)*out.Size()]
		p := P[t*in.Size() : (t+1)*in.Size()]
		for y := 0; y < out.H; y++ {
			for x := 0; x < out.W; x++ {
				for c := 0; c < out.C; c++ {
					o := (y*out.W+x)*out.C + c
					if g[o] == 0 {
						continue
					}
					arg := (2*y*in.W+2*x)*in.C + c
					best := d[arg]
					for _, i := range [3]int{arg + in.C, arg + in.W*in.C, arg + (in.W+1)*in.C} {
						if d[i] > best {
							best, arg = d[i], i
						}
					}
					p[arg] += g[o]
				}
			}
		}
		clearSpikes(ev, d)
	}
}

// bpttMembrane recomputes the membrane H(t) = V(t-1) + I(t) of spiking layer l
// at every step from the spikes of the layer below, with the same kernels and
// float32 operations as the forward's neuron step, into the BPTT scratch
// (T x size, step-major).
func (ws *Workspace) bpttMembrane(m *Model, l *Layer) []float32 {
	cfg := ws.net.Config
	T := cfg.T
	bp := ws.bp
	size := l.Out.Size()
	H := bp.h[:T*size]
	var w []float32
	if l.WLen > 0 {
		w = m.Weights(l.Index)
	}
	prev := ws.lower(l.Index)
	direct := l.Index == 0 && cfg.Encoding == Direct
	frames := l.Index == 0 && cfg.Encoding == Events
	sub := cfg.Reset == ResetSubtract
	leak, vth := neuronLeak(cfg, l), l.Vth
	v, I := bp.v[:size], bp.cur[:size]
	clear(v)
	clear(I)
	for t := 0; t < T; t++ {
		switch {
		case direct:
			copy(I, ws.cur)
		case frames:
			ws.accumulate(l, w, l.In, I, nil, ws.frame(t), 1)
		default:
			ws.accumulate(l, w, l.In, I, prev.ev.at(t), nil, 0)
		}
		h := H[t*size : (t+1)*size]
		for i, x := range I {
			x = v[i] + x
			h[i] = x
			I[i] = 0
			if x > vth {
				if sub {
					x -= vth
				} else {
					x = 0
				}
			}
			v[i] = x * leak
		}
	}
	return H
}

// bpttLayer back-propagates the per-step gradient G = dL/ds(t) of spiking layer l
// through its neurons over time, adds dL/dW into grad and, if P is not nil, writes
// dL/ds(t) of the layer below into P.
func (ws *Workspace) bpttLayer(m *Model, l *Layer, G, P, grad []float32) {
	n := ws.net
	cfg := n.Config
	T := cfg.T
	bp := ws.bp
	size, psize := l.Out.Size(), l.In.Size()
	var w, gw []float32
	if l.WLen > 0 {
		w, gw = m.Weights(l.Index), grad[l.WOff:l.WOff+l.WLen]
	}
	prev := ws.lower(l.Index)
	direct := l.Index == 0 && cfg.Encoding == Direct
	frames := l.Index == 0 && cfg.Encoding == Events
	sub := cfg.Reset == ResetSubtract
	leak, vth := neuronLeak(cfg, l), l.Vth

	H := ws.bpttMembrane(m, l)
	v := bp.v[:size]

	// 2. Backwards in time: dI(t) = dH(t) into H, in place.
	dv, sg := v, bp.sg[:size]
	clear(dv)
	rg := cfg.ResetGrad
	alpha := cfg.Slope()
	for t := T - 1; t >= 0; t-- {
		h := H[t*size : (t+1)*size]
		g := G[t*size : (t+1)*size]
		surrogateGrad(cfg.Surrogate, alpha, h, vth, sg)
		for i, x := range h {
			dvp := float32(leak * dv[i]) // rounded: no fused multiply-add below
			gi := g[i]
			var d float32
			if sub {
				if rg {
					gi -= float32(vth * dvp)
				}
				d = dvp + float32(gi*sg[i])
			} else {
				if rg {
					gi -= float32(x * dvp)
				}
				d = float32(gi * sg[i])
				if !(x > vth) {
					d += dvp
				}
			}
			dv[i] = d
			h[i] = d
		}
	}

	// 3. dL/dW += dI(t) (x) s_{n-1}(t) and G_{n-1}(t) = W^T dI(t).
	d := bp.dense[:psize]
	if direct {
		scale := 1 / float32(T)
		for e, x := range ws.in.H {
			d[e] = x * scale
		}
	}
	for t := 0; t < T; t++ {
		dI := H[t*size : (t+1)*size]
		var pg []float32
		if P != nil {
			pg = P[t*psize : (t+1)*psize]
		}
		var ev []int32
		in := d // the layer's input at step t, dense
		switch {
		case frames:
			in = ws.frame(t)
		case !direct:
			ev = prev.ev.at(t)
		}
		switch l.Kind {
		case FC:
			out := l.Out.C
			if !(direct || frames) {
				for _, e := range ev {
					if e >= 0 {
						f32.AddTo(gw[int(e)*out:(int(e)+1)*out], dI)
					} else {
						f32.Axpy(-1, dI, gw[int(-e-1)*out:int(-e)*out])
					}
				}
			} else {
				for e, x := range in {
					if x != 0 {
						f32.Axpy(x, dI, gw[e*out:(e+1)*out])
					}
				}
			}
		case Conv:
			if !(direct || frames) {
				denseSpikes(ev, d)
			}
			convBackward(l, w, gw, l.In, in, dI, pg, nil, pg != nil, bp.sg) // sg is free after step 2
			if !(direct || frames) {
				clearSpikes(ev, d)
			}
		case AvgPool:
			for i, tg := range l.target {
				if tg >= 0 && pg != nil {
					pg[i] = 0.25 * dI[tg]
				}
			}
		}
	}
	if l.Kind == FC && P != nil {
		fcStepsBackward(P[:T*psize], psize, w, H[:T*size], size)
	}
	if direct {
		clear(d)
	}
}

// fcBlockBytes is the size of the block of weight rows fcStepsBackward keeps in
// the cache while it goes through the steps: a fraction of the smallest L1 data
// cache of current x86 and arm64 cores (32 KiB).
const fcBlockBytes = 16 << 10

// fcStepsBackward sets, for every step t and input j of a fully connected layer
// with out = size outputs, P[t*psize+j] = f32.Dot(w[j*out:][:out], dI(t)), dI(t)
// = dI[t*size:(t+1)*size], each bitwise as that f32.Dot (through f32.DotRows). It
// takes the steps in the inner loop, one block of weight rows at a time, so that
// the weights are read from memory once per sample rather than once per step.
func fcStepsBackward(P []float32, psize int, w, dI []float32, size int) {
	rows := max(4, min(convGroup, fcBlockBytes/(4*size)))
	var idx [convGroup]int32
	for i := range idx {
		idx[i] = int32(i)
	}
	T := len(dI) / size
	for j0 := 0; j0 < psize; j0 += rows {
		j1 := min(psize, j0+rows)
		for t := 0; t < T; t++ {
			f32.DotRows(P[t*psize+j0:t*psize+j1], w[j0*size:], size, idx[:j1-j0], dI[t*size:(t+1)*size])
		}
	}
}

// BackwardBytes returns the bytes of scratch memory the backward pass of ws's
// method holds per goroutine: for BPTT its T x (largest layer) buffers, for
// ASF-BP the per-layer gradient buffers of the equivalent network.
func (ws *Workspace) BackwardBytes() int {
	if ws.net.Config.Method == BPTT {
		b := ws.bptt()
		return 4 * (len(b.h) + len(b.g[0]) + len(b.g[1]) + len(b.v) + len(b.cur) + len(b.sg) + len(b.dense) + len(b.c))
	}
	var s int
	for i := range ws.lay {
		s += 4 * (len(ws.lay[i].dH) + len(ws.lay[i].dA))
	}
	return s
}

// SpikeBytes returns, for the sample last run, the bytes of the spike event
// lists the forward keeps (4 per spike, all layers and the input) and what the
// same spikes would take as one bit per neuron and step.
func (ws *Workspace) SpikeBytes() (events, bits int) {
	T := ws.net.Config.T
	events = 4 * len(ws.in.ev.idx)
	bits = (ws.net.Input.Size()*T + 7) / 8
	for i, l := range ws.net.Layers {
		if l.Output {
			continue
		}
		events += 4 * len(ws.lay[i].ev.idx)
		bits += (l.Out.Size()*T + 7) / 8
	}
	return events, bits
}
