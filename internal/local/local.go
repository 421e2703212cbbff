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

// EpochReport summarises one epoch (the cluster reports the same type).
type EpochReport = job.EpochReport

// Result is the outcome of a run.
type Result struct {
	Net       *engine.Net
	Model     *engine.Model
	Optimizer *engine.Optimizer
	Epochs    []EpochReport
	Train     *dataset.Set
	Test      *dataset.Set
}

// Run trains j in this process and returns the trained model.
func Run(ctx context.Context, j job.Job, opts Options) (*Result, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p, err := job.Prepare(ctx, j, job.FromDir(opts.DataDir))
	if err != nil {
		return nil, err
	}
	train, test, net, plan := p.Train, p.Test, p.Net, p.Plan
	model := opts.Start
	if model == nil {
		model = engine.NewModel(net, j.Seed)
	}
	opt := opts.StartOpt
	if opt == nil {
		opt = engine.NewOptimizer(j.TrainConfig(), net.NParams)
	}
	wss := job.Workspaces(net, opts.Threads)
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
			if _, _, err := p.Compute(model, perm, epoch, step, nil, wss, acc); err != nil {
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
			ev, err := job.Evaluate(model, test, j.Seed, wss)
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
