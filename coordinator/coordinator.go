package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Errors of starting and running a job.
var (
	// ErrJobExists reports a job id the store already holds with another
	// configuration.
	ErrJobExists = errors.New("coordinator: the store holds another job of that id")
	// ErrNoJob reports a job to resume that the store does not hold.
	ErrNoJob = errors.New("coordinator: no such job to resume")
	// ErrCheckpoint reports a checkpoint that does not fit the job.
	ErrCheckpoint = errors.New("coordinator: checkpoint does not fit the job")
)

// Result is the outcome of a finished job.
type Result struct {
	Job        job.Job
	Final      Held              // the state after the last step
	State      *checkpoint.State // the final state as saved (nil if the final checkpoint was skipped)
	Epochs     []EpochReport     // the epochs trained by this coordinator
	Ledger     Ledger            // who computed which micro-batches of each step
	Recomputed int               // step commits that repeated a step committed before a rollback
	Retries    int               // step attempts abandoned and redone
	Generation uint64            // the last generation
	Steps      int               // units of work of the job (one ledger row each): training steps, or rounds of LocalSteps in weights mode
	LocalSteps int               // training steps per unit: 1 in gradient mode
}

// Coordinator runs a job on a cluster of workers: the event loop around a
// Machine, the gRPC services, the gossip membership and the checkpoint store.
type Coordinator struct {
	cfg   Config
	log   *slog.Logger
	job   job.Job
	store *checkpoint.Store
	prep  *job.Prepared // the job with its data and network
	units job.Units     // the machine's steps are units: 1 training step, or LocalSteps in weights mode
	fresh Digest

	lis    net.Listener
	srv    *grpc.Server
	health *health.Server
	ml     *cluster.Membership
	addr   string

	events chan any
	quit   chan struct{} // closed when the event loop has ended
	bg     sync.WaitGroup

	mu  sync.Mutex
	pub published

	// Owned by the event loop.
	m         *Machine
	epoch     epochAcc
	hist      unitStats // statistics of every committed unit, for epochAt
	watch     watchdog  // notes pauses of the process (pause.go)
	pendingEp map[int]EpochReport
	evalQ     chan evalJob
	metricsQ  chan checkpoint.MetricPoint
	queued    int // metrics points queued so far
	// written counts the metrics points on disk; the recorder signals it.
	wmu     sync.Mutex
	wcond   *sync.Cond
	written int
	evals   int // evaluations queued or running
	reports []EpochReport
	earlier []EpochTest // epochs finished before a resume (restore.go)
	catchUp *catchUp    // an evaluation the resumed job missed, to queue (restore.go)
	final   *checkpoint.State
	stop    *Stop // the machine's decision to stop serving
	reduceB int64

	obs observed // the history Observe returns (observe.go)
}

type published struct {
	tasks    map[string]Task
	version  uint64
	wake     chan struct{}
	addrs    map[string]string
	status   liveStatus
	ckpt     *ckptRef
	done     bool            // finished and not failed: a worker that joins is told to end
	stranger Task            // the instruction for a worker that is not a member
	told     map[string]bool // workers given a Done instruction (the machine has been told of them)
}

// ckptRef is the newest saved checkpoint, which the coordinator serves.
type ckptRef struct {
	held Held
	id   uint64
}

// epochAcc accumulates the statistics of the epoch in progress.
type epochAcc struct {
	epoch   int
	start   time.Time
	last    time.Time
	mse, ce float64
	correct int
	samples int
	timed   int // samples committed since start (samples may include the epoch's steps before a restart)
}

type evalJob struct {
	epoch int
	id    uint64 // the epoch-end checkpoint evaluated
	model *engine.Model
}

// Events of the loop.
type (
	evJoin struct {
		info  JoinInfo
		reply chan uint64
	}
	evHolds struct {
		id   string
		held []Held
	}
	evReport struct {
		r     Report
		reply chan struct{}
	}
	evLeave struct{ node string }
	evTold  struct{ id string }
	evGone  struct{ id, session string }
	evDead  struct{ id, addr string }
	evFatal struct{ err error }
	evCkpt  struct {
		held  Held
		err   error // the state could not be pulled
		fatal error // the store failed
		id    uint64
		state *checkpoint.State
		model *engine.Model
		eval  bool
		epoch int
	}
	evEval struct {
		epoch int
		res   engine.EvalResult
		dur   time.Duration
		err   error
	}
)

// New opens the store, loads the data, decides where the job starts, and
// starts listening (gRPC and gossip). Run then drives the job.
func New(ctx context.Context, cfg Config) (_ *Coordinator, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Coordinator{cfg: cfg, log: log.With("component", "coordinator"), events: make(chan any, 256),
		quit:      make(chan struct{}),
		pendingEp: map[int]EpochReport{}, hist: unitStats{}, evalQ: make(chan evalJob, 64), metricsQ: make(chan checkpoint.MetricPoint, 4096)}
	c.pub.wake = make(chan struct{})
	c.pub.told = map[string]bool{}
	c.wcond = sync.NewCond(&c.wmu)
	c.obs.started = time.Now()
	defer func() {
		if err != nil {
			c.closeAll()
		}
	}()
	if err := os.MkdirAll(filepath.Dir(cfg.storePath()), 0o755); err != nil {
		return nil, fmt.Errorf("coordinator: %w", err)
	}
	c.store, err = checkpoint.Open(cfg.storePath(), &checkpoint.Options{Timeout: 2 * time.Second, KeepLast: 3, KeepBest: 1,
		Logger: c.log, Recover: true}) // a damaged file is set aside and what verifies salvaged

	if err != nil {
		return nil, err
	}
	start, err := c.loadJob(ctx)
	if err != nil {
		return nil, err
	}
	every := (cfg.CheckpointEvery + c.units.UnitSteps - 1) / c.units.UnitSteps // in units
	c.m, err = NewMachine(MachineConfig{TotalSteps: c.units.Total, StepsPerEpoch: c.units.PerEpoch, CheckpointEvery: every,
		StartWorkers: cfg.StartWorkers, MinWorkers: cfg.MinWorkers, StepDeadline: cfg.StepDeadline,
		RetryDelay: cfg.RetryDelay, MaxRetryDelay: cfg.MaxRetryDelay, Settle: cfg.Settle, PauseGrace: pauseGrace,
		FinishGrace: cfg.FinishGrace}, start, time.Now())
	if err != nil {
		return nil, err
	}
	c.epoch = c.epochAt(c.m.Step(), time.Now())
	c.listCheckpoints()
	if err := c.listen(); err != nil {
		return nil, err
	}
	c.publish()
	return c, nil
}

// reduceBytes is the size of the result vector that a step all-reduces (int64
// elements); in a ring of W each worker sends 2(W-1)/W of it.
func reduceBytes(resultLen int) int64 { return int64(resultLen) * 8 }

func (c *Coordinator) listen() error {
	lis, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("coordinator: listen %s: %w", c.cfg.Listen, err)
	}
	c.lis = lis
	c.ml, err = cluster.StartMembership(c.cfg.Gossip, cluster.NewNodeName("coordinator"),
		cluster.Meta{Role: cluster.RoleCoordinator, ID: "coordinator", GRPC: c.advertise(""), Version: cluster.Version()},
		c.log, c.onMember)
	if err != nil {
		return err
	}
	// Listening on all interfaces, the gRPC address is advertised with the
	// gossip address's host, known only now.
	if c.addr = c.advertise(c.ml.Addr()); c.addr != c.advertise("") {
		if err := c.ml.SetMeta(cluster.Meta{Role: cluster.RoleCoordinator, ID: "coordinator", GRPC: c.addr, Version: cluster.Version()}); err != nil {
			return err
		}
	}
	if len(c.cfg.GossipJoin) > 0 {
		if err := c.ml.Join(c.cfg.GossipJoin); err != nil {
			c.log.Info("no previous member answered; workers will join", "err", err)
		}
	}
	c.srv = grpc.NewServer(c.serverOptions()...)
	asfpb.RegisterCoordinatorServer(c.srv, &coordService{co: c})
	asfpb.RegisterWorkerStateServer(c.srv, &stateService{co: c})
	c.health = health.NewServer()
	healthpb.RegisterHealthServer(c.srv, c.health)
	c.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	c.health.SetServingStatus(asfpb.Coordinator_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	c.bg.Add(1)
	go func() {
		defer c.bg.Done()
		_ = c.srv.Serve(lis)
	}()
	c.log.Info("coordinator listening", "grpc", c.addr, "gossip", c.ml.Addr(), "job", c.job.ID,
		"steps", c.units.Total, "steps_per_epoch", c.units.PerEpoch, "state", c.m.State().String())
	return nil
}

// advertise returns the gRPC address to give workers.
func (c *Coordinator) advertise(gossip string) string {
	if c.cfg.Advertise != "" {
		return c.cfg.Advertise
	}
	host, port, _ := net.SplitHostPort(c.lis.Addr().String())
	if ip := net.ParseIP(host); (ip == nil || ip.IsUnspecified()) && gossip != "" {
		host, _, _ = net.SplitHostPort(gossip)
	}
	return net.JoinHostPort(host, port)
}

// Addr is the coordinator's gRPC address, as advertised to workers.
func (c *Coordinator) Addr() string { return c.addr }

// GossipAddr is the coordinator's gossip address: workers join the cluster
// through it.
func (c *Coordinator) GossipAddr() string { return c.ml.Addr() }

// Job is the job the coordinator runs (from the store when resumed).
func (c *Coordinator) Job() job.Job { return c.job }

func (c *Coordinator) onMember(ev cluster.Event) {
	if ev.Kind != cluster.EventLeave || ev.Member.Meta.Role != cluster.RoleWorker {
		return
	}
	c.send(evLeave{node: ev.Member.Name})
}

// send queues an event for the loop; it gives up when the loop has ended.
func (c *Coordinator) send(ev any) bool {
	select {
	case c.events <- ev:
		return true
	case <-c.quit:
		return false
	}
}

// Run drives the job until it is finished (then it returns the result), fails,
// or ctx ends; then it stops serving and closes the store.
func (c *Coordinator) Run(ctx context.Context) (*Result, error) {
	c.bg.Add(2)
	go c.evaluator()
	go c.recorder()
	err := c.loop(ctx)
	close(c.quit)
	close(c.evalQ)
	close(c.metricsQ)
	c.closeAll()
	if err != nil {
		return nil, err
	}
	res := &Result{Job: c.job, Final: c.m.State(), State: c.final, Epochs: c.reports, Ledger: c.m.Ledger(),
		Recomputed: c.m.Recomputed(), Retries: c.m.Retries(), Generation: c.m.Generation(), Steps: c.units.Total, LocalSteps: c.units.UnitSteps}
	return res, nil
}

func (c *Coordinator) closeAll() {
	if c.health != nil {
		c.health.Shutdown()
	}
	if c.srv != nil {
		stopped := make(chan struct{})
		go func() {
			c.srv.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			c.srv.Stop()
		}
	}
	if c.ml != nil {
		if err := c.ml.Leave(3 * c.cfg.Gossip.GossipInterval); err != nil {
			c.log.Debug("leaving the gossip", "err", err)
		}
	}
	c.bg.Wait()
	if c.store != nil {
		if err := c.store.Close(); err != nil {
			c.log.Warn("closing the store", "err", err)
		}
		c.store = nil
	}
	if c.lis != nil && c.srv == nil {
		_ = c.lis.Close()
	}
}

// loop is the event loop: it feeds the machine and carries out its decisions.
func (c *Coordinator) loop(ctx context.Context) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	stopWatch := make(chan struct{})
	defer close(stopWatch)
	go c.watch.watch(stopWatch)
	c.startCatchUp(time.Now())
	c.drain(ctx)
	c.publish()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case now := <-tick.C:
			c.checkPause(now)
			c.m.Tick(now)
		case ev := <-c.events:
			c.checkPause(time.Now())
			c.handle(ev)
		}
		c.drain(ctx)
		c.publish()
		if c.stop != nil { // the machine says when: the members told, the evaluations done, or the grace over
			return c.stop.Err
		}
	}
}

func (c *Coordinator) handle(ev any) {
	now := time.Now()
	switch ev := ev.(type) {
	case evJoin:
		c.m.Join(now, ev.info)
		ev.reply <- c.m.Generation()
	case evHolds:
		c.m.Holds(now, ev.id, ev.held)
	case evReport:
		c.m.Report(now, ev.r)
		close(ev.reply)
	case evLeave:
		if c.m.LeftGossip(now, ev.node) {
			c.log.Warn("worker left or failed (gossip)", "node", ev.node)
		}
	case evGone:
		c.m.Disconnected(now, ev.id, ev.session)
	case evTold:
		c.m.Told(now, ev.id)
	case evFatal:
		c.m.Abort(now, ev.err)
	case evDead:
		c.m.Unreachable(now, ev.id, ev.addr)
	case evCkpt:
		if ev.fatal != nil {
			c.m.Abort(now, ev.fatal)
			return
		}
		if ev.err == nil {
			c.mu.Lock()
			c.pub.ckpt = &ckptRef{held: ev.held, id: ev.id}
			c.mu.Unlock()
			if ev.held.Step == c.units.Total {
				c.final = ev.state
			}
			if ev.eval {
				c.evals++
				c.m.Evaluating(now, c.evals) // before the final checkpoint ends the job: a finished job waits for it
				c.evalQ <- evalJob{epoch: ev.epoch, id: ev.id, model: ev.model}
			}
		} else if rep, ok := c.pendingEp[ev.epoch]; ok && ev.eval {
			delete(c.pendingEp, ev.epoch)
			c.epochDone(rep)
		}
		c.m.CheckpointDone(now, ev.held, ev.err)
	case evEval:
		c.evals--
		defer c.m.Evaluating(now, c.evals) // after the epoch is recorded
		rep, ok := c.pendingEp[ev.epoch]
		if !ok {
			return
		}
		delete(c.pendingEp, ev.epoch)
		if ev.err != nil {
			c.log.Error("test evaluation failed", "epoch", ev.epoch+1, "err", ev.err)
		} else {
			rep.Test, rep.TestAcc, rep.HasTest, rep.EvalDuration = ev.res, ev.res.Accuracy(), true, ev.dur
		}
		c.epochDone(rep)
	}
}

func (c *Coordinator) epochDone(rep EpochReport) {
	c.reports = append(c.reports, rep)
	c.log.Info("epoch done", "epoch", rep.Epoch+1, "loss", rep.TrainLoss, "train_acc", rep.TrainAcc,
		"test_acc", rep.TestAcc, "samples_per_s", int(rep.SamplesPerSec))
	p := checkpoint.MetricPoint{Job: c.job.ID, Kind: "epoch", Epoch: rep.Epoch, Step: (rep.Epoch + 1) * c.units.StepsPerEpoch, Time: time.Now().UTC(),
		Loss: rep.TrainLoss, Acc: rep.TrainAcc, TestAcc: rep.TestAcc, HasTest: rep.HasTest, SamplesPerSec: rep.SamplesPerSec,
		LR: c.job.LR(rep.Epoch, (rep.Epoch+1)*c.units.StepsPerEpoch-1), Workers: len(c.m.Ring()), Generation: c.m.Generation()}
	c.record(p)
	c.obs.epoch(rep)
	if c.cfg.OnEpoch != nil {
		c.cfg.OnEpoch(rep)
	}
}

// drain carries out the machine's decisions in order.
func (c *Coordinator) drain(ctx context.Context) {
	for {
		outs := c.m.Outputs()
		if len(outs) == 0 {
			return
		}
		for _, o := range outs {
			c.do(ctx, o)
		}
	}
}

func (c *Coordinator) do(ctx context.Context, o Output) {
	now := time.Now()
	switch o := o.(type) {
	case NewGeneration:
		c.log.Info("new generation", "generation", o.Generation, "ring", o.Ring, "step", o.Step, "reason", o.Reason)
		c.obs.generation(o, c.units.Steps(o.Step), now)
	case Commit:
		c.commit(o, now)
	case SaveCheckpoint:
		c.bg.Add(1)
		go c.saveCheckpoint(ctx, o, c.summaryFor(o))
	case Evict:
		c.log.Warn("worker evicted", "worker", o.ID, "reason", o.Reason)
	case Rollback:
		c.log.Warn("no live node holds the current state: rolling back", "from", o.From, "to", o.To)
		p := checkpoint.MetricPoint{Job: c.job.ID, Kind: "rollback", Step: c.units.Steps(o.To), Time: now.UTC(), Generation: c.m.Generation()}
		c.record(p)
		c.hist.truncate(o.To)
		c.epoch = c.epochAt(o.To, now)
	case Adopt:
		c.log.Info("adopting the workers' state", "state", o.State.String(), "workers", o.By, "checkpoint_step", o.From)
		c.epoch = c.epochAt(o.State.Step, now)
	case Backoff:
		c.log.Info("step failed; re-forming the ring", "reason", o.Reason, "delay", o.Delay)
	case Probe:
		c.log.Info("checking a worker's health before evicting it", "worker", o.ID, "addr", o.Addr, "reason", o.Reason)
		c.bg.Add(1)
		go c.probe(ctx, o.ID, o.Addr)
	case CheckpointSkipped:
		c.log.Warn("checkpoint skipped", "state", o.State.String(), "err", o.Err)
	case Finished:
		c.log.Info("job finished", "state", o.State.String(), "recomputed", c.m.Recomputed(), "retries", c.m.Retries())
	case Failed:
		c.log.Error("job failed", "err", o.Err)
	case Stop:
		c.stop = &o
	}
}

func (c *Coordinator) commit(o Commit, now time.Time) {
	e, first, n := c.units.Unit(o.Step)
	if c.epoch.epoch != e || first == 0 {
		// A new epoch: time it from when its first step was issued.
		c.epoch = epochAcc{epoch: e, start: now.Add(-o.Reports[0].StepTime)}
	}
	a := &c.epoch
	a.mse += o.Stats.MSE
	a.ce += o.Stats.CE
	a.correct += o.Stats.Correct
	a.samples += o.Stats.Samples
	a.timed += o.Stats.Samples
	a.last = now
	c.hist[o.Step] = o.Stats
	el := now.Sub(a.start)
	info := StepInfo{Step: c.units.Steps(o.Step + 1), Epoch: e, StepInEpoch: first + n, StepsPerEpoch: c.units.StepsPerEpoch, Epochs: c.job.Epochs,
		Loss: a.mse / float64(max(1, a.samples)), Acc: float64(a.correct) / float64(max(1, a.samples)),
		SamplesPerSec: float64(a.timed) / max(el.Seconds(), 1e-9), Workers: len(o.Ring), Generation: o.Generation, Elapsed: el}
	st := o.Stats
	// The history of the previous steps is on disk before this commit is
	// recorded (it was written while this step ran): a crash loses at most the
	// newest step's point.
	c.flushMetrics()
	p := checkpoint.MetricPoint{Job: c.job.ID, Kind: "step", Epoch: e, Step: c.units.Steps(o.Step + 1), Time: now.UTC(),
		Loss: st.MSE / float64(max(1, st.Samples)), Acc: float64(st.Correct) / float64(max(1, st.Samples)),
		SamplesPerSec: info.SamplesPerSec, LR: c.job.LR(e, c.units.Steps(o.Step+1)-1), Workers: len(o.Ring), Generation: o.Generation,
		MSE: st.MSE, CE: st.CE, Correct: st.Correct, Samples: st.Samples}
	c.record(p)
	c.obs.step(StepSnapshot{Step: p.Step, Epoch: e, Time: now, Loss: p.Loss, Accuracy: p.Acc, SamplesPerSec: p.SamplesPerSec,
		Generation: o.Generation, Workers: len(o.Ring)}, o.Reports)
	c.log.Debug("step committed", "step", o.Step, "generation", o.Generation, "loss", p.Loss, "digest", fmt.Sprintf("%x", o.Digest[:6]))
	if info.StepInEpoch == c.units.StepsPerEpoch {
		rep := a.report()
		rep.Duration, rep.SamplesPerSec = el, info.SamplesPerSec
		if c.cfg.NoTest || c.prep.Test.Len() == 0 {
			c.epochDone(rep)
		} else {
			c.pendingEp[e] = rep
		}
		c.epoch = epochAcc{epoch: e + 1, start: now}
	}
	if c.cfg.OnStep != nil {
		c.cfg.OnStep(info)
	}
	if c.cfg.Hooks.AfterCommit != nil {
		c.cfg.Hooks.AfterCommit(o.Step+1, slices.Clone(o.Ring))
	}
}

// probe checks that worker id still answers at addr (the gRPC health
// service), as the machine asked (Probe); if not, the machine hears of it
// (Unreachable).
func (c *Coordinator) probe(ctx context.Context, id, addr string) {
	defer c.bg.Done()
	if addr == "" {
		return
	}
	cc, err := grpc.NewClient(addr, c.dialOption())
	if err != nil {
		return
	}
	defer cc.Close()
	pctx, cancel := context.WithTimeout(ctx, c.cfg.ProbeTimeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(cc).Check(pctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
	if ctx.Err() != nil || err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
		return
	}
	c.log.Warn("a worker does not answer its health check", "worker", id, "addr", addr, "err", err)
	c.send(evDead{id: id, addr: addr})
}
