package scaling

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// NetProfile is what the model needs of a network: its size on the wire and
// its CPU cost per sample.
type NetProfile struct {
	Name, Spec string
	Params     int
	// BytesPerParam is the all-reduce payload per parameter (8 for int64;
	// packed64 takes what the measured gradient took).
	BytesPerParam float64
	// CPUPerSample is the forward and backward CPU time of one training sample
	// on one thread.
	CPUPerSample time.Duration
}

// PayloadBytes is the payload of one all-reduce of the gradient.
func (p NetProfile) PayloadBytes() float64 { return float64(p.Params) * p.BytesPerParam }

// MeasureNet builds spec for inputs of shape (synthetic data of that shape)
// and measures the CPU time of training samples on one thread, after a
// warm-up batch. Spiking nets cost what their firing costs: the synthetic
// data and the untrained weights fire differently from a trained net on real
// data, so the figure is an estimate within a small factor.
func MeasureNet(ctx context.Context, name, spec string, shape engine.Shape, T, samples int) (NetProfile, error) {
	cfg := engine.DefaultConfig()
	cfg.T = T
	n, err := engine.BuildNet(spec, shape, cfg)
	if err != nil {
		return NetProfile{}, err
	}
	sc := dataset.DefaultSyntheticConfig()
	sc.N, sc.C, sc.H, sc.W, sc.Classes = 2*samples, shape.C, shape.H, shape.W, n.Classes()
	set := dataset.Synthetic(sc)
	m := engine.NewModel(n, 1)
	wss := job.Workspaces(n, 1)
	acc := make([]int64, n.ResultLen())
	batch := func(from int) []engine.Batch {
		idx := make([]int, samples)
		for i := range idx {
			idx[i] = from + i
		}
		return []engine.Batch{job.MakeBatch(set, idx)}
	}
	if err := engine.RunMicroBatches(m, batch(0), 1, 0, wss, acc); err != nil {
		return NetProfile{}, err
	}
	if err := ctx.Err(); err != nil {
		return NetProfile{}, err
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0 := threadCPU()
	clear(acc)
	if err := engine.RunMicroBatches(m, batch(samples), 1, 0, wss, acc); err != nil {
		return NetProfile{}, err
	}
	return NetProfile{Name: name, Spec: spec, Params: n.NParams, BytesPerParam: 8,
		CPUPerSample: (threadCPU() - t0) / time.Duration(samples)}, nil
}

// Prediction is the model's step for one hypothetical cluster.
type Prediction struct {
	Net                   string
	Workers, Cores, Batch int
	LinkBits              int64
	Parts                 Parts
	SamplesPerSec, E      float64
	ReduceShare           float64 // all-reduce / step
	Micro                 int     // the micro-batch the prediction assumes
	MicroBatchesPerWorker float64
	ComputeBound, Unsafe  bool
	UnsafeReason          string
}

// Predict returns the model's predictions for W workers of cores cores (a
// compute goroutine each) on links of the given rates, at the given global
// batches, for net. The model m is rescaled to a dedicated core per goroutine
// (Rescale); its per-sample time becomes net's measured single-thread cost
// times the ratio between the emulation's per-sample time (rescaled) and
// ref's measured cost (ref: the net the emulation trained), and the fixed
// compute per step (optimizer, quantisation) scales with the parameters.
func Predict(m Model, ref, net NetProfile, workers []int, cores int, links []int64, batches []int) []Prediction {
	r := m.Rescale(float64(cores), cores)
	// In-cluster per-sample time on one core over the engine's own figure.
	ratio := 1.0
	if ref.CPUPerSample > 0 {
		ratio = r.S / ref.CPUPerSample.Seconds()
	}
	r.S = net.CPUPerSample.Seconds() * ratio
	if ref.Params > 0 {
		r.C0 *= float64(net.Params) / float64(ref.Params)
	}
	var out []Prediction
	for _, link := range links {
		for _, b := range batches {
			// A 16-core worker wants a micro-batch per core: the micro-batch
			// shrinks (to one sample at least) until every core has one.
			micro := func(w int) int { return max(1, min(m.Micro, b/(w*cores))) }
			one := r.Predict(Shape{Workers: 1, Batch: b, Micro: micro(1), Threads: cores, PayloadBytes: net.PayloadBytes(), LinkBits: link}).Step()
			for _, w := range workers {
				s := Shape{Workers: w, Batch: b, Micro: micro(w), Threads: cores, PayloadBytes: net.PayloadBytes(), LinkBits: link}
				if b < w {
					continue // fewer samples than workers
				}
				parts := r.Predict(s)
				p := Prediction{Net: net.Name, Workers: w, Cores: cores, Batch: b, LinkBits: link, Parts: parts,
					SamplesPerSec: float64(b) / parts.Step(), MicroBatchesPerWorker: float64(b) / float64(w*m.Micro)}
				p.E = p.SamplesPerSec / (float64(w) * float64(b) / one)
				p.ReduceShare = parts.Reduce / parts.Step()
				p.ComputeBound = parts.Compute > parts.Reduce+parts.Wait
				p.Micro = s.Micro
				p.MicroBatchesPerWorker = float64(b) / float64(w*s.Micro)
				switch {
				case float64(b)/float64(w) < float64(cores):
					p.Unsafe, p.UnsafeReason = true, fmt.Sprintf("%d samples per worker for %d cores: idle cores, per-step overheads dominate", b/w, cores)
				case r.Kappa > 8*r.Overhead/float64(link):
					p.Unsafe, p.UnsafeReason = true, "all-reduce CPU-bound: extrapolated from the emulated CPU cost per byte"
				}
				out = append(out, p)
			}
		}
	}
	return out
}
