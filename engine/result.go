package engine

import (
	"errors"
	"fmt"
	"math"

	"github.com/asfnet/asf/internal/f32"
)

// Errors of the fixed-point reduction.
var (
	// ErrOverflow is returned when a value or a sum leaves the fixed-point range.
	ErrOverflow = errors.New("engine: fixed-point overflow")
	// ErrNonFinite is returned when a gradient or statistic is NaN or infinite.
	ErrNonFinite = errors.New("engine: non-finite value")
)

// Fixed-point formats of the result vector: a value x is stored as round(x * 2^bits).
const (
	GradBits  = 32 // gradients, losses: resolution 2.3e-10, range +-2^30
	FlowBits  = 16 // accumulated input currents (scale statistic)
	CountBits = 0  // spike, sample and correct counts are integers
	limit     = 1 << 62
)

// The result vector of a micro-batch (or of any sum of them) is a flat []int64 of
// Net.ResultLen() values:
//
//	[0, NParams)                       dL/dW in the internal layout, GradBits
//	NParams + 3*l + {0,1,2}            layer l: sum FO and sum FI over the elements that
//	                                   enter the scale estimate (FlowBits for FI,
//	                                   exact for FO), and all spikes (exact)
//	NParams + 3*len(Layers) + {0..3}   MSE loss sum, cross-entropy sum (GradBits),
//	                                   correct predictions, samples (exact)
//
// Integer addition is associative, so any grouping of micro-batches, over threads
// or workers, gives bitwise the same sum.
const (
	slotMSE = iota
	slotCE
	slotCorrect
	slotSamples
	nTail
)

// ResultLen is the length of n's fixed-point result vector.
func (n *Net) ResultLen() int { return n.NParams + 3*len(n.Layers) + nTail }

func (n *Net) statOff(l int) int { return n.NParams + 3*l }
func (n *Net) tailOff() int      { return n.NParams + 3*len(n.Layers) }

// quantize returns round(x * 2^bits), or an error if x is not finite or too large.
func quantize(x float64, bits int) (int64, error) {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, ErrNonFinite
	}
	q := math.Round(math.Ldexp(x, bits))
	if q >= limit || q <= -limit {
		return 0, ErrOverflow
	}
	return int64(q), nil
}

// addQuantized adds round(g * 2^GradBits) into acc elementwise, with the range and
// overflow checks of quantize and addChecked (this is the hot loop of a
// micro-batch). f32.AddRounded does the work, vectorised where the CPU allows,
// and stops at the element that fails a check; that element is reported here.
func addQuantized(acc []int64, g []float32) error {
	const scale = 1 << GradBits
	i := f32.AddRounded(acc, g, scale, limit)
	if i == len(g) {
		return nil
	}
	v := g[i]
	if x := float64(v) * scale; math.IsNaN(x) || math.IsInf(x, 0) {
		return fmt.Errorf("engine: gradient element %d (%v): %w", i, v, ErrNonFinite)
	} else if !(x < limit && x > -limit) {
		return fmt.Errorf("engine: gradient element %d (%v): %w", i, v, ErrOverflow)
	}
	return fmt.Errorf("engine: gradient element %d: sum: %w", i, ErrOverflow)
}

// addChecked returns a+b or ErrOverflow.
func addChecked(a, b int64) (int64, error) {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		return 0, ErrOverflow
	}
	return s, nil
}

// AddResults adds src into dst elementwise in int64, failing with ErrOverflow (and
// the index) instead of wrapping around.
func AddResults(dst, src []int64) error {
	if len(dst) != len(src) {
		return fmt.Errorf("%w: result vectors of length %d and %d", ErrShape, len(dst), len(src))
	}
	for i, v := range src {
		s, err := addChecked(dst[i], v)
		if err != nil {
			return fmt.Errorf("%w at element %d", err, i)
		}
		dst[i] = s
	}
	return nil
}

// Stats are the statistics carried in a result vector.
type Stats struct {
	Samples int
	Correct int
	MSE     float64   // sum over samples of sum_k (o_k - Y_k)^2
	CE      float64   // sum over samples of the cross-entropy of softmax(o)
	ScaleFO []float64 // per layer: filtered spike sum for the scale estimate
	ScaleFI []float64 // per layer: filtered input-current sum for the scale estimate
	Spikes  []float64 // per layer: all spikes
}

// MeanLoss is MSE / Samples (0 without samples).
func (s Stats) MeanLoss() float64 { return safeDiv(s.MSE, float64(s.Samples)) }

// MeanCE is CE / Samples.
func (s Stats) MeanCE() float64 { return safeDiv(s.CE, float64(s.Samples)) }

// Accuracy is Correct / Samples.
func (s Stats) Accuracy() float64 { return safeDiv(float64(s.Correct), float64(s.Samples)) }

func safeDiv(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// DecodeResult writes the summed gradient of acc into grad (if
// non-nil; len NParams) and returns the statistics.
func (n *Net) DecodeResult(acc []int64, grad []float32) (Stats, error) {
	if len(acc) != n.ResultLen() {
		return Stats{}, fmt.Errorf("%w: result vector of length %d; the network needs %d", ErrShape, len(acc), n.ResultLen())
	}
	if grad != nil {
		// float64(a) * 2^-GradBits is math.Ldexp(float64(a), -GradBits) bit for
		// bit: a power-of-two factor is exact while the product stays normal,
		// and the smallest non-zero one is 2^-GradBits. A multiply costs a
		// tenth of math.Ldexp on the 517k gradient elements of every step.
		const inv = 1.0 / (1 << GradBits)
		for i, a := range acc[:len(grad[:n.NParams])] {
			grad[i] = float32(float64(a) * inv)
		}
	}
	L := len(n.Layers)
	st := Stats{ScaleFO: make([]float64, L), ScaleFI: make([]float64, L), Spikes: make([]float64, L)}
	for l := 0; l < L; l++ {
		o := n.statOff(l)
		st.ScaleFO[l] = float64(acc[o])
		st.ScaleFI[l] = math.Ldexp(float64(acc[o+1]), -FlowBits)
		st.Spikes[l] = float64(acc[o+2])
	}
	t := n.tailOff()
	st.MSE = math.Ldexp(float64(acc[t+slotMSE]), -GradBits)
	st.CE = math.Ldexp(float64(acc[t+slotCE]), -GradBits)
	st.Correct = int(acc[t+slotCorrect])
	st.Samples = int(acc[t+slotSamples])
	return st, nil
}
