package recipes

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/dataset/datatest"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/local"
)

// The recipes the paper reproduction needs, with the reference values they must
// carry.
func TestPaperRecipes(t *testing.T) {
	for _, n := range []string{"paper-mnist-if", "paper-mnist-lif", "paper-cifar10-vgg7", "paper-cifar10dvs", "fashion-mnist-asf"} {
		if !slices.Contains(Names(), n) {
			t.Errorf("recipe %s missing (have %v)", n, Names())
		}
	}
	type want struct {
		dataset, spec    string
		t, epochs, batch int
		leak, vth        float32
		lr               float64
		milestones       []int
		augment          bool
		encoding         engine.Encoding
		frames, pool     int
		split            string
	}
	lenet := want{"mnist", engine.LeNetSpec, 100, 125, 64, 1, 1, 0.00085, []int{25}, false, engine.Poisson, 0, 0, ""}
	lif := lenet
	lif.leak = 0.99
	for name, w := range map[string]want{
		"paper-mnist-if":     lenet,
		"paper-mnist-lif":    lif,
		"paper-cifar10-vgg7": {"cifar10", engine.VGG7Spec, 100, 100, 100, 1, 2, 0.0005, []int{50, 75, 100}, true, engine.Poisson, 0, 0, ""},
		"paper-cifar10dvs":   {"cifar10dvs", "64C3-64C3-P2-128C3-128C3-256C3-MP2-1024FC-10FC", 100, 50, 40, 1, 1, 0.0005, []int{10, 20, 30}, false, engine.Events, 100, 3, "random"},
	} {
		j, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		got := want{j.Dataset, j.Spec, j.Neuron.T, j.Epochs, j.Batch, j.Neuron.Leak, j.Neuron.VthConv, j.Optim.LR, j.Optim.Milestones,
			j.Augment.Enabled(), j.Neuron.Encoding, j.Neuron.Frames, j.Data.Pool, j.Data.Split}
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(w)
		if string(gj) != string(wj) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, w)
		}
		if j.ID != name || j.Optim.Gamma != 0.2 || j.Optim.ScaleEvery != 5 || j.Optim.Optimizer != "adam" || j.Optim.WeightDecay != 5e-4 {
			t.Errorf("%s: id %q, gamma %v, scale_every %d, optimizer %s, weight decay %v", name, j.ID, j.Optim.Gamma, j.Optim.ScaleEvery, j.Optim.Optimizer, j.Optim.WeightDecay)
		}
	}
	vgg, _ := Get("paper-cifar10-vgg7")
	if vgg.Augment.CropPad != 4 || !vgg.Augment.Flip || vgg.Neuron.Gain != 1 {
		t.Errorf("vgg7: augment %+v gain %v, want crop pad 4 + flip, gain 1", vgg.Augment, vgg.Neuron.Gain)
	}
}

// Every recipe validates, has a summary, and starts: two training steps and a test
// evaluation on files written in the data set's real format, with the recipe's
// network, input shape, thresholds, augmentation and split (the window and the
// batch cut down so that the test takes seconds).
func TestEveryRecipeStarts(t *testing.T) {
	dir := t.TempDir()
	if err := datatest.IDX(dir, "mnist", 40, 20); err != nil {
		t.Fatal(err)
	}
	if err := datatest.IDX(dir, "fashion-mnist", 40, 20); err != nil {
		t.Fatal(err)
	}
	if err := datatest.CIFAR10(dir, 4, 10); err != nil {
		t.Fatal(err)
	}
	if err := datatest.CIFAR10DVS(dir, 10); err != nil {
		t.Fatal(err)
	}
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(summaries) {
		t.Errorf("%d recipe files, %d summaries", len(all), len(summaries))
	}
	for _, r := range all {
		t.Run(r.Name, func(t *testing.T) {
			if r.Summary == "" || strings.Contains(r.Summary, "\n") {
				t.Fatalf("summary %q: want one line", r.Summary)
			}
			j := r.Job
			if err := j.Validate(); err != nil {
				t.Fatal(err)
			}
			j.Epochs, j.Batch, j.Micro = 1, 2, 2
			j.TrainSize, j.TestSize = 4, 4
			j.Neuron.T = 3
			if j.Neuron.Encoding == engine.Events {
				j.Neuron.Frames = 3
			}
			res, err := local.Run(context.Background(), j, local.Options{DataDir: dir, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			tr := res.Train
			if tr.Len() != 4 || len(res.Epochs) != 1 || !res.Epochs[0].HasTest {
				t.Fatalf("train %d samples, %d epochs reported", tr.Len(), len(res.Epochs))
			}
			in := res.Net.Input
			if r.Job.Dataset == "cifar10dvs" && (in != engine.Shape{C: 2, H: 42, W: 42} || tr.Frames != 3) {
				t.Fatalf("cifar10dvs input %v x %d frames, want 2x42x42 (128 pooled by 3)", in, tr.Frames)
			}
			if res.Model.Digest() == engine.NewModel(res.Net, j.Seed).Digest() {
				t.Fatal("two steps left the weights unchanged")
			}
		})
	}
}

func TestGetErrors(t *testing.T) {
	for _, n := range []string{"nope", "../recipes/paper-mnist-if", "paper-mnist-if.json", ""} {
		if _, err := Get(n); !errors.Is(err, ErrUnknown) {
			t.Errorf("Get(%q) = %v, want ErrUnknown", n, err)
		}
	}
	b, err := File("paper-mnist-if")
	if err != nil {
		t.Fatal(err)
	}
	// The file is an ordinary job file.
	j, err := job.Parse(b, job.Default())
	if err != nil || j.ID != "paper-mnist-if" {
		t.Fatalf("job.Parse(file) = %+v, %v", j.ID, err)
	}
}
