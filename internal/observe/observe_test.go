package observe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// A node without a coordinator serves its workers' metrics and /healthz, and
// no dashboard; a node with nothing to observe is refused.
func TestStart(t *testing.T) {
	if _, err := Start(context.Background(), DefaultConfig("127.0.0.1:0"), Node{}); !errors.Is(err, ErrNode) {
		t.Fatalf("Start with an empty Node: %v, want ErrNode", err)
	}
	if _, err := Start(context.Background(), DefaultConfig("localhost"), Node{Workers: func() []worker.Stats { return nil }}); !errors.Is(err, ErrConfig) {
		t.Fatalf("Start with a bad Addr: %v, want ErrConfig", err)
	}
	s, err := Start(context.Background(), DefaultConfig("127.0.0.1:0"), Node{Workers: func() []worker.Stats {
		return []worker.Stats{{ID: "w7", Steps: 5}}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"metrics", 200, `asf_worker_steps_total{worker="w7"} 5`},
		{"metrics", 200, "go_goroutines"},
		{"healthz", 200, "ok\n"},
		{"", 404, ""},
		{"api/state", 404, ""},
	} {
		code, body := get(t, s.URL()+tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET /%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.body)
		}
	}
}

// A coordinator node serves the dashboard, its state and the coordinator's
// metrics from a real coordinator (one that waits for workers).
func TestStartCoordinator(t *testing.T) {
	j := job.Default()
	j.ID, j.Dataset, j.Spec = "observed", "synthetic", "4C3-P2-10FC"
	j.Neuron.T, j.Epochs, j.Batch, j.Micro, j.TrainSize, j.TestSize = 4, 1, 16, 16, 32, 16
	dir := t.TempDir()
	cc := coordinator.DefaultConfig(j).Loopback()
	cc.DataDir, cc.StorePath, cc.NoTest = dir, dir+"/asf.db", true
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	co, err := coordinator.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	coDone := make(chan error, 1)
	go func() { _, err := co.Run(cctx); coDone <- err }()
	defer func() { stop(); <-coDone }()
	s, err := Start(ctx, DefaultConfig("127.0.0.1:0"), Node{Coordinator: func() *coordinator.Coordinator { return co }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		path string
		code int
		body string
	}{
		{"", 200, `<script src="static/app.js">`},
		{"metrics", 200, `asf_coordinator_total_steps 2`},
		{"metrics", 200, `asf_coordinator_job_info{dataset="synthetic",job="observed"`},
		{"healthz", 200, "ok\n"},
	} {
		code, body := get(t, s.URL()+tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("GET /%s: %d %q, want %d with %q", tc.path, code, body, tc.code, tc.body)
		}
	}
	code, body := get(t, s.URL()+"api/state")
	var st coordinator.Snapshot
	if err := json.Unmarshal([]byte(body), &st); err != nil || code != 200 || st.Job != "observed" || st.TotalSteps != 2 {
		t.Errorf("GET /api/state: %d, %v, job %q, %d steps; want 200 with job observed of 2 steps", code, err, st.Job, st.TotalSteps)
	}
}

func TestJobHealth(t *testing.T) {
	for _, tc := range []struct {
		phase, want string
	}{
		{"running", ""},
		{"done", ""},
		{"failed", "job j failed: boom"},
	} {
		t.Run(tc.phase, func(t *testing.T) {
			err := jobHealth(coordinator.Snapshot{Job: "j", Phase: tc.phase, Error: "boom"})
			if got := fmt.Sprint(err); (tc.want == "") != (err == nil) || (err != nil && got != tc.want) {
				t.Fatalf("jobHealth(phase %s) = %v, want %q", tc.phase, err, tc.want)
			}
		})
	}
}
