// Package observe is how an asf node is watched from outside: one HTTP server
// per process with
//
//   - /metrics: Prometheus metrics of the coordinator and the workers the
//     process runs (metrics.go), read from coordinator.Snapshot and
//     worker.Stats at every scrape, on the node's own registry (never the
//     global default), beside the standard go_* and process_* metrics;
//   - /healthz: 200 "ok", or 503 with the reason once the coordinator's job
//     failed or the server is stopping;
//   - on a coordinator, the live dashboard at / (dashboard.go and static/,
//     embedded in the binary) and its JSON state at /api/state.
//
// The whole API is Start with a Config and a Node; the Server it returns is
// closed by Close or when Start's context ends. docs/observability.md lists
// the metrics and describes the dashboard.
package observe

import (
	"context"
	"errors"
	"fmt"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/worker"
)

// ErrNode reports a Node that names nothing to observe.
var ErrNode = errors.New("observe: a node with neither a coordinator nor workers")

// Node names what a process runs, for Start.
type Node struct {
	// Coordinator returns the process's coordinator (nil: none). A function,
	// because an in-process cluster may replace its coordinator.
	Coordinator func() *coordinator.Coordinator
	// Workers returns the stats of the process's workers (nil: none).
	Workers func() []worker.Stats
}

// Start starts the HTTP server of a node on cfg.Addr: /metrics with the
// node's own registry (Go and process metrics, and those of the coordinator
// and workers it runs), /healthz (503 once the coordinator's job failed), and
// with a coordinator the dashboard at / and its state at /api/state. It
// serves until ctx ends or Close is called.
func Start(ctx context.Context, cfg Config, n Node) (*Server, error) {
	if n.Coordinator == nil && n.Workers == nil {
		return nil, ErrNode
	}
	reg := newRegistry()
	var r routes
	r.gatherer = reg
	if n.Coordinator != nil {
		snap := func() coordinator.Snapshot { return n.Coordinator().Observe() }
		reg.MustRegister(&coordinatorCollector{snap: snap})
		r.handler = dashboard(snap)
		r.health = func() error { return jobHealth(snap()) }
	}
	if n.Workers != nil {
		reg.MustRegister(&workersCollector{stats: n.Workers})
	}
	return start(ctx, cfg, r)
}

// jobHealth is /healthz's verdict on a coordinator: unhealthy once its job
// failed.
func jobHealth(s coordinator.Snapshot) error {
	if s.Phase == "failed" {
		return fmt.Errorf("job %s failed: %s", s.Job, s.Error)
	}
	return nil
}
