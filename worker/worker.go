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
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
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

// jobRun is a job with its data, ready to compute.
type jobRun struct {
	job   job.Job
	json  string
	prep  *job.Prepared // the data, the input shape, the network and the plan
	units job.Units     // the unit of work: 1 training step in gradient mode, h local steps in weights mode
	avg   bool          // weights mode: local steps, then the weights are averaged
	wss   []*engine.Workspace
	fresh job.Digest
	acc   []int64
	perms map[int][]int
	vec   []int64   // weights mode: the quantised state being averaged
	f64   []float64 // weights mode: conversion buffer
}

// position is where in the job the state after u units is.
func (r *jobRun) position(u int) (epoch, stepInEpoch, steps int) {
	epoch, stepInEpoch, _ = r.units.Unit(u)
	return epoch, stepInEpoch, r.units.Steps(u)
}

// replica is one training state; it is never changed once stored.
type replica struct {
	step   int
	model  *engine.Model
	opt    *engine.Optimizer
	digest job.Digest
}

func (r *replica) held() job.Held { return job.Held{Step: r.step, Digest: r.digest} }

// setLocked replaces the held states (w.mu held); a state no longer held
// becomes the spare.
func (w *Worker) setLocked(comm, tent *replica) {
	for _, old := range []*replica{w.comm, w.tent} {
		if old != nil && old != comm && old != tent {
			w.spare = old
		}
	}
	w.comm, w.tent = comm, tent
}

// copyOf returns a copy of b for the step to change, in the spare's buffers
// when there is one (a step then allocates nothing).
func (w *Worker) copyOf(b *replica) *replica {
	w.mu.Lock()
	r := w.spare
	w.spare = nil
	w.mu.Unlock()
	if r == nil || len(r.model.Params) != len(b.model.Params) || len(r.model.Scales) != len(b.model.Scales) ||
		len(r.opt.M) != len(b.opt.M) || len(r.opt.V) != len(b.opt.V) {
		return &replica{step: b.step, model: b.model.Clone(), opt: b.opt.Clone()}
	}
	r.model.Net = b.model.Net
	copy(r.model.Params, b.model.Params)
	copy(r.model.Scales, b.model.Scales)
	r.opt.Config, r.opt.Step = b.opt.Config, b.opt.Step
	copy(r.opt.M, b.opt.M)
	copy(r.opt.V, b.opt.V)
	r.step, r.digest = b.step, b.digest
	return r
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

// heldLocked lists the states held (w.mu held).
func (w *Worker) heldLocked() []job.Held {
	var hs []job.Held
	for _, r := range []*replica{w.comm, w.tent} {
		if r != nil {
			hs = append(hs, r.held())
		}
	}
	return hs
}

func (w *Worker) held() []job.Held {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.heldLocked()
}

// inflight is a step being computed.
type inflight struct {
	cancel context.CancelFunc
	done   chan *job.Report
}

// serve follows the coordinator's instructions until it says the job is done,
// tells us to join again, or cannot be reached.
func (w *Worker) serve(ctx context.Context, cl asfpb.CoordinatorClient, c *core, out *Outcome) error {
	pctx, stopPoll := context.WithCancel(ctx)
	defer stopPoll()
	tasks := make(chan order, 1) // a mailbox: a newer instruction replaces one not yet taken
	lost := make(chan error, 1)
	go w.poll(pctx, cl, tasks, lost)

	var cur *inflight // the step in flight; c decides (core.go), this loop carries it out
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stop()
	// do carries out d; t is the instruction that led to it (for a start).
	do := func(d decision, t order) {
		if d.Cancel {
			stop()
		}
		if d.Await && cur != nil {
			// Finish the step in flight: its result is kept (as the tentative
			// state) for a restarted coordinator to adopt.
			<-cur.done
			cur = nil
		}
		if d.Start {
			sctx, cancel := context.WithCancel(ctx)
			cur = &inflight{cancel: cancel, done: make(chan *job.Report, 1)}
			go func(f *inflight) { f.done <- w.step(sctx, t) }(cur)
		}
	}
	var curDone <-chan *job.Report
	for {
		if cur != nil {
			curDone = cur.done
		} else {
			curDone = nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ip := <-w.moved:
			d := c.moved(net.ParseIP(ip).Equal(w.gossipHost()))
			do(d, order{})
			if d.Leave == leaveMoved {
				w.movedTo = ip
				return errMoved
			}
		case err := <-lost:
			do(c.lost(), order{})
			return fmt.Errorf("%w: %v", errLost, err)
		case rep := <-curDone:
			cur = nil
			c.stepDone()
			w.observeReport(rep)
			if err := w.report(ctx, cl, rep); err != nil {
				return fmt.Errorf("%w: %v", errLost, err)
			}
		case t := <-tasks:
			d := c.instruction(t.Kind, stepKey{gen: t.Generation, step: t.Step})
			do(d, t)
			switch d.Leave {
			case leaveDone:
				return w.finish(t, out)
			case leaveRejoin:
				w.log.Info("rejoining", "reason", t.Reason)
				return errRejoin
			}
		}
	}
}

// poll long-polls the coordinator for instructions and puts every answer in
// the tasks mailbox (replacing one not yet taken), so that a poll is nearly
// always outstanding: the coordinator sees the worker's connection drop at
// once. After LostAfter consecutive failures it reports on lost and stops.
func (w *Worker) poll(ctx context.Context, cl asfpb.CoordinatorClient, tasks chan order, lost chan<- error) {
	var have haveKey
	tries := w.cfg.retries(w.cfg.LostAfter)
	for {
		w.mu.Lock()
		req := &asfpb.NextTaskRequest{WorkerId: w.cfg.ID, HaveKind: asfpb.TaskKind(have.kind), HaveGeneration: have.gen, HaveStep: int64(have.step),
			Held: cluster.HeldToPB(w.heldLocked()), WaitMs: w.cfg.PollWait.Milliseconds(), Session: w.session}
		if w.run != nil {
			req.JobId = w.run.job.ID
		}
		w.mu.Unlock()
		cctx, cancel := context.WithTimeout(ctx, w.cfg.PollWait+w.cfg.RPCTimeout)
		pt, err := cl.NextTask(cctx, req)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			pause, last := tries.failed()
			if last {
				lost <- err
				return
			}
			if !sleep(ctx, pause) {
				return
			}
			continue
		}
		tries.ok()
		task, berr := cluster.TaskFromPB(pt) // the wire ends here
		t := order{Task: task, BaseErr: berr}
		if keyOf(t.Task) == have && t.Kind != job.TaskDone {
			continue // the poll expired: nothing new
		}
		have = keyOf(t.Task)
		select {
		case tasks <- t:
		default:
			select {
			case <-tasks: // superseded before it was taken
			default:
			}
			tasks <- t
		}
		if t.Kind == job.TaskDone || t.Kind == job.TaskRejoin {
			return
		}
	}
}

// report delivers a step report, trying LostAfter times (and pausing after
// the last failure too, before the coordinator counts as lost).
func (w *Worker) report(ctx context.Context, cl asfpb.CoordinatorClient, r *job.Report) error {
	rep := cluster.ReportToPB(*r, w.held()) // the wire form, made here only
	tries := w.cfg.retries(w.cfg.LostAfter)
	for {
		cctx, cancel := context.WithTimeout(ctx, w.cfg.RPCTimeout)
		_, err := cl.Report(cctx, rep)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		pause, last := tries.failed()
		if !sleep(ctx, pause) {
			return ctx.Err()
		}
		if last {
			return err
		}
	}
}

// finish handles the end of the job: it keeps the final state.
func (w *Worker) finish(t order, out *Outcome) error {
	if !t.HasBase {
		return fmt.Errorf("%w: %s", ErrJobFailed, t.Reason)
	}
	final := job.Held{Step: t.Step, Digest: t.Base}
	w.mu.Lock()
	if w.tent != nil && w.tent.held() == final {
		w.setLocked(w.tent, nil)
	}
	have := w.comm != nil && w.comm.held() == final
	if w.run != nil {
		out.Job = w.run.job.ID
	}
	w.mu.Unlock()
	out.Final = final
	w.log.Info("job finished", "state", final.String(), "holds_final_state", have)
	return errDone
}
