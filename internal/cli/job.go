package cli

import (
	"fmt"
	"strings"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/recipes"
	"github.com/spf13/pflag"
)

// JobFlags are the flags that describe a training job, the same in asf train
// and asf-coordinator. Precedence: the defaults (job.Default), then the recipe
// (--recipe), then the job file (--job-file), then the flags given on the
// command line (or their ASF_* environment variables).
type JobFlags struct {
	recipe          string
	file            string
	j               job.Job
	encoding, reset string
	method, sur     string
	milestones      []int
	lrRefBatch      int
}

// Register declares the job flags on fs; --job (the file) and --id (the job
// id) stay as deprecated aliases.
func (f *JobFlags) Register(fs *pflag.FlagSet) {
	d := job.Default()
	f.j = d
	fs.StringVar(&f.recipe, "recipe", "", "start from this named job (see `asf recipes`); --job-file and the flags given override it")
	fs.StringVar(&f.file, "job-file", "", "JSON job file (fields absent from it keep their defaults; flags given override it)")
	fs.StringVar(&f.j.ID, "job-id", d.ID, "job name in the checkpoint store (default with --dataset: <dataset>-<spec>)")
	fs.StringVar(&f.j.Dataset, "dataset", d.Dataset, "data set: "+strings.Join(job.Datasets, ", "))
	fs.StringVar(&f.j.Spec, "spec", d.Spec, "network in the paper's notation")
	fs.IntVar(&f.j.Epochs, "epochs", d.Epochs, "epochs to train")
	fs.IntVar(&f.j.Batch, "batch", d.Batch, "global batch size")
	fs.IntVar(&f.j.Micro, "micro-batch", d.Micro, "micro-batch size (the unit of work; batch must be a multiple)")
	fs.Uint64Var(&f.j.Seed, "seed", d.Seed, "seed of weights, permutations and spikes")
	fs.IntVar(&f.j.TrainSize, "train-size", d.TrainSize, "train on the first N samples only (0 = all)")
	fs.IntVar(&f.j.TestSize, "test-size", d.TestSize, "evaluate on the first N test samples only (0 = all)")
	fs.IntVarP(&f.j.Neuron.T, "time-steps", "T", d.Neuron.T, "time steps per sample (the paper uses 100)")
	fs.Float32Var(&f.j.Neuron.Leak, "leak", d.Neuron.Leak, "membrane leak per step: 1 = IF, < 1 = LIF")
	fs.StringVar(&f.reset, "reset", d.Neuron.Reset.String(), "reset after a spike: zero or subtract")
	fs.Float32Var(&f.j.Neuron.VthConv, "vth", d.Neuron.VthConv, "threshold of conv and FC neurons")
	fs.Float32Var(&f.j.Neuron.VthPool, "vth-pool", d.Neuron.VthPool, "threshold of pooling neurons")
	fs.StringVar(&f.encoding, "encoding", d.Neuron.Encoding.String(), "input encoding: poisson, direct or events (event data)")
	fs.IntVar(&f.j.Neuron.Frames, "frames", d.Neuron.Frames, "frames per sample of event data (events encoding)")
	fs.Float32Var(&f.j.Neuron.Gain, "gain", d.Neuron.Gain, fmt.Sprintf("Poisson gain (default %v, or %v for cifar10)", job.GainFor("mnist"), job.GainFor("cifar10")))
	fs.StringVar(&f.method, "method", d.Neuron.Method.String(), "training method: asf (ASF-BP) or bptt (back-propagation through time with a surrogate gradient)")
	fs.StringVar(&f.sur, "surrogate", d.Neuron.Surrogate.String(), "bptt: surrogate derivative of the spike: atan (SpikingJelly), fast-sigmoid (SuperSpike/snnTorch) or sigmoid (SpikingJelly)")
	fs.Float32Var(&f.j.Neuron.SurrogateSlope, "surrogate-slope", d.Neuron.SurrogateSlope, "bptt: slope alpha of the surrogate (0 = its framework's default: atan 2, fast-sigmoid 25, sigmoid 4)")
	fs.BoolVar(&f.j.Neuron.ResetGrad, "reset-grad", d.Neuron.ResetGrad, "bptt: back-propagate through the reset too (SpikingJelly detach_reset=False); default: detached, as snnTorch")
	fs.StringVar(&f.j.Optim.Optimizer, "optimizer", d.Optim.Optimizer, "adam or sgd")
	fs.Float64Var(&f.j.Optim.LR, "lr", d.Optim.LR, "learning rate")
	fs.Float64Var(&f.j.Optim.WeightDecay, "weight-decay", d.Optim.WeightDecay, "L2 weight decay added to the gradient")
	fs.Float64Var(&f.j.Optim.Momentum, "momentum", d.Optim.Momentum, "SGD momentum")
	fs.IntSliceVar(&f.milestones, "milestones", d.Optim.Milestones, "epochs from which the learning rate is multiplied by --gamma")
	fs.Float64Var(&f.j.Optim.Gamma, "gamma", d.Optim.Gamma, "learning-rate factor at each milestone")
	fs.IntVar(&f.j.Optim.ScaleEvery, "scale-every", d.Optim.ScaleEvery, "update the ASF scales in epochs that are multiples of this (0 = never)")
	fs.IntVar(&f.lrRefBatch, "lr-ref-batch", 0, "linear learning-rate scaling (Goyal et al. 2017): --lr is for this batch; train at lr x batch/N (0 = off)")
	fs.IntVar(&f.j.Optim.WarmupSteps, "warmup-steps", d.Optim.WarmupSteps, "with --lr-ref-batch: steps of linear warm-up from --lr to the scaled rate")
	fs.IntVar(&f.j.Augment.CropPad, "crop-pad", d.Augment.CropPad, "augment training images: random crop of their size from the image padded by this many pixels (0 = off)")
	fs.BoolVar(&f.j.Augment.Flip, "flip", d.Augment.Flip, "augment training images: horizontal flip with probability 1/2")
	fs.StringVar(&f.j.Data.Split, "split", d.Data.Split, "cifar10dvs: random (a seeded tenth of each class is the test set, the reference; default) or fixed (recordings 0..n/10-1)")
	fs.Uint64Var(&f.j.Data.SplitSeed, "split-seed", d.Data.SplitSeed, "cifar10dvs: seed of the random split")
	fs.IntVar(&f.j.Data.Pool, "pool", d.Data.Pool, "cifar10dvs, dvs-gesture: sum-pooling factor of the 128x128 event frames (0 = the data set's default: 3, 4)")
	Alias(fs, "job", "job-file")
	Alias(fs, "id", "job-id")
}

// Resolve builds the job from the defaults, the recipe, the job file and the
// flags given, and validates it; call it after ApplyEnv.
func (f *JobFlags) Resolve(fs *pflag.FlagSet) (job.Job, error) {
	j, err := f.Unchecked(fs)
	if err != nil {
		return j, err
	}
	return j, j.Validate()
}

// Unchecked is Resolve without the validation of the result: for --resume,
// where only the job id is used and the stored job replaces the rest.
func (f *JobFlags) Unchecked(fs *pflag.FlagSet) (job.Job, error) {
	flagJob := f.j
	var err error
	flagJob.Neuron.Reset, err = engine.ParseReset(f.reset)
	if err != nil {
		return flagJob, fmt.Errorf("--reset: %w", err)
	}
	flagJob.Neuron.Encoding, err = engine.ParseEncoding(f.encoding)
	if err != nil {
		return flagJob, fmt.Errorf("--encoding: %w", err)
	}
	flagJob.Neuron.Method, err = engine.ParseMethod(f.method)
	if err != nil {
		return flagJob, fmt.Errorf("--method: %w", err)
	}
	flagJob.Neuron.Surrogate, err = engine.ParseSurrogate(f.sur)
	if err != nil {
		return flagJob, fmt.Errorf("--surrogate: %w", err)
	}
	flagJob.Optim.Milestones = f.milestones
	j, err := recipes.Base(f.recipe)
	if err != nil {
		return j, fmt.Errorf("--recipe: %w", err)
	}
	if f.file != "" {
		if j, err = job.Load(f.file, j); err != nil {
			return j, fmt.Errorf("--job-file: %w", err)
		}
	}
	explicit := f.file != "" || f.recipe != "" // a whole job was given: no dataset-derived defaults
	// Apply the flags that were set explicitly (or through ASF_*), over the file.
	set := map[string]func(){
		"job-id": func() { j.ID = flagJob.ID }, "dataset": func() { j.Dataset = flagJob.Dataset },
		"spec": func() { j.Spec = flagJob.Spec }, "epochs": func() { j.Epochs = flagJob.Epochs },
		"batch": func() { j.Batch = flagJob.Batch }, "micro-batch": func() { j.Micro = flagJob.Micro },
		"seed": func() { j.Seed = flagJob.Seed }, "train-size": func() { j.TrainSize = flagJob.TrainSize },
		"test-size": func() { j.TestSize = flagJob.TestSize }, "time-steps": func() { j.Neuron.T = flagJob.Neuron.T },
		"leak": func() { j.Neuron.Leak = flagJob.Neuron.Leak }, "reset": func() { j.Neuron.Reset = flagJob.Neuron.Reset },
		"vth": func() { j.Neuron.VthConv = flagJob.Neuron.VthConv }, "vth-pool": func() { j.Neuron.VthPool = flagJob.Neuron.VthPool },
		"encoding": func() { j.Neuron.Encoding = flagJob.Neuron.Encoding }, "gain": func() { j.Neuron.Gain = flagJob.Neuron.Gain },
		"frames": func() { j.Neuron.Frames = flagJob.Neuron.Frames },
		"method": func() { j.Neuron.Method = flagJob.Neuron.Method }, "surrogate": func() { j.Neuron.Surrogate = flagJob.Neuron.Surrogate },
		"surrogate-slope": func() { j.Neuron.SurrogateSlope = flagJob.Neuron.SurrogateSlope },
		"reset-grad":      func() { j.Neuron.ResetGrad = flagJob.Neuron.ResetGrad },
		"optimizer":       func() { j.Optim.Optimizer = flagJob.Optim.Optimizer }, "lr": func() { j.Optim.LR = flagJob.Optim.LR },
		"weight-decay": func() { j.Optim.WeightDecay = flagJob.Optim.WeightDecay }, "momentum": func() { j.Optim.Momentum = flagJob.Optim.Momentum },
		"milestones": func() { j.Optim.Milestones = flagJob.Optim.Milestones }, "gamma": func() { j.Optim.Gamma = flagJob.Optim.Gamma },
		"scale-every":  func() { j.Optim.ScaleEvery = flagJob.Optim.ScaleEvery },
		"warmup-steps": func() { j.Optim.WarmupSteps = flagJob.Optim.WarmupSteps },
		"crop-pad":     func() { j.Augment.CropPad = flagJob.Augment.CropPad }, "flip": func() { j.Augment.Flip = flagJob.Augment.Flip },
		"split": func() { j.Data.Split = flagJob.Data.Split }, "split-seed": func() { j.Data.SplitSeed = flagJob.Data.SplitSeed },
		"pool": func() { j.Data.Pool = flagJob.Data.Pool },
	}
	for name, apply := range set {
		if Changed(fs, name) {
			apply()
		}
	}
	if !Changed(fs, "gain") && !explicit {
		j.Neuron.Gain = job.GainFor(j.Dataset)
	}
	if dataset.IsEventData(j.Dataset) && !explicit && !Changed(fs, "encoding") {
		// Event data feeds its frames: the data set's default number, at most one a step.
		j.Neuron.Encoding = engine.Events
		if j.Neuron.Frames == 0 {
			j.Neuron.Frames = min(dataset.DefaultFrames(j.Dataset), j.Neuron.T)
		}
	}
	if Changed(fs, "dataset") && !Changed(fs, "job-id") && !explicit {
		j.ID = j.Dataset + "-" + j.Spec
	}
	if f.lrRefBatch < 0 {
		return j, fmt.Errorf("--lr-ref-batch %d: want 0 (off) or the batch size --lr is meant for", f.lrRefBatch)
	}
	if f.lrRefBatch > 0 {
		j.Optim.LRScale = float64(j.Batch) / float64(f.lrRefBatch)
	}
	return j, nil
}
