package worker

import (
	"fmt"
	"strings"

	"github.com/asfnet/asf/internal/job"
)

// The worker's decisions, as a pure machine in the coordinator's style: the
// serve loop (worker.go) feeds it the events it sees (an instruction from the
// coordinator, the step in flight finishing, the coordinator lost, its own
// address moved) and carries out the decisions it returns; pickBase decides
// where a step's state comes from. Neither touches the network, a goroutine
// or the clock, so scripts (testdata/core/*.txt) test them.

// stepKey names a compute instruction: the step of a generation.
type stepKey struct {
	gen  uint64
	step int
}

func (k stepKey) String() string { return fmt.Sprintf("g%d s%d", k.gen, k.step) }

// decision is what the driver does after an event, in this order: cancel
// the step in flight (and wait for it, dropping its report), or wait for it
// to finish keeping its result; send the finished step's report; start a
// step; leave the serve loop with a reason.
type decision struct {
	Cancel bool    // cancel the step in flight and wait for it; its report is dropped
	Await  bool    // let the step in flight finish (its state is kept), report nothing
	Report bool    // send the report of the step that finished
	Start  bool    // start computing StartKey
	Key    stepKey // the step to start
	Leave  leave   // leave the serve loop
}

// leave is why the serve loop ends.
type leave int

const (
	stay        leave = iota
	leaveDone         // the job is over: keep the final state
	leaveRejoin       // register again, keeping the states
	leaveLost         // the coordinator cannot be reached
	leaveMoved        // this worker's address changed
)

func (d decision) String() string {
	var parts []string
	if d.Cancel {
		parts = append(parts, "cancel")
	}
	if d.Await {
		parts = append(parts, "await")
	}
	if d.Report {
		parts = append(parts, "report")
	}
	if d.Start {
		parts = append(parts, "start "+d.Key.String())
	}
	if d.Leave != stay {
		parts = append(parts, "leave "+[]string{"", "done", "rejoin", "lost", "moved"}[d.Leave])
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// core is the serve loop's state: the step in flight and the last compute
// instruction started (a repeat of it is ignored even after it finished).
type core struct {
	flying  bool
	current stepKey
	last    stepKey
	started bool // last is set
}

// instruction is a new instruction from the coordinator (a kind other than
// compute, rejoin and done is a wait).
func (c *core) instruction(kind job.TaskKind, k stepKey) decision {
	switch kind {
	case job.TaskDone:
		return c.cancel(decision{Leave: leaveDone})
	case job.TaskRejoin:
		return c.cancel(decision{Leave: leaveRejoin})
	case job.TaskCompute:
		if (c.flying && c.current == k) || (c.started && c.last == k) {
			return decision{} // a repeat of the instruction in hand
		}
		d := c.cancel(decision{Start: true, Key: k})
		c.flying, c.current, c.last, c.started = true, k, k, true
		return d
	}
	return c.cancel(decision{}) // wait: the step in flight was abandoned
}

// stepDone is the step in flight finishing.
func (c *core) stepDone() decision {
	c.flying = false
	return decision{Report: true}
}

// lost is the coordinator found unreachable: the step in flight finishes (a
// restarted coordinator may adopt its result), then the worker registers again.
func (c *core) lost() decision {
	d := decision{Await: c.flying, Leave: leaveLost}
	c.flying = false
	return d
}

// moved is this worker's address changing (same: it is the one already
// advertised). The step in flight is abandoned: the others cannot reach the
// old address, and the new registration re-forms the ring.
func (c *core) moved(same bool) decision {
	if same {
		return decision{}
	}
	return c.cancel(decision{Leave: leaveMoved})
}

// cancel adds the cancellation of the step in flight, if any, to d.
func (c *core) cancel(d decision) decision {
	if c.flying {
		d.Cancel, c.flying = true, false
	}
	return d
}

// baseSource is where a step's starting state comes from.
type baseSource int

const (
	baseCommitted baseSource = iota // the committed state: a redo of the step, what was computed is dropped
	baseTentative                   // the tentative state, which the instruction thereby commits
	baseFresh                       // a freshly initialised model (step 0)
	baseSync                        // a copy fetched from the instruction's source
)

func (b baseSource) String() string {
	return [...]string{"committed", "tentative", "fresh", "sync"}[b]
}

// pickBase decides where the state want comes from, given the states held
// (nil: none) and the digest of the fresh model.
func pickBase(comm, tent *job.Held, fresh job.Digest, want job.Held) baseSource {
	switch {
	case comm != nil && *comm == want:
		return baseCommitted
	case tent != nil && *tent == want:
		return baseTentative
	case want.Step == 0 && want.Digest == fresh:
		return baseFresh
	}
	return baseSync
}
