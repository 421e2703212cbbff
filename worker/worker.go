package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asfnet/asf/allreduce"
	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// Errors of a worker's run.
var (
	// ErrJobFailed reports that the coordinator ended the job with an error.
	ErrJobFailed = errors.New("worker: the job failed")

	errRejoin = errors.New("worker: not a member: join again")
	errLost   = errors.New("worker: lost the coordinator")
	errDone   = errors.New("worker: the job is finished")
)

// Outcome is how a worker's job ended.
type Outcome struct {
	Job    string
	Final  job.Held // the final state, as the coordinator announced it
	Steps  int      // steps this worker computed and reported successfully
	Synced int      // states it fetched from peers or the coordinator
}

// Worker is one data-parallel worker: it joins the cluster, receives the job,
// computes its micro-batches of each step, all-reduces them with its ring
// neighbours, applies the step and reports.
type Worker struct {
	cfg  Config
	log  *slog.Logger
	lis  net.Listener
	srv  *grpc.Server
	hlth *health.Server
	peer *allreduce.PeerServer
	// The gossip member, its node name and the advertised gRPC address: Run's
	// goroutine replaces them when the address changes (readvertise.go),
	// under gmu; other goroutines read them under gmu.
	gmu     sync.Mutex
	ml      *cluster.Membership
	addr    string
	node    string
	crashed bool
	moved   chan string // mailbox of a changed address (nil: not looked up again)
	movedTo string      // a change taken from moved, not yet applied (Run's goroutine)

	// The job and its data; set by prepare, read by the step and the server.
	mu    sync.Mutex
	run   *jobRun
	comm  *replica // the committed state
	tent  *replica // the tentative state (after the step last computed)
	spare *replica // a state no longer held, whose buffers the next step reuses
	ahead *ahead   // the next step's compute, started before its instruction (ahead.go)

	lastGen atomic.Uint64
	steps   int
	synced  int

	// Reduction transport of the current generation (step goroutine only).
	tr    *allreduce.GRPCTransport
	trGen uint64
	trTo  string

	coordAddr string
	coordConn *grpc.ClientConn
	session   string // of the current registration

	obs observed // measurements for Stats (metrics.go)
}

// New starts the worker's gRPC server and gossip membership; Run then joins
// the cluster and works.
func New(cfg Config) (_ *Worker, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Worker{cfg: cfg, log: log.With("component", "worker", "worker", cfg.ID)}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	w.peer, err = allreduce.NewPeerServer(&allreduce.ServerConfig{ParkTimeout: 30 * time.Second, MaxParked: 16, Logger: w.log})
	if err != nil {
		return nil, err
	}
	w.lis, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("worker: listen %s: %w", cfg.Listen, err)
	}
	ip := ""
	if cfg.reresolves() {
		w.moved = make(chan string, 1)
		if a, err := w.resolve(); err == nil {
			ip = a.String()
		} else {
			w.log.Warn("looking up the address to advertise; memberlist picks one", "err", err)
		}
	}
	if w.ml, w.node, w.addr, err = w.startGossip(ip); err != nil {
		return nil, err
	}
	w.srv = grpc.NewServer(w.serverOptions()...)
	allreduce.RegisterPeerServer(w.srv, w.peer)
	asfpb.RegisterWorkerStateServer(w.srv, &stateService{w: w})
	w.hlth = health.NewServer()
	healthpb.RegisterHealthServer(w.srv, w.hlth)
	w.hlth.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	go func() { _ = w.srv.Serve(w.lis) }()
	w.log.Info("worker listening", "grpc", w.addr, "gossip", w.ml.Addr())
	return w, nil
}

func (w *Worker) meta(grpcAddr string) cluster.Meta {
	return cluster.Meta{Role: cluster.RoleWorker, ID: w.cfg.ID, GRPC: grpcAddr, Version: cluster.Version()}
}

func (w *Worker) advertise(gossip string) string {
	if w.cfg.Advertise != "" {
		return w.cfg.Advertise
	}
	host, port, _ := net.SplitHostPort(w.lis.Addr().String())
	if ip := net.ParseIP(host); (ip == nil || ip.IsUnspecified()) && gossip != "" {
		host, _, _ = net.SplitHostPort(gossip)
	}
	return net.JoinHostPort(host, port)
}

// Addr is the worker's advertised gRPC address.
func (w *Worker) Addr() string {
	w.gmu.Lock()
	defer w.gmu.Unlock()
	return w.addr
}

// ID is the worker's id.
func (w *Worker) ID() string { return w.cfg.ID }

// Crash stops the worker abruptly, as a killed process would look to the
// others: no gossip leave, connections cut. Run returns soon after.
func (w *Worker) Crash() {
	w.gmu.Lock()
	w.crashed = true
	ml := w.ml
	w.gmu.Unlock()
	_ = ml.Shutdown()
	w.srv.Stop()
}

func (w *Worker) close() {
	if w.hlth != nil {
		w.hlth.Shutdown()
	}
	if w.srv != nil {
		done := make(chan struct{})
		go func() { w.srv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			w.srv.Stop()
		}
	} else if w.lis != nil {
		_ = w.lis.Close()
	}
	if w.ml != nil {
		_ = w.ml.Leave(3 * w.cfg.Gossip.GossipInterval)
	}
	if w.tr != nil {
		_ = w.tr.Close()
		w.tr = nil
	}
	if w.coordConn != nil {
		_ = w.coordConn.Close()
	}
}

// Run joins the cluster and works until the job is finished (it returns the
// outcome), the coordinator ends it with an error, or ctx ends. It then
// leaves the cluster and stops serving.
func (w *Worker) Run(ctx context.Context) (*Outcome, error) {
	defer w.close()
	if w.moved != nil {
		wctx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		go w.watchAddress(wctx, done)
		defer func() { stop(); <-done }()
	}
	out := &Outcome{}
	c := newCore(coreConfig{JoinWait: w.cfg.JoinWait, RetryMin: w.cfg.RetryMin, RetryMax: w.cfg.RetryMax})
	if len(w.cfg.Join) > 0 {
		if err := w.joinGossip(ctx, c); err != nil {
			return out, err
		}
	}
	for {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		if ip := w.takeMove(); ip != "" {
			if err := w.readvertise(ctx, ip); err != nil {
				return out, err
			}
		}
		cl, err := w.connect(ctx)
		if err == nil {
			err = w.register(ctx, cl, c)
		}
		if err == nil {
			err = w.serve(ctx, cl, c, out)
		}
		why := endOf(ctx, err)
		d := c.ended(why)
		if d.Again {
			continue
		}
		if d.Return {
			return w.result(ctx, why, err, out)
		}
		w.log.Info("coordinator unreachable; retrying", "err", err, "in", d.Retry)
		if w.coordConn != nil { // a fresh connection for the next attempt
			_ = w.coordConn.Close()
			w.coordConn = nil
		}
		if !w.pause(ctx, d.Retry) {
			return out, ctx.Err()
		}
	}
}

// result is what Run returns when a registration, or the serve loop after
// it, ended for why with err.
func (w *Worker) result(ctx context.Context, why end, err error, out *Outcome) (*Outcome, error) {
	switch why {
	case endDone:
		w.mu.Lock()
		out.Steps, out.Synced = w.steps, w.synced
		w.mu.Unlock()
		return out, nil
	case endCanceled:
		return out, ctx.Err()
	case endInvalid:
		return out, fmt.Errorf("worker: the coordinator refused us: %w", err)
	case endRefused:
		w.log.Error("the coordinator refused this worker; giving up", "reason", status.Convert(err).Message())
		return out, fmt.Errorf("%w: %s", ErrRefused, status.Convert(err).Message())
	}
	return out, err
}

// endOf is why a registration, or the serve loop after it, ended with err.
func endOf(ctx context.Context, err error) end {
	switch {
	case errors.Is(err, errDone):
		return endDone
	case errors.Is(err, ErrJobFailed):
		return endFailed
	case errors.Is(err, errRejoin):
		return endRejoin
	case errors.Is(err, errMoved):
		return endMoved
	case ctx.Err() != nil:
		return endCanceled
	}
	switch status.Code(err) {
	case codes.InvalidArgument:
		return endInvalid
	case codes.PermissionDenied, codes.Unauthenticated:
		return endRefused
	}
	return endLost
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
