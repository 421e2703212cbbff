// Package local trains a job with the engine alone, in this process: the
// single-machine path, and the baseline the cluster is measured against.
//
// One training step, as the cluster does it too:
//  1. Epoch e uses the permutation dataset.Perm(seed, e); step k takes the samples
//     plan.StepSamples(perm, k), cut into micro-batches of Job.Micro samples.
//  2. Each micro-batch's gradient and statistics are computed by the engine and
//     summed in fixed point (any grouping gives bitwise the same sum).
//  3. The optimizer applies the summed gradient; in scale epochs the ASF scales
//     are updated from the summed statistics.
package local

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// Options are the process settings of a local run (not part of the job: they do
// not change its result).
type Options struct {
	DataDir  string            // where data sets live (fetched on first use)
	Threads  int               // goroutines computing micro-batches; 0 = GOMAXPROCS
	Logger   *slog.Logger      // nil discards
	Progress func(Progress)    // called after every step; nil = none
	Epoch    func(EpochReport) // called after every epoch; nil = none
	NoTest   bool              // skip the per-epoch test evaluation
	Start    *engine.Model     // resume from this model (nil: fresh init)
	StartOpt *engine.Optimizer // and this optimizer state
	StartEp  int               // first epoch to run
}

// Progress describes the state after one step.
type Progress struct {
	Epoch, Epochs int
	Step, Steps   int // step within the epoch (1-based after it completes)
	Samples       int // samples done in this epoch
	Loss, Acc     float64
	SamplesPerSec float64
	Elapsed       time.Duration
}

// EpochReport summarises one epoch.
type EpochReport struct {
	Epoch         int
	TrainLoss     float64 // mean MSE loss per sample
	TrainCE       float64 // mean cross-entropy per sample
	TrainAcc      float64
	TestAcc       float64
	HasTest       bool
	Test          engine.EvalResult
	Duration      time.Duration // training part
	EvalDuration  time.Duration
	SamplesPerSec float64
	Scales        []float64
}

// Result is the outcome of a run.
type Result struct {
	Net       *engine.Net
	Model     *engine.Model
	Optimizer *engine.Optimizer
	Epochs    []EpochReport
	Train     *dataset.Set
	Test      *dataset.Set
}

// LoadData loads the job's training and test sets (fetching MNIST-like sets on first
// use) and cuts them to the job's sizes.
func LoadData(ctx context.Context, j job.Job, dataDir string) (train, test *dataset.Set, err error) {
	opts := j.LoadOptions()
	train, err = dataset.LoadWith(ctx, j.Dataset, dataDir, dataset.Train, opts)
	if err != nil {
		return nil, nil, err
	}
	test, err = dataset.LoadWith(ctx, j.Dataset, dataDir, dataset.Test, opts)
	if err != nil {
		return nil, nil, err
	}
	return first(train, j.TrainSize), first(test, j.TestSize), nil
}

func first(s *dataset.Set, n int) *dataset.Set {
	if n <= 0 || n >= s.Len() {
		return s
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return s.Subset(idx)
}

// InputShape is the engine input shape of a data set (one frame).
func InputShape(s *dataset.Set) engine.Shape {
	return engine.Shape{C: s.C, H: s.H, W: s.W}
}

// checkFrames reports a mismatch between the data's frames and the encoding.
func checkFrames(j job.Job, s *dataset.Set) error {
	if s.Frames > 1 && (j.Neuron.Encoding != engine.Events || j.Neuron.Frames != s.Frames) {
		return fmt.Errorf("local: data set %s has %d frames per sample: train it with --encoding events --frames %d", s.Name, s.Frames, s.Frames)
	}
	if s.Frames <= 1 && j.Neuron.Encoding == engine.Events && j.Neuron.Frames > 1 {
		return fmt.Errorf("local: data set %s has static samples: the events encoding with %d frames needs event data (nmnist)", s.Name, j.Neuron.Frames)
	}
	return nil
}

// MakeBatch gathers samples idx of s into an engine batch.
func MakeBatch(s *dataset.Set, idx []int) engine.Batch {
	b := engine.Batch{X: make([][]float32, len(idx)), Y: make([]int, len(idx)), Index: idx}
	for i, k := range idx {
		b.X[i] = s.Sample(k)
		b.Y[i] = int(s.Y[k])
	}
	return b
}

// TrainBatch gathers training samples idx of s into an engine batch for epoch
// `epoch`, augmented as the job says (Job.Augment): sample k gets the placement
// Augment.Draw(Seed, epoch, k), a pure function of the job, the epoch and the sample
// index, so every worker and thread count trains on bitwise the same inputs. Without
// augmentation it is MakeBatch (no copy).
func TrainBatch(j job.Job, s *dataset.Set, idx []int, epoch int) engine.Batch {
	b := MakeBatch(s, idx)
	if !j.Augment.Enabled() {
		return b
	}
	for i, k := range idx {
		b.X[i] = j.Augment.Apply(nil, b.X[i], s.Frames, s.C, s.H, s.W, s.Zero, j.Augment.Draw(j.Seed, epoch, k))
	}
	return b
}

// All returns the indices 0..n-1.
func All(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// Workspaces allocates one engine workspace per thread (0 = GOMAXPROCS).
func Workspaces(n *engine.Net, threads int) []*engine.Workspace {
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	wss := make([]*engine.Workspace, threads)
	for i := range wss {
		wss[i] = engine.NewWorkspace(n)
	}
	return wss
}

// Run trains j in this process and returns the trained model.
func Run(ctx context.Context, j job.Job, opts Options) (*Result, error) {
	if err := j.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	train, test, err := LoadData(ctx, j, opts.DataDir)
	if err != nil {
		return nil, err
	}
	in := InputShape(train)
	if err := checkFrames(j, train); err != nil {
		return nil, err
	}
	net, err := j.Net(in)
	if err != nil {
		return nil, err
	}
	if train.Classes > net.Classes() {
		return nil, fmt.Errorf("local: data set %s has %d classes but the network's output layer has %d units", train.Name, train.Classes, net.Classes())
	}
	model := opts.Start
	if model == nil {
		model = engine.NewModel(net, j.Seed)
	}
	opt := opts.StartOpt
	if opt == nil {
		opt = engine.NewOptimizer(j.TrainConfig(), net.NParams)
	}
	wss := Workspaces(net, opts.Threads)
	plan := dataset.Plan{N: train.Len(), Batch: j.Batch, Micro: j.Micro}
	if err := plan.Validate(); err != nil {
		return nil, err
	}
	log.Info("training", "job", j.ID, "dataset", j.Dataset, "train", train.Len(), "test", test.Len(),
		"spec", net.Spec.String(), "params", net.NParams, "T", j.Neuron.T, "epochs", j.Epochs,
		"batch", j.Batch, "micro", j.Micro, "threads", len(wss))
	res := &Result{Net: net, Model: model, Optimizer: opt, Train: train, Test: test}
	acc := make([]int64, net.ResultLen())
	for epoch := opts.StartEp; epoch < j.Epochs; epoch++ {
		perm := dataset.Perm(j.Seed, epoch, train.Len())
		start := time.Now()
		var tot engine.Stats
		steps := plan.Steps()
		for step := 0; step < steps; step++ {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			var mbs []engine.Batch
			for _, idx := range plan.MicroBatches(perm, step) {
				mbs = append(mbs, TrainBatch(j, train, idx, epoch))
			}
			clear(acc)
			if err := engine.RunMicroBatches(model, mbs, j.Seed, epoch, wss, acc); err != nil {
				return res, fmt.Errorf("epoch %d step %d: %w", epoch, step, err)
			}
			st, err := opt.Apply(model, acc, epoch)
			if err != nil {
				return res, fmt.Errorf("epoch %d step %d: %w", epoch, step, err)
			}
			tot.Samples += st.Samples
			tot.Correct += st.Correct
			tot.MSE += st.MSE
			tot.CE += st.CE
			if opts.Progress != nil {
				el := time.Since(start)
				opts.Progress(Progress{Epoch: epoch, Epochs: j.Epochs, Step: step + 1, Steps: steps,
					Samples: tot.Samples, Loss: tot.MeanLoss(), Acc: tot.Accuracy(),
					SamplesPerSec: float64(tot.Samples) / el.Seconds(), Elapsed: el})
			}
		}
		rep := EpochReport{Epoch: epoch, TrainLoss: tot.MeanLoss(), TrainCE: tot.MeanCE(), TrainAcc: tot.Accuracy(),
			Duration: time.Since(start), Scales: append([]float64(nil), model.Scales...)}
		rep.SamplesPerSec = float64(tot.Samples) / rep.Duration.Seconds()
		if !opts.NoTest && test.Len() > 0 {
			t0 := time.Now()
			ev, err := engine.Evaluate(model, MakeBatch(test, All(test.Len())), j.Seed, wss)
			if err != nil {
				return res, err
			}
			rep.Test, rep.TestAcc, rep.HasTest = ev, ev.Accuracy(), true
			rep.EvalDuration = time.Since(t0)
		}
		res.Epochs = append(res.Epochs, rep)
		log.Debug("epoch done", "epoch", epoch+1, "loss", rep.TrainLoss, "train_acc", rep.TrainAcc,
			"test_acc", rep.TestAcc, "samples_per_s", rep.SamplesPerSec, "duration", rep.Duration.Round(time.Millisecond))
		if opts.Epoch != nil {
			opts.Epoch(rep)
		}
	}
	return res, nil
}
