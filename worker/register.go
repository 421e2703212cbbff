package worker

// Registering with the coordinator: finding it, the Join call, and loading
// the job it names (what its answer asks for, the core decides: core.go).

import (
	"context"
	"errors"
	"fmt"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// connect finds the coordinator and returns a client for it.
func (w *Worker) connect(ctx context.Context) (asfpb.CoordinatorClient, error) {
	addr := w.cfg.Coordinator
	if addr == "" {
		c, ok := w.ml.Coordinator()
		if !ok {
			if len(w.cfg.Join) > 0 {
				_ = w.ml.Join(w.cfg.Join) // a restarted coordinator listens there again
				c, ok = w.ml.Coordinator()
			}
			if !ok {
				return nil, errors.New("no coordinator among the gossip members")
			}
		}
		addr = c.Meta.GRPC
	}
	if addr != w.coordAddr || w.coordConn == nil {
		if w.coordConn != nil {
			_ = w.coordConn.Close()
		}
		// gRPC's own reconnection backoff (1 s, growing to 2 min) would keep a
		// restarted coordinator unreachable long after it is back.
		bo := backoff.DefaultConfig
		bo.BaseDelay, bo.MaxDelay = w.cfg.RetryMin, w.cfg.RetryMax
		cc, err := grpc.NewClient(addr, append(w.coordDialOptions(),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: bo, MinConnectTimeout: w.cfg.RPCTimeout}))...)
		if err != nil {
			return nil, fmt.Errorf("worker: coordinator %q: %w", addr, err)
		}
		w.coordAddr, w.coordConn = addr, cc
	}
	return asfpb.NewCoordinatorClient(w.coordConn), nil
}

// register joins the coordinator, loading the job's data if it is new to us
// (the core decides what the coordinator's answer asks for).
func (w *Worker) register(ctx context.Context, cl asfpb.CoordinatorClient, c *core) error {
	w.mu.Lock()
	w.session = cluster.NewNodeName("s")
	w.mu.Unlock()
	for {
		a, err := w.joinRPC(ctx, cl)
		if err != nil {
			return err
		}
		d := c.welcome(a, w.ml.Has(a.CoordinatorNode))
		if d.Gossip != "" {
			if err := w.ml.Join([]string{d.Gossip}); err != nil {
				w.log.Warn("joining the coordinator's gossip", "addr", d.Gossip, "err", err)
			}
		}
		if d.Load {
			d = c.loaded(w.load(ctx, a.Job, d.Key))
		}
		switch {
		case d.Finished:
			w.log.Info("the job is already finished: nothing to do", "job", a.JobID)
			return errDone
		case d.Fail != "":
			return fmt.Errorf("%w: %s", ErrJobFailed, d.Fail)
		case d.Serve:
			return nil
		}
		// d.Announce: register again, as ready.
	}
}

// joinRPC registers with the coordinator and returns its answer.
func (w *Worker) joinRPC(ctx context.Context, cl asfpb.CoordinatorClient) (job.Welcome, error) {
	w.mu.Lock()
	req := &asfpb.JoinRequest{WorkerId: w.cfg.ID, NodeName: w.node, GrpcAddr: w.addr, Version: cluster.Version(),
		Ready: w.run != nil, Held: cluster.HeldToPB(w.heldLocked()), LastGeneration: w.lastGen.Load(), Session: w.session}
	if w.run != nil {
		req.JobId = w.run.job.ID
	}
	w.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, w.cfg.RPCTimeout)
	defer cancel()
	resp, err := cl.Join(ctx, req)
	if err != nil {
		return job.Welcome{}, err
	}
	return cluster.WelcomeFromPB(resp), nil // the wire ends here
}

// load parses the coordinator's job js and prepares the run k of it.
func (w *Worker) load(ctx context.Context, js []byte, k runKey) error {
	j, err := job.Parse(js, job.Default())
	if err != nil {
		return fmt.Errorf("the coordinator's job: %v", err)
	}
	return w.prepare(ctx, j, k)
}

// prepare loads the job's data and builds its network; it drops any state of
// another job.
func (w *Worker) prepare(ctx context.Context, j job.Job, k runKey) error {
	w.log.Info("loading the job", "job", j.ID, "dataset", j.Dataset, "spec", j.Spec)
	load := job.LoadFunc(w.cfg.Data)
	if load == nil {
		load = job.FromDir(w.cfg.DataDir)
	}
	p, err := job.Prepare(ctx, j, load)
	if err != nil {
		return err
	}
	n := p.Net
	r := &jobRun{prep: p, job: j, json: k.json, units: p.Units(k.h), avg: k.avg,
		wss: job.Workspaces(n, w.cfg.Threads), fresh: engine.NewModel(n, j.Seed).Digest(),
		acc: make([]int64, n.ResultLen()), perms: map[int][]int{}}
	w.mu.Lock()
	w.run, w.comm, w.tent, w.spare = r, nil, nil, nil
	w.mu.Unlock()
	return nil
}
