package engine

import (
	"errors"
	"fmt"
	"math"

	"github.com/asfnet/asf/internal/detmath"
)

// Method is the training algorithm whose gradient Workspace.MicroBatch computes.
type Method int

const (
	// ASF is ASF-BP: one backward pass through the equivalent network built on
	// the accumulated flows FI and FO (no loop over time).
	ASF Method = iota
	// BPTT is back-propagation through time of the same event-driven forward, with
	// a surrogate derivative for the Heaviside step (Config.Surrogate).
	BPTT
)

func (m Method) String() string {
	if m == BPTT {
		return "bptt"
	}
	return "asf"
}

// MarshalText implements encoding.TextMarshaler.
func (m Method) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *Method) UnmarshalText(b []byte) error {
	v, err := ParseMethod(string(b))
	*m = v
	return err
}

// ParseMethod parses "asf" or "bptt".
func ParseMethod(s string) (Method, error) {
	switch s {
	case "asf":
		return ASF, nil
	case "bptt":
		return BPTT, nil
	}
	return 0, fmt.Errorf("engine: method %q: want asf or bptt", s)
}

// Surrogate is the function whose derivative BPTT uses in place of the Heaviside
// step's: the spike s = H(V - Vth) is kept in the forward pass, and ds/dV is
// replaced by sigma'(V - Vth) with the slope alpha (Config.SurrogateSlope).
type Surrogate int

const (
	// ATan is SpikingJelly's surrogate.ATan: sigma(x) = arctan(pi/2 alpha x)/pi + 1/2,
	// sigma'(x) = (alpha/2) / (1 + (pi/2 alpha x)^2); default alpha 2 (SpikingJelly's).
	ATan Surrogate = iota
	// FastSigmoid is SuperSpike's (Zenke and Ganguli 2018) fast sigmoid as snnTorch's
	// surrogate.fast_sigmoid: sigma'(x) = 1 / (1 + alpha |x|)^2 (primitive
	// x / (1 + alpha |x|)); default alpha 25 (snnTorch's slope).
	FastSigmoid
	// Sigmoid is SpikingJelly's surrogate.Sigmoid: sigma(x) = 1/(1+exp(-alpha x)),
	// sigma'(x) = alpha sigma(x) (1 - sigma(x)); default alpha 4 (SpikingJelly's).
	Sigmoid
)

func (s Surrogate) String() string {
	switch s {
	case FastSigmoid:
		return "fast-sigmoid"
	case Sigmoid:
		return "sigmoid"
	}
	return "atan"
}

// MarshalText implements encoding.TextMarshaler.
func (s Surrogate) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Surrogate) UnmarshalText(b []byte) error {
	v, err := ParseSurrogate(string(b))
	*s = v
	return err
}

// ParseSurrogate parses "atan", "fast-sigmoid" (also "superspike") or "sigmoid".
func ParseSurrogate(s string) (Surrogate, error) {
	switch s {
	case "atan", "arctan":
		return ATan, nil
	case "fast-sigmoid", "fast_sigmoid", "superspike":
		return FastSigmoid, nil
	case "sigmoid":
		return Sigmoid, nil
	}
	return 0, fmt.Errorf("engine: surrogate %q: want atan, fast-sigmoid or sigmoid", s)
}

// DefaultSlope is the slope alpha that SurrogateSlope = 0 stands for: the
// convention of the framework the surrogate comes from.
func (s Surrogate) DefaultSlope() float32 {
	switch s {
	case FastSigmoid:
		return 25 // snnTorch surrogate.fast_sigmoid(slope=25)
	case Sigmoid:
		return 4 // SpikingJelly surrogate.Sigmoid(alpha=4)
	}
	return 2 // SpikingJelly surrogate.ATan(alpha=2)
}

// ErrMethod is returned (wrapped) for surrogate settings given to a method that
// does not use them.
var ErrMethod = errors.New("engine: setting not used by the method")

// validateMethod checks the method and surrogate fields of c.
func (c Config) validateMethod() error {
	switch {
	case c.Method != ASF && c.Method != BPTT:
		return fmt.Errorf("engine: Config.Method = %d: unknown", c.Method)
	case c.Surrogate != ATan && c.Surrogate != FastSigmoid && c.Surrogate != Sigmoid:
		return fmt.Errorf("engine: Config.Surrogate = %d: unknown", c.Surrogate)
	case !(c.SurrogateSlope >= 0 && c.SurrogateSlope <= 1e4):
		return fmt.Errorf("engine: Config.SurrogateSlope = %v: want a slope in (0, 1e4], or 0 for the surrogate's default", c.SurrogateSlope)
	case c.Method == ASF && (c.Surrogate != ATan || c.SurrogateSlope != 0 || c.ResetGrad):
		return fmt.Errorf("%w: Config.Surrogate/SurrogateSlope/ResetGrad (%v, %v, %v) are BPTT settings; the method is asf", ErrMethod, c.Surrogate, c.SurrogateSlope, c.ResetGrad)
	}
	return nil
}

// Slope returns the surrogate slope alpha in effect: SurrogateSlope, or the
// surrogate's default when it is 0.
func (c Config) Slope() float32 {
	if c.SurrogateSlope > 0 {
		return c.SurrogateSlope
	}
	return c.Surrogate.DefaultSlope()
}

// surrogateGrad writes sigma'(H[i] - vth) with slope alpha into out.
func surrogateGrad(s Surrogate, alpha float32, H []float32, vth float32, out []float32) {
	out = out[:len(H)]
	switch s {
	case FastSigmoid:
		for i, h := range H {
			x := h - vth
			if x < 0 {
				x = -x
			}
			d := 1 + float32(alpha*x)
			out[i] = 1 / (d * d)
		}
	case Sigmoid:
		for i, h := range H {
			e := float32(1 / (1 + detmath.Exp(-float64(alpha*(h-vth)))))
			out[i] = alpha * e * (1 - e)
		}
	default:
		half := alpha / 2
		k := float32(math.Pi/2) * alpha
		for i, h := range H {
			x := k * (h - vth)
			out[i] = half / (1 + float32(x*x))
		}
	}
}

// surrogateValue is sigma(x) in float64, the primitive of the derivative
// surrogateGrad uses (the gradient checks differentiate it numerically).
func surrogateValue(s Surrogate, alpha, x float64) float64 {
	switch s {
	case FastSigmoid:
		return x / (1 + float64(alpha*math.Abs(x)))
	case Sigmoid:
		return 1 / (1 + math.Exp(-alpha*x))
	}
	return math.Atan(math.Pi/2*alpha*x)/math.Pi + 0.5
}
