// Package recipes holds the named training jobs asf ships: the paper's recipes
// (the reference hyper-parameters of the authors' code for each of its data sets)
// and asf's own. Each recipe is a JSON job file in this directory, embedded in the
// binary; `asf train --recipe NAME` and `asf-coordinator --recipe NAME` load one,
// and `asf recipes` lists them. A recipe file is an ordinary job file too:
// `asf train --job-file recipes/NAME.json` runs the same job.
package recipes

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/asfnet/asf/internal/job"
)

//go:embed *.json
var files embed.FS

// ErrUnknown is returned (wrapped) for a recipe name that does not exist.
var ErrUnknown = errors.New("recipes: unknown recipe")

// summaries are the one-line descriptions `asf recipes` prints; every embedded
// recipe has one (the package test checks both ways).
var summaries = map[string]string{
	"paper-mnist-if":     "the paper's MNIST IF result (99.65%): lenet5.py's recipe, Adam 0.00085, batch 64, T=100, 125 epochs, lr x0.2 from epoch 25",
	"paper-mnist-lif":    "the paper's MNIST LIF result (99.60%): paper-mnist-if with leak 0.99 per step (the reference does not publish its LIF leak)",
	"paper-cifar10-vgg7": "the paper's CIFAR-10 VGG7 (91.35%): vgg7.py's recipe, Vth 2, Adam 5e-4, batch 100, 100 epochs, lr x0.2 at 50/75/100, crop 32 pad 4 + flip",
	"paper-cifar10dvs":   "the paper's CIFAR10-DVS run: dvs_cifar10_ASF.py's recipe, 100 frames of 2x42x42 (128x128 pooled by 3), Adam 5e-4, batch 40, 50 epochs, lr x0.2 at 10/20/30",
	"fashion-mnist-asf":  "asf's Fashion-MNIST network (aim: >= 93.3%, the SpikingJelly tutorial's 93.08-93.30%): 32C3-32C3-P2-64C3-64C3-P2-256FC-10FC, T=30, flip + crop pad 2",
}

// Recipe is one named job.
type Recipe struct {
	Name    string
	Summary string
	Job     job.Job
}

// Names returns the recipe names, sorted.
func Names() []string {
	entries, err := files.ReadDir(".")
	if err != nil {
		panic(err) // the embedded directory always exists
	}
	var out []string
	for _, e := range entries {
		out = append(out, strings.TrimSuffix(e.Name(), ".json"))
	}
	sort.Strings(out)
	return out
}

// Get returns recipe name's job: the file parsed over job.Default() and validated.
func Get(name string) (job.Job, error) {
	var data []byte
	err := fs.ErrNotExist
	if name != "" && !strings.ContainsAny(name, "/\\.") {
		data, err = files.ReadFile(name + ".json")
	}
	if err != nil {
		return job.Job{}, fmt.Errorf("%w: %q (known: %s; see `asf recipes`)", ErrUnknown, name, strings.Join(Names(), ", "))
	}
	j, err := job.Parse(data, job.Default())
	if err != nil {
		return j, fmt.Errorf("recipe %s: %w", name, err)
	}
	return j, nil
}

// Base returns the job a command starts from: job.Default() when name is empty,
// else recipe name's job. It is the one hook the binaries call for --recipe.
func Base(name string) (job.Job, error) {
	if name == "" {
		return job.Default(), nil
	}
	return Get(name)
}

// All returns every recipe, sorted by name.
func All() ([]Recipe, error) {
	var out []Recipe
	for _, n := range Names() {
		j, err := Get(n)
		if err != nil {
			return nil, err
		}
		out = append(out, Recipe{Name: n, Summary: summaries[n], Job: j})
	}
	return out, nil
}

// File returns the embedded JSON of recipe name (what `asf recipes --show` prints).
func File(name string) ([]byte, error) {
	if _, err := Get(name); err != nil {
		return nil, err
	}
	return files.ReadFile(name + ".json")
}
