package checkpoint_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// sweepJob is a tiny real job: 60 steps of a small SNN on synthetic data, with
// states of ~160 KB (multi-page leaves) and a metrics history of several pages.
func sweepJob() job.Job {
	j := job.Default()
	j.ID = "sweep"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 4
	j.Epochs = 3
	j.Batch, j.Micro = 16, 16
	j.TrainSize, j.TestSize = 320, 32
	return j
}

// runSweepJob runs sweepJob on an in-process cluster of one worker on the store
// at path, as `asf coordinator` plus `asf worker` would; stopAt > 0 stops the
// run (as a kill would, between two commits) once that many steps committed.
func runSweepJob(ctx context.Context, dataDir, path string, stopAt int) (*coordinator.Result, error) {
	return runSweepJobHook(ctx, dataDir, path, stopAt, nil)
}

func runSweepJobHook(ctx context.Context, dataDir, path string, stopAt int, hook func(steps int)) (*coordinator.Result, error) {
	cfg := coordinator.DefaultConfig(sweepJob())
	cfg.DataDir, cfg.StorePath = dataDir, path
	cfg.StartWorkers, cfg.NoTest = 1, true
	cfg.Settle = 10 * time.Millisecond // no worker holds a live state of the job
	cfg.CheckpointEvery = 4
	cfg.FinishGrace = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	cfg.Hooks.AfterCommit = func(steps int, _ []string) {
		if hook != nil {
			hook(steps)
		}
		if stopAt > 0 && steps >= stopAt {
			once.Do(cancel)
		}
	}
	return inproc.Run(ctx, inproc.Config{Coordinator: cfg, Workers: 1, Worker: func(int) worker.Config {
		wc := worker.DefaultConfig()
		wc.ID, wc.Threads = "w0", 1
		return wc
	}})
}

// The corruption sweep: a real store left by a job stopped at step 45 of 60;
// single bytes changed at offsets spread over every kind of byte of the file;
// for each, asf checkpoint verify's check (Inspect) runs, the coordinator opens
// the store as it always does (recovering a damaged file) and resumes the job
// to the end. No panic anywhere, and every job ends with the weights of the
// uninterrupted run. ASF_SWEEP=N runs N offsets per kind instead of 4 (the
// full sweep, see docs/reliability.md); ASF_SWEEP_OUT names a file for the
// per-kind counts.
func TestCorruptionSweep(t *testing.T) {
	perKind := 4
	if v := os.Getenv("ASF_SWEEP"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("ASF_SWEEP=%q: want a positive number of offsets per kind", v)
		}
		perKind = n
	}
	ctx := context.Background()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	ref, err := runSweepJob(ctx, dataDir, filepath.Join(dir, "ref.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	pristine := filepath.Join(dir, "pristine.db")
	if _, err := runSweepJob(ctx, dataDir, pristine, 45); !errors.Is(err, context.Canceled) {
		t.Fatalf("stopping the job at step 45: %v", err)
	}
	rep, err := checkpoint.Inspect(pristine, nil)
	if err != nil || rep.Damaged() || len(rep.Checkpoints) == 0 {
		t.Fatalf("the store left by the stopped job: %v %v, %d checkpoints", err, rep.Err(), len(rep.Checkpoints))
	}
	targets, err := checkpoint.SweepTargets(pristine, perKind, 15)
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	type tally struct{ offsets, found, salvaged, digestOK int }
	counts := map[string]*tally{}
	kinds := slices.Sorted(func(yield func(string) bool) {
		for k := range targets {
			if !yield(k) {
				return
			}
		}
	})
	start := time.Now()
	i := 0
	for _, kind := range kinds {
		counts[kind] = &tally{}
		for _, off := range targets[kind] {
			i++
			mask := checkpoint.FlipMask(i)
			name := fmt.Sprintf("%s at byte %d ^ %02x", kind, off, mask)
			cdir := filepath.Join(dir, fmt.Sprintf("case%d", i))
			if err := os.MkdirAll(cdir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(cdir, "asf.db")
			bad := slices.Clone(data)
			bad[off] ^= mask
			if err := os.WriteFile(path, bad, 0o600); err != nil {
				t.Fatal(err)
			}
			c := counts[kind]
			c.offsets++
			vr, err := checkpoint.Inspect(path, nil)
			if err != nil {
				t.Fatalf("%s: verify: %v", name, err)
			}
			if vr.Damaged() {
				c.found++
			} else {
				t.Logf("%s (%s): verify finds nothing wrong (the job must still end right)", name, checkpoint.WhatIs(pristine, off))
			}
			res, err := runSweepJob(ctx, dataDir, path, 0)
			if err != nil {
				t.Errorf("%s: the resumed job: %v (verify: %v)", name, err, vr.Err())
				continue
			}
			aside, _ := filepath.Glob(path + ".damaged-*")
			if len(aside) > 0 {
				c.salvaged++
			} else if vr.Damaged() {
				t.Errorf("%s: verify found %v, the coordinator did not salvage", name, vr.Err())
			}
			if res.Final.Digest != ref.Final.Digest {
				t.Errorf("%s: the resumed job ends with %s, the uninterrupted run with %s", name,
					hex.EncodeToString(res.Final.Digest[:8]), hex.EncodeToString(ref.Final.Digest[:8]))
				continue
			}
			c.digestOK++
			if after, err := checkpoint.Inspect(path, nil); err != nil || after.Damaged() {
				t.Errorf("%s: the store after the resumed job: %v %v", name, err, after.Err())
			}
			_ = os.RemoveAll(cdir)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| kind of byte | offsets | found by verify | salvaged at open | resumed job = reference digest |\n|---|---:|---:|---:|---:|\n")
	var tot tally
	for _, k := range kinds {
		c := counts[k]
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d |\n", k, c.offsets, c.found, c.salvaged, c.digestOK)
		tot.offsets, tot.found, tot.salvaged, tot.digestOK = tot.offsets+c.offsets, tot.found+c.found, tot.salvaged+c.salvaged, tot.digestOK+c.digestOK
	}
	fmt.Fprintf(&b, "| all | %d | %d | %d | %d |\n", tot.offsets, tot.found, tot.salvaged, tot.digestOK)
	t.Logf("%d offsets in %v (store %d bytes, %d checkpoints, %d metric points):\n%s", tot.offsets, time.Since(start).Round(time.Millisecond),
		len(data), len(rep.Checkpoints), rep.Metrics, b.String())
	if out := os.Getenv("ASF_SWEEP_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// The fault as it was found: a byte of the store changes under a running
// coordinator (here the page flags of the checkpoint data bucket's root page,
// changed through the file while bbolt has it mapped). The next save fails with
// ErrDamaged naming the file instead of panicking, the coordinator stops with
// that error, and started again on the same store it sets the file aside,
// salvages it and finishes the job with the uninterrupted run's weights.
func TestDamageWhileRunning(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	ref, err := runSweepJob(ctx, dataDir, filepath.Join(dir, "ref.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "asf.db")
	var flipped uint64
	var flipErr error
	damage := func(steps int) {
		if steps != 10 { // between the saves of steps 8 and 12
			return
		}
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			flipErr = err
			return
		}
		defer f.Close()
		// A save still in flight may move the root: flip until it stays put.
		for stable := 0; stable < 3; stable++ {
			root, ps, err := checkpoint.BucketRoot(path, "checkpoints/sweep/data")
			if err != nil || root == 0 {
				flipErr = fmt.Errorf("the data bucket's root: page %d, %v", root, err)
				return
			}
			if root != flipped {
				if _, err := f.WriteAt([]byte{0xfd}, int64(root)*int64(ps)+8); err != nil {
					flipErr = err
					return
				}
				flipped, stable = root, 0
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	_, err = runSweepJobHook(ctx, dataDir, path, 0, damage)
	if flipErr != nil {
		t.Fatal(flipErr)
	}
	if !errors.Is(err, checkpoint.ErrDamaged) || !strings.Contains(err.Error(), path) {
		t.Fatalf("the job with its store damaged under it: %v, want checkpoint.ErrDamaged naming %s", err, path)
	}
	t.Logf("first run: %v", err)
	res, err := runSweepJob(ctx, dataDir, path, 0)
	if err != nil {
		t.Fatalf("restarted on the damaged store: %v", err)
	}
	if aside, _ := filepath.Glob(path + ".damaged-*"); len(aside) != 1 {
		t.Fatalf("damaged files set aside: %v, want one", aside)
	}
	if res.Final.Digest != ref.Final.Digest {
		t.Fatalf("the job ends with %x, the uninterrupted run with %x", res.Final.Digest[:8], ref.Final.Digest[:8])
	}
}
