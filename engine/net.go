package engine

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// nativeLittleEndian reports whether this machine stores a uint32 with its
// low byte first, so a []float32's memory is its little-endian encoding.
var nativeLittleEndian = func() bool {
	x := uint32(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// Encoding turns a sample into input spikes (or currents) at each time step.
type Encoding int

const (
	// Poisson draws signed spikes s0(t)_i = sign(x_i)[u < |x_i|*Gain], u ~ U(0,1) per pixel
	// and step from the counter-based generator (the reference code's encoding).
	Poisson Encoding = iota
	// Direct feeds the analog sample as the input current at every step.
	Direct
	// Events feeds event data: a sample is Config.Frames frames (e.g. binned
	// on/off event counts), and step t receives frame floor(t*Frames/T) as its
	// input spikes, each count weighing as that many spikes.
	Events
)

func (e Encoding) String() string {
	switch e {
	case Direct:
		return "direct"
	case Events:
		return "events"
	}
	return "poisson"
}

// MarshalText implements encoding.TextMarshaler.
func (e Encoding) MarshalText() ([]byte, error) { return []byte(e.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (e *Encoding) UnmarshalText(b []byte) error {
	v, err := ParseEncoding(string(b))
	*e = v
	return err
}

// ParseEncoding parses "poisson", "direct" or "events".
func ParseEncoding(s string) (Encoding, error) {
	switch s {
	case "poisson":
		return Poisson, nil
	case "direct":
		return Direct, nil
	case "events":
		return Events, nil
	}
	return 0, fmt.Errorf("engine: encoding %q: want poisson, direct or events", s)
}

// Reset is what happens to the membrane potential after a spike.
type Reset int

const (
	// ResetZero sets V to 0 (hard reset, the reference code's choice).
	ResetZero Reset = iota
	// ResetSubtract subtracts the threshold from V.
	ResetSubtract
)

func (r Reset) String() string {
	if r == ResetSubtract {
		return "subtract"
	}
	return "zero"
}

// MarshalText implements encoding.TextMarshaler.
func (r Reset) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Reset) UnmarshalText(b []byte) error {
	v, err := ParseReset(string(b))
	*r = v
	return err
}

// ParseReset parses "zero" or "subtract".
func ParseReset(s string) (Reset, error) {
	switch s {
	case "zero", "hard":
		return ResetZero, nil
	case "subtract":
		return ResetSubtract, nil
	}
	return 0, fmt.Errorf("engine: reset %q: want zero or subtract", s)
}

// Config holds the neuron and simulation settings of a network.
type Config struct {
	T        int      `json:"t"`                // time steps per sample window
	Leak     float32  `json:"leak"`             // membrane leak per step: 1 = IF, < 1 = LIF (V = Leak*V after reset)
	Reset    Reset    `json:"reset"`            // what a spike does to V
	VthConv  float32  `json:"vth"`              // threshold of conv and FC neurons
	VthPool  float32  `json:"vth_pool"`         // threshold of pooling neurons
	Encoding Encoding `json:"encoding"`         // input encoding
	Gain     float32  `json:"gain"`             // Poisson gain g: spike probability |x|*g
	Frames   int      `json:"frames,omitempty"` // frames per sample for the events encoding (event data)

	// Training method (surrogate.go, bptt.go); the zero values are ASF-BP and
	// are left out of the JSON.
	Method         Method    `json:"method,omitempty"`          // asf (ASF-BP) or bptt
	Surrogate      Surrogate `json:"surrogate,omitempty"`       // bptt: surrogate derivative of the spike
	SurrogateSlope float32   `json:"surrogate_slope,omitempty"` // bptt: its slope alpha (0 = the surrogate's default)
	ResetGrad      bool      `json:"reset_grad,omitempty"`      // bptt: back-propagate through the reset too (default: detached)
}

// DefaultConfig returns the reference lenet5 settings, except T which the paper sets
// to 100 and training runs usually pick smaller.
func DefaultConfig() Config {
	return Config{
		T:        100,       // the paper's window
		Leak:     1,         // IF neurons, the paper's best MNIST result
		Reset:    ResetZero, // hard reset to 0, as the reference code
		VthConv:  1,         // reference threshold for conv/FC neurons
		VthPool:  0.75,      // reference threshold for pooling neurons
		Encoding: Poisson,   // reference input encoding
		Gain:     0.5,       // reference gain for MNIST-like data in [0,1]
	}
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	switch {
	case c.T <= 0 || c.T > 100000:
		return fmt.Errorf("engine: Config.T = %d: want 1..100000 time steps", c.T)
	case !(c.Leak > 0 && c.Leak <= 1):
		return fmt.Errorf("engine: Config.Leak = %v: want 0 < leak <= 1 (1 = IF)", c.Leak)
	case !(c.VthConv > 0) || math.IsInf(float64(c.VthConv), 0):
		return fmt.Errorf("engine: Config.VthConv = %v: want a positive threshold", c.VthConv)
	case !(c.VthPool > 0) || math.IsInf(float64(c.VthPool), 0):
		return fmt.Errorf("engine: Config.VthPool = %v: want a positive threshold", c.VthPool)
	case c.Encoding == Poisson && !(c.Gain > 0 && c.Gain <= 1e6):
		return fmt.Errorf("engine: Config.Gain = %v: want a positive Poisson gain", c.Gain)
	case c.Reset != ResetZero && c.Reset != ResetSubtract:
		return fmt.Errorf("engine: Config.Reset = %d: unknown", c.Reset)
	case c.Encoding != Poisson && c.Encoding != Direct && c.Encoding != Events:
		return fmt.Errorf("engine: Config.Encoding = %d: unknown", c.Encoding)
	case c.Encoding == Events && (c.Frames < 1 || c.Frames > c.T):
		return fmt.Errorf("engine: Config.Frames = %d: the events encoding needs 1..T (%d) frames per sample", c.Frames, c.T)
	case c.Encoding != Events && c.Frames > 1:
		return fmt.Errorf("engine: Config.Frames = %d: only the events encoding takes samples of several frames", c.Frames)
	}
	return c.validateMethod()
}

// Layer is one built layer of a Net.
type Layer struct {
	Token
	Index   int
	In, Out Shape   // activation shapes; Out of an FC layer is N x 1 x 1
	Spiking bool    // has neurons (conv, average pool, hidden FC)
	Output  bool    // the last layer: integrates only, never spikes
	Vth     float32 // threshold of its neurons (the output layer's too, for o = V/(T*Vth))
	Stride  int     // conv: stride (1 for "NCk")
	Pad     int     // conv: zero padding on every side (K/2 for "NCk")
	FanIn   int     // inputs per output unit (k*k*Cin or FC inputs); 0 without weights
	WOff    int     // offset of its weights in Model.Params; WLen = 0 without weights
	WLen    int     // weights, then BLen biases
	BLen    int     // biases at the end of the layer's WLen values (Out.C with a "b" token, else 0)
	name    string
	// coord holds, for conv layers, (cin, x, y) of every input element (HWC
	// index); target holds, for average pooling, the pooling neuron each input
	// element feeds (-1 for none). They spare the event loops three divisions.
	coord  []int32
	target []int32
}

// Name returns a stable name: the kind and the 1-based position of the layer in
// the spec, e.g. "conv1", "pool2", "conv3", "fc5" for the paper's LeNet.
func (l Layer) Name() string { return l.name }

// Net is a built network: the spec with every shape inferred and the neuron settings.
// It is immutable and safe for concurrent use.
type Net struct {
	Spec    Spec
	Input   Shape
	Config  Config
	Layers  []Layer
	NParams int // total number of weights
}

// maxParams bounds the model size (float32 weights) to keep a typo from exhausting memory.
const maxParams = 1 << 30

// NewNet builds spec for inputs of shape in with the neuron settings cfg.
func NewNet(spec Spec, in Shape, cfg Config) (*Net, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if in.C <= 0 || in.H <= 0 || in.W <= 0 {
		return nil, fmt.Errorf("%w: input shape %v must be positive", ErrSpec, in)
	}
	if len(spec.Tokens) == 0 {
		return nil, fmt.Errorf("%w: no layers", ErrSpec)
	}
	n := &Net{Spec: spec, Input: in, Config: cfg}
	cur := in
	counts := map[Kind]int{}
	flat := false
	for i, tok := range spec.Tokens {
		l := Layer{Token: tok, Index: i, In: cur}
		if i == 0 && tok.Kind == MaxPool && cfg.Encoding != Poisson {
			return nil, fmt.Errorf("%w %q: a first layer %q max-pools spikes, but the %v encoding gives currents; start with a conv, P2 or FC layer", ErrSpec, spec.Text, tok.Text, cfg.Encoding)
		}
		counts[tok.Kind]++
		last := i == len(spec.Tokens)-1
		switch tok.Kind {
		case Conv, AvgPool, MaxPool:
			if flat {
				return nil, fmt.Errorf("%w %q: %q at offset %d comes after a fully connected layer; convolution and pooling need a spatial input", ErrSpec, spec.Text, tok.Text, tok.Pos)
			}
		}
		switch tok.Kind {
		case Conv:
			l.Stride, l.Pad = max(1, tok.Stride), tok.K/2
			if tok.HasPad {
				l.Pad = tok.Pad
			}
			oh, ow := (cur.H+2*l.Pad-tok.K)/l.Stride+1, (cur.W+2*l.Pad-tok.K)/l.Stride+1
			if cur.H+2*l.Pad < tok.K || cur.W+2*l.Pad < tok.K {
				return nil, fmt.Errorf("%w %q: %q at offset %d: a %dx%d kernel with padding %d does not fit the %v input", ErrSpec, spec.Text, tok.Text, tok.Pos, tok.K, tok.K, l.Pad, cur)
			}
			l.Out = Shape{tok.N, oh, ow}
			l.FanIn = tok.K * tok.K * cur.C
			l.WLen = tok.N * l.FanIn
			l.Spiking = true
			l.Vth = cfg.VthConv
			l.name = fmt.Sprintf("conv%d", i+1)
		case AvgPool, MaxPool:
			if cur.H < 2 || cur.W < 2 {
				return nil, fmt.Errorf("%w %q: %q at offset %d pools a %v input; need at least 2x2", ErrSpec, spec.Text, tok.Text, tok.Pos, cur)
			}
			l.Out = Shape{cur.C, cur.H / 2, cur.W / 2}
			if tok.Kind == AvgPool {
				l.Spiking = true
				l.Vth = cfg.VthPool
				l.name = fmt.Sprintf("pool%d", i+1)
			} else {
				l.name = fmt.Sprintf("maxpool%d", i+1)
			}
		case FC:
			flat = true
			l.Out = Shape{tok.N, 1, 1}
			l.FanIn = cur.Size()
			l.WLen = tok.N * l.FanIn
			l.Spiking = !last
			l.Output = last
			l.Vth = cfg.VthConv
			l.name = fmt.Sprintf("fc%d", i+1)
		}
		switch tok.Kind {
		case Conv:
			l.coord = make([]int32, 3*cur.Size())
			for e := range cur.Size() {
				l.coord[3*e] = int32(e % cur.C)
				l.coord[3*e+1] = int32(e / cur.C % cur.W)
				l.coord[3*e+2] = int32(e / (cur.C * cur.W))
			}
		case AvgPool:
			l.target = make([]int32, cur.Size())
			for e := range cur.Size() {
				c, x, y := e%cur.C, e/cur.C%cur.W/2, e/(cur.C*cur.W)/2
				l.target[e] = -1
				if x < l.Out.W && y < l.Out.H {
					l.target[e] = int32((y*l.Out.W+x)*l.Out.C + c)
				}
			}
		}
		if tok.Bias {
			if cfg.Method == BPTT {
				return nil, fmt.Errorf("%w %q: %q at offset %d has a bias, which BPTT training does not learn yet; train it with ASF-BP", ErrSpec, spec.Text, tok.Text, tok.Pos)
			}
			l.BLen = tok.N
			l.WLen += l.BLen
		}
		l.WOff = n.NParams
		n.NParams += l.WLen
		if n.NParams > maxParams {
			return nil, fmt.Errorf("%w %q: more than %d weights", ErrSpec, spec.Text, maxParams)
		}
		n.Layers = append(n.Layers, l)
		cur = l.Out
	}
	return n, nil
}

// BuildNet parses text and builds it for inputs of shape in.
func BuildNet(text string, in Shape, cfg Config) (*Net, error) {
	spec, err := ParseSpec(text)
	if err != nil {
		return nil, err
	}
	return NewNet(spec, in, cfg)
}

// SampleSize is the number of values of one sample: the input size times the
// frames of the events encoding.
func (n *Net) SampleSize() int { return n.Input.Size() * max(1, n.Config.Frames) }

// Classes is the number of outputs.
func (n *Net) Classes() int { return n.Layers[len(n.Layers)-1].Out.C }

// Model is the trainable state of a Net: all weights in one flat slice (each layer's
// slice at Layer.WOff) and one ASF scale per layer (used by spiking layers only).
//
// Internal weight layouts (chosen for event-driven accumulation):
//   - Conv: [cin][ky][j][cout] with j = K-1-kx, so that a spike at input column x adds a
//     contiguous block to output columns x-p..x+p of all output channels.
//   - FC: [in][out], so that a spike of input i adds row i to all outputs.
//
// Activations are channels-last (HWC) throughout; FC inputs are flattened in HWC
// order. ExportWeights and ImportWeights convert to and from the standard layouts.
type Model struct {
	Net    *Net
	Params []float32
	Scales []float64
}

// ErrShape is returned when weights or data do not match the network.
var ErrShape = errors.New("engine: shape mismatch")

// NewModel returns a model with weights drawn from Normal(0, sqrt(2/fan_in)) by the
// counter-based generator keyed by seed (the same seed gives the same weights), and
// all scales 1.
func NewModel(n *Net, seed uint64) *Model {
	m := &Model{Net: n, Params: make([]float32, n.NParams), Scales: make([]float64, len(n.Layers))}
	for i := range m.Scales {
		m.Scales[i] = 1
	}
	for _, l := range n.Layers {
		if l.WLen == 0 {
			continue
		}
		std := math.Sqrt(2 / float64(l.FanIn))
		g := newNormalStream(key(seed, domainInit, uint64(l.Index), 0, 0))
		w := m.Params[l.WOff : l.WOff+l.WLen-l.BLen] // biases start at 0
		for i := range w {
			w[i] = float32(g.next() * std)
		}
	}
	return m
}

// Clone returns a deep copy sharing the Net.
func (m *Model) Clone() *Model {
	c := &Model{Net: m.Net, Params: append([]float32(nil), m.Params...), Scales: append([]float64(nil), m.Scales...)}
	return c
}

// Weights returns layer l's weights in the internal layout.
func (m *Model) Weights(l int) []float32 {
	ly := m.Net.Layers[l]
	return m.Params[ly.WOff : ly.WOff+ly.WLen]
}

// Bias returns layer l's biases (nil for a layer without them); they are the
// last BLen values of Weights(l).
func (m *Model) Bias(l int) []float32 {
	ly := m.Net.Layers[l]
	if ly.BLen == 0 {
		return nil
	}
	return m.Params[ly.WOff+ly.WLen-ly.BLen : ly.WOff+ly.WLen]
}

// Digest returns the SHA-256 of the model's weights (little-endian float32 bits, in
// the internal layout) followed by its scales (float64 bits): equal digests mean
// bitwise equal models.
func (m *Model) Digest() [32]byte {
	h := sha256.New()
	buf := make([]byte, 0, 4096)
	if nativeLittleEndian && len(m.Params) > 0 {
		// The little-endian bytes of the weights are their memory: hash it
		// in place (sha256 runs at its full rate on one large write).
		h.Write(unsafe.Slice((*byte)(unsafe.Pointer(&m.Params[0])), 4*len(m.Params)))
	} else {
		for _, w := range m.Params {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(w))
			if len(buf) == cap(buf) {
				h.Write(buf)
				buf = buf[:0]
			}
		}
	}
	for _, s := range m.Scales {
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s))
	}
	h.Write(buf)
	var d [32]byte
	h.Sum(d[:0])
	return d
}
