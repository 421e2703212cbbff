// Package inproc runs a whole cluster in one process: a coordinator and N
// workers, each with its own gRPC server and gossip member on 127.0.0.1, talking
// over loopback exactly as separate processes would. It is `asf train
// --workers N`, and the in-process harness of the cluster tests.
//
// The nodes share one copy of the data sets (they are read-only), so N workers
// cost little more memory than one.
package inproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// Config describes an in-process cluster.
type Config struct {
	// Coordinator is the coordinator's configuration; its Listen and Gossip are
	// replaced by loopback ones, and Data by the shared loader.
	Coordinator coordinator.Config
	// Workers is how many workers to start with (>= 0; more may be added).
	Workers int
	// Worker returns the configuration of worker i (nil: DefaultConfig with id
	// "w<i>" and Threads = GOMAXPROCS/Workers); Listen, Gossip, Join and Data are
	// replaced.
	Worker func(i int) worker.Config
	// Logger receives every node's log; nil discards.
	Logger *slog.Logger
}

// SharedData returns a DataFunc that loads each job's data once (by data set
// and sizes) from dir and hands the same sets to every caller.
func SharedData(dir string) func(context.Context, job.Job) (*dataset.Set, *dataset.Set, error) {
	type key struct {
		name              string
		trainSize, tstSiz int
	}
	type entry struct {
		once        sync.Once
		train, test *dataset.Set
		err         error
	}
	var mu sync.Mutex
	cache := map[key]*entry{}
	return func(ctx context.Context, j job.Job) (*dataset.Set, *dataset.Set, error) {
		k := key{j.Dataset, j.TrainSize, j.TestSize}
		mu.Lock()
		e := cache[k]
		if e == nil {
			e = &entry{}
			cache[k] = e
		}
		mu.Unlock()
		e.once.Do(func() { e.train, e.test, e.err = job.LoadData(ctx, j, dir) })
		if e.err != nil {
			mu.Lock()
			delete(cache, k) // let a later call retry (a cancelled context, a fetch that failed)
			mu.Unlock()
		}
		return e.train, e.test, e.err
	}
}

// Cluster is a running in-process cluster.
type Cluster struct {
	cfg  Config
	ccfg coordinator.Config
	data func(context.Context, job.Job) (*dataset.Set, *dataset.Set, error)
	log  *slog.Logger

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// The coordinator, replaced by RestartCoordinator.
	cmu        sync.Mutex
	C          *coordinator.Coordinator
	cctx       context.Context
	ccancel    context.CancelFunc
	cdone      chan struct{} // closed when the current coordinator's Run returned
	restarting chan struct{} // closed when a restart in progress is over
	restartErr error
	restarts   int

	mu      sync.Mutex
	workers map[string]*Node
	next    int
}

// Node is an in-process worker.
type Node struct {
	W       *worker.Worker
	cancel  context.CancelFunc
	done    chan struct{}
	Outcome *worker.Outcome
	Err     error
}

// Wait waits for the worker to stop and returns its error.
func (n *Node) Wait() error {
	<-n.done
	return n.Err
}

// Start starts the coordinator and cfg.Workers workers.
func Start(ctx context.Context, cfg Config) (*Cluster, error) {
	if cfg.Workers < 0 {
		return nil, fmt.Errorf("inproc: %d workers, want >= 0", cfg.Workers)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cc := cfg.Coordinator.Loopback()
	data := SharedData(cc.DataDir)
	cc.Data = data
	cc.Logger = log
	co, err := coordinator.New(ctx, cc)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, ccfg: cc, data: data, log: log, C: co, workers: map[string]*Node{}, cdone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(ctx)
	c.cctx, c.ccancel = context.WithCancel(c.ctx)
	for range cfg.Workers {
		if _, err := c.AddWorker(); err != nil {
			c.cancel()
			c.wg.Wait()
			return nil, err
		}
	}
	return c, nil
}

// AddWorker starts another worker and returns it.
func (c *Cluster) AddWorker() (*Node, error) {
	c.mu.Lock()
	i := c.next
	c.next++
	c.mu.Unlock()
	var wc worker.Config
	if c.cfg.Worker != nil {
		wc = c.cfg.Worker(i)
	} else {
		wc = worker.DefaultConfig()
		wc.ID = fmt.Sprintf("w%d", i)
		wc.Threads = max(1, runtime.GOMAXPROCS(0)/max(1, c.cfg.Workers))
	}
	wc = wc.Loopback()
	wc.Join = []string{c.Coordinator().GossipAddr()}
	wc.Coordinator = ""
	wc.Data = c.data
	wc.DataDir = c.cfg.Coordinator.DataDir
	if wc.Logger == nil {
		wc.Logger = c.log
	}
	w, err := worker.New(wc)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(c.ctx)
	n := &Node{W: w, cancel: cancel, done: make(chan struct{})}
	c.mu.Lock()
	c.workers[wc.ID] = n
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(n.done)
		n.Outcome, n.Err = w.Run(ctx)
	}()
	return n, nil
}

// Worker returns the worker with the given id.
func (c *Cluster) Worker(id string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.workers[id]
}

// Workers returns the workers started so far (running or not), sorted by id.
func (c *Cluster) Workers() []*Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	ids := slices.Sorted(maps.Keys(c.workers))
	out := make([]*Node, len(ids))
	for i, id := range ids {
		out[i] = c.workers[id]
	}
	return out
}

// Crash stops worker id abruptly (no gossip leave, connections cut) and waits
// for it to stop.
func (c *Cluster) Crash(id string) error {
	n := c.Worker(id)
	if n == nil {
		return fmt.Errorf("inproc: no worker %q", id)
	}
	n.W.Crash()
	n.cancel()
	<-n.done
	return nil
}

// Run runs the coordinator until the job ends, then waits for the workers,
// and returns the coordinator's result and the first worker error.
func (c *Cluster) Run() (*coordinator.Result, error) {
	var res *coordinator.Result
	var err error
	for {
		c.cmu.Lock()
		co, cctx, cdone := c.C, c.cctx, c.cdone
		c.cmu.Unlock()
		res, err = co.Run(cctx)
		close(cdone)
		c.cmu.Lock()
		restarting := c.restarting
		c.cmu.Unlock()
		if restarting == nil || c.ctx.Err() != nil {
			break
		}
		<-restarting
		c.cmu.Lock()
		rerr := c.restartErr
		c.cmu.Unlock()
		if rerr != nil {
			err = rerr
			break
		}
	}
	if err != nil {
		c.cancel()
	}
	done := make(chan struct{})
	go func() { c.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second): // a worker that missed the end (it was cut off) is stopped
		c.cancel()
		<-done
	}
	c.cancel()
	var werr error
	c.mu.Lock()
	for id, n := range c.workers {
		if n.Err != nil && !errors.Is(n.Err, context.Canceled) {
			werr = errors.Join(werr, fmt.Errorf("worker %s: %w", id, n.Err))
		}
	}
	c.mu.Unlock()
	if err != nil {
		return res, err
	}
	return res, werr
}

// Stop cancels everything and waits for the nodes to stop.
func (c *Cluster) Stop() {
	c.cancel()
	c.wg.Wait()
}

// Run starts an in-process cluster and runs its job to the end.
func Run(ctx context.Context, cfg Config) (*coordinator.Result, error) {
	c, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return c.Run()
}
