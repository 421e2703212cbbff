// Package clustertest drives clusters through scheduled faults, for the
// cluster tests: a Schedule of (step, node, fault) applied either to an
// in-process cluster (goroutine nodes, package inproc) or to real child
// processes (the test binary re-executed as coordinator or worker), so that a
// new scenario is one line.
package clustertest

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/internal/faults"
	"github.com/asfnet/asf/internal/job"
)

// Action is a fault.
type Action = faults.Action

// The faults.
const (
	// Kill ends a worker abruptly: SIGKILL for a process; for a goroutine node,
	// its gossip stops without a leave and its connections are cut.
	Kill Action = "kill"
	// Stop freezes a worker (or, with child processes, the coordinator):
	// SIGSTOP for a process; a goroutine node blocks before its next reduction
	// (its gossip still answers).
	Stop Action = "stop"
	// Cont resumes a stopped worker (or coordinator).
	Cont Action = "cont"
	// Hang blocks a worker's steps before their reduction (a compute that
	// never ends) while its gossip and gRPC keep answering: SIGUSR1 for a
	// process (its child handler closes the gate), the same gate as Stop for a
	// goroutine node. Only the step deadline can find it.
	Hang Action = "hang"
	// Unhang lets a hung worker's step go on (SIGUSR2 for a process).
	Unhang Action = "unhang"
	// Join starts a new worker with the given id.
	Join Action = "join"
	// RestartCoordinator kills the coordinator (SIGKILL; in process, a stop)
	// and starts it again on the same addresses and store.
	RestartCoordinator Action = "restart-coordinator"
)

// ErrSchedule reports a schedule that does not parse.
var ErrSchedule = faults.ErrSchedule

// Fault is one scheduled fault (package faults): Action on Node once Step
// steps are committed (applied at that step boundary, after Delay, while step
// Step runs).
type Fault = faults.Fault

// Schedule is a list of faults.
type Schedule = faults.Schedule

// language is the cluster tests' part of the fault language: every action
// takes after=DELAY; faults complete at the step they start, so +N entries
// are resolved to absolute steps when parsed.
var language = faults.Language{
	Rules: []faults.Rule{
		{Action: Kill, Target: faults.Worker, Delay: true},
		{Action: Stop, Target: faults.Any, Delay: true},
		{Action: Cont, Target: faults.Any, Delay: true},
		{Action: Hang, Target: faults.Worker, Delay: true},
		{Action: Unhang, Target: faults.Worker, Delay: true},
		{Action: Join, Target: faults.Worker, Delay: true},
		{Action: RestartCoordinator, Target: faults.CoordinatorOnly, Delay: true},
	},
	Empty: true,
}

// ParseSchedule reads "STEP NODE ACTION [after=DELAY]; ..." (package faults)
// such as "5 w1 kill; 9 w3 join after=10ms; 12 coordinator restart-coordinator";
// +N steps are resolved to absolute ones.
func ParseSchedule(s string) (Schedule, error) {
	out, err := language.Parse(s)
	return out.Absolute(), err
}

// SmallJob is the job of the cluster tests: a small network on a few hundred
// synthetic samples (10 steps per epoch), so that a run takes a fraction of a
// second.
func SmallJob() job.Job {
	j := job.Default()
	j.ID = "cluster-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 8
	j.Epochs = 2
	j.Batch = 32
	j.Micro = 8
	j.TrainSize = 320
	j.TestSize = 64
	j.Optim.LR = 0.005
	j.Optim.ScaleEvery = 1
	return j
}

// CheckAccounting verifies a finished job's ledger: every step committed
// once, each with its micro-batches computed exactly once, and every sample
// of every epoch used exactly once.
func CheckAccounting(res *coordinator.Result, j job.Job, trainLen int) error {
	plan := dataset.Plan{N: trainLen, Batch: j.Batch, Micro: j.Micro}
	if len(res.Ledger) != res.Steps {
		return fmt.Errorf("ledger has %d steps, the job %d", len(res.Ledger), res.Steps)
	}
	h := max(1, res.LocalSteps)
	perm0 := dataset.Perm(j.Seed, 0, trainLen)
	upe := (plan.Steps() + h - 1) / h
	if err := res.Ledger.Verify(func(u int) int {
		return len(coordinator.UnitMicroBatches(plan, perm0, u%upe, h))
	}); err != nil {
		return err
	}
	for e := range j.Epochs {
		for s, n := range res.Ledger.SampleUse(plan, j.Seed, e, h) {
			if n != 1 {
				return fmt.Errorf("epoch %d: sample %d used %d times", e, s, n)
			}
		}
	}
	return nil
}

// InRing reports, per step, whether worker id was in the ring that committed
// it, from the rings of a ledger: '+' in, '-' out, '?' unknown.
func InRing(rings [][]string, id string) string {
	b := make([]byte, len(rings))
	for i, r := range rings {
		switch {
		case r == nil:
			b[i] = '?'
		case slices.Contains(r, id):
			b[i] = '+'
		default:
			b[i] = '-'
		}
	}
	return string(b)
}

// PaceDelay is how long the coordinator is held after each commit while a
// worker that a fault brought (back) into the cluster is not yet in the ring.
const PaceDelay = 100 * time.Millisecond

// pacer keeps a schedule's outcome independent of the machine's speed: a
// worker that joins, continues or must re-register with a restarted
// coordinator needs some wall time (process start, data loading, state sync)
// before it can enter a ring, while the job's steps take milliseconds. Until
// every such worker is in a committed ring, each commit is followed by
// PaceDelay, so the job cannot finish before they enter. A worker that never
// enters still fails the test (the job ends after its last step).
//
// A kill, stop or hang fired after step n runs beside the loop (after its
// delay); on a loaded machine its goroutine can lag several millisecond-long
// steps. The commit after the one that fired it therefore waits until it has
// landed (at most HoldMax), so it lands in step n+1 or at the boundary after
// it, however slow the machine.
type pacer struct {
	mu       sync.Mutex
	alive    map[string]bool // running workers (not killed, not stopped)
	pending  map[string]bool // expected in a ring, not seen there yet
	inflight int             // fired kills, stops and hangs not yet applied
	landed   chan struct{}   // closed when inflight drops to 0
}

// HoldMax bounds how long a commit waits for a fired kill, stop or hang to
// land.
const HoldMax = 10 * time.Second

// holds reports whether the loop waits for f to land before its next step.
// A restart or join must not: it waits on the loop, or takes process time.
func holds(f Fault) bool {
	switch f.Action {
	case Kill, Stop, Hang:
		return true
	}
	return false
}

func newPacer(workers int) *pacer {
	p := &pacer{alive: map[string]bool{}, pending: map[string]bool{}, landed: make(chan struct{})}
	close(p.landed)
	for i := range workers {
		p.alive[fmt.Sprintf("w%d", i)] = true
	}
	return p
}

// fire records a fault that is about to run beside the loop. A worker that
// joins or continues is expected in a ring from now on, so the job cannot end
// while its fault waits for a CPU.
func (p *pacer) fire(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch f.Action {
	case Cont, Unhang, Join:
		p.pending[f.Node] = true
	}
	if !holds(f) {
		return
	}
	if p.inflight == 0 {
		p.landed = make(chan struct{})
	}
	p.inflight++
}

// fault records an applied fault.
func (p *pacer) fault(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if holds(f) && p.inflight > 0 {
		if p.inflight--; p.inflight == 0 {
			close(p.landed)
		}
	}
	switch f.Action {
	case Kill, Stop, Hang:
		delete(p.alive, f.Node)
		delete(p.pending, f.Node)
	case Cont, Unhang, Join:
		p.alive[f.Node] = true
		p.pending[f.Node] = true
	case RestartCoordinator:
		for id := range p.alive {
			p.pending[id] = true
		}
	}
}

// commit records the ring of a committed step and returns how long to hold
// the coordinator before its next step.
func (p *pacer) commit(ring []string) time.Duration {
	p.mu.Lock()
	landed := p.landed
	p.mu.Unlock()
	select {
	case <-landed:
	case <-time.After(HoldMax):
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ring {
		delete(p.pending, id)
	}
	if len(p.pending) > 0 {
		return PaceDelay
	}
	return 0
}
