package clustertest

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// InProc describes a run of an in-process cluster under a schedule.
type InProc struct {
	Job          job.Job
	DataDir      string
	StorePath    string // "" = a file in DataDir
	Workers      int    // started at once, ids w0..w(n-1)
	Schedule     Schedule
	StepDeadline time.Duration // 0 = 10 s
	Logger       *slog.Logger
	// Tweak, if set, adjusts the coordinator's configuration.
	Tweak func(*coordinator.Config)
	// NoComputeAhead turns off the workers' compute ahead (worker.Config.ComputeAhead).
	NoComputeAhead bool
}

// Report is what a scheduled run observed.
type Report struct {
	Result   *coordinator.Result
	Applied  []Fault
	Outcomes map[string]*worker.Outcome
	// Stats are the workers' measurements at the end, by id.
	Stats map[string]worker.Stats
	// DeathToCommit is, for each killed worker, the time from its death to the
	// next committed step.
	DeathToCommit []time.Duration
}

// gate blocks a worker's reductions while it is "stopped".
type gate struct {
	mu      sync.Mutex
	stopped chan struct{} // non-nil while stopped; closed by cont
}

func (g *gate) stop() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped == nil {
		g.stopped = make(chan struct{})
	}
}

func (g *gate) cont() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stopped != nil {
		close(g.stopped)
		g.stopped = nil
	}
}

// wait blocks while the gate is stopped, like a frozen process: the context
// is ignored on purpose.
func (g *gate) wait(context.Context, int) {
	g.mu.Lock()
	ch := g.stopped
	g.mu.Unlock()
	if ch != nil {
		<-ch
	}
}

// RunInProc runs the job on an in-process cluster, applying the schedule's
// faults at step boundaries, and returns what happened.
func RunInProc(ctx context.Context, o InProc) (*Report, error) {
	cfg := coordinator.DefaultConfig(o.Job)
	cfg.DataDir = o.DataDir
	cfg.StorePath = o.StorePath
	cfg.StartWorkers = max(1, o.Workers)
	cfg.NoTest = true
	cfg.StepDeadline = o.StepDeadline
	if cfg.StepDeadline == 0 {
		cfg.StepDeadline = 10 * time.Second
	}
	cfg.Settle = time.Second
	cfg.CheckpointEvery = 5
	cfg.FinishGrace = time.Second
	var (
		mu       sync.Mutex
		cl       *inproc.Cluster
		gates    = map[string]*gate{}
		rep      = &Report{Outcomes: map[string]*worker.Outcome{}, Stats: map[string]worker.Stats{}}
		fired    = map[int]bool{}
		deaths   []time.Time
		asyncErr error
		async    sync.WaitGroup
	)
	gateOf := func(id string) *gate {
		mu.Lock()
		defer mu.Unlock()
		if gates[id] == nil {
			gates[id] = &gate{}
		}
		return gates[id]
	}
	pace := newPacer(o.Workers)
	apply := func(f Fault) {
		defer async.Done()
		time.Sleep(f.Delay)
		var err error
		switch f.Action {
		case Kill:
			mu.Lock()
			deaths = append(deaths, time.Now())
			mu.Unlock()
			err = cl.Crash(f.Node)
		case Stop, Hang:
			gateOf(f.Node).stop()
		case Cont, Unhang:
			gateOf(f.Node).cont()
		case Join:
			_, err = cl.AddWorker()
		case RestartCoordinator:
			err = cl.RestartCoordinator()
		}
		pace.fault(f)
		if err != nil {
			mu.Lock()
			asyncErr = fmt.Errorf("fault %v: %w", f, err)
			mu.Unlock()
		}
	}
	cfg.Hooks.AfterCommit = func(steps int, ring []string) {
		time.Sleep(pace.commit(ring))
		mu.Lock()
		now := time.Now()
		for _, d := range deaths {
			rep.DeathToCommit = append(rep.DeathToCommit, now.Sub(d))
		}
		deaths = nil
		if fired[steps] {
			mu.Unlock()
			return
		}
		fired[steps] = true
		faults := o.Schedule.At(steps)
		rep.Applied = append(rep.Applied, faults...)
		mu.Unlock()
		for _, f := range faults {
			pace.fire(f)
			async.Add(1)
			go apply(f) // faults run beside the loop: a restart must not wait on the loop it ends
		}
	}
	if o.Tweak != nil {
		o.Tweak(&cfg)
	}
	next := 0
	var err error
	cl, err = inproc.Start(ctx, inproc.Config{Coordinator: cfg, Workers: o.Workers, Logger: o.Logger,
		Worker: func(int) worker.Config {
			wc := worker.DefaultConfig()
			mu.Lock()
			wc.ID = fmt.Sprintf("w%d", next)
			next++
			mu.Unlock()
			wc.Threads = 1
			wc.ComputeAhead = !o.NoComputeAhead
			wc.RetryMax = 500 * time.Millisecond
			wc.Hooks.BeforeReduce = gateOf(wc.ID).wait
			return wc
		}})
	if err != nil {
		return nil, err
	}
	res, err := cl.Run()
	// Release stopped workers so that everything can end.
	mu.Lock()
	for _, g := range gates {
		g.cont()
	}
	mu.Unlock()
	async.Wait()
	cl.Stop()
	rep.Result = res
	for i := range next {
		id := fmt.Sprintf("w%d", i)
		if n := cl.Worker(id); n != nil {
			if n.Outcome != nil {
				rep.Outcomes[id] = n.Outcome
			}
			rep.Stats[id] = n.W.Stats()
		}
	}
	if err == nil {
		err = asyncErr
	}
	return rep, err
}
