package main

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/recipes"
	"github.com/asfnet/asf/worker"
)

// --recipe loads the named job; the job flags given override its fields, and the
// others keep the recipe's values (what the coordinator stores and trains).
func TestRecipe(t *testing.T) {
	dir := t.TempDir()
	grpcAddr, gossip := freeAddr(t), freeAddr(t)
	args := []string{"--recipe", "paper-cifar10-vgg7", "--dataset", "synthetic", "--spec", "4C3-P2-10FC", "-T", "4", "--epochs", "1",
		"--batch", "16", "--micro-batch", "8", "--train-size", "32", "--test-size", "16",
		"--data-dir", dir, "--listen", grpcAddr, "--gossip-bind", gossip, "--http", "",
		"--start-workers", "1", "--log-level", "warn"}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- run(ctx, args) }()
	wc := worker.DefaultConfig().Loopback()
	wc.ID, wc.Coordinator, wc.DataDir, wc.Threads = "w0", grpcAddr, dir, 1
	var w *worker.Worker
	var err error
	for range 100 {
		if w, err = worker.New(wc); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Run(ctx); err != nil {
		t.Fatalf("worker: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	st, err := checkpoint.Open(filepath.Join(dir, "asf.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	b, err := st.Job("paper-cifar10-vgg7")
	if err != nil {
		t.Fatal(err)
	}
	j, err := job.Parse(b, job.Default())
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := recipes.Get("paper-cifar10-vgg7")
	if j.Dataset != "synthetic" || j.Epochs != 1 || j.Neuron.T != 4 || j.Batch != 16 {
		t.Errorf("flags not applied: dataset %s, epochs %d, T %d, batch %d", j.Dataset, j.Epochs, j.Neuron.T, j.Batch)
	}
	if j.Neuron.VthConv != 2 || j.Augment != ref.Augment || j.Optim.LR != 0.0005 || len(j.Optim.Milestones) != 3 || j.Neuron.Gain != 1 {
		t.Errorf("recipe fields lost: vth %v, augment %+v, lr %v, milestones %v, gain %v", j.Neuron.VthConv, j.Augment, j.Optim.LR, j.Optim.Milestones, j.Neuron.Gain)
	}
}

func TestUnknownRecipe(t *testing.T) {
	err := run(context.Background(), []string{"--recipe", "no-such-recipe", "--http", ""})
	if !errors.Is(err, recipes.ErrUnknown) {
		t.Fatalf("run = %v, want recipes.ErrUnknown", err)
	}
}
