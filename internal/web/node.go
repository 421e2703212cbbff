package web

import (
	"context"
	"errors"
	"fmt"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/dashboard"
	"github.com/asfnet/asf/internal/metrics"
	"github.com/asfnet/asf/worker"
)

// Node names what a process runs, for StartNode.
type Node struct {
	// Coordinator returns the process's coordinator (nil: none). A function,
	// because an in-process cluster may replace its coordinator.
	Coordinator func() *coordinator.Coordinator
	// Workers returns the stats of the process's workers (nil: none).
	Workers func() []worker.Stats
}

// StartNode starts the HTTP server of a node: /metrics with its own
// registry (Go and process metrics, and those of the coordinator and workers
// it runs), /healthz (503 once the coordinator's job failed), and with a
// coordinator the dashboard at / and its state at /api/state. cfg.Gatherer,
// cfg.Health and cfg.Handler are replaced.
func StartNode(ctx context.Context, cfg Config, n Node) (*Server, error) {
	if n.Coordinator == nil && n.Workers == nil {
		return nil, errors.New("web: a node with neither a coordinator nor workers")
	}
	reg := metrics.NewRegistry()
	cfg.Gatherer, cfg.Handler, cfg.Health = reg, nil, nil
	if n.Coordinator != nil {
		snap := func() coordinator.Snapshot { return n.Coordinator().Observe() }
		reg.MustRegister(metrics.NewCoordinator(snap))
		cfg.Handler = dashboard.Handler(snap)
		cfg.Health = func() error {
			if s := n.Coordinator().Observe(); s.Phase == "failed" {
				return fmt.Errorf("job %s failed: %s", s.Job, s.Error)
			}
			return nil
		}
	}
	if n.Workers != nil {
		reg.MustRegister(metrics.NewWorkers(n.Workers))
	}
	return Start(ctx, cfg)
}
