package e2e

import (
	"github.com/asfnet/asf/internal/cli"
	"github.com/spf13/cobra"

	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/internal/job"
	"gopkg.in/yaml.v3"
)

// composeFile is the part of deploy/compose.yaml the static checks read.
type composeFile struct {
	Services map[string]struct {
		Image string `yaml:"image"`
		Build struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
			Target     string `yaml:"target"`
		} `yaml:"build"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
		Healthcheck struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		Restart   string         `yaml:"restart"`
		DependsOn map[string]any `yaml:"depends_on"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

// TestComposeFile checks deploy/compose.yaml without Docker: the two
// services, their images and build targets, every ASF_* variable against the
// binary's flags, the mounts (store volume, read-only data, job file), the
// health checks and restart policies, and the job files.
func TestComposeFile(t *testing.T) {
	deploy := filepath.Join("..")
	data, err := os.ReadFile(filepath.Join(deploy, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(data, &cf); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	dockerfile, err := os.ReadFile(filepath.Join(deploy, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cf.Volumes["store"]; !ok {
		t.Error("compose.yaml: no named volume store")
	}
	for _, name := range []string{"coordinator", "worker"} {
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("compose.yaml: no service %s", name)
		}
		bin := "asf-" + name
		if s.Build.Target != name || !regexp.MustCompile(`(?m)^FROM \S+ AS `+name+`$`).Match(dockerfile) {
			t.Errorf("%s: build target %q: want %q, a stage of the Dockerfile", name, s.Build.Target, name)
		}
		if !strings.Contains(s.Image, "-"+name+":") {
			t.Errorf("%s: image %q: want <name>-%s:<tag>", name, s.Image, name)
		}
		flags := cli.FlagNames(map[string]func() *cobra.Command{"coordinator": cli.Coordinator, "worker": cli.Worker}[name]())
		for v := range s.Environment {
			flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(v, "ASF_")), "_", "-")
			if !strings.HasPrefix(v, "ASF_") || !slices.Contains(flags, flag) {
				t.Errorf("%s: environment %s is no flag of %s (its flags: %v)", name, v, bin, flags)
			}
		}
		env := s.Environment
		if env["ASF_DATA_DIR"] != "/data" || !slices.ContainsFunc(s.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/data:ro") }) {
			t.Errorf("%s: want ASF_DATA_DIR=/data on a read-only mount, got %q and volumes %v", name, env["ASF_DATA_DIR"], s.Volumes)
		}
		listen := strings.TrimPrefix(env["ASF_LISTEN"], ":")
		if listen == "" || !slices.Contains(s.Healthcheck.Test, "127.0.0.1:"+listen) || !slices.Contains(s.Healthcheck.Test, "health") ||
			s.Healthcheck.Test[0] != "CMD" || s.Healthcheck.Test[1] != "/usr/local/bin/asf" {
			t.Errorf("%s: health check %v: want [CMD /usr/local/bin/asf health 127.0.0.1:%s ...] (ASF_LISTEN)", name, s.Healthcheck.Test, listen)
		}
		if !strings.HasPrefix(s.Restart, "on-failure") {
			t.Errorf("%s: restart %q: want on-failure (a finished job exits 0 and stays down)", name, s.Restart)
		}
		if env["ASF_GOSSIP_BIND"] != ":7946" {
			t.Errorf("%s: ASF_GOSSIP_BIND %q: want :7946", name, env["ASF_GOSSIP_BIND"])
		}
	}
	co := cf.Services["coordinator"]
	if co.Environment["ASF_STORE"] != "/var/lib/asf/asf.db" || !slices.Contains(co.Volumes, "store:/var/lib/asf") {
		t.Errorf("coordinator: want ASF_STORE=/var/lib/asf/asf.db on the volume store, got %q and %v", co.Environment["ASF_STORE"], co.Volumes)
	}
	if co.Environment["ASF_JOB_FILE"] != "/etc/asf/job.json" || !slices.ContainsFunc(co.Volumes, func(v string) bool { return strings.HasSuffix(v, ":/etc/asf/job.json:ro") }) {
		t.Errorf("coordinator: want ASF_JOB_FILE=/etc/asf/job.json mounted read-only, got %q and %v", co.Environment["ASF_JOB_FILE"], co.Volumes)
	}
	for _, p := range []string{"7070/tcp", "7946/tcp", "7946/udp", "8080/tcp"} {
		if !slices.ContainsFunc(co.Ports, func(s string) bool { return strings.HasSuffix(s, ":"+p) }) {
			t.Errorf("coordinator: port %s not published (ports %v)", p, co.Ports)
		}
	}
	w := cf.Services["worker"]
	if w.Environment["ASF_JOIN"] != "coordinator:7946" {
		t.Errorf("worker: ASF_JOIN %q: want coordinator:7946", w.Environment["ASF_JOIN"])
	}
	if _, ok := w.Environment["ASF_WORKER_ID"]; ok {
		t.Error("worker: ASF_WORKER_ID is set: every replica would have the same id")
	}
	if _, ok := w.Environment["ASF_ID"]; ok {
		t.Error("worker: ASF_ID (the deprecated ASF_WORKER_ID) is set: every replica would have the same id")
	}
	if len(w.Ports) > 0 {
		t.Errorf("worker: publishes ports %v: replicas of a scaled service would clash", w.Ports)
	}
	if _, ok := w.DependsOn["coordinator"]; !ok {
		t.Error("worker: does not depend on the coordinator")
	}

	// The job files: the compose default and the end-to-end test's.
	for name, text := range map[string]string{"deploy/job.json": "", "e2eJob": e2eJob(8000)} {
		if text == "" {
			b, err := os.ReadFile(filepath.Join(deploy, "job.json"))
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
		}
		j, err := job.Parse([]byte(text), job.Default())
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if j.Dataset != "mnist" {
			t.Errorf("%s: data set %s, want mnist (what cluster.sh fetches)", name, j.Dataset)
		}
	}
}

func TestE2ETrainSize(t *testing.T) {
	tests := []struct {
		rate float64
		want int
	}{
		{0, 125 * 64},   // the floor: 250 steps
		{300, 125 * 64}, // 205 steps wanted: the floor
		{745, 207 * 64}, // 414 steps
		{1e6, 60000},    // all of MNIST at most
	}
	for _, tc := range tests {
		got := e2eTrainSize(tc.rate)
		if got != tc.want {
			t.Errorf("e2eTrainSize(%v) = %d, want %d", tc.rate, got, tc.want)
		}
		if got%64 != 0 && got != 60000 {
			t.Errorf("e2eTrainSize(%v) = %d: not whole batches", tc.rate, got)
		}
		if _, err := job.Parse([]byte(e2eJob(got)), job.Default()); err != nil {
			t.Errorf("e2eJob(%d): %v", got, err)
		}
	}
}
