package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/dataset/datatest"
	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/recipes"
	"github.com/spf13/pflag"
)

func TestRecipesCmd(t *testing.T) {
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRecipesCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(recipes.Names()) {
		t.Fatalf("%d lines for %d recipes:\n%s", len(lines), len(recipes.Names()), out)
	}
	for i, n := range recipes.Names() {
		if f := strings.Fields(lines[i]); len(f) < 2 || f[0] != n {
			t.Errorf("line %d %q: want the recipe %s and its summary", i, lines[i], n)
		}
	}
	out, err = run("paper-cifar10dvs")
	if err != nil {
		t.Fatal(err)
	}
	if j, err := job.Parse([]byte(out), job.Default()); err != nil || j.ID != "paper-cifar10dvs" {
		t.Fatalf("asf recipes paper-cifar10dvs printed %q: %v", out, err)
	}
	if _, err := run("nope"); !errors.Is(err, recipes.ErrUnknown) {
		t.Fatalf("asf recipes nope: %v, want ErrUnknown", err)
	}
}

// Precedence: defaults < --recipe < --job < flags given.
func TestRecipeFlag(t *testing.T) {
	resolve := func(args ...string) (job.Job, error) {
		var f cli.JobFlags
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return f.Resolve(fs)
	}
	j, err := resolve("--recipe", "paper-mnist-if", "--epochs", "40")
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "paper-mnist-if" || j.Epochs != 40 || j.Neuron.T != 100 || j.Optim.LR != 0.00085 || j.Optim.Milestones[0] != 25 {
		t.Fatalf("got id %s, epochs %d, T %d, lr %v, milestones %v", j.ID, j.Epochs, j.Neuron.T, j.Optim.LR, j.Optim.Milestones)
	}
	// A dataset flag does not reset the recipe's id or gain.
	j, err = resolve("--recipe", "paper-cifar10-vgg7", "--dataset", "synthetic", "--spec", "4C3-P2-10FC")
	if err != nil {
		t.Fatal(err)
	}
	if j.ID != "paper-cifar10-vgg7" || j.Neuron.Gain != 1 || j.Neuron.VthConv != 2 || !j.Augment.Flip {
		t.Fatalf("got id %s, gain %v, vth %v, augment %+v", j.ID, j.Neuron.Gain, j.Neuron.VthConv, j.Augment)
	}
	// A job file goes over the recipe.
	file := t.TempDir() + "/j.json"
	if err := writeTestFile(file, `{"epochs": 7, "neuron": {"t": 12}}`); err != nil {
		t.Fatal(err)
	}
	j, err = resolve("--recipe", "paper-mnist-lif", "--job", file)
	if err != nil {
		t.Fatal(err)
	}
	if j.Epochs != 7 || j.Neuron.T != 12 || j.Neuron.Leak != 0.99 {
		t.Fatalf("got epochs %d, T %d, leak %v", j.Epochs, j.Neuron.T, j.Neuron.Leak)
	}
	if _, err := resolve("--recipe", "nope"); !errors.Is(err, recipes.ErrUnknown) {
		t.Fatalf("--recipe nope: %v", err)
	}
}

func writeTestFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

func TestDataInfoCIFAR10DVS(t *testing.T) {
	dataDir := t.TempDir()
	if err := datatest.CIFAR10DVS(dataDir, 10); err != nil {
		t.Fatal(err)
	}
	out, err := runData(t, "--data-dir", dataDir, "data", "info", "cifar10dvs", "--frames", "2", "--split", "fixed", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []dataset.SplitInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(infos) != 2 || infos[0].Dataset != "cifar10dvs" || infos[0].N != 90 || infos[1].N != 10 || infos[0].Frames != 2 ||
		infos[0].H != 42 || infos[1].Histogram[9] != 1 || infos[0].Files[0].Count != 90 {
		t.Fatalf("infos %+v", infos)
	}
}
