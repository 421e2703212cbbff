// Package e2e is the end-to-end test of the compose cluster (deploy/compose.yaml):
// it builds the images, starts a coordinator and workers in containers on an
// MNIST subset, disturbs them from a fault schedule (docker kill, docker
// network disconnect and connect, a coordinator killed and started again),
// and checks that the job completes with the weight digest of the same job
// run in one process and that no container panicked. The test runs when
// `docker info` works and says why it skips otherwise.
//
// This file holds the fault schedule; the test is in e2e_test.go.
package e2e

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrSchedule reports a schedule that does not parse.
var ErrSchedule = errors.New("e2e: bad schedule")

// Action is what a schedule entry does to a node.
type Action string

// The actions.
const (
	// Kill is `docker kill` (SIGKILL) of a worker container; it stays down.
	Kill Action = "kill"
	// Disconnect is `docker network disconnect` of a worker for Duration, then
	// `docker network connect`; the entry completes at the reconnection.
	Disconnect Action = "disconnect"
	// Restart is `docker kill` of the coordinator container, then `docker
	// start`: a crash and a restart on the same store volume.
	Restart Action = "restart"
	// InRing is no fault: the entry completes once the node is in the
	// coordinator's ring (after a disconnection, it proves the node came back).
	InRing Action = "in-ring"
)

// Fault is one entry of a schedule: Action on Node once the coordinator has
// committed Step steps (After false), or Step steps after the previous entry
// completed (After true, written "+N").
type Fault struct {
	Step     int
	After    bool
	Node     string // w1, w2, ... (workers in compose's numbering) or "coordinator"
	Action   Action
	Duration time.Duration // Disconnect only
}

func (f Fault) String() string {
	s := strconv.Itoa(f.Step)
	if f.After {
		s = "+" + s
	}
	s += " " + f.Node + " " + string(f.Action)
	if f.Action == Disconnect {
		s += " " + f.Duration.String()
	}
	return s
}

// Schedule is a list of faults, applied in order: an entry is not started
// before the one before it has completed.
type Schedule []Fault

func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.String()
	}
	return strings.Join(parts, "; ")
}

// Due returns the committed step at which f, the entry after one that
// completed at step prev, starts.
func (f Fault) Due(prev int) int {
	if f.After {
		return prev + f.Step
	}
	return f.Step
}

// ParseSchedule reads "STEP NODE ACTION [DURATION]; ..." where STEP is a
// committed step count or +N (N steps after the previous entry completed),
// NODE is w1, w2, ... or coordinator, and ACTION is kill, disconnect (with a
// duration), restart (coordinator only) or in-ring. Example:
//
//	5 w2 disconnect 20s; +0 w2 in-ring; +5 w1 kill; +10 coordinator restart
func ParseSchedule(s string) (Schedule, error) {
	var out Schedule
	for _, part := range strings.Split(s, ";") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		entry := strings.TrimSpace(part)
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w: %q: %s", ErrSchedule, entry, fmt.Sprintf(format, args...))
		}
		if len(f) < 3 || len(f) > 4 {
			return nil, bad("want STEP NODE ACTION [DURATION]")
		}
		fault := Fault{Node: f[1], Action: Action(f[2])}
		num := f[0]
		if strings.HasPrefix(num, "+") {
			fault.After, num = true, num[1:]
		}
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 || strings.HasPrefix(num, "+") || strings.HasPrefix(num, "-") {
			return nil, bad("step %q: want a non-negative integer or +N", f[0])
		}
		fault.Step = n
		worker := isWorkerName(fault.Node)
		if !worker && fault.Node != "coordinator" {
			return nil, bad("node %q: want w1, w2, ... or coordinator", fault.Node)
		}
		switch fault.Action {
		case Kill, InRing:
			if !worker {
				return nil, bad("%s applies to a worker, not %s", fault.Action, fault.Node)
			}
		case Disconnect:
			if !worker {
				return nil, bad("disconnect applies to a worker, not %s", fault.Node)
			}
			if len(f) != 4 {
				return nil, bad("disconnect needs a duration, e.g. 20s")
			}
			d, err := time.ParseDuration(f[3])
			if err != nil || d <= 0 {
				return nil, bad("duration %q: want a positive duration such as 20s", f[3])
			}
			fault.Duration = d
		case Restart:
			if fault.Node != "coordinator" {
				return nil, bad("restart applies to the coordinator, not %s", fault.Node)
			}
		default:
			return nil, bad("action %q: want kill, disconnect, restart or in-ring", f[2])
		}
		if len(f) == 4 && fault.Action != Disconnect {
			return nil, bad("only disconnect takes a duration")
		}
		out = append(out, fault)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no entries in %q", ErrSchedule, s)
	}
	return out, nil
}

// WorkerIndex returns n for a node named wn (1-based), or 0.
func WorkerIndex(node string) int {
	if !isWorkerName(node) {
		return 0
	}
	n, _ := strconv.Atoi(node[1:])
	return n
}

func isWorkerName(s string) bool {
	if len(s) < 2 || s[0] != 'w' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
