package scaling

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/emucluster"
)

// buildBinaries builds asf-coordinator and asf-worker into a temporary
// directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "github.com/asfnet/asf/cmd/asf-coordinator", "github.com/asfnet/asf/cmd/asf-worker")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// TestRunSmoke trains a brief synthetic job on an emulated two-worker
// cluster with quotas and 100 Mbit/s links, and checks that the run measured
// something on every worker and removed its namespaces and cgroups. It asserts
// no speed.
func TestRunSmoke(t *testing.T) {
	cfg := DefaultRunConfig()
	cfg.Workers, cfg.CPUs, cfg.LinkBits = 2, 0.45, 100e6
	ec := emucluster.DefaultConfig()
	ec.WorkerCPUs = cfg.CPUs
	if err := emucluster.Check(ec); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skipf("skipped: the test builds the binaries and there is no go command: %v", err)
	}
	cfg.BinDir = buildBinaries(t)
	cfg.DataDir = t.TempDir()
	cfg.LogDir = t.TempDir()
	// Steps of ~0.1 s at the quota: long against the 20 ms polling.
	cfg.Job.Dataset, cfg.Job.Spec = "synthetic", "16C3-P2-10FC"
	cfg.Job.Batch, cfg.Job.Micro, cfg.Job.Neuron.T = 64, 8, 10
	cfg.WarmSteps, cfg.Steps = 2, 30
	cfg.Timeout = 3 * time.Minute
	p, err := Run(context.Background(), cfg)
	if err != nil {
		logs, _ := filepath.Glob(filepath.Join(cfg.LogDir, "*"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			t.Logf("%s:\n%s", filepath.Base(l), b)
		}
		t.Fatal(err)
	}
	t.Logf("%.0f samples/s, step %s: compute %s, all-reduce %s, wait %s; workers %+v", p.SamplesPerSec, p.StepTime, p.Compute, p.Reduce, p.Wait, p.Workers)
	if len(p.Workers) != 2 || p.SamplesPerSec <= 0 || p.Wall <= 0 || len(p.Digest) != 64 {
		t.Fatalf("point %+v: want two workers, a throughput and a digest", p)
	}
	for _, w := range p.Workers {
		// The metrics and the port counters are read a moment apart: a step
		// may fall between them, so wire >= payload holds only roughly.
		if w.Compute <= 0 || w.Reduce <= 0 || w.PayloadBytes <= 0 || w.WireBytes < 0.8*w.PayloadBytes || w.CPU <= 0 {
			t.Errorf("worker %+v: want compute, all-reduce, payload below about the wire bytes, and CPU time", w)
		}
	}
	for _, dir := range []string{"/run/netns", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuacct"} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "asfemu-") && strings.Contains(e.Name(), "-"+strconv.Itoa(os.Getpid())+"-") {
				t.Errorf("left behind: %s/%s", dir, e.Name())
			}
		}
	}
}

func TestRunConfigValidate(t *testing.T) {
	bin := t.TempDir()
	for _, b := range []string{"asf-coordinator", "asf-worker"} {
		os.WriteFile(filepath.Join(bin, b), nil, 0o755)
	}
	for _, tc := range []struct {
		name, field string
		edit        func(*RunConfig)
	}{
		{"default", "", func(*RunConfig) {}},
		{"no workers", "Workers", func(c *RunConfig) { c.Workers = 0 }},
		{"mode", "SyncMode", func(c *RunConfig) { c.SyncMode = "gossip" }},
		{"idle workers", "Workers", func(c *RunConfig) { c.Workers = 4; c.Job.Batch = 16 }},
		{"weights steps", "Steps", func(c *RunConfig) { c.SyncMode = "weights"; c.LocalSteps = 4; c.Steps = 6 }},
		{"no binaries", "BinDir", func(c *RunConfig) { c.BinDir = t.TempDir() }},
		{"cpus", "WorkerCPUs", func(c *RunConfig) { c.CPUs = -1 }},
		{"host sysctl", "Sysctls", func(c *RunConfig) { c.Sysctls = map[string]string{"kernel.panic": "1"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultRunConfig()
			c.BinDir = bin
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.field) || !(errors.Is(err, ErrInvalid) || errors.Is(err, emucluster.ErrInvalid)) {
				t.Fatalf("Validate() = %v, want an invalid-configuration error naming %s", err, tc.field)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	m, err := parseMetrics(strings.NewReader("# HELP x y\nasf_worker_steps_total{worker=\"w0\"} 12\nasf_worker_compute_seconds_sum{worker=\"w0\"} 1.5e+00\n"))
	if err != nil || m["asf_worker_steps_total"] != 12 || m["asf_worker_compute_seconds_sum"] != 1.5 {
		t.Fatalf("parseMetrics = %v, %v", m, err)
	}
	if _, err := parseMetrics(strings.NewReader("novalue\n")); !errors.Is(err, ErrRun) {
		t.Fatalf("a line without a value: %v, want ErrRun", err)
	}
}
