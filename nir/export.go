package nir

import (
	"fmt"
	"math"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/hdf5"
)

// Graph metadata keys that asf writes (and reads back on import) so that a
// re-imported network runs exactly as the original: NIR itself has no time step,
// input encoding or subtract reset.
const (
	MetaSource   = "source"       // "asf"
	MetaSpec     = "asf_spec"     // the network in the paper's notation
	MetaT        = "asf_t"        // time steps per sample window
	MetaDT       = "dt"           // the time step the taus are in units of (1: one asf step)
	MetaLeak     = "asf_leak"     // the engine's leak factor (1 = IF)
	MetaReset    = "asf_reset"    // "zero" or "subtract"
	MetaEncoding = "asf_encoding" // poisson, direct or events
	MetaGain     = "asf_gain"     // Poisson gain
	MetaFrames   = "asf_frames"   // frames per sample of the events encoding
	MetaJob      = "asf_job"      // the JSON job the weights came from, when known
)

// ExportOptions are the extras of Export.
type ExportOptions struct {
	// Job is the JSON job description stored as graph metadata (MetaJob), so that
	// an import rebuilds the same job; empty for none.
	Job string
}

// Export returns the NIR graph of m: an Input node, then per asf layer
//
//   - conv "NCk[sS][pP]": Conv2d (weight [N][Cin][k][k], stride S, padding P (k/2
//     by default), its bias (zeros without "b"))
//     and its neurons (IF, or LIF when Leak < 1), named "<layer>" and "<layer>_if"/"_lif";
//   - "P2":        SumPool2d (2x2, stride 2) and an IF with threshold 4*VthPool
//     (pooling neurons never leak);
//   - "MP2":       SumPool2d and Threshold(0.5): a spike passes when any of the window spiked;
//   - the first FC after a spatial layer: Flatten (start_dim 0) first;
//   - hidden FC:   Linear (weight [out][in], inputs in CHW order), or Affine with
//     the bias of an "NFCb" layer, and IF/LIF;
//   - output FC:   Linear and an integrator I with r = 1/(T*Vth), whose value after
//     the window is asf's output o;
//
// and an Output node. Per-neuron parameters carry the neurons' full shape. The
// graph metadata holds the spec, T, leak, reset, encoding and gain.
func Export(m *engine.Model, opt ExportOptions) (*Graph, error) {
	n := m.Net
	cfg := n.Config
	g := &Graph{Version: Version, Nodes: map[string]*Node{}, Metadata: map[string]*hdf5.Dataset{}}
	in := n.Input
	g.Nodes["input"] = &Node{Type: "Input", Params: map[string]*hdf5.Dataset{"shape": shapeOf(in, false)}}
	prev := "input"
	chain := func(name string, node *Node) {
		g.Nodes[name] = node
		g.Edges = append(g.Edges, [2]string{prev, name})
		prev = name
	}
	std := map[string]engine.Tensor{}
	for _, t := range m.ExportWeights() {
		std[t.Name] = t
	}
	flat := false
	for _, l := range n.Layers {
		name := l.Name()
		switch l.Kind {
		case engine.Conv:
			w, ok := std[name+".weight"]
			if !ok {
				return nil, fmt.Errorf("nir: layer %s has no exported weights", name)
			}
			p, st := int64(l.Pad), int64(l.Stride)
			bias := make([]float32, l.Out.C)
			if b, ok := std[name+".bias"]; ok {
				copy(bias, b.Data)
			}
			chain(name, &Node{Type: "Conv2d", Params: map[string]*hdf5.Dataset{
				"weight":      hdf5.Float32Array(w.Shape, w.Data),
				"bias":        hdf5.Float32Array([]int{l.Out.C}, bias),
				"stride":      hdf5.Int64Array(st, st),
				"padding":     hdf5.Int64Array(p, p),
				"dilation":    hdf5.Int64Array(1, 1),
				"groups":      hdf5.Int64Scalar(1),
				"input_shape": hdf5.Int64Array(int64(l.In.H), int64(l.In.W)),
			}})
			nn, nm := neurons(l.Out, false, l.Vth, cfg)
			chain(name+nm, nn)
		case engine.AvgPool, engine.MaxPool:
			chain(name, &Node{Type: "SumPool2d", Params: map[string]*hdf5.Dataset{
				"kernel_size": hdf5.Int64Array(2, 2),
				"stride":      hdf5.Int64Array(2, 2),
				"padding":     hdf5.Int64Array(0, 0),
			}})
			if l.Kind == engine.AvgPool {
				// asf feeds 0.25 * sum to neurons of threshold Vth; the sum fed to
				// neurons of threshold 4*Vth is the same neuron scaled by 4 (exact in
				// binary floating point).
				// Pooling neurons never leak (the engine's rule): always IF.
				ifCfg := cfg
				ifCfg.Leak = 1
				nn, nm := neurons(l.Out, false, 4*l.Vth, ifCfg)
				chain(name+nm, nn)
			} else {
				chain(name+"_or", &Node{Type: "Threshold", Params: map[string]*hdf5.Dataset{
					"threshold": fill(l.Out, false, 0.5),
				}})
			}
		case engine.FC:
			if !flat {
				fname := fmt.Sprintf("flatten%d", l.Index+1)
				chain(fname, &Node{Type: "Flatten", Params: map[string]*hdf5.Dataset{
					"start_dim":  hdf5.Int64Scalar(0),
					"end_dim":    hdf5.Int64Scalar(-1),
					"input_type": shapeOf(l.In, false),
				}})
			}
			flat = true
			w, ok := std[name+".weight"]
			if !ok {
				return nil, fmt.Errorf("nir: layer %s has no exported weights", name)
			}
			if b, ok := std[name+".bias"]; ok {
				chain(name, &Node{Type: "Affine", Params: map[string]*hdf5.Dataset{
					"weight": hdf5.Float32Array(w.Shape, w.Data),
					"bias":   hdf5.Float32Array(b.Shape, b.Data),
				}})
			} else {
				chain(name, &Node{Type: "Linear", Params: map[string]*hdf5.Dataset{
					"weight": hdf5.Float32Array(w.Shape, w.Data),
				}})
			}
			if l.Output {
				r := float32(1 / (float64(cfg.T) * float64(l.Vth)))
				chain(name+"_out", &Node{Type: "I", Params: map[string]*hdf5.Dataset{
					"r": fill(l.Out, true, r),
				}})
			} else {
				nn, nm := neurons(l.Out, true, l.Vth, cfg)
				chain(name+nm, nn)
			}
		default:
			return nil, fmt.Errorf("nir: layer %s: kind %v has no NIR mapping", name, l.Kind)
		}
	}
	out := n.Layers[len(n.Layers)-1].Out
	chain("output", &Node{Type: "Output", Params: map[string]*hdf5.Dataset{"shape": hdf5.Int64Array(int64(out.C))}})
	md := g.Metadata
	md[MetaSource] = hdf5.StringScalar("asf")
	md[MetaSpec] = hdf5.StringScalar(n.Spec.String())
	md[MetaT] = hdf5.Int64Scalar(int64(cfg.T))
	md[MetaDT] = hdf5.Float64Scalar(1)
	md[MetaLeak] = &hdf5.Dataset{Kind: hdf5.Float32, F32: []float32{cfg.Leak}}
	md[MetaReset] = hdf5.StringScalar(cfg.Reset.String())
	md[MetaEncoding] = hdf5.StringScalar(cfg.Encoding.String())
	md[MetaGain] = &hdf5.Dataset{Kind: hdf5.Float32, F32: []float32{cfg.Gain}}
	if cfg.Frames > 0 {
		md[MetaFrames] = hdf5.Int64Scalar(int64(cfg.Frames))
	}
	if opt.Job != "" {
		md[MetaJob] = hdf5.StringScalar(opt.Job)
	}
	return g, nil
}

// shapeOf is the NIR shape of an activation: [C, H, W], or [C] when flat.
func shapeOf(s engine.Shape, flat bool) *hdf5.Dataset {
	if flat {
		return hdf5.Int64Array(int64(s.C))
	}
	return hdf5.Int64Array(int64(s.C), int64(s.H), int64(s.W))
}

// dims is the NIR array shape of neurons of activation shape s.
func dims(s engine.Shape, flat bool) []int {
	if flat {
		return []int{s.C}
	}
	return []int{s.C, s.H, s.W}
}

// fill returns an array of the neurons' shape holding v everywhere.
func fill(s engine.Shape, flat bool, v float32) *hdf5.Dataset {
	d := make([]float32, s.Size())
	for i := range d {
		d[i] = v
	}
	return hdf5.Float32Array(dims(s, flat), d)
}

// LIFTau returns the time constant (in steps, dt = 1) of the NIR LIF node that
// reproduces asf's leak: with forward-Euler steps of dt, NIR's
// tau dv/dt = (v_leak - v) + r*I becomes v <- (1 - dt/tau) v + (dt/tau) r I, so
// tau = dt/(1 - leak) and r = tau/dt give v <- leak*v + I. Among the float32
// values near 1/(1-leak) it returns one for which float32(1 - 1/tau) == leak
// when there is one.
func LIFTau(leak float32) float32 {
	tau := float32(1 / (1 - float64(leak)))
	for _, c := range []float32{tau, math.Nextafter32(tau, 0), math.Nextafter32(tau, float32(math.Inf(1)))} {
		if float32(1-1/float64(c)) == leak {
			return c
		}
	}
	return tau
}

// neurons returns the NIR neuron node of a spiking asf layer of shape s and its
// name suffix: IF (r = 1) for leak 1, else LIF (tau = 1/(1-leak), r = tau).
func neurons(s engine.Shape, flat bool, vth float32, cfg engine.Config) (*Node, string) {
	fs := func(v float32) *hdf5.Dataset { return fill(s, flat, v) }
	n := &Node{Params: map[string]*hdf5.Dataset{
		"v_threshold": fs(vth),
		"v_reset":     fs(0),
	}}
	if cfg.Reset == engine.ResetSubtract {
		// NIR 1.0 resets to v_reset only; asf's own import reads this back.
		n.Metadata = map[string]*hdf5.Dataset{MetaReset: hdf5.StringScalar("subtract")}
	}
	if cfg.Leak == 1 {
		n.Type = "IF"
		n.Params["r"] = fs(1)
		return n, "_if"
	}
	tau := LIFTau(cfg.Leak)
	n.Type = "LIF"
	n.Params["tau"] = fs(tau)
	n.Params["r"] = fs(tau)
	n.Params["v_leak"] = fs(0)
	return n, "_lif"
}
