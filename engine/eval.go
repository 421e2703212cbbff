package engine

import (
	"fmt"
	"math"
	"sync"
)

// EvalResult is the outcome of evaluating samples.
type EvalResult struct {
	Samples   int
	Correct   int
	MSE       float64   // sum of per-sample MSE losses, each rounded to a multiple of 2^-GradBits (see Evaluate)
	Confusion [][]int   // Confusion[true][predicted]
	Spikes    []float64 // per layer: all spikes over all samples and steps
}

// NewEvalResult returns an empty result for n.
func NewEvalResult(n *Net) EvalResult {
	c := make([][]int, n.Classes())
	for i := range c {
		c[i] = make([]int, n.Classes())
	}
	return EvalResult{Confusion: c, Spikes: make([]float64, len(n.Layers))}
}

// Accuracy is Correct / Samples.
func (r EvalResult) Accuracy() float64 { return safeDiv(float64(r.Correct), float64(r.Samples)) }

// FiringRates returns, per layer, the mean number of spikes per neuron per step
// (0 for layers without neurons).
func (r EvalResult) FiringRates(n *Net) []float64 {
	out := make([]float64, len(n.Layers))
	for l, ly := range n.Layers {
		if ly.Spiking {
			out[l] = safeDiv(r.Spikes[l], float64(r.Samples)*float64(n.Config.T)*float64(ly.Out.Size()))
		}
	}
	return out
}

// Merge adds o into r.
func (r *EvalResult) Merge(o EvalResult) {
	r.Samples += o.Samples
	r.Correct += o.Correct
	r.MSE += o.MSE
	for i := range r.Confusion {
		for j := range r.Confusion[i] {
			r.Confusion[i][j] += o.Confusion[i][j]
		}
	}
	for l := range r.Spikes {
		r.Spikes[l] += o.Spikes[l]
	}
}

// Predict runs the forward pass of one sample (evaluation streams keyed by seed and
// the sample index) and returns the output scores o.
func (ws *Workspace) Predict(m *Model, x []float32, seed uint64, index int) ([]float32, error) {
	if len(x) != ws.net.SampleSize() {
		return nil, fmt.Errorf("%w: sample has %d values; the network's input needs %d", ErrShape, len(x), ws.net.SampleSize())
	}
	ws.forward(m, x, seed, domainEval, 0, uint64(index))
	return append([]float32(nil), ws.out...), nil
}

// LayerSpikes returns, after Predict, the spike counts FO of layer l (HWC order; nil
// for a layer without neurons). The slice is owned by ws.
func (ws *Workspace) LayerSpikes(l int) []float32 {
	if !ws.net.Layers[l].Spiking {
		return nil
	}
	return ws.lay[l].FO
}

// SpikeTimes returns, after Predict, the neurons of layer l (HWC indices) that fired
// at step t. The slice is owned by ws.
func (ws *Workspace) SpikeTimes(l, t int) []int32 { return ws.lay[l].ev.at(t) }

// Evaluate runs the forward pass (evaluation streams: keyed by seed and sample
// index, independent of the epoch) on the samples of b and adds the outcome to r.
func (ws *Workspace) Evaluate(m *Model, b Batch, seed uint64, r *EvalResult) error {
	if err := b.check(ws.net); err != nil {
		return err
	}
	for i, x := range b.X {
		ws.forward(m, x, seed, domainEval, 0, uint64(b.Index[i]))
		mse, _, _ := ws.sampleLoss(b.Y[i])
		pred := argmax(ws.out)
		r.Samples++
		r.MSE += evalLoss(mse)
		if pred == b.Y[i] {
			r.Correct++
		}
		r.Confusion[b.Y[i]][pred]++
		for l := range ws.net.Layers {
			if ws.net.Layers[l].Spiking {
				r.Spikes[l] += float64(len(ws.lay[l].ev.idx))
			}
		}
	}
	return nil
}

// evalLoss rounds a sample's loss to a multiple of 2^-GradBits, the
// resolution of the training statistics. Sums of such values are exact in
// float64 while they stay below 2^(53-GradBits) = 2^21 (a per-sample MSE is at
// most 1, so for any data set of up to two million samples), so an
// evaluation's MSE does not depend on how the samples are split.
func evalLoss(mse float64) float64 {
	return math.Ldexp(math.Round(math.Ldexp(mse, GradBits)), -GradBits)
}

// Evaluate evaluates b on len(wss) goroutines. The result does not depend on the
// number of goroutines or on how a data set is cut into batches: each sample's
// outcome is a function of the sample alone and the sums are of integers or
// exactly representable (evalLoss, spike counts).
func Evaluate(m *Model, b Batch, seed uint64, wss []*Workspace) (EvalResult, error) {
	if err := b.check(m.Net); err != nil {
		return EvalResult{}, err
	}
	total := NewEvalResult(m.Net)
	if len(wss) == 0 {
		return total, fmt.Errorf("engine: Evaluate needs at least one workspace")
	}
	parts := len(wss)
	res := make([]EvalResult, parts)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for p := 0; p < parts; p++ {
		lo, hi := p*b.Len()/parts, (p+1)*b.Len()/parts
		res[p] = NewEvalResult(m.Net)
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			sub := Batch{X: b.X[lo:hi], Y: b.Y[lo:hi], Index: b.Index[lo:hi]}
			errs[p] = wss[p].Evaluate(m, sub, seed, &res[p])
		}(p)
	}
	wg.Wait()
	for p := 0; p < parts; p++ {
		if errs[p] != nil {
			return total, errs[p]
		}
		total.Merge(res[p])
	}
	return total, nil
}

// argmax returns the index of the first largest value.
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}
