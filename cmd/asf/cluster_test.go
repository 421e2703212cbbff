package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/job"
	"github.com/spf13/cobra"
)

func runWith(t *testing.T, newCmd func() *cobra.Command, args ...string) (string, error) {
	t.Helper()
	cmd := newCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return out.String(), err
}

var digestLine = regexp.MustCompile(`(?m)^weights sha256: ([0-9a-f]{64})$`)

// `asf train --workers N` gives the weights of the engine alone, and
// `--resume` of a finished job reports the same weights at once.
func TestTrainWorkers(t *testing.T) {
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir = t.TempDir()
	globals.log.Level, globals.log.Format = "warn", "text"
	args := []string{"--dataset", "synthetic", "--spec", "4C3-P2-10FC", "-T", "4", "--epochs", "1", "--batch", "32",
		"--micro-batch", "8", "--train-size", "128", "--test-size", "32", "--id", "cli-cluster"}
	digests := map[string]string{}
	for _, w := range []string{"0", "2", "3"} {
		out, err := runWith(t, newTrainCmd, append([]string{"--workers", w}, args...)...)
		if err != nil {
			t.Fatalf("--workers %s: %v\n%s", w, err, out)
		}
		m := digestLine.FindStringSubmatch(out)
		if m == nil || !strings.Contains(out, "epoch 1/1") {
			t.Fatalf("--workers %s: no epoch line or digest in\n%s", w, out)
		}
		digests[w] = m[1]
	}
	if digests["2"] != digests["0"] || digests["3"] != digests["0"] {
		t.Fatalf("digests differ: %v", digests)
	}
	// The epoch-end checkpoint carries the epoch's train loss and the test
	// accuracy measured after it was saved.
	o := checkpoint.DefaultOptions()
	o.ReadOnly = true
	s, err := checkpoint.Open(filepath.Join(globals.dataDir, "asf.db"), &o)
	if err != nil {
		t.Fatal(err)
	}
	_, in, err := s.Latest("cli-cluster")
	s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !in.Metrics.HasTest || in.Metrics.TestAcc <= 0 || in.Metrics.TrainLoss <= 0 {
		t.Fatalf("the last checkpoint's metrics: %+v", in.Metrics)
	}
	out, err := runWith(t, newTrainCmd, "--workers", "2", "--resume", "--id", "cli-cluster")
	if err != nil {
		t.Fatalf("--resume: %v\n%s", err, out)
	}
	if m := digestLine.FindStringSubmatch(out); m == nil || m[1] != digests["0"] {
		t.Fatalf("--resume of the finished job:\n%s", out)
	}
	if _, err := runWith(t, newTrainCmd, "--workers", "2", "--resume", "--id", "no-such-job"); err == nil ||
		!strings.Contains(err.Error(), "no such job") {
		t.Fatalf("--resume of an unknown job: %v", err)
	}
}

func TestStatusCommand(t *testing.T) {
	j := job.Default()
	j.ID, j.Dataset, j.Spec, j.TrainSize, j.TestSize = "status-test", "synthetic", "4C3-P2-10FC", 64, 16
	j.Batch, j.Micro = 32, 8
	cfg := coordinator.DefaultConfig(j).Loopback()
	cfg.DataDir = t.TempDir()
	c, err := coordinator.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _, _ = c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	out, err := runWith(t, newStatusCmd, "--coordinator", c.Addr())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"job status-test  phase recovering  generation 0", "step 0/2", "WORKER"} {
		if !strings.Contains(out, want) {
			t.Errorf("status output lacks %q:\n%s", want, out)
		}
	}
	if _, err := runWith(t, newStatusCmd, "--coordinator", "127.0.0.1:1", "--timeout", "300ms"); err == nil {
		t.Error("status of a coordinator that is not there succeeded")
	}
}

// Bad cluster flags are refused before anything starts, with the flag named.
func TestTrainClusterFlagErrors(t *testing.T) {
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir = t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--workers", "-1"}, "--workers -1"},
		{[]string{"--workers", "0", "--resume"}, "--resume"},
	} {
		_, err := runWith(t, newTrainCmd, append(tc.args, "--dataset", "synthetic")...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}
