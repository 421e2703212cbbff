// Package job defines a training job: the data set, the network, the neuron
// settings, the optimisation recipe and the data-parallel layout, as one value that
// a JSON job file, flags and the checkpoint store all describe the same way.
//
// It also holds what the single-process trainer, the coordinator and the workers
// share about running a job: its preparation (Prepare, with every check between
// the data and the network), the unit/step/epoch arithmetic (Units), the one
// function that computes a step's micro-batches (Prepared.Compute), and the
// vocabulary of a distributed run (Task, Welcome, Report, Held, Digest, SyncMode).
// These types know nothing of protos: package cluster converts them where a
// message is sent or received.
package job

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
)

// ErrInvalid is returned (wrapped) for a job that cannot run.
var ErrInvalid = errors.New("job: invalid")

// Job is everything that determines a training run's result. Two runs of equal
// jobs produce bitwise equal weights.
type Job struct {
	ID        string             `json:"id"`                   // name of the job in the checkpoint store
	Dataset   string             `json:"dataset"`              // one of Datasets
	Spec      string             `json:"spec"`                 // network in the paper's notation
	Epochs    int                `json:"epochs"`               // epochs to train
	Batch     int                `json:"batch"`                // global batch size B
	Micro     int                `json:"micro_batch"`          // micro-batch size m (B is a multiple of m)
	Seed      uint64             `json:"seed"`                 // seeds weights, permutations and spikes
	TrainSize int                `json:"train_size,omitempty"` // use the first N training samples (0 = all)
	TestSize  int                `json:"test_size,omitempty"`  // use the first N test samples (0 = all)
	Neuron    engine.Config      `json:"neuron"`               // neuron and simulation settings
	Optim     engine.TrainConfig `json:"optim"`                // optimiser and schedules
	Augment   dataset.Augment    `json:"augment,omitzero"`     // training-time augmentation of image samples (none when absent)
	Data      Data               `json:"data,omitzero"`        // how the data set is read (its defaults when absent)
}

// Data holds the reading options of data sets that have a choice (the event data
// sets). The zero value means each data set's defaults, and is left out of the JSON
// so that jobs without it keep their encoding and digest.
type Data struct {
	Split     string `json:"split,omitempty"`      // cifar10dvs: "random" (the reference, default) or "fixed" (samples 0-99 of each class are the test set)
	SplitSeed uint64 `json:"split_seed,omitempty"` // cifar10dvs: seed of the random split (unused by the fixed one)
	Pool      int    `json:"pool,omitempty"`       // cifar10dvs, dvs-gesture (128x128 sensor): sum-pooling factor of the frames; 0 = the data set's default (3, 4)
}

// Datasets lists the data set names a job may name (those of dataset.Names).
var Datasets = dataset.Names

// LoadOptions returns the dataset.LoadOptions that read the job's data.
func (j Job) LoadOptions() *dataset.LoadOptions {
	return &dataset.LoadOptions{Frames: j.Neuron.Frames, Split: j.Data.Split, SplitSeed: j.Data.SplitSeed, Pool: j.Data.Pool}
}

// Default returns the main job: the paper's MNIST network and recipe with a short
// window (T = 20) and one epoch, so that it finishes in minutes on two cores.
func Default() Job {
	n := engine.DefaultConfig()
	n.T = 20 // the paper uses 100; 20 already reaches ~98.5% after one epoch
	return Job{
		ID:      "mnist-lenet",
		Dataset: "mnist",
		Spec:    engine.LeNetSpec,
		Epochs:  1,  // the paper trains 125; one epoch shows the method in minutes
		Batch:   64, // reference batch size
		Micro:   8,  // 8 micro-batches per step: enough to spread over cores and workers
		Seed:    1,
		Neuron:  n,
		Optim:   engine.DefaultTrainConfig(),
	}
}

// GainFor returns the reference Poisson gain for a data set: 1 for normalised
// CIFAR-10 (ref vgg7), 1/2 for data in [0, 1] (ref lenet5).
func GainFor(dataset string) float32 {
	if dataset == "cifar10" {
		return 1
	}
	return 0.5
}

// Validate reports the first problem, naming the field.
func (j Job) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	if !slices.Contains(Datasets, j.Dataset) {
		return bad("dataset", "%q is not one of %s", j.Dataset, strings.Join(Datasets, ", "))
	}
	if _, err := engine.ParseSpec(j.Spec); err != nil {
		return bad("spec", "%v", err)
	}
	switch {
	case j.Epochs <= 0:
		return bad("epochs", "%d: want at least 1", j.Epochs)
	case j.Batch <= 0:
		return bad("batch", "%d: want at least 1", j.Batch)
	case j.Micro <= 0:
		return bad("micro_batch", "%d: want at least 1", j.Micro)
	case j.Batch%j.Micro != 0:
		return bad("micro_batch", "batch %d is not a multiple of micro-batch %d", j.Batch, j.Micro)
	case j.TrainSize < 0:
		return bad("train_size", "%d: want >= 0 (0 = all)", j.TrainSize)
	case j.TestSize < 0:
		return bad("test_size", "%d: want >= 0 (0 = all)", j.TestSize)
	case strings.TrimSpace(j.ID) == "" || strings.ContainsAny(j.ID, "/\\\x00"):
		return bad("id", "%q: want a non-empty name without slashes", j.ID)
	}
	if err := j.Neuron.Validate(); err != nil {
		return bad("neuron", "%v", err)
	}
	if err := j.Augment.Validate(); err != nil {
		return bad("augment", "%v", err)
	}
	if j.Augment.Enabled() && dataset.IsEventData(j.Dataset) {
		return bad("augment", "%+v: crop and flip apply to image data sets, not to the event data set %s", j.Augment, j.Dataset)
	}
	if err := dataset.CheckLoadOptions(j.Dataset, j.LoadOptions()); err != nil {
		return bad("data", "%v", err)
	}
	if err := j.Optim.Validate(); err != nil {
		return bad("optim", "%v", err)
	}
	return nil
}

// TrainConfig returns the optimiser settings the job trains with: Optim, except
// that the scales are never updated when the job has no more epochs than the
// update period (ScaleEvery >= Epochs), as the reference code's `hz < epochs` test.
func (j Job) TrainConfig() engine.TrainConfig {
	c := j.Optim
	if c.ScaleEvery >= j.Epochs {
		c.ScaleEvery = 0
	}
	return c
}

// LR returns the learning rate of training step step (0-based, counted from
// the start of the job) in epoch: the milestone schedule times the linear
// scaling rule's factor during its warm-up, as the optimizer applies it.
func (j Job) LR(epoch, step int) float64 {
	return j.TrainConfig().LRAtStep(epoch, int64(step))
}

// Net builds the job's network for inputs of the given shape.
func (j Job) Net(in engine.Shape) (*engine.Net, error) {
	return engine.BuildNet(j.Spec, in, j.Neuron)
}

// JSON returns the job as indented JSON.
func (j Job) JSON() []byte {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		panic(err) // all fields are plain data
	}
	return b
}

// Digest is the SHA-256 of the job's JSON encoding.
func (j Job) Digest() [32]byte { return sha256.Sum256(j.JSON()) }

// Parse reads a JSON job. Fields absent from data keep their values in base, so a
// job file may name only what differs from the defaults; unknown fields are errors.
func Parse(data []byte, base Job) (Job, error) {
	j := base
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return base, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return j, j.Validate()
}

// Load reads a JSON job file over base.
func Load(path string, base Job) (Job, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("job: %w", err)
	}
	j, err := Parse(data, base)
	if err != nil {
		return j, fmt.Errorf("job file %s: %w", path, err)
	}
	return j, nil
}
