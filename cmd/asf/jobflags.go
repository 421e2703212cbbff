package main

import (
	"fmt"
	"strings"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/recipes"
	"github.com/spf13/pflag"
)

// jobFlags are the flags that describe a training job. Precedence: the defaults,
// then the recipe (--recipe), then the job file (--job), then the flags given on the
// command line (or their ASF_* environment variables).
type jobFlags struct {
	recipe          string
	file            string
	j               job.Job
	encoding, reset string
	method, sur     string
	gainSet         bool
	milestones      []int
	lrRefBatch      int
}

func (f *jobFlags) register(fs *pflag.FlagSet) {
	d := job.Default()
	f.j = d
	fs.StringVar(&f.recipe, "recipe", "", "start from this named job (see `asf recipes`); --job and the flags given override it")
	fs.StringVar(&f.file, "job", "", "JSON job file (fields absent from it keep their defaults; flags given override it)")
	fs.StringVar(&f.j.ID, "id", d.ID, "job name in the checkpoint store")
	fs.StringVar(&f.j.Dataset, "dataset", d.Dataset, "data set: "+strings.Join(job.Datasets, ", "))
	fs.StringVar(&f.j.Spec, "spec", d.Spec, "network in the paper's notation")
	fs.IntVar(&f.j.Epochs, "epochs", d.Epochs, "epochs to train")
	fs.IntVar(&f.j.Batch, "batch", d.Batch, "global batch size")
	fs.IntVar(&f.j.Micro, "micro-batch", d.Micro, "micro-batch size (the unit of work; batch must be a multiple)")
	fs.Uint64Var(&f.j.Seed, "seed", d.Seed, "seed of weights, permutations and spikes")
	fs.IntVar(&f.j.TrainSize, "train-size", 0, "train on the first N samples only (0 = all)")
	fs.IntVar(&f.j.TestSize, "test-size", 0, "evaluate on the first N test samples only (0 = all)")
	fs.IntVarP(&f.j.Neuron.T, "time-steps", "T", d.Neuron.T, "time steps per sample (the paper uses 100)")
	fs.Float32Var(&f.j.Neuron.Leak, "leak", d.Neuron.Leak, "membrane leak per step: 1 = IF, < 1 = LIF")
	fs.StringVar(&f.reset, "reset", d.Neuron.Reset.String(), "reset after a spike: zero or subtract")
	fs.Float32Var(&f.j.Neuron.VthConv, "vth", d.Neuron.VthConv, "threshold of conv and FC neurons")
	fs.Float32Var(&f.j.Neuron.VthPool, "vth-pool", d.Neuron.VthPool, "threshold of pooling neurons")
	fs.StringVar(&f.encoding, "encoding", d.Neuron.Encoding.String(), "input encoding: poisson, direct or events (event data)")
	fs.IntVar(&f.j.Neuron.Frames, "frames", 0, "frames per sample of event data (events encoding)")
	fs.Float32Var(&f.j.Neuron.Gain, "gain", d.Neuron.Gain, "Poisson gain (default 0.5, or 1 for cifar10)")
	fs.StringVar(&f.method, "method", d.Neuron.Method.String(), "training method: asf (ASF-BP) or bptt (back-propagation through time with a surrogate gradient)")
	fs.StringVar(&f.sur, "surrogate", d.Neuron.Surrogate.String(), "bptt: surrogate derivative of the spike: atan (SpikingJelly), fast-sigmoid (SuperSpike/snnTorch) or sigmoid (SpikingJelly)")
	fs.Float32Var(&f.j.Neuron.SurrogateSlope, "surrogate-slope", 0, "bptt: slope alpha of the surrogate (0 = its framework's default: atan 2, fast-sigmoid 25, sigmoid 4)")
	fs.BoolVar(&f.j.Neuron.ResetGrad, "reset-grad", false, "bptt: back-propagate through the reset too (SpikingJelly detach_reset=False); default: detached, as snnTorch")
	fs.StringVar(&f.j.Optim.Optimizer, "optimizer", d.Optim.Optimizer, "adam or sgd")
	fs.Float64Var(&f.j.Optim.LR, "lr", d.Optim.LR, "learning rate")
	fs.Float64Var(&f.j.Optim.WeightDecay, "weight-decay", d.Optim.WeightDecay, "L2 weight decay added to the gradient")
	fs.Float64Var(&f.j.Optim.Momentum, "momentum", d.Optim.Momentum, "SGD momentum")
	fs.IntSliceVar(&f.milestones, "milestones", d.Optim.Milestones, "epochs from which the learning rate is multiplied by --gamma")
	fs.Float64Var(&f.j.Optim.Gamma, "gamma", d.Optim.Gamma, "learning-rate factor at each milestone")
	fs.IntVar(&f.j.Optim.ScaleEvery, "scale-every", d.Optim.ScaleEvery, "update the ASF scales in epochs that are multiples of this (0 = never)")
	fs.IntVar(&f.lrRefBatch, "lr-ref-batch", 0, "linear learning-rate scaling (Goyal et al. 2017): --lr is for this batch; train at lr x batch/N (0 = off)")
	fs.IntVar(&f.j.Optim.WarmupSteps, "warmup-steps", d.Optim.WarmupSteps, "with --lr-ref-batch: steps of linear warm-up from --lr to the scaled rate")
}

// resolve builds the job from the defaults, the job file and the changed flags.
func (f *jobFlags) resolve(fs *pflag.FlagSet) (job.Job, error) {
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
			return j, err
		}
	}
	explicit := f.file != "" || f.recipe != "" // a whole job was given: no dataset-derived defaults
	// Apply the flags that were set explicitly (or through ASF_*), over the file.
	set := map[string]func(){
		"id": func() { j.ID = flagJob.ID }, "dataset": func() { j.Dataset = flagJob.Dataset },
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
	}
	for name, apply := range set {
		if fl := fs.Lookup(name); fl != nil && fl.Changed {
			apply()
		}
	}
	if fl := fs.Lookup("gain"); (fl == nil || !fl.Changed) && !explicit {
		j.Neuron.Gain = job.GainFor(j.Dataset)
	}
	if j.Dataset == "nmnist" && !explicit && !fs.Lookup("encoding").Changed {
		j.Neuron.Encoding = engine.Events
		if j.Neuron.Frames == 0 {
			j.Neuron.Frames = 10 // dataset.DefaultNMNISTFrames
		}
	}
	if fs.Lookup("dataset").Changed && !fs.Lookup("id").Changed && !explicit {
		j.ID = j.Dataset + "-" + j.Spec
	}
	if f.lrRefBatch < 0 {
		return j, fmt.Errorf("--lr-ref-batch %d: want 0 (off) or the batch size --lr is meant for", f.lrRefBatch)
	}
	if f.lrRefBatch > 0 {
		j.Optim.LRScale = float64(j.Batch) / float64(f.lrRefBatch)
	}
	return j, j.Validate()
}
