package engine

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// MicroBatch computes the gradient (ASF-BP or BPTT, by Config.Method) and statistics of the micro-batch b at
// the given epoch (the random streams are keyed by seed, epoch, sample index and
// step) and adds them, in fixed point, into acc (len Net.ResultLen()).
//
// Within the micro-batch samples are processed in order and gradients summed in
// float32; the micro-batch total is then quantised. So the result depends only on
// the model, the samples of the micro-batch and the keys, never on which thread or
// worker runs it.
func (ws *Workspace) MicroBatch(m *Model, b Batch, seed uint64, epoch int, acc []int64) error {
	n := ws.net
	if m.Net != n {
		return fmt.Errorf("%w: model and workspace belong to different networks", ErrShape)
	}
	if len(acc) != n.ResultLen() {
		return fmt.Errorf("%w: result vector of length %d; the network needs %d", ErrShape, len(acc), n.ResultLen())
	}
	if err := b.check(n); err != nil {
		return err
	}
	clear(ws.Grad)
	clear(ws.st)
	var mse, ce float64
	correct := 0
	for i, x := range b.X {
		ws.forward(m, x, seed, domainTrain, uint64(epoch), uint64(b.Index[i]))
		l2, c, ok := ws.sampleLoss(b.Y[i])
		mse += l2
		ce += c
		if ok {
			correct++
		}
		ws.collectStats()
		ws.gradient(m, ws.Grad)
	}
	if err := addQuantized(acc[:n.NParams], ws.Grad); err != nil {
		return err
	}
	add := func(slot int, v float64, bits int, what string) error {
		q, err := quantize(v, bits)
		if err == nil {
			acc[slot], err = addChecked(acc[slot], q)
		}
		if err != nil {
			return fmt.Errorf("engine: %s (%v): %w", what, v, err)
		}
		return nil
	}
	for l, s := range ws.st {
		o := n.statOff(l)
		if err := add(o, s.fo, CountBits, "scale spike sum"); err != nil {
			return err
		}
		if err := add(o+1, s.fi, FlowBits, "scale current sum"); err != nil {
			return err
		}
		if err := add(o+2, s.spikes, CountBits, "spike count"); err != nil {
			return err
		}
	}
	t := n.tailOff()
	for _, f := range []struct {
		slot int
		v    float64
		bits int
		what string
	}{
		{slotMSE, mse, GradBits, "loss"},
		{slotCE, ce, GradBits, "cross-entropy"},
		{slotCorrect, float64(correct), CountBits, "correct count"},
		{slotSamples, float64(len(b.X)), CountBits, "sample count"},
	} {
		if err := add(t+f.slot, f.v, f.bits, f.what); err != nil {
			return err
		}
	}
	return nil
}

// collectStats adds the current sample's scale sums and spike totals to ws.st:
// for conv and FC neurons over the elements with FI >= FO, for pooling neurons over
// all elements (docs/algorithm.md section 5).
func (ws *Workspace) collectStats() {
	for li := range ws.net.Layers {
		l := &ws.net.Layers[li]
		if !l.Spiking {
			continue
		}
		b := &ws.lay[li]
		var fo, fi, all float64
		pool := l.Kind == AvgPool
		for i, o := range b.FO {
			all += float64(o)
			if pool || b.FI[i] >= o {
				fo += float64(o)
				fi += float64(b.FI[i])
			}
		}
		s := &ws.st[li]
		s.fo += fo
		s.fi += fi
		s.spikes += all
	}
}

// RunMicroBatches computes the micro-batches mbs on len(wss) goroutines (one per
// Workspace) and adds all their results into acc. The sum is exact, so it does not
// depend on the number of goroutines or the order in which they finish.
func RunMicroBatches(m *Model, mbs []Batch, seed uint64, epoch int, wss []*Workspace, acc []int64) error {
	if len(wss) == 0 {
		return fmt.Errorf("engine: RunMicroBatches needs at least one workspace")
	}
	if len(mbs) == 0 {
		return nil
	}
	workers := min(len(wss), len(mbs))
	if workers == 1 {
		for _, b := range mbs {
			if err := wss[0].MicroBatch(m, b, seed, epoch, acc); err != nil {
				return err
			}
		}
		return nil
	}
	partial := make([][]int64, workers)
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		// Each goroutine sums into its workspace's own vector, reused across calls.
		if len(wss[w].acc) != len(acc) {
			wss[w].acc = make([]int64, len(acc))
		}
		partial[w] = wss[w].acc
		clear(partial[w])
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(mbs) {
					return
				}
				if err := wss[w].MicroBatch(m, mbs[j], seed, epoch, partial[w]); err != nil {
					errs[w] = err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	for w := 0; w < workers; w++ {
		if errs[w] != nil {
			return errs[w]
		}
		if err := AddResults(acc, partial[w]); err != nil {
			return err
		}
	}
	return nil
}

// Forward runs the forward pass of one training sample (streams keyed by seed,
// epoch and index) and leaves its flows in ws; Backward then back-propagates it.
// MicroBatch is these two over a micro-batch plus the fixed-point sum; they are
// exported for benchmarks and tools that look inside one sample.
func (ws *Workspace) Forward(m *Model, x []float32, seed uint64, epoch, index int) {
	ws.forward(m, x, seed, domainTrain, uint64(epoch), uint64(index))
}

// Backward computes the loss of the sample last run by Forward against label and
// adds its gradient (by Config.Method) into ws.Grad. It returns the sample's MSE loss.
func (ws *Workspace) Backward(m *Model, label int) float64 {
	mse, _, _ := ws.sampleLoss(label)
	ws.gradient(m, ws.Grad)
	return mse
}
