package engine

import (
	"fmt"
	"math"
	"slices"

	"github.com/asfnet/asf/internal/detmath"
	"github.com/asfnet/asf/internal/f32"
)

// TrainConfig holds the optimisation settings. Its defaults are the paper's recipe
// (docs/algorithm.md section 6, reference lenet5).
type TrainConfig struct {
	Optimizer   string  `json:"optimizer"`    // "adam" or "sgd"
	LR          float64 `json:"lr"`           // base learning rate
	Beta1       float64 `json:"beta1"`        // Adam first-moment decay
	Beta2       float64 `json:"beta2"`        // Adam second-moment decay
	Eps         float64 `json:"eps"`          // Adam denominator term
	WeightDecay float64 `json:"weight_decay"` // L2 coefficient added to the gradient
	Momentum    float64 `json:"momentum"`     // SGD momentum
	Milestones  []int   `json:"milestones"`   // epochs from which the learning rate is multiplied by Gamma once more
	Gamma       float64 `json:"gamma"`        // learning-rate factor at each milestone
	ScaleEvery  int     `json:"scale_every"`  // scale epochs are those with epoch % ScaleEvery == 0 (hz)
	ScaleMix    float64 `json:"scale_mix"`    // S = ScaleMix*r + (1-ScaleMix)*S in scale epochs
	// LRScale is the linear scaling rule's factor k (Goyal et al. 2017): the
	// learning rate is k*LR, reached by a linear warm-up from LR over
	// WarmupSteps steps. 0 (or 1 without warm-up) leaves LR as it is.
	LRScale     float64 `json:"lr_scale,omitempty"`
	WarmupSteps int     `json:"warmup_steps,omitempty"`
}

// DefaultTrainConfig returns the reference lenet5 recipe.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Optimizer:   "adam",    // reference optimizer
		LR:          0.00085,   // reference lenet5 learning rate
		Beta1:       0.9,       // Adam default
		Beta2:       0.999,     // Adam default
		Eps:         1e-8,      // Adam default
		WeightDecay: 5e-4,      // reference L2, added to the gradient
		Momentum:    0.9,       // used by sgd only
		Milestones:  []int{25}, // reference: lr x0.2 from epoch 25 on
		Gamma:       0.2,       // reference decay factor
		ScaleEvery:  5,         // reference hz
		ScaleMix:    0.6,       // reference moving average of the scale estimate
	}
}

// Validate reports the first bad field.
func (c TrainConfig) Validate() error {
	switch {
	case c.Optimizer != "adam" && c.Optimizer != "sgd":
		return fmt.Errorf("engine: TrainConfig.Optimizer %q: want adam or sgd", c.Optimizer)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return fmt.Errorf("engine: TrainConfig.LR = %v: want a positive learning rate", c.LR)
	case c.Optimizer == "adam" && !(c.Beta1 >= 0 && c.Beta1 < 1 && c.Beta2 >= 0 && c.Beta2 < 1):
		return fmt.Errorf("engine: TrainConfig.Beta1/Beta2 = %v/%v: want values in [0, 1)", c.Beta1, c.Beta2)
	case c.Optimizer == "adam" && !(c.Eps > 0):
		return fmt.Errorf("engine: TrainConfig.Eps = %v: want > 0", c.Eps)
	case !(c.WeightDecay >= 0):
		return fmt.Errorf("engine: TrainConfig.WeightDecay = %v: want >= 0", c.WeightDecay)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return fmt.Errorf("engine: TrainConfig.Momentum = %v: want [0, 1)", c.Momentum)
	case !(c.Gamma > 0):
		return fmt.Errorf("engine: TrainConfig.Gamma = %v: want > 0", c.Gamma)
	case c.ScaleEvery < 0:
		return fmt.Errorf("engine: TrainConfig.ScaleEvery = %d: want >= 0 (0 = never update the scales)", c.ScaleEvery)
	case !(c.ScaleMix >= 0 && c.ScaleMix <= 1):
		return fmt.Errorf("engine: TrainConfig.ScaleMix = %v: want [0, 1]", c.ScaleMix)
	case !(c.LRScale >= 0) || math.IsInf(c.LRScale, 0):
		return fmt.Errorf("engine: TrainConfig.LRScale = %v: want 0 (off) or a positive factor", c.LRScale)
	case c.WarmupSteps < 0:
		return fmt.Errorf("engine: TrainConfig.WarmupSteps = %d: want >= 0", c.WarmupSteps)
	case !slices.IsSorted(c.Milestones):
		return fmt.Errorf("engine: TrainConfig.Milestones %v: want ascending epochs", c.Milestones)
	}
	return nil
}

// LRAt returns the learning rate in epoch (0-based): LR * Gamma^(milestones <= epoch).
func (c TrainConfig) LRAt(epoch int) float64 {
	lr := c.LR
	for _, m := range c.Milestones {
		if epoch >= m {
			lr *= c.Gamma
		}
	}
	return lr
}

// LRAtStep returns the learning rate of optimizer step step (0-based) in
// epoch: LRAt(epoch) times the linear scaling rule's factor, which grows
// linearly from 1 to LRScale over the first WarmupSteps steps.
func (c TrainConfig) LRAtStep(epoch int, step int64) float64 {
	lr := c.LRAt(epoch)
	k := c.LRScale
	if k == 0 || (k == 1 && c.WarmupSteps == 0) {
		return lr
	}
	if w := int64(c.WarmupSteps); step < w {
		k = 1 + (k-1)*float64(step)/float64(w)
	}
	return lr * k
}

// ScaleEpoch reports whether the scales are updated after each batch of epoch.
func (c TrainConfig) ScaleEpoch(epoch int) bool { return c.ScaleEvery > 0 && epoch%c.ScaleEvery == 0 }

// Optimizer is the optimizer state: moments and step count. Replicas that apply
// the same gradients to the same state stay bitwise identical.
type Optimizer struct {
	Config TrainConfig
	Step   int64
	M, V   []float32 // Adam moments, or SGD momentum buffer in M
	grad   []float32
	old    []float64 // the scales before the current batch (Apply)
}

// NewOptimizer returns a fresh optimizer for n parameters.
func NewOptimizer(cfg TrainConfig, n int) *Optimizer {
	o := &Optimizer{Config: cfg, M: make([]float32, n)}
	if cfg.Optimizer == "adam" {
		o.V = make([]float32, n)
	}
	return o
}

// Update applies one step with gradient g at learning rate lr to params:
// g += wd*w, then Adam (bias-corrected, as the classic framework Adam) or SGD with
// momentum.
func (o *Optimizer) Update(params, g []float32, lr float64) {
	c := o.Config
	o.Step++
	wd := c.WeightDecay
	if c.Optimizer == "sgd" {
		mu := c.Momentum
		for i, w := range params {
			gi := float64(g[i]) + float64(wd*float64(w))
			buf := gi
			if o.Step > 1 {
				buf = float64(mu*float64(o.M[i])) + gi
			}
			o.M[i] = float32(buf)
			params[i] = float32(float64(w) - float64(lr*buf))
		}
		return
	}
	b1, b2 := c.Beta1, c.Beta2
	bc1 := 1 - detmath.PowInt(b1, o.Step)
	bc2 := math.Sqrt(1 - detmath.PowInt(b2, o.Step))
	// f32.Adam is this formula in float64, vectorised and bitwise the same
	// on every kernel set.
	f32.Adam(params, g, o.M, o.V, &f32.AdamStep{
		WD: wd, B1: b1, C1: 1 - b1, B2: b2, C2: 1 - b2, Step: lr / bc1, BC2: bc2, Eps: c.Eps,
	})
}

// Clone returns a deep copy.
func (o *Optimizer) Clone() *Optimizer {
	return &Optimizer{Config: o.Config, Step: o.Step, M: slices.Clone(o.M), V: slices.Clone(o.V)}
}

// Apply applies the summed result acc of one global batch to m and returns the
// batch statistics. In the order of the reference code:
//
//  1. decode the gradient and the batch's scale sums;
//  2. in scale epochs, update each spiking layer's scale S = mix*r + (1-mix)*S with
//     r = sum FO / sum FI (r = 1 when sum FI < 1e-3), from this batch's sums;
//  3. take one optimizer step at the epoch's learning rate with the gradient of the
//     backward whose masks M_n = S_n [FI_n > 0] use the updated scales.
//
// The workers ran the backward with the scales from before the batch (the updated
// ones need the reduced sums of the whole batch). The gradient is linear in each
// scale: dL/dW_n carries the product of S_m over the spiking layers m >= n (layer n's
// own mask and every mask above it), so step 3 rescales layer n's summed gradient by
// the product of S_m(new)/S_m(old). Every replica does this after the reduction, so
// the result stays independent of the number of workers.
func (o *Optimizer) Apply(m *Model, acc []int64, epoch int) (Stats, error) {
	n := m.Net
	if len(o.M) != n.NParams {
		return Stats{}, fmt.Errorf("%w: optimizer state for %d weights, model has %d", ErrShape, len(o.M), n.NParams)
	}
	if len(o.grad) != n.NParams {
		o.grad = make([]float32, n.NParams)
	}
	st, err := n.DecodeResult(acc, o.grad)
	if err != nil {
		return st, err
	}
	if o.Config.ScaleEpoch(epoch) && n.Config.Method == ASF { // BPTT has no scales
		o.old = append(o.old[:0], m.Scales...)
		UpdateScales(m, st, o.Config.ScaleMix)
		rescaleGradient(n, o.grad, o.old, m.Scales)
	}
	o.Update(m.Params, o.grad, o.Config.LRAtStep(epoch, o.Step))
	return st, nil
}

// rescaleGradient turns grad, computed with the scales old, into the gradient with
// the scales cur: layer n's weights are multiplied by the product over spiking
// layers m >= n of cur[m]/old[m]. A layer whose old scale is 0 contributed a zero
// factor that no ratio can undo; its ratio is taken as 1 (that gradient stays 0).
func rescaleGradient(n *Net, grad []float32, old, cur []float64) {
	f := 1.0
	for li := len(n.Layers) - 1; li >= 0; li-- {
		l := &n.Layers[li]
		if l.Spiking && old[li] != 0 {
			f *= cur[li] / old[li]
		}
		if l.WLen == 0 || f == 1 {
			continue
		}
		g := grad[l.WOff : l.WOff+l.WLen]
		for i, v := range g {
			g[i] = float32(float64(v) * f)
		}
	}
}

// UpdateScales applies one moving-average step of the scale estimate to m.
func UpdateScales(m *Model, st Stats, mix float64) {
	for l, ly := range m.Net.Layers {
		if !ly.Spiking {
			continue
		}
		r := 1.0
		if st.ScaleFI[l] >= 1e-3 {
			r = st.ScaleFO[l] / st.ScaleFI[l]
		}
		m.Scales[l] = float64(mix*r) + float64((1-mix)*m.Scales[l])
	}
}
