package nir

import (
	"fmt"
	"math"
	"strings"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/hdf5"
)

// ImportOptions say what a NIR graph does not: the time step of its taus, and the
// simulation settings asf needs (window, encoding), for graphs asf did not write.
type ImportOptions struct {
	// DT is the time step, in the unit of the graph's taus, of one asf step. 0
	// takes the graph's "dt" metadata; a graph with LIF nodes and no dt needs it.
	DT float64
	// Base holds the settings a graph without asf metadata gets: T, encoding and
	// gain (leak, reset and thresholds always come from the graph).
	Base engine.Config
}

// DefaultImportOptions returns engine.DefaultConfig() as the base and no dt.
func DefaultImportOptions() ImportOptions {
	return ImportOptions{
		Base: engine.DefaultConfig(), // the reference settings for what a graph leaves open
		DT:   0,                      // from the graph's metadata: NIR has no default time step
	}
}

// Validate reports a bad time step or base configuration.
func (o ImportOptions) Validate() error {
	if !(o.DT >= 0) || math.IsInf(o.DT, 0) {
		return fmt.Errorf("nir: ImportOptions.DT = %v: want a positive time step, or 0 for the graph's", o.DT)
	}
	if err := o.Base.Validate(); err != nil {
		return fmt.Errorf("nir: ImportOptions.Base: %w", err)
	}
	return nil
}

// Imported is a NIR graph turned into an asf network.
type Imported struct {
	Model  *engine.Model
	Layers []ImportedLayer // per asf layer, the NIR nodes it came from
	Notes  []string        // conversions that are exact in real arithmetic but not bitwise, appended layers
	Meta   map[string]string
}

// ImportedLayer ties an asf layer to its NIR nodes.
type ImportedLayer struct {
	Nodes []string // e.g. ["conv1", "conv1_if"]
	Types []string // their NIR types
	Scale float64  // factor folded into the layer's weights (1: none; NaN: per-neuron factors)
}

// chainNode is one node of the graph's single path from Input to Output.
type chainNode struct {
	name string
	*Node
}

// Import converts g to an engine model. It accepts chains of Conv2d (square
// kernel, any stride up to the kernel size, padding below it, no dilation, one
// group, zero bias), SumPool2d/AvgPool2d 2x2,
// Threshold after a SumPool2d (max pooling of spikes), IF/LIF neurons (zero
// v_leak, zero v_reset; one time constant per network; thresholds and gains per
// neuron, folded into the weights), Flatten,
// Linear/Affine (zero bias) and a final integrator I (or no neurons, or spiking
// neurons, which get an identity readout appended). Anything else gives an error
// wrapping ErrUnsupported that names the node, its type and the field.
func Import(g *Graph, opt ImportOptions) (*Imported, error) {
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	chain, err := linearize(g)
	if err != nil {
		return nil, err
	}
	meta := stringMeta(g.Metadata)
	cfg := opt.Base
	dt := opt.DT
	if dt == 0 {
		if v, ok := floatMeta(g.Metadata, MetaDT); ok {
			dt = v
		}
	}
	if v, ok := intMeta(g.Metadata, MetaT); ok {
		cfg.T = int(v)
	}
	if s, ok := meta[MetaEncoding]; ok {
		e, err := engine.ParseEncoding(s)
		if err != nil {
			return nil, fmt.Errorf("%w: graph metadata %s: %v", ErrGraph, MetaEncoding, err)
		}
		cfg.Encoding = e
	}
	if v, ok := floatMeta(g.Metadata, MetaGain); ok {
		cfg.Gain = float32(v)
	}
	if v, ok := intMeta(g.Metadata, MetaFrames); ok {
		cfg.Frames = int(v)
	}
	in := chain[0]
	shape, err := intParam(in, "shape")
	if err != nil {
		return nil, err
	}
	var inShape engine.Shape
	switch len(shape) {
	case 1:
		inShape = engine.Shape{C: int(shape[0]), H: 1, W: 1}
	case 3:
		inShape = engine.Shape{C: int(shape[0]), H: int(shape[1]), W: int(shape[2])}
	default:
		return nil, fmt.Errorf("%w: node %q (Input): shape %v: asf inputs are [C, H, W] or [N]", ErrUnsupported, in.name, shape)
	}
	for _, v := range shape {
		if v <= 0 || v > 1<<16 {
			return nil, fmt.Errorf("%w: node %q (Input): shape %v must be positive", ErrGraph, in.name, shape)
		}
	}
	if inShape.Size() > maxActivation {
		return nil, fmt.Errorf("%w: node %q (Input): shape %v has more than %d elements", ErrUnsupported, in.name, shape, maxActivation)
	}
	b := &builder{cfg: cfg, dt: dt, cur: inShape, flat: len(shape) == 1, leak: -1, vthPool: -1, vth: -1}
	body := chain[1 : len(chain)-1]
	for i := 0; i < len(body); {
		n, err := b.layer(body, i)
		if err != nil {
			return nil, err
		}
		if b.cur.Size() > maxActivation {
			return nil, unsupported(body[i], "its output %v has more than %d elements", b.cur, maxActivation)
		}
		i += n
	}
	if len(b.toks) == 0 {
		return nil, fmt.Errorf("%w: the graph has no layers between %q and %q", ErrUnsupported, in.name, chain[len(chain)-1].name)
	}
	if b.pre != nil {
		return nil, unsupported(b.preNode, "pooling without neurons at the end of the graph; asf fuses such pooling into a following Conv2d, Linear or Affine")
	}
	if !b.lastOutput {
		// A graph that ends in spiking neurons: asf reads its output from an
		// integrating layer, so an identity readout integrates their spikes.
		n := b.cur.C
		eye := make([]float32, n*n)
		for i := 0; i < n; i++ {
			eye[i*n+i] = 1
		}
		b.add(fmt.Sprintf("%dFC", n), []int{n, n}, eye, nil, ImportedLayer{Scale: 1})
		b.notes = append(b.notes, fmt.Sprintf("the graph ends in spiking neurons (%s): appended an identity readout layer that integrates their spikes, so the predicted class is the one that spiked most", body[len(body)-1].name))
		b.cur = engine.Shape{C: n, H: 1, W: 1}
	}
	out := chain[len(chain)-1]
	if osh, err := intParam(out, "shape"); err == nil && prod(osh) != b.cur.Size() {
		b.notes = append(b.notes, fmt.Sprintf("node %q (Output) says shape %v; the network gives %d outputs", out.name, osh, b.cur.Size()))
	}
	if b.leak >= 0 {
		cfg.Leak = b.leak
	} else {
		cfg.Leak = 1
	}
	if b.vth > 0 {
		cfg.VthConv = b.vth
	}
	if b.vthPool > 0 {
		cfg.VthPool = b.vthPool
	}
	cfg.Reset = engine.ResetZero
	if b.subtract {
		cfg.Reset = engine.ResetSubtract
	}
	if v, ok := floatMeta(g.Metadata, MetaLeak); ok && b.leak < 0 {
		cfg.Leak = float32(v) // a network without neurons keeps its recorded leak
	}
	spec := strings.Join(b.toks, "-")
	net, err := engine.BuildNet(spec, inShape, cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: the network %s: %v", ErrUnsupported, spec, err)
	}
	m := engine.NewModel(net, 0)
	var ts []engine.Tensor
	wi := 0
	for _, l := range net.Layers {
		if l.WLen == 0 {
			continue
		}
		w := b.weights[wi]
		ts = append(ts, engine.Tensor{Name: l.Name() + ".weight", Shape: w.shape, Data: w.data})
		if w.bias != nil {
			ts = append(ts, engine.Tensor{Name: l.Name() + ".bias", Shape: []int{len(w.bias)}, Data: w.bias})
		}
		wi++
	}
	if err := m.ImportWeights(ts); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupported, err)
	}
	return &Imported{Model: m, Layers: b.layers, Notes: b.notes, Meta: meta}, nil
}

// maxActivation bounds the elements of one layer's activation (16 M), so that a
// graph cannot make the engine allocate without bound.
const maxActivation = 1 << 24

type tensor struct {
	shape []int
	data  []float32
	bias  []float32 // nil: the layer has none
}

type builder struct {
	cfg     engine.Config
	dt      float64
	cur     engine.Shape
	flat    bool
	toks    []string
	weights []tensor
	layers  []ImportedLayer
	notes   []string
	leak    float32 // -1 until a neuron layer sets it
	vth     float32 // conv/FC threshold, -1 until set
	vthPool float32
	lastVth float32 // threshold of the neuron node checked last
	// pre is the unpooled shape while a pooling node without neurons after it
	// waits to be fused into the next weighted layer (preGain 1 for a sum, 0.25
	// for an average; preNode the pooling node).
	pre        *engine.Shape
	preGain    float32
	preNode    chainNode
	subtract   bool
	resetSeen  bool
	lastOutput bool
}

func (b *builder) add(tok string, shape []int, data, bias []float32, l ImportedLayer) {
	if bias != nil {
		tok += "b"
	}
	b.toks = append(b.toks, tok)
	if shape != nil {
		b.weights = append(b.weights, tensor{shape, data, bias})
	}
	b.layers = append(b.layers, l)
}

func unsupported(n chainNode, format string, args ...any) error {
	return fmt.Errorf("%w: node %q (%s): %s", ErrUnsupported, n.name, n.Type, fmt.Sprintf(format, args...))
}

func malformed(n chainNode, format string, args ...any) error {
	return fmt.Errorf("%w: node %q (%s): %s", ErrGraph, n.name, n.Type, fmt.Sprintf(format, args...))
}

// layer converts the asf layer starting at body[i] and returns the number of
// nodes it used.
func (b *builder) layer(body []chainNode, i int) (int, error) {
	n := body[i]
	if b.lastOutput {
		return 0, unsupported(n, "comes after the output layer's integrator; asf's output layer is the last")
	}
	if b.pre != nil && n.Type != "Conv2d" && n.Type != "Flatten" && n.Type != "Linear" && n.Type != "Affine" {
		return 0, unsupported(n, "follows pooling %q without neurons; asf fuses such pooling into a following Conv2d, Linear or Affine", b.preNode.name)
	}
	next := func() (chainNode, bool) {
		if i+1 < len(body) {
			return body[i+1], true
		}
		return chainNode{}, false
	}
	switch n.Type {
	case "Flatten":
		if b.flat {
			return 1, nil
		}
		sd, _ := intParam(n, "start_dim")
		ed, _ := intParam(n, "end_dim")
		if len(sd) == 1 && sd[0] != 0 || len(ed) == 1 && ed[0] != -1 && ed[0] != 2 {
			return 0, unsupported(n, "start_dim %v, end_dim %v: asf flattens the whole [C, H, W] activation (start_dim 0, end_dim -1)", sd, ed)
		}
		b.flat = true
		b.cur = engine.Shape{C: b.cur.Size(), H: 1, W: 1}
		return 1, nil
	case "Conv2d":
		return b.conv(n, next)
	case "SumPool2d", "AvgPool2d":
		return b.pool(n, next)
	case "Linear", "Affine":
		return b.fc(n, next, body, i)
	}
	return 0, unsupported(n, "asf has no layer for this node type (it imports Conv2d, SumPool2d, AvgPool2d, Threshold after a pool, IF, LIF, Flatten, Linear, Affine, I)")
}

func (b *builder) conv(n chainNode, next func() (chainNode, bool)) (int, error) {
	if b.flat {
		return 0, unsupported(n, "a convolution after a flattened (fully connected) activation")
	}
	w, err := floatParam(n, "weight")
	if err != nil {
		return 0, err
	}
	if len(w.shape) != 4 {
		return 0, malformed(n, "weight of shape %v: want [C_out, C_in, kH, kW]", w.shape)
	}
	co, ci, kh, kw := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	if ci != b.cur.C {
		return 0, malformed(n, "weight of shape %v takes %d input channels; its input has %d (shape %v)", w.shape, ci, b.cur.C, b.cur)
	}
	if kh != kw {
		return 0, unsupported(n, "kernel %dx%d: asf convolutions have square kernels", kh, kw)
	}
	// same returns the one value of a field given per axis (or once).
	same := func(field string, lo, hi int64) (int64, error) {
		v, err := intParam(n, field)
		if err != nil {
			return 0, err
		}
		if len(v) == 0 || len(v) > 2 || len(v) == 2 && v[0] != v[1] {
			return 0, unsupported(n, "%s %v: asf convolutions have the same %s on both axes", field, v, field)
		}
		if v[0] < lo || v[0] > hi {
			return 0, unsupported(n, "%s %v: asf takes %d..%d for a %dx%d kernel", field, v, lo, hi, kh, kw)
		}
		return v[0], nil
	}
	stride, err := same("stride", 1, int64(kh))
	if err != nil {
		return 0, err
	}
	pad := int64(kh / 2)
	check := func(field string, want int64) error {
		v, err := intParam(n, field)
		if err != nil {
			return err
		}
		for _, x := range v {
			if x != want {
				return unsupported(n, "%s %v: asf convolutions have %s %d", field, v, field, want)
			}
		}
		return nil
	}
	if err := check("dilation", 1); err != nil {
		return 0, err
	}
	if err := check("groups", 1); err != nil {
		return 0, err
	}
	if p, ok := n.Params["padding"]; ok && p.Kind == hdf5.String {
		switch {
		case len(p.Strings) == 1 && p.Strings[0] == "valid":
			pad = 0
		case len(p.Strings) == 1 && p.Strings[0] == "same" && kh%2 == 1 && stride == 1:
		default:
			return 0, unsupported(n, "padding %q: asf takes 'valid', 'same' (odd kernel, stride 1) or a number", p.Strings)
		}
	} else if pad, err = same("padding", 0, int64(kh-1)); err != nil {
		return 0, err
	}
	bias, err := biasOf(n, co)
	if err != nil {
		return 0, err
	}
	if s, err := intParam(n, "input_shape"); err == nil && (len(s) != 2 || s[0] != int64(b.cur.H) || s[1] != int64(b.cur.W)) {
		return 0, malformed(n, "input_shape %v; its input is %dx%d", s, b.cur.H, b.cur.W)
	}
	nn, ok := next()
	if !ok {
		return 0, unsupported(n, "a convolution without neurons after it; asf's conv layers spike")
	}
	s, p := int(stride), int(pad)
	if b.cur.H+2*p < kh || b.cur.W+2*p < kh {
		return 0, malformed(n, "a %dx%d kernel with padding %d does not fit its %dx%d input", kh, kw, p, b.cur.H, b.cur.W)
	}
	out := engine.Shape{C: co, H: (b.cur.H+2*p-kh)/s + 1, W: (b.cur.W+2*p-kh)/s + 1}
	var fused []string
	if b.pre != nil {
		// 2x2 pooling then a k x k convolution with stride s and padding p is a
		// 2k x 2k convolution with stride 2s and padding 2p of the unpooled
		// input, each weight repeated over its 2x2 window (exact for even sizes).
		if b.pre.H%2 != 0 || b.pre.W%2 != 0 {
			return 0, unsupported(n, "follows pooling %q without neurons of an odd-sized %v input; asf fuses pooling into a convolution for even sizes only", b.preNode.name, *b.pre)
		}
		k2 := 2 * kh
		wide := make([]float32, co*ci*k2*k2)
		for o := 0; o < co; o++ {
			for c := 0; c < ci; c++ {
				for y := 0; y < k2; y++ {
					for x := 0; x < k2; x++ {
						wide[((o*ci+c)*k2+y)*k2+x] = b.preGain * w.data[((o*ci+c)*kh+y/2)*kw+x/2]
					}
				}
			}
		}
		w = tensor{shape: []int{co, ci, k2, k2}, data: wide}
		kh, kw, s, p = k2, k2, 2*s, 2*p
		fused = []string{b.preNode.name, b.preNode.Type}
		b.pre = nil
	}
	np, err := b.neuron(nn, out, false, true)
	if err != nil {
		return 0, err
	}
	data, bias, scale, err := b.fold(nn, w.data, bias, co, np)
	if err != nil {
		return 0, err
	}
	tok := fmt.Sprintf("%dC%d", co, kh)
	if s > 1 {
		tok += fmt.Sprintf("s%d", s)
	}
	if kh%2 == 0 || p != kh/2 {
		tok += fmt.Sprintf("p%d", p)
	}
	il := ImportedLayer{Nodes: []string{n.name, nn.name}, Types: []string{n.Type, nn.Type}, Scale: scale}
	if fused != nil {
		il.Nodes, il.Types = append([]string{fused[0]}, il.Nodes...), append([]string{fused[1]}, il.Types...)
	}
	b.add(tok, w.shape, data, bias, il)
	b.cur = out
	return 2, nil
}

func (b *builder) pool(n chainNode, next func() (chainNode, bool)) (int, error) {
	if b.flat {
		return 0, unsupported(n, "pooling after a flattened (fully connected) activation")
	}
	for _, f := range []struct {
		field string
		want  int64
	}{{"kernel_size", 2}, {"stride", 2}, {"padding", 0}} {
		v, err := intParam(n, f.field)
		if err != nil {
			return 0, err
		}
		for _, x := range v {
			if x != f.want {
				return 0, unsupported(n, "%s %v: asf pools 2x2 windows with stride 2 and no padding", f.field, v)
			}
		}
	}
	if b.cur.H < 2 || b.cur.W < 2 {
		return 0, malformed(n, "pools a %v input; need at least 2x2", b.cur)
	}
	out := engine.Shape{C: b.cur.C, H: b.cur.H / 2, W: b.cur.W / 2}
	nn, ok := next()
	if !ok {
		return 0, unsupported(n, "pooling without neurons or a threshold after it")
	}
	if nn.Type != "IF" && nn.Type != "LIF" && nn.Type != "Threshold" {
		// Pooled spikes straight into the next layer (as Sinabs writes): fused
		// into that layer's weights, which then read the unpooled input.
		if b.pre != nil {
			return 0, unsupported(n, "a second pooling without neurons in a row; asf fuses one into the next layer")
		}
		pre := b.cur
		b.pre, b.preNode, b.preGain = &pre, n, 1
		if n.Type == "AvgPool2d" {
			b.preGain = 0.25
		}
		b.cur = out
		return 1, nil
	}
	if nn.Type == "Threshold" {
		if n.Type != "SumPool2d" {
			return 0, unsupported(nn, "a Threshold after %s %q: asf's max pooling of spikes is a SumPool2d and a Threshold in [0, 1)", n.Type, n.name)
		}
		th, err := floatParam(nn, "threshold")
		if err != nil {
			return 0, err
		}
		v, err := uniform(nn, "threshold", th, out, false)
		if err != nil {
			return 0, err
		}
		if !(v >= 0 && v < 1) {
			return 0, unsupported(nn, "threshold %v: a spike passes max pooling when any input spiked, which is a threshold in [0, 1) on the sum of binary spikes", v)
		}
		b.add("MP2", nil, nil, nil, ImportedLayer{Nodes: []string{n.name, nn.name}, Types: []string{n.Type, nn.Type}, Scale: 1})
		b.cur = out
		return 2, nil
	}
	if nn.Type != "IF" {
		return 0, unsupported(nn, "pooling neurons in asf never leak: an IF after %s %q, not %s", n.Type, n.name, nn.Type)
	}
	np, err := b.neuron(nn, out, false, false)
	if err != nil {
		return 0, err
	}
	gain := np.gain[0]
	// asf's pooling neurons receive 0.25*sum and fire above VthPool.
	pg := 1.0
	if n.Type == "AvgPool2d" {
		pg = 0.25
	}
	vth := float32(float64(b.lastVth) * 0.25 / (pg * gain))
	if b.vthPool >= 0 && vth != b.vthPool {
		return 0, unsupported(nn, "pooling threshold %v (asf scale) differs from an earlier pooling layer's %v; asf has one pooling threshold", vth, b.vthPool)
	}
	b.vthPool = vth
	b.add("P2", nil, nil, nil, ImportedLayer{Nodes: []string{n.name, nn.name}, Types: []string{n.Type, nn.Type}, Scale: 1})
	b.cur = out
	return 2, nil
}

func (b *builder) fc(n chainNode, next func() (chainNode, bool), body []chainNode, i int) (int, error) {
	if !b.flat {
		if b.cur.H != 1 || b.cur.W != 1 {
			return 0, malformed(n, "a dense layer on a %v activation without a Flatten before it", b.cur)
		}
		b.flat = true
	}
	w, err := floatParam(n, "weight")
	if err != nil {
		return 0, err
	}
	if len(w.shape) != 2 {
		return 0, malformed(n, "weight of shape %v: want [out, in]", w.shape)
	}
	if w.shape[1] != b.cur.Size() {
		return 0, malformed(n, "weight of shape %v takes %d inputs; its input has %d", w.shape, w.shape[1], b.cur.Size())
	}
	var fusedPool *chainNode
	if b.pre != nil {
		// Pooling then a dense layer is a dense layer on the unpooled input
		// (CHW order), each weight repeated over its 2x2 window.
		pre, ph, pw := *b.pre, b.pre.H/2, b.pre.W/2
		outs, in := w.shape[0], pre.Size()
		wide := make([]float32, outs*in)
		for o := 0; o < outs; o++ {
			for c := 0; c < pre.C; c++ {
				for y := 0; y < 2*ph; y++ {
					for x := 0; x < 2*pw; x++ {
						wide[o*in+(c*pre.H+y)*pre.W+x] = b.preGain * w.data[o*w.shape[1]+(c*ph+y/2)*pw+x/2]
					}
				}
			}
		}
		w = tensor{shape: []int{outs, in}, data: wide}
		pn := b.preNode
		fusedPool = &pn
		b.pre = nil
	}
	outN := w.shape[0]
	var bias []float32
	if n.Type == "Affine" {
		if bias, err = biasOf(n, outN); err != nil {
			return 0, err
		}
	}
	out := engine.Shape{C: outN, H: 1, W: 1}
	l := ImportedLayer{Nodes: []string{n.name}, Types: []string{n.Type}, Scale: 1}
	if fusedPool != nil {
		l.Nodes, l.Types = []string{fusedPool.name, n.name}, []string{fusedPool.Type, n.Type}
	}
	nn, ok := next()
	switch {
	case !ok:
		// Straight into Output: the summed currents are the scores.
		b.lastOutput = true
		data, bias := b.outputScale(w.data, bias, 1, &l)
		b.add(fmt.Sprintf("%dFC", outN), w.shape, data, bias, l)
		b.cur = out
		return 1, nil
	case nn.Type == "I":
		r, err := floatParam(nn, "r")
		if err != nil {
			return 0, err
		}
		rv, err := uniform(nn, "r", r, out, true)
		if err != nil {
			return 0, err
		}
		if !(rv > 0) {
			return 0, unsupported(nn, "r %v: asf's output integrator has a positive gain", rv)
		}
		if i+2 < len(body) {
			return 0, unsupported(body[i+2], "follows an integrator; asf's output layer (a dense layer and an integrator) is the last")
		}
		b.lastOutput = true
		l.Nodes, l.Types = append(l.Nodes, nn.name), append(l.Types, nn.Type)
		data, bias := b.outputScale(w.data, bias, float64(rv), &l)
		b.add(fmt.Sprintf("%dFC", outN), w.shape, data, bias, l)
		b.cur = out
		return 2, nil
	}
	np, err := b.neuron(nn, out, true, true)
	if err != nil {
		return 0, err
	}
	data, bias, scale, err := b.fold(nn, w.data, bias, outN, np)
	if err != nil {
		return 0, err
	}
	l.Nodes, l.Types, l.Scale = append(l.Nodes, nn.name), append(l.Types, nn.Type), scale
	b.add(fmt.Sprintf("%dFC", outN), w.shape, data, bias, l)
	b.cur = out
	return 2, nil
}

// outputScale folds the output integrator's gain r into the output layer's
// weights so that asf's o = (W h + T b)/(T Vth) equals the integrator's value
// r * sum_t (W s_t + b): w' = w * r * T * Vth. An asf export (r = 1/(T Vth) in
// float32) needs no change.
func (b *builder) outputScale(w, bias []float32, r float64, l *ImportedLayer) ([]float32, []float32) {
	vth := float64(b.cfg.VthConv)
	if b.vth > 0 {
		vth = float64(b.vth)
	}
	f := r * float64(b.cfg.T) * vth
	if float32(f) == 1 {
		return w, bias
	}
	l.Scale = f
	b.notes = append(b.notes, fmt.Sprintf("layer %d (output): folded the integrator's gain x T x Vth = %.6g into its weights", len(b.toks)+1, f))
	sc := func(v []float32) []float32 {
		if v == nil {
			return nil
		}
		out := make([]float32, len(v))
		for i, x := range v {
			out[i] = float32(float64(x) * f)
		}
		return out
	}
	return sc(w), sc(bias)
}

// neuronParams are the per-neuron input gains (r, or r*dt/tau) and thresholds of a
// neuron node (one value each when the node gives scalars).
type neuronParams struct {
	gain []float64
	th   []float32
}

func (p neuronParams) at(i int) (float64, float32) {
	g, t := p.gain[0], p.th[0]
	if len(p.gain) > 1 {
		g = p.gain[i]
	}
	if len(p.th) > 1 {
		t = p.th[i]
	}
	return g, t
}

// fold scales the weights (and bias) of a layer with co output channels (the
// first axis of w) so that its neurons see asf's unit input gain and the
// network's one threshold: w' = w * gain * Vth / threshold, per output channel.
// Neurons of one channel of a convolution must agree (they share weights).
func (b *builder) fold(n chainNode, w, bias []float32, co int, p neuronParams) ([]float32, []float32, float64, error) {
	g0, t0 := p.at(0)
	if b.vth < 0 {
		b.vth = float32(float64(t0) / g0)
		if float64(b.vth)*g0 != float64(t0) {
			b.vth = t0
		}
	}
	size := max(len(p.gain), len(p.th))
	per := max(1, size/co) // neurons per output channel
	sc := make([]float64, co)
	uniform := true
	for c := 0; c < co; c++ {
		for i := c * per; i < (c+1)*per && (i == c*per || size > 1); i++ {
			g, t := p.at(min(i, size-1))
			f := g * float64(b.vth) / float64(t)
			if i == c*per {
				sc[c] = f
			} else if f != sc[c] {
				return nil, nil, 0, unsupported(n, "the neurons of output channel %d have different thresholds or gains (neuron %d: %v, neuron %d: %v); a convolution's channel shares its weights, so asf needs them equal", c, c*per, sc[c], i, f)
			}
		}
		if sc[c] != sc[0] {
			uniform = false
		}
	}
	if uniform && sc[0] == 1 {
		return w, bias, 1, nil
	}
	block := len(w) / co
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = float32(float64(v) * sc[i/block])
	}
	var ob []float32
	if bias != nil {
		ob = make([]float32, len(bias))
		for i, v := range bias {
			ob[i] = float32(float64(v) * sc[i])
		}
	}
	if uniform {
		b.notes = append(b.notes, fmt.Sprintf("layer %d: folded the factor %.6g (input gain x asf threshold / node threshold) into its weights", len(b.toks)+1, sc[0]))
		return out, ob, sc[0], nil
	}
	b.notes = append(b.notes, fmt.Sprintf("layer %d: folded per-neuron factors (input gain x asf threshold / node threshold, %.6g to %.6g) into its weights", len(b.toks)+1, minOf(sc), maxOf(sc)))
	return out, ob, math.NaN(), nil
}

func minOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = min(m, x)
	}
	return m
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

// neuron checks an IF/LIF node of neurons of shape s and returns their per-step
// input gains and thresholds; it records the network's leak and reset. Pooling
// neurons (weighted false) need one value per layer; the others may vary per
// neuron (folded into the weights), except tau (asf has one leak).
func (b *builder) neuron(n chainNode, s engine.Shape, flat, weighted bool) (neuronParams, error) {
	var none neuronParams
	if n.Type != "IF" && n.Type != "LIF" {
		return none, unsupported(n, "asf layers are followed by IF or LIF neurons (found %s)", n.Type)
	}
	arr := func(field string) ([]float32, error) {
		a, err := floatParam(n, field)
		if err != nil {
			return nil, err
		}
		if len(a.data) != 1 && len(a.data) != s.Size() {
			return nil, malformed(n, "%s of shape %v for %d neurons (shape %v)", field, a.shape, s.Size(), dims(s, flat))
		}
		if !weighted {
			if _, err := uniform(n, field, a, s, flat); err != nil {
				return nil, err
			}
		}
		return a.data, nil
	}
	zero := func(field, what string) error {
		if _, ok := n.Params[field]; !ok && field == "v_reset" {
			return nil
		}
		a, err := arr(field)
		if err != nil {
			return err
		}
		for i, v := range a {
			if v != 0 {
				return unsupported(n, "%s[%d] = %v: %s", field, i, v, what)
			}
		}
		return nil
	}
	th, err := arr("v_threshold")
	if err != nil {
		return none, err
	}
	for i, v := range th {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return none, unsupported(n, "v_threshold[%d] = %v: asf thresholds are positive", i, v)
		}
	}
	r, err := arr("r")
	if err != nil {
		return none, err
	}
	for i, v := range r {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return none, unsupported(n, "r[%d] = %v: asf neurons have a positive input gain", i, v)
		}
	}
	if err := zero("v_reset", "asf resets to 0 (or subtracts the threshold)"); err != nil {
		return none, err
	}
	sub := false
	if md, ok := n.Metadata[MetaReset]; ok && md.Kind == hdf5.String && len(md.Strings) == 1 && md.Strings[0] == "subtract" {
		sub = true
	}
	if b.resetSeen && sub != b.subtract {
		return none, unsupported(n, "reset by subtraction in some layers and to zero in others; asf has one reset rule")
	}
	b.resetSeen, b.subtract = true, sub
	leak := float32(1)
	gain := make([]float64, len(r))
	for i, v := range r {
		gain[i] = float64(v)
	}
	if n.Type == "LIF" {
		if err := zero("v_leak", "asf neurons leak towards 0"); err != nil {
			return none, err
		}
		ta, err := floatParam(n, "tau")
		if err != nil {
			return none, err
		}
		tau, err := uniform(n, "tau", ta, s, flat)
		if err != nil {
			return none, err
		}
		if b.dt == 0 {
			return none, unsupported(n, "a LIF time constant (tau %v) but no time step: NIR leaves dt to the simulator; give it (asf import --dt)", tau)
		}
		k := b.dt / float64(tau)
		if !(k > 0 && k <= 1) {
			return none, unsupported(n, "tau %v with dt %v: asf's leak 1 - dt/tau must be in [0, 1)", tau, b.dt)
		}
		leak = float32(1 - k)
		for i, v := range r {
			if float64(tau) == b.dt*float64(v) {
				gain[i] = 1 // r = tau/dt: v <- leak*v + I, exactly
			} else {
				gain[i] = float64(v) * k
			}
		}
	}
	p := neuronParams{gain: gain, th: th}
	if !weighted {
		b.lastVth = th[0]
		return p, nil // pooling neurons: IF, outside the network's leak
	}
	if b.leak >= 0 && leak != b.leak {
		return none, unsupported(n, "leak %v (from tau and dt) differs from an earlier layer's %v; asf has one leak for all neurons", leak, b.leak)
	}
	b.leak = leak
	b.lastVth = th[0]
	return p, nil
}

// uniform returns the value of a per-neuron (or scalar) parameter that is the same
// for all neurons of shape s.
func uniform(n chainNode, field string, a tensor, s engine.Shape, flat bool) (float32, error) {
	if len(a.data) == 0 {
		return 0, malformed(n, "%s is empty", field)
	}
	if len(a.data) != 1 && len(a.data) != s.Size() {
		return 0, malformed(n, "%s of shape %v for %d neurons (shape %v)", field, a.shape, s.Size(), dims(s, flat))
	}
	v := a.data[0]
	for i, x := range a.data {
		if math.Float32bits(x) != math.Float32bits(v) {
			return 0, unsupported(n, "%s differs between neurons (element 0 is %v, element %d is %v); asf uses one value per layer", field, v, i, x)
		}
	}
	return v, nil
}

// biasOf returns a node's bias, one value per output channel, or nil when it has
// none or all of it is zero (the layer then needs none).
func biasOf(n chainNode, outputs int) ([]float32, error) {
	if _, ok := n.Params["bias"]; !ok {
		return nil, nil
	}
	t, err := floatParam(n, "bias")
	if err != nil {
		return nil, err
	}
	if len(t.data) != outputs {
		return nil, malformed(n, "bias of shape %v for %d output channels", t.shape, outputs)
	}
	for _, v := range t.data {
		if v != 0 {
			return t.data, nil
		}
	}
	return nil, nil
}

// floatParam returns a float parameter as float32 (float64 values are rounded).
func floatParam(n chainNode, field string) (tensor, error) {
	d, ok := n.Params[field]
	if !ok {
		return tensor{}, malformed(n, "no %q", field)
	}
	switch d.Kind {
	case hdf5.Float32:
		return tensor{shape: d.Shape, data: d.F32}, nil
	case hdf5.Float64:
		out := make([]float32, len(d.F64))
		for i, v := range d.F64 {
			out[i] = float32(v)
		}
		return tensor{shape: d.Shape, data: out}, nil
	case hdf5.Int:
		out := make([]float32, len(d.Ints))
		for i, v := range d.Ints {
			out[i] = float32(v)
		}
		return tensor{shape: d.Shape, data: out}, nil
	}
	return tensor{}, malformed(n, "%s is %v; want numbers", field, d.Kind)
}

func intParam(n chainNode, field string) ([]int64, error) {
	d, ok := n.Params[field]
	if !ok {
		return nil, malformed(n, "no %q", field)
	}
	switch d.Kind {
	case hdf5.Int:
		return d.Ints, nil
	case hdf5.Float32, hdf5.Float64:
		t, _ := floatParam(n, field)
		out := make([]int64, len(t.data))
		for i, v := range t.data {
			if v != float32(math.Trunc(float64(v))) || math.Abs(float64(v)) > 1<<30 {
				return nil, malformed(n, "%s = %v: want integers", field, t.data)
			}
			out[i] = int64(v)
		}
		return out, nil
	}
	return nil, malformed(n, "%s is %v; want integers", field, d.Kind)
}

func prod(v []int64) int {
	p := 1
	for _, x := range v {
		p *= int(x)
	}
	return p
}

// Chain returns the node names from the graph's Input to its Output when the
// graph is one path (what Import accepts), else an error naming the node that
// breaks it.
func (g *Graph) Chain() ([]string, error) {
	c, err := linearize(g)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(c))
	for i, n := range c {
		out[i] = n.name
	}
	return out, nil
}

// linearize returns the graph's nodes from its Input to its Output, checking that
// they form one path.
func linearize(g *Graph) ([]chainNode, error) {
	var in, out []string
	for _, name := range g.NodeNames() {
		n := g.Nodes[name]
		switch n.Type {
		case "Input":
			in = append(in, name)
		case "Output":
			out = append(out, name)
		case "NIRGraph":
			return nil, fmt.Errorf("%w: node %q (NIRGraph): nested graphs are not supported; inline its nodes", ErrUnsupported, name)
		}
	}
	if len(in) != 1 || len(out) != 1 {
		return nil, fmt.Errorf("%w: %d Input nodes %v and %d Output nodes %v; asf networks have one of each", ErrUnsupported, len(in), in, len(out), out)
	}
	succ := map[string]string{}
	pred := map[string]string{}
	for _, e := range g.Edges {
		pre, post := e[0], e[1]
		if s, ok := succ[pre]; ok && s != post {
			return nil, fmt.Errorf("%w: node %q (%s) feeds both %q and %q; asf networks are chains", ErrUnsupported, pre, g.Nodes[pre].Type, s, post)
		}
		if p, ok := pred[post]; ok && p != pre {
			return nil, fmt.Errorf("%w: node %q (%s) has two inputs, %q and %q; asf networks are chains", ErrUnsupported, post, g.Nodes[post].Type, p, pre)
		}
		succ[pre], pred[post] = post, pre
	}
	var chain []chainNode
	seen := map[string]bool{}
	for cur := in[0]; ; {
		if seen[cur] {
			return nil, fmt.Errorf("%w: node %q (%s) is reached again: a recurrent edge; asf networks are feed-forward", ErrUnsupported, cur, g.Nodes[cur].Type)
		}
		seen[cur] = true
		chain = append(chain, chainNode{cur, g.Nodes[cur]})
		if cur == out[0] {
			break
		}
		nx, ok := succ[cur]
		if !ok {
			return nil, fmt.Errorf("%w: node %q (%s) leads nowhere: no path from %q to %q", ErrGraph, cur, g.Nodes[cur].Type, in[0], out[0])
		}
		cur = nx
	}
	for _, name := range g.NodeNames() {
		if !seen[name] {
			return nil, fmt.Errorf("%w: node %q (%s) is not on the path from %q to %q", ErrUnsupported, name, g.Nodes[name].Type, in[0], out[0])
		}
	}
	return chain, nil
}

func stringMeta(md map[string]*hdf5.Dataset) map[string]string {
	out := map[string]string{}
	for k, d := range md {
		if d.Kind == hdf5.String && len(d.Strings) == 1 {
			out[k] = d.Strings[0]
		}
	}
	return out
}

func floatMeta(md map[string]*hdf5.Dataset, key string) (float64, bool) {
	d, ok := md[key]
	if !ok {
		return 0, false
	}
	switch {
	case d.Kind == hdf5.Float32 && len(d.F32) == 1:
		return float64(d.F32[0]), true
	case d.Kind == hdf5.Float64 && len(d.F64) == 1:
		return d.F64[0], true
	case d.Kind == hdf5.Int && len(d.Ints) == 1:
		return float64(d.Ints[0]), true
	}
	return 0, false
}

func intMeta(md map[string]*hdf5.Dataset, key string) (int64, bool) {
	d, ok := md[key]
	if ok && d.Kind == hdf5.Int && len(d.Ints) == 1 {
		return d.Ints[0], true
	}
	return 0, false
}
