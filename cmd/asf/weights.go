package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
)

// readWeights reads a safetensors file written by 'asf train --save' or 'asf
// checkpoint export' and decodes the job stored in it.
func readWeights(path string) (*checkpoint.State, job.Job, error) {
	if path == "" {
		return nil, job.Job{}, fmt.Errorf("--weights FILE is required (a .safetensors file written by asf train --save or asf checkpoint export)")
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, job.Job{}, fmt.Errorf("--weights %s: no such file (write one with asf train --save %s)", path, path)
		}
		return nil, job.Job{}, err
	}
	st, err := checkpoint.ImportSafetensors(f)
	f.Close()
	if err != nil {
		return nil, job.Job{}, fmt.Errorf("%s: %w", path, err)
	}
	j, err := snapshot.Job(st)
	if err != nil {
		return nil, job.Job{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, j, nil
}

// imageShape is the input shape of the job's data set, for inputs that do not come
// from it (a PNG image): the shapes dataset.LoadWith gives.
func imageShape(j job.Job) (engine.Shape, error) {
	switch j.Dataset {
	case "mnist", "fashion-mnist":
		return engine.Shape{C: 1, H: 28, W: 28}, nil
	case "cifar10":
		return engine.Shape{C: 3, H: 32, W: 32}, nil
	case "synthetic":
		c := dataset.DefaultSyntheticConfig()
		return engine.Shape{C: c.C, H: c.H, W: c.W}, nil
	case "nmnist":
		return engine.Shape{}, fmt.Errorf("job %s was trained on nmnist, whose samples are event streams, not images: choose a sample with --index N", j.ID)
	}
	return engine.Shape{}, fmt.Errorf("job %s: unknown data set %q: cannot tell the input shape of an image", j.ID, j.Dataset)
}

// sample is one input for a network.
type sample struct {
	x     []float32
	label int    // true class, -1 when unknown
	index int    // selects the sample's evaluation input spikes (engine.Workspace.Predict)
	what  string // e.g. "mnist test #7" or "digit.png"
	notes []string
}

// loadedSample is a network restored from a weights file and the sample chosen
// for it.
type loadedSample struct {
	path  string
	job   job.Job
	model *engine.Model
	s     sample
}

// loadWeightsAndSample reads the weights at path, takes the sample that f chooses
// (a PNG image, or an index into a split of the job's data set, loaded from dataDir)
// and restores the model for that sample's shape.
func loadWeightsAndSample(ctx context.Context, path string, f *sampleFlags, dataDir string, logger *slog.Logger) (*loadedSample, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	st, j, err := readWeights(path)
	if err != nil {
		return nil, err
	}
	var (
		in engine.Shape
		s  sample
	)
	if f.image != "" {
		if in, err = imageShape(j); err != nil {
			return nil, err
		}
		if s, err = readImage(f.image, in, j.Dataset, f.invert); err != nil {
			return nil, err
		}
	} else {
		split := dataset.Test
		if f.split == "train" {
			split = dataset.Train
		}
		set, err := dataset.LoadWith(ctx, j.Dataset, dataDir, split, &dataset.LoadOptions{Frames: j.Neuron.Frames, Logger: logger})
		if err != nil {
			return nil, err
		}
		if f.index < 0 || f.index >= set.Len() {
			return nil, fmt.Errorf("--index %d: the %s %s split has samples 0..%d", f.index, j.Dataset, f.split, set.Len()-1)
		}
		in = job.InputShape(set)
		s = sample{x: set.Sample(f.index), label: int(set.Y[f.index]), index: f.index,
			what: fmt.Sprintf("%s %s #%d", j.Dataset, f.split, f.index)}
	}
	_, m, _, err := snapshot.Restore(st, in)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(s.x) != m.Net.SampleSize() {
		return nil, fmt.Errorf("%s has %d values; the network of %s needs %d (%v x %d frames)", s.what, len(s.x), path, m.Net.SampleSize(), in, max(1, m.Net.Config.Frames))
	}
	if s.label >= m.Net.Classes() {
		return nil, fmt.Errorf("%s has label %d; the network of %s has %d classes", s.what, s.label, path, m.Net.Classes())
	}
	return &loadedSample{path: path, job: j, model: m, s: s}, nil
}
