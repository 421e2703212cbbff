package coordinator

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/script"
)

// The machine is tested with scripts (testdata/machine/*.txt): each block is a
// command, a line "----", and the decisions it must produce, one per line,
// ending with a blank line. Digests are written as one-letter names (F is the
// fresh model). Run with -rewrite to print the actual output instead of
// failing, for writing new scripts.
//
// Commands:
//
//	start total=N spe=N [every=N] [startw=N] [minw=N] [deadline=D] [retry=D] [maxretry=D] [settle=D] [pausegrace=D] [finishgrace=D] [ckpt=S:X] [gen=N] [committed=N]
//	join ID [ready] [inc=X] [session=S] [held=S:X,S:X] [gen=N] [addr=A]
//	holds ID S:X,...
//	report ID [gen=N] [step=N] (ok digest=X [micro=0,1] | fail=aborted|sync|fatal)
//	reportall digest=X              (every ring member reports ok; micro-batches by rank, 4 per step)
//	leave ID
//	disconnect ID [session=S]
//	left INC                        (the gossip member INC left: LeftGossip; "ignored" if no member's process)
//	unreachable ID addr=A           (a health probe failed: Unreachable; "ignored" if it says nothing)
//	pause D                         (the coordinator's process did not run for D: advance the clock, then Paused)
//	tick D                          (advance the clock by D, then Tick)
//	told ID                         (the worker received its Done instruction: Told)
//	evaluating N                    (N test evaluations are in flight: Evaluating)
//	abort                           (Abort: the coordinator shuts down)
//	ckpt S:X [err]                  (CheckpointDone)
//	tasks                           (print every member's instruction)
//	members                         (print every member's address, state and rank)
//	state                           (print phase, generation, step, ring, counters)
//	ledger                          (print the ledger and verify it, 4 micro-batches per step)
var rewrite = flag.Bool("rewrite", false, "rewrite the machine scripts with the actual decisions (review the diff!)")

func TestMachineScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "machine", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/machine (err %v)", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runScript(t, f) })
	}
}

type scriptRun struct {
	t   *testing.T
	m   *Machine
	now time.Time
}

func dg(name string) Digest {
	var d Digest
	copy(d[:], "digest:"+name)
	return d
}

func dname(d Digest) string {
	s := strings.TrimRight(string(d[:]), "\x00")
	if n, ok := strings.CutPrefix(s, "digest:"); ok {
		return n
	}
	return fmt.Sprintf("%x", d[:4])
}

func parseHeld(s string) (Held, error) {
	st, d, ok := strings.Cut(s, ":")
	n, err := strconv.Atoi(st)
	if !ok || err != nil {
		return Held{}, fmt.Errorf("held %q: want STEP:DIGEST", s)
	}
	return Held{Step: n, Digest: dg(d)}, nil
}

func fmtHeld(h Held) string { return fmt.Sprintf("%d:%s", h.Step, dname(h.Digest)) }

func runScript(t *testing.T, path string) {
	r := &scriptRun{t: t, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	script.Run(t, path, *rewrite, r.exec)
}

func kv(args []string) (map[string]string, []string) {
	m := map[string]string{}
	var pos []string
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			m[k] = v
		} else {
			pos = append(pos, a)
		}
	}
	return m, pos
}

func atoi(m map[string]string, k string, def int) int {
	if v, ok := m[k]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			panic(fmt.Sprintf("%s=%q: %v", k, v, err))
		}
		return n
	}
	return def
}

func dur(m map[string]string, k string, def time.Duration) time.Duration {
	if v, ok := m[k]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			panic(fmt.Sprintf("%s=%q: %v", k, v, err))
		}
		return d
	}
	return def
}

func heldList(s string) ([]Held, error) {
	var hs []Held
	if s == "" {
		return nil, nil
	}
	for _, p := range strings.Split(s, ",") {
		h, err := parseHeld(p)
		if err != nil {
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

func (r *scriptRun) exec(cmd string) (out []string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%v", p)
		}
	}()
	fields := strings.Fields(cmd)
	args, pos := kv(fields[1:])
	if fields[0] != "start" && r.m == nil {
		return nil, errors.New("start first")
	}
	switch fields[0] {
	case "start":
		cfg := MachineConfig{TotalSteps: atoi(args, "total", 4), StepsPerEpoch: atoi(args, "spe", 2),
			CheckpointEvery: atoi(args, "every", 0), StartWorkers: atoi(args, "startw", 1), MinWorkers: atoi(args, "minw", 1),
			StepDeadline: dur(args, "deadline", 10*time.Second), RetryDelay: dur(args, "retry", 100*time.Millisecond),
			MaxRetryDelay: dur(args, "maxretry", time.Second), Settle: dur(args, "settle", 0),
			PauseGrace: dur(args, "pausegrace", 10*time.Second), FinishGrace: dur(args, "finishgrace", 3*time.Second)}
		st := Start{Fresh: dg("F"), Generation: uint64(atoi(args, "gen", 0)), Committed: atoi(args, "committed", 0)}
		if c, ok := args["ckpt"]; ok {
			h, err := parseHeld(c)
			if err != nil {
				return nil, err
			}
			st.Checkpoint = &h
		}
		m, err := NewMachine(cfg, st, r.now)
		if err != nil {
			return []string{"error: " + err.Error()}, nil
		}
		r.m = m
	case "join":
		held, err := heldList(args["held"])
		if err != nil {
			return nil, err
		}
		inc := args["inc"]
		if inc == "" {
			inc = pos[0] + ".1"
		}
		r.m.Join(r.now, JoinInfo{ID: pos[0], Incarnation: inc, Session: args["session"], Ready: slices.Contains(pos, "ready"), Held: held, LastGen: uint64(atoi(args, "gen", 0)),
			Addr: args["addr"]})
	case "holds":
		held, err := heldList(pos[1])
		if err != nil {
			return nil, err
		}
		r.m.Holds(r.now, pos[0], held)
	case "report":
		rep := Report{ID: pos[0], Generation: uint64(atoi(args, "gen", int(r.m.Generation()))), Step: atoi(args, "step", r.m.Step()),
			StepTime: 100 * time.Millisecond}
		if f, ok := args["fail"]; ok {
			rep.Failure = map[string]FailureKind{"aborted": FailureAborted, "sync": FailureSync, "fatal": FailureFatal}[f]
			rep.Err = "injected"
		} else {
			rep.OK, rep.Digest = true, dg(args["digest"])
			if mb, ok := args["micro"]; ok {
				for _, s := range strings.Split(mb, ",") {
					n, _ := strconv.Atoi(s)
					rep.Micro = append(rep.Micro, n)
				}
			}
		}
		r.m.Report(r.now, rep)
	case "reportall":
		ring := r.m.Ring()
		for rank, id := range ring {
			rep := Report{ID: id, Generation: r.m.Generation(), Step: r.m.Step(), OK: true, Digest: dg(args["digest"]), StepTime: 100 * time.Millisecond}
			for j := rank; j < 4; j += len(ring) {
				rep.Micro = append(rep.Micro, j)
			}
			r.m.Report(r.now, rep)
		}
	case "leave":
		r.m.Leave(r.now, pos[0], "failed")
	case "unreachable": // a health probe of the worker at addr failed
		if !r.m.Unreachable(r.now, pos[0], args["addr"]) {
			out = append(out, "ignored")
		}
	case "left": // the gossip says the process (node name, incarnation) left
		if !r.m.LeftGossip(r.now, pos[0]) {
			out = append(out, "ignored")
		}
	case "pause": // the coordinator's process did not run for D
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			return nil, err
		}
		r.now = r.now.Add(d)
		r.m.Paused(r.now, d)
	case "told":
		r.m.Told(r.now, pos[0])
	case "evaluating":
		n, err := strconv.Atoi(pos[0])
		if err != nil {
			return nil, err
		}
		r.m.Evaluating(r.now, n)
	case "abort":
		r.m.Abort(r.now, errors.New("shutting down"))
	case "disconnect":
		r.m.Disconnected(r.now, pos[0], args["session"])
	case "tick":
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			return nil, err
		}
		r.now = r.now.Add(d)
		r.m.Tick(r.now)
	case "ckpt":
		h, err := parseHeld(pos[0])
		if err != nil {
			return nil, err
		}
		var e error
		if slices.Contains(pos, "err") {
			e = errors.New("no holder answered")
		}
		r.m.CheckpointDone(r.now, h, e)
	case "members": // every member's address and state
		for _, mi := range r.m.Members() {
			out = append(out, fmt.Sprintf("%s at %q: %s rank %d", mi.ID, mi.Addr, mi.State, mi.Rank))
		}
	case "tasks":
		for _, id := range r.m.sortedIDs() {
			out = append(out, id+": "+fmtTask(r.m.Task(id)))
		}
	case "task": // the instruction for any worker id, member or not
		out = append(out, pos[0]+": "+fmtTask(r.m.Task(pos[0])))
	case "state":
		ck := "none"
		if c, ok := r.m.Checkpoint(); ok {
			ck = fmtHeld(c)
		}
		out = append(out, fmt.Sprintf("phase %s gen %d step %s ring [%s] ckpt %s recomputed %d retries %d",
			r.m.Phase(), r.m.Generation(), fmtHeld(r.m.State()), strings.Join(r.m.Ring(), " "), ck, r.m.Recomputed(), r.m.Retries()))
	case "ledger":
		l := r.m.Ledger()
		for _, row := range l {
			s := fmt.Sprintf("step %d gen %d", row.Step, row.Generation)
			switch {
			case row.Adopted:
				s += " adopted"
			case row.Restored:
				s += " restored"
			default:
				for i, w := range row.Workers {
					s += fmt.Sprintf(" %s%v", w, row.Micro[i])
				}
			}
			if row.Recomputed {
				s += " recomputed"
			}
			out = append(out, s)
		}
		if err := l.Verify(func(int) int { return 4 }); err != nil {
			out = append(out, "verify: "+err.Error())
		} else {
			out = append(out, "verify: ok")
		}
	default:
		return nil, fmt.Errorf("unknown command %q", fields[0])
	}
	for _, o := range r.m.Outputs() {
		out = append(out, fmtOutput(o))
	}
	return out, nil
}

func fmtTask(t Task) string {
	switch t.Kind {
	case TaskCompute:
		s := fmt.Sprintf("compute g%d s%d r%d/%d base=%s", t.Generation, t.Step, t.Rank, len(t.Ring), dname(t.Base))
		if t.SyncFrom != "" {
			s += " sync=" + t.SyncFrom
		}
		return s
	default:
		return t.Kind.String() + " (" + t.Reason + ")"
	}
}

func fmtOutput(o Output) string {
	switch o := o.(type) {
	case Commit:
		s := fmt.Sprintf("commit step %d gen %d -> %s", o.Step, o.Generation, dname(o.Digest))
		if o.Recomputed {
			s += " (recomputed)"
		}
		return s
	case SaveCheckpoint:
		s := fmt.Sprintf("checkpoint %s from [%s]", fmtHeld(o.State), strings.Join(o.From, " "))
		if strings.Join(o.Addrs, "") != "" {
			s += " at [" + strings.Join(o.Addrs, " ") + "]"
		}
		if o.EpochEnd {
			s += " epoch-end"
		}
		if o.Final {
			s += " final"
		}
		return s
	case Adopt:
		slices.Sort(o.By)
		return fmt.Sprintf("adopt %s by [%s] (checkpoint step %d)", fmtHeld(o.State), strings.Join(o.By, " "), o.From)
	case Finished:
		return "finished at " + fmtHeld(o.State)
	case Probe:
		if o.Addr == "" {
			return fmt.Sprintf("probe %s (%s)", o.ID, o.Reason)
		}
		return o.String()
	case CheckpointSkipped:
		return fmt.Sprintf("checkpoint %s skipped", fmtHeld(o.State))
	case Failed:
		msg := o.Err.Error()
		for _, e := range []error{ErrDiverged, ErrStepFailed} {
			if errors.Is(o.Err, e) {
				msg = e.Error()
			}
		}
		return "failed: " + msg
	default:
		return o.String()
	}
}

// TestMachineConfigValidate rejects each bad field by name.
func TestMachineConfigValidate(t *testing.T) {
	good := MachineConfig{TotalSteps: 4, StepsPerEpoch: 2, StartWorkers: 1, MinWorkers: 1, StepDeadline: time.Second,
		RetryDelay: time.Millisecond, MaxRetryDelay: time.Second}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*MachineConfig)
	}{
		{"StepsPerEpoch", func(c *MachineConfig) { c.StepsPerEpoch = 0 }},
		{"TotalSteps", func(c *MachineConfig) { c.TotalSteps = 3 }},
		{"CheckpointEvery", func(c *MachineConfig) { c.CheckpointEvery = -1 }},
		{"MinWorkers", func(c *MachineConfig) { c.MinWorkers = 0 }},
		{"StartWorkers", func(c *MachineConfig) { c.MinWorkers = 2 }},
		{"StepDeadline", func(c *MachineConfig) { c.StepDeadline = 0 }},
		{"RetryDelay", func(c *MachineConfig) { c.RetryDelay = 0 }},
		{"MaxRetryDelay", func(c *MachineConfig) { c.MaxRetryDelay = 0 }},
		{"Settle", func(c *MachineConfig) { c.Settle = -1 }},
		{"PauseGrace", func(c *MachineConfig) { c.PauseGrace = -1 }},
		{"FinishGrace", func(c *MachineConfig) { c.FinishGrace = -1 }},
	} {
		c := good
		tc.mod(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v, want ErrConfig naming the field", tc.field, err)
		}
	}
}
