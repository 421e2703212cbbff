// Package faults is the one language of fault schedules, shared by the
// cluster tests (internal/clustertest: goroutine nodes and child processes)
// and the compose end-to-end test (deploy/e2e: containers). A schedule is a
// list of entries separated by ';':
//
//	STEP NODE ACTION [DURATION] [after=DELAY]
//
// STEP is a committed step count (the entry starts once the coordinator has
// committed that many steps) or +N: N steps after the previous entry
// completed; '+' means nothing else. NODE is a worker's name or
// "coordinator". ACTION is one of the runner's actions (its Language); some
// take a DURATION, how long the fault lasts (a disconnection: "disconnect
// 20s"). after=DELAY waits DELAY past the step boundary before acting, so the
// fault lands while the step runs (runners that support it).
//
// Example: "5 w2 disconnect 20s; +0 w2 in-ring; +5 w1 kill after=3ms".
package faults

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrSchedule reports a schedule that does not parse.
var ErrSchedule = errors.New("faults: bad schedule")

// Coordinator is the node name of the coordinator.
const Coordinator = "coordinator"

// Action is what an entry does to its node.
type Action string

// Fault is one entry of a schedule.
type Fault struct {
	Step     int           // committed steps at which it starts, or (After) steps after the previous entry completed
	After    bool          // written +N
	Node     string        // a worker's name, or Coordinator
	Action   Action        // one of the runner's actions
	Duration time.Duration // how long the fault lasts, for actions that take one
	Delay    time.Duration // after=DELAY: wait this long past the step boundary
}

func (f Fault) String() string {
	s := strconv.Itoa(f.Step)
	if f.After {
		s = "+" + s
	}
	s += " " + f.Node + " " + string(f.Action)
	if f.Duration > 0 {
		s += " " + f.Duration.String()
	}
	if f.Delay > 0 {
		s += " after=" + f.Delay.String()
	}
	return s
}

// Due returns the committed step at which f starts, when the entry before it
// completed at step prev.
func (f Fault) Due(prev int) int {
	if f.After {
		return prev + f.Step
	}
	return f.Step
}

// Schedule is a list of faults, applied in order.
type Schedule []Fault

func (s Schedule) String() string {
	parts := make([]string, len(s))
	for i, f := range s {
		parts[i] = f.String()
	}
	return strings.Join(parts, "; ")
}

// Absolute resolves the relative entries for a runner whose faults complete
// at the step they start: entry i starts at Due(start of entry i-1).
func (s Schedule) Absolute() Schedule {
	out := slices.Clone(s)
	prev := 0
	for i := range out {
		out[i].Step, out[i].After = out[i].Due(prev), false
		prev = out[i].Step
	}
	return out
}

// At returns the faults that start at step, in order (absolute entries).
func (s Schedule) At(step int) []Fault {
	var out []Fault
	for _, f := range s {
		if f.Step == step {
			out = append(out, f)
		}
	}
	return out
}

// Steps returns the steps at which faults start, ascending (absolute entries).
func (s Schedule) Steps() []int {
	var out []int
	for _, f := range s {
		if !slices.Contains(out, f.Step) {
			out = append(out, f.Step)
		}
	}
	slices.Sort(out)
	return out
}

// Target is the kind of node an action applies to.
type Target int

const (
	// Worker actions apply to a worker.
	Worker Target = iota
	// CoordinatorOnly actions apply to the coordinator.
	CoordinatorOnly
	// Any actions apply to a worker or the coordinator.
	Any
)

// Rule is what one action of a Language accepts.
type Rule struct {
	Action   Action
	Target   Target
	Duration bool // takes a DURATION (required)
	Delay    bool // may take after=DELAY
}

// Language is the actions a runner understands.
type Language struct {
	Rules []Rule
	// IsWorker checks a worker's name (nil: any name but "coordinator"), and
	// Workers says in words what it accepts ("w1, w2, ...").
	IsWorker func(string) bool
	Workers  string
	// Empty allows a schedule without entries.
	Empty bool
}

func (l Language) rule(a Action) (Rule, bool) {
	for _, r := range l.Rules {
		if r.Action == a {
			return r, true
		}
	}
	return Rule{}, false
}

func (l Language) isWorker(n string) bool {
	if n == Coordinator {
		return false
	}
	return l.IsWorker == nil || l.IsWorker(n)
}

// Parse reads a schedule in l. Errors wrap ErrSchedule and quote the entry.
func (l Language) Parse(s string) (Schedule, error) {
	var out Schedule
	for _, part := range strings.Split(s, ";") {
		f := strings.Fields(part)
		if len(f) == 0 {
			continue
		}
		fault, err := l.entry(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %v", ErrSchedule, strings.TrimSpace(part), err)
		}
		out = append(out, fault)
	}
	if len(out) == 0 && !l.Empty {
		return nil, fmt.Errorf("%w: no entries in %q", ErrSchedule, s)
	}
	return out, nil
}

func (l Language) entry(f []string) (Fault, error) {
	if len(f) < 3 {
		return Fault{}, errors.New("want STEP NODE ACTION [DURATION] [after=DELAY]")
	}
	fault := Fault{Node: f[1], Action: Action(f[2])}
	num := f[0]
	if strings.HasPrefix(num, "+") {
		fault.After, num = true, num[1:]
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 || strings.HasPrefix(num, "+") || strings.HasPrefix(num, "-") {
		return Fault{}, fmt.Errorf("step %q: want a non-negative integer or +N", f[0])
	}
	fault.Step = n
	if !l.isWorker(fault.Node) && fault.Node != Coordinator {
		want := l.Workers
		if want == "" {
			want = "a worker's name"
		}
		return Fault{}, fmt.Errorf("node %q: want %s or %s", fault.Node, want, Coordinator)
	}
	r, ok := l.rule(fault.Action)
	if !ok {
		names := make([]string, len(l.Rules))
		for i, r := range l.Rules {
			names[i] = string(r.Action)
		}
		return Fault{}, fmt.Errorf("action %q: want %s", f[2], orList(names))
	}
	switch {
	case r.Target == Worker && !l.isWorker(fault.Node):
		return Fault{}, fmt.Errorf("%s applies to a worker, not %s", r.Action, fault.Node)
	case r.Target == CoordinatorOnly && fault.Node != Coordinator:
		return Fault{}, fmt.Errorf("%s applies to the coordinator, not %s", r.Action, fault.Node)
	}
	for _, arg := range f[3:] {
		if v, ok := strings.CutPrefix(arg, "after="); ok {
			if !r.Delay {
				return Fault{}, fmt.Errorf("%s takes no after=DELAY here", r.Action)
			}
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return Fault{}, fmt.Errorf("delay %q: want a duration such as 3ms", v)
			}
			fault.Delay = d
			continue
		}
		if !r.Duration {
			var with []string
			for _, r := range l.Rules {
				if r.Duration {
					with = append(with, string(r.Action))
				}
			}
			if len(with) == 0 {
				return Fault{}, fmt.Errorf("%q: no action takes a duration (a delay is after=DELAY)", arg)
			}
			return Fault{}, fmt.Errorf("only %s takes a duration", orList(with))
		}
		if fault.Duration > 0 {
			return Fault{}, fmt.Errorf("%q: one duration only", arg)
		}
		d, err := time.ParseDuration(arg)
		if err != nil || d <= 0 {
			return Fault{}, fmt.Errorf("duration %q: want a positive duration such as 20s", arg)
		}
		fault.Duration = d
	}
	if r.Duration && fault.Duration == 0 {
		return Fault{}, fmt.Errorf("%s needs a duration, e.g. 20s", r.Action)
	}
	return fault, nil
}

// orList joins names as "a, b or c".
func orList(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}
