package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
)

// Digest is the SHA-256 of a model's weights and scales.
type Digest = job.Digest

// Held names a training state: the steps it has completed and its digest.
type Held = job.Held

// FromCoordinator is the SyncFrom of a task whose base state the coordinator
// serves from its checkpoint store. Worker ids cannot contain '@'.
const FromCoordinator = "@coordinator"

// Phase is where the machine is in the job.
type Phase int

// The phases of a job.
const (
	// PhaseRecovering: the coordinator has (re)started and waits for workers to
	// register, to decide which state to continue from.
	PhaseRecovering Phase = iota
	// PhaseWaiting: fewer workers than needed; no ring.
	PhaseWaiting
	// PhaseRunning: a ring is computing a step.
	PhaseRunning
	// PhaseBackoff: a step failed; a new generation is formed after a delay.
	PhaseBackoff
	// PhaseCheckpoint: a step is committed and its state is being saved before
	// the next step is issued.
	PhaseCheckpoint
	// PhaseDone: every step is committed and the final state saved.
	PhaseDone
	// PhaseFailed: the job cannot continue (replicas diverged, a fatal error).
	PhaseFailed
)

func (p Phase) String() string {
	switch p {
	case PhaseRecovering:
		return "recovering"
	case PhaseWaiting:
		return "waiting"
	case PhaseRunning:
		return "running"
	case PhaseBackoff:
		return "backoff"
	case PhaseCheckpoint:
		return "checkpoint"
	case PhaseDone:
		return "done"
	case PhaseFailed:
		return "failed"
	}
	return fmt.Sprintf("phase(%d)", int(p))
}

// TaskKind is what the coordinator wants a worker to do (shared with the
// workers).
type TaskKind = job.TaskKind

// Task kinds.
const (
	TaskWait    = job.TaskWait    // nothing now
	TaskCompute = job.TaskCompute // compute a step in a ring
	TaskDone    = job.TaskDone    // the job is over
	TaskRejoin  = job.TaskRejoin  // not a member: join again
)

// Task is the coordinator's instruction to one worker.
type Task struct {
	Kind       TaskKind
	Generation uint64
	Step       int      // the global step to compute
	Ring       []string // worker ids in rank order
	Rank       int
	Base       Digest // digest of the state the step starts from
	SyncFrom   string // "" if the worker holds the base; a worker id, or FromCoordinator
	Reason     string // for Wait, Done and Rejoin
}

// FailureKind classifies a failed step (shared with the workers).
type FailureKind = job.FailureKind

// Failure kinds.
const (
	FailureNone    = job.FailureNone
	FailureAborted = job.FailureAborted // the reduction broke: redo in a new generation
	FailureSync    = job.FailureSync    // the worker could not get the base state
	FailureFatal   = job.FailureFatal   // the step cannot succeed anywhere
)

// StepStats are the statistics of one global batch.
type StepStats = job.StepStats

// Report is a worker's account of one step of one generation, the type the
// worker builds (package job; converted from the wire in server.go).
type Report = job.Report

// JoinInfo is a worker's registration.
type JoinInfo struct {
	ID          string
	Incarnation string // changes with every process start (the memberlist node name)
	Session     string // changes with every registration
	Ready       bool   // data loaded: may enter a ring
	Held        []Held // states it holds
	LastGen     uint64 // newest generation it took part in
	Addr        string // its gRPC address
}

// MachineConfig are the rules of a Machine.
type MachineConfig struct {
	TotalSteps      int           // steps of the whole job
	StepsPerEpoch   int           // steps of one epoch
	CheckpointEvery int           // save every this many steps (0: only at epoch ends and the end)
	StartWorkers    int           // workers to wait for before the first generation of a new job (a restart waits for MinWorkers)
	MinWorkers      int           // fewer ready workers than this: wait
	StepDeadline    time.Duration // a ring member that has not reported this long after the step was issued is evicted
	RetryDelay      time.Duration // first delay before re-forming a ring after a failed step
	MaxRetryDelay   time.Duration // the delay doubles after each failure up to this
	Settle          time.Duration // after a restart, wait this long for workers to register (a new job does not: no worker can hold a state of it)
	PauseGrace      time.Duration // after a pause of the coordinator's own process, a member that seems gone is probed before it is evicted
	FinishGrace     time.Duration // once the job is over, keep serving at most this long for the members to be told
}

// Validate reports the first bad field.
func (c MachineConfig) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v, want %s", ErrConfig, field, v, want)
	}
	switch {
	case c.StepsPerEpoch < 1:
		return bad("StepsPerEpoch", c.StepsPerEpoch, ">= 1")
	case c.TotalSteps < 1 || c.TotalSteps%c.StepsPerEpoch != 0:
		return bad("TotalSteps", c.TotalSteps, fmt.Sprintf("a positive multiple of StepsPerEpoch (%d)", c.StepsPerEpoch))
	case c.CheckpointEvery < 0:
		return bad("CheckpointEvery", c.CheckpointEvery, ">= 0")
	case c.MinWorkers < 1:
		return bad("MinWorkers", c.MinWorkers, ">= 1")
	case c.StartWorkers < c.MinWorkers:
		return bad("StartWorkers", c.StartWorkers, fmt.Sprintf(">= MinWorkers (%d)", c.MinWorkers))
	case c.StepDeadline <= 0:
		return bad("StepDeadline", c.StepDeadline, "> 0")
	case c.RetryDelay <= 0:
		return bad("RetryDelay", c.RetryDelay, "> 0")
	case c.MaxRetryDelay < c.RetryDelay:
		return bad("MaxRetryDelay", c.MaxRetryDelay, fmt.Sprintf(">= RetryDelay (%v)", c.RetryDelay))
	case c.Settle < 0:
		return bad("Settle", c.Settle, ">= 0")
	case c.PauseGrace < 0:
		return bad("PauseGrace", c.PauseGrace, ">= 0")
	case c.FinishGrace < 0:
		return bad("FinishGrace", c.FinishGrace, ">= 0")
	}
	return nil
}

// Start is where a Machine begins.
type Start struct {
	Fresh      Digest      // digest of the freshly initialised model (step 0)
	Checkpoint *Held       // the newest saved checkpoint, if any
	Generation uint64      // the newest generation known (from the metrics history)
	Committed  int         // the highest step count ever committed (from the metrics history)
	Ledger     []LedgerRow // the ledger restored from the metrics history
}

// Output is a decision of the Machine, for the driver to carry out in order.
type Output interface{ String() string }

// NewGeneration: a new ring computes Step.
type NewGeneration struct {
	Generation uint64
	Ring       []string
	Step       int
	Reason     string
}

func (o NewGeneration) String() string {
	return fmt.Sprintf("generation %d ring [%s] step %d (%s)", o.Generation, strings.Join(o.Ring, " "), o.Step, o.Reason)
}

// Commit: every ring member computed Step with the same result.
type Commit struct {
	Step       int // the step computed; Step+1 steps are now complete
	Generation uint64
	Ring       []string
	Digest     Digest // state after the step
	Stats      StepStats
	Reports    []Report // in ring order
	Recomputed bool     // the step had been committed before a rollback
}

func (o Commit) String() string {
	s := fmt.Sprintf("commit step %d generation %d digest %x", o.Step, o.Generation, o.Digest[:4])
	if o.Recomputed {
		s += " (recomputed)"
	}
	return s
}

// SaveCheckpoint: pull State from one of From (in order) and save it; then
// feed CheckpointDone.
type SaveCheckpoint struct {
	State    Held
	From     []string
	Addrs    []string // the gRPC address of each of From, as registered when the step was committed
	EpochEnd bool
	Final    bool
}

func (o SaveCheckpoint) String() string {
	s := fmt.Sprintf("checkpoint %s from [%s]", o.State, strings.Join(o.From, " "))
	if o.EpochEnd {
		s += " epoch-end"
	}
	if o.Final {
		s += " final"
	}
	return s
}

// Evict: a worker is no longer a member (it missed the deadline, left or
// failed); it must join again.
type Evict struct{ ID, Reason string }

func (o Evict) String() string { return fmt.Sprintf("evict %s (%s)", o.ID, o.Reason) }

// Rollback: no live node holds the state of step From; continue from To.
type Rollback struct{ From, To int }

func (o Rollback) String() string { return fmt.Sprintf("rollback from step %d to %d", o.From, o.To) }

// Adopt: after a restart, the workers hold a state newer than the checkpoint.
type Adopt struct {
	From  int // the step the coordinator would otherwise have continued from
	State Held
	By    []string
}

func (o Adopt) String() string {
	return fmt.Sprintf("adopt %s from [%s] (checkpoint at step %d)", o.State, strings.Join(o.By, " "), o.From)
}

// Backoff: a step failed; a new ring is formed after Delay (the members of
// the failed ring are probed meanwhile).
type Backoff struct {
	Reason string
	Delay  time.Duration
}

func (o Backoff) String() string { return fmt.Sprintf("backoff %v (%s)", o.Delay, o.Reason) }

// Probe: check that worker ID answers at its gRPC address Addr (the health
// service) and feed Unreachable if it does not. The machine asks after a
// failed step (a member that died is evicted rather than retried with until
// the gossip declares it dead), and for a member that seems gone just after a
// pause of the coordinator's own process (the pause, not the worker, may
// have broken its poll or its gossip).
type Probe struct{ ID, Addr, Reason string }

func (o Probe) String() string { return fmt.Sprintf("probe %s at %s (%s)", o.ID, o.Addr, o.Reason) }

// CheckpointSkipped: the state could not be pulled from any holder.
type CheckpointSkipped struct {
	State Held
	Err   error
}

func (o CheckpointSkipped) String() string {
	return fmt.Sprintf("checkpoint %s skipped: %v", o.State, o.Err)
}

// Finished: the job is done.
type Finished struct{ State Held }

func (o Finished) String() string { return fmt.Sprintf("finished at %s", o.State) }

// Failed: the job stopped.
type Failed struct{ Err error }

func (o Failed) String() string { return fmt.Sprintf("failed: %v", o.Err) }

// Stop: the job is over (finished, or failed with Err) and the driver may
// stop serving: every member has been told (Told) and every test evaluation
// of a finished job has ended (Evaluating), or FinishGrace has passed since
// the job ended (a finished job still waits for its evaluations). A machine
// that starts on a finished job serves the whole FinishGrace: the workers
// started beside it have not registered yet. Emitted once; the driver feeds
// the machine nothing after it.
type Stop struct{ Err error }

func (o Stop) String() string {
	if o.Err != nil {
		return fmt.Sprintf("stop (failed: %v)", o.Err)
	}
	return "stop"
}

// member is the machine's view of a worker.
type member struct {
	id          string
	incarnation string
	session     string
	ready       bool
	held        []Held
	seq         int    // join order
	addr        string // gRPC address of its registration

	steps        int
	lastStep     time.Duration
	totalStep    time.Duration
	lastCompute  time.Duration
	lastReduce   time.Duration
	lastReduceBy int64
}

func (mb *member) holds(h Held) bool { return slices.Contains(mb.held, h) }

// Machine is the coordinator's decision logic: a pure state machine fed with
// events (joins, departures, reports, clock ticks, checkpoint outcomes) that
// emits decisions (generations, commits, checkpoints, evictions) and keeps the
// current instruction of every worker. It does no I/O and reads no clock: every
// event carries the time. It is not safe for concurrent use.
type Machine struct {
	cfg       MachineConfig
	startNeed int           // ready workers the first generation waits for
	settle    time.Duration // how long the first generation waits for workers to register
	now       time.Time
	start     time.Time
	fresh     Digest

	phase   Phase
	gen     uint64
	ring    []string
	step    int    // steps completed = the step being computed
	base    Digest // digest of the state after step steps
	ckpt    *Held
	issued  time.Time
	retry   time.Time
	grace   time.Time       // until then, a member that seems gone is probed (after a pause of the process)
	overAt  time.Time       // when the job finished or failed
	over    bool            // Stop was emitted
	told    map[string]bool // workers that received their Done instruction
	evals   int             // test evaluations in flight, which a finished job waits for
	wasOver bool            // the machine started on a finished job
	delay   cluster.Backoff // before re-forming a ring after a failed step

	reports map[string]Report
	members map[string]*member
	seq     int

	ledger       []LedgerRow
	maxCommitted int
	recomputed   int
	retries      int
	err          error

	tasks   map[string]Task
	version uint64
	out     []Output
}

// NewMachine returns a machine at the start of a job (st.Checkpoint nil and
// nothing committed) or after a coordinator restart (the newest checkpoint,
// the history). It waits in PhaseRecovering: a new job for StartWorkers
// workers; a restart for the Settle time (the workers may hold newer states)
// and for MinWorkers (some workers may not come back).
func NewMachine(cfg MachineConfig, st Start, now time.Time) (*Machine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Machine{cfg: cfg, now: now, start: now, fresh: st.Fresh, phase: PhaseRecovering, gen: st.Generation,
		base: st.Fresh, reports: map[string]Report{}, members: map[string]*member{}, tasks: map[string]Task{},
		delay: cluster.NewBackoff(cfg.RetryDelay, cfg.MaxRetryDelay), maxCommitted: st.Committed, ledger: slices.Clone(st.Ledger), startNeed: cfg.StartWorkers}
	if st.Checkpoint != nil || st.Committed > 0 {
		m.startNeed, m.settle = cfg.MinWorkers, cfg.Settle
	}
	if st.Checkpoint != nil {
		c := *st.Checkpoint
		if c.Step > cfg.TotalSteps {
			return nil, fmt.Errorf("%w: checkpoint at step %d, the job has %d steps", ErrConfig, c.Step, cfg.TotalSteps)
		}
		m.ckpt, m.step, m.base = &c, c.Step, c.Digest
		if c.Step == cfg.TotalSteps {
			m.phase, m.overAt, m.wasOver = PhaseDone, now, true
			m.emit(Finished{State: c})
		}
	}
	m.maxCommitted = max(m.maxCommitted, m.step)
	for s := len(m.ledger); s < m.step; s++ {
		m.ledger = append(m.ledger, LedgerRow{Step: s, Restored: true}) // committed before the history was kept
	}
	m.setTasks()
	m.checkStop()
	return m, nil
}

// Outputs returns the decisions made since the last call, in order.
func (m *Machine) Outputs() []Output {
	out := m.out
	m.out = nil
	return out
}

func (m *Machine) emit(o Output) { m.out = append(m.out, o) }

// Phase is the machine's phase.
func (m *Machine) Phase() Phase { return m.phase }

// Generation is the current generation number.
func (m *Machine) Generation() uint64 { return m.gen }

// Ring is the current ring (nil when none).
func (m *Machine) Ring() []string { return slices.Clone(m.ring) }

// Step is the number of steps completed (the step being computed), and State
// its state.
func (m *Machine) Step() int { return m.step }

// State is the committed state the cluster is at.
func (m *Machine) State() Held { return Held{Step: m.step, Digest: m.base} }

// Checkpoint is the newest saved checkpoint, if any.
func (m *Machine) Checkpoint() (Held, bool) {
	if m.ckpt == nil {
		return Held{}, false
	}
	return *m.ckpt, true
}

// Recomputed is the number of step commits that repeated a step committed
// before a rollback; Retries the number of step attempts abandoned.
func (m *Machine) Recomputed() int { return m.recomputed }

// Retries is the number of step attempts that were abandoned (a failure, an
// eviction, a departure) and redone.
func (m *Machine) Retries() int { return m.retries }

// Err is why the machine failed (PhaseFailed).
func (m *Machine) Err() error { return m.err }

// Ledger returns the record of every committed step, indexed by step.
func (m *Machine) Ledger() Ledger {
	l := make(Ledger, len(m.ledger))
	for i, r := range m.ledger {
		l[i] = r.clone()
	}
	return l
}

// TasksVersion changes whenever an instruction changes.
func (m *Machine) TasksVersion() uint64 { return m.version }

// Task returns the current instruction for worker id; a worker that is not a
// member gets Stranger's.
func (m *Machine) Task(id string) Task {
	if t, ok := m.tasks[id]; ok {
		return t
	}
	return m.Stranger()
}

// Stranger is the instruction for a worker that is not a member (it was
// evicted, or its registration is unknown): register again, or, once the job
// is over, done (with the final state, or the failure).
func (m *Machine) Stranger() Task {
	if m.phase == PhaseDone || m.phase == PhaseFailed {
		return m.doneTask()
	}
	return Task{Kind: TaskRejoin, Reason: "not a member of the cluster"}
}

// MemberInfo describes a member for status reports.
type MemberInfo struct {
	ID                      string
	Addr                    string // its gRPC address
	State                   string // "ring", "waiting" or "loading"
	Rank                    int
	Steps                   int
	LastStep, MeanStep      time.Duration
	LastCompute, LastReduce time.Duration
	LastReduceBytes         int64
}

// Members describes the members, sorted by id.
func (m *Machine) Members() []MemberInfo {
	var out []MemberInfo
	for _, id := range m.sortedIDs() {
		mb := m.members[id]
		in := MemberInfo{ID: id, Addr: mb.addr, Rank: slices.Index(m.ring, id), Steps: mb.steps, LastStep: mb.lastStep,
			LastCompute: mb.lastCompute, LastReduce: mb.lastReduce, LastReduceBytes: mb.lastReduceBy}
		if mb.steps > 0 {
			in.MeanStep = mb.totalStep / time.Duration(mb.steps)
		}
		switch {
		case in.Rank >= 0:
			in.State = "ring"
		case mb.ready:
			in.State = "waiting"
		default:
			in.State = "loading"
		}
		out = append(out, in)
	}
	return out
}

func (m *Machine) sortedIDs() []string {
	ids := make([]string, 0, len(m.members))
	for id := range m.members {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

func (m *Machine) advance(now time.Time) {
	if now.After(m.now) {
		m.now = now
	}
}

// Join registers a worker, or updates its registration.
func (m *Machine) Join(now time.Time, j JoinInfo) {
	m.advance(now)
	m.gen = max(m.gen, j.LastGen)
	mb := m.members[j.ID]
	if mb == nil {
		m.seq++
		mb = &member{id: j.ID, seq: m.seq}
		m.members[j.ID] = mb
	} else if mb.incarnation != j.Incarnation && m.phase == PhaseRunning && m.inRing(j.ID) {
		// A new process under the same id: the old one, in the ring of the
		// step in progress, is gone. (Outside a running step there is no ring
		// to abandon: during a backoff the ring is re-formed when it ends.)
		mb.incarnation, mb.session, mb.ready, mb.held, mb.addr = j.Incarnation, j.Session, j.Ready, slices.Clone(j.Held), j.Addr
		m.abandon("worker " + j.ID + " restarted")
		m.reform("worker " + j.ID + " restarted")
		return
	}
	mb.incarnation, mb.session, mb.ready, mb.held, mb.addr = j.Incarnation, j.Session, j.Ready, slices.Clone(j.Held), j.Addr
	switch m.phase {
	case PhaseDone, PhaseFailed:
	case PhaseRecovering:
		m.maybeStart()
	case PhaseWaiting:
		if len(m.eligible()) >= m.cfg.MinWorkers {
			m.reform("worker " + j.ID + " joined")
			return
		}
	}
	m.setTasks()
}

// Holds records the states worker id says it holds.
func (m *Machine) Holds(now time.Time, id string, held []Held) {
	m.advance(now)
	if mb := m.members[id]; mb != nil {
		mb.held = slices.Clone(held)
	}
}

// LeftGossip reports that the gossip member node (a memberlist node name: the
// incarnation a worker registers with) left or failed. The member registered
// from that process is removed as by Leave, or probed first in the grace
// after a pause of the coordinator. A node that is no member's current
// process is ignored: a worker that has registered again from another process
// (a stale incarnation), one already removed, or any once the job is over
// (members are kept until they have been told). It reports whether node was a
// member's current process.
func (m *Machine) LeftGossip(now time.Time, node string) bool {
	m.advance(now)
	if m.phase == PhaseDone || m.phase == PhaseFailed || node == "" {
		return false
	}
	found := false
	for _, id := range m.sortedIDs() {
		if m.members[id].incarnation != node {
			continue
		}
		found = true
		if m.inGrace() {
			m.probe(id, "left the gossip just after the coordinator's pause")
			continue
		}
		m.Leave(now, id, "left or failed (gossip)")
	}
	return found
}

// inGrace reports whether the clock is shortly after a pause of the process.
func (m *Machine) inGrace() bool { return m.now.Before(m.grace) }

func (m *Machine) probe(id, reason string) {
	if mb := m.members[id]; mb != nil {
		m.emit(Probe{ID: id, Addr: mb.addr, Reason: reason})
	}
}

// Unreachable reports that a health probe of worker id at the gRPC address
// addr failed. The worker is removed as by Leave unless it has registered
// since at another address (the probe then says nothing about it). It reports
// whether the worker was removed.
func (m *Machine) Unreachable(now time.Time, id, addr string) bool {
	if mb := m.members[id]; mb == nil || mb.addr != addr {
		return false
	}
	m.Leave(now, id, "unreachable (health probe failed)")
	return true
}

// Leave removes a worker that left or failed (memberlist).
func (m *Machine) Leave(now time.Time, id, reason string) {
	m.advance(now)
	if m.members[id] == nil {
		return
	}
	delete(m.members, id)
	delete(m.reports, id)
	if m.phase == PhaseDone || m.phase == PhaseFailed {
		m.setTasks()
		m.checkStop()
		return
	}
	m.emit(Evict{ID: id, Reason: reason})
	// A ring member leaving a running step re-forms at once; so does any
	// departure during a backoff (the ring is empty then, and the wait is
	// cut short: the membership it was waiting on has changed).
	if (m.phase == PhaseRunning && m.inRing(id)) || m.phase == PhaseBackoff {
		m.abandon("worker " + id + " " + reason)
		m.reform("worker " + id + " " + reason)
		return
	}
	m.setTasks()
}

// Disconnected reports that the task poll of worker id's registration session
// broke off: the worker died or abandoned its registration. It is removed
// like a failed worker (probed first in the grace after a pause of the
// coordinator: a live worker polls again), unless it has registered again
// meanwhile.
func (m *Machine) Disconnected(now time.Time, id, session string) {
	m.advance(now)
	if mb := m.members[id]; mb == nil || mb.session != session {
		return
	}
	if m.inGrace() {
		m.probe(id, "its poll broke off just after the coordinator's pause")
		return
	}
	m.Leave(now, id, "disconnected")
}

// Report records a worker's report of a step.
func (m *Machine) Report(now time.Time, r Report) {
	m.advance(now)
	if m.phase != PhaseRunning || r.Generation != m.gen || r.Step != m.step || !m.inRing(r.ID) {
		return // stale: an older generation or step, or the step was abandoned meanwhile
	}
	if _, dup := m.reports[r.ID]; dup {
		return
	}
	m.reports[r.ID] = r
	if mb := m.members[r.ID]; mb != nil {
		mb.lastStep, mb.lastCompute, mb.lastReduce, mb.lastReduceBy = r.StepTime, r.ComputeTime, r.ReduceTime, r.ReduceBytes
		if r.OK {
			mb.steps++
			mb.totalStep += r.StepTime
		}
	}
	if !r.OK {
		if r.Failure == FailureFatal {
			m.fail(fmt.Errorf("%w: worker %s at step %d: %s", ErrStepFailed, r.ID, r.Step, r.Err))
			return
		}
		m.abandon(fmt.Sprintf("worker %s: %s failure: %s", r.ID, r.Failure, r.Err))
		m.backoff(fmt.Sprintf("worker %s: %s", r.ID, r.Failure))
		return
	}
	if len(m.reports) == len(m.ring) {
		m.commit()
	}
}

// Paused tells the machine that its own process did not run for d (stopped,
// suspended): that time is not held against the workers, so the pause does
// not count against the deadline of the step in progress, and for PauseGrace a
// member whose poll broke off or who left the gossip is probed before it is
// evicted (the workers' broken polls and the gossip's suspicions of the pause
// settle within it).
func (m *Machine) Paused(now time.Time, d time.Duration) {
	m.advance(now)
	if m.phase == PhaseRunning {
		m.issued = m.issued.Add(d)
	}
	m.grace = m.now.Add(m.cfg.PauseGrace)
}

// Tick advances the clock: it enforces the step deadline, ends a backoff,
// starts the first generation once the settle time has passed, and, once the
// job is over, stops at the end of FinishGrace.
func (m *Machine) Tick(now time.Time) {
	m.advance(now)
	switch m.phase {
	case PhaseRunning:
		if m.now.Sub(m.issued) < m.cfg.StepDeadline {
			return
		}
		var late []string
		for _, id := range m.ring {
			if _, ok := m.reports[id]; !ok {
				late = append(late, id)
			}
		}
		for _, id := range late {
			delete(m.members, id)
			m.emit(Evict{ID: id, Reason: fmt.Sprintf("no report within the step deadline of %v", m.cfg.StepDeadline)})
		}
		m.abandon("step deadline")
		m.reform(fmt.Sprintf("step deadline: evicted [%s]", strings.Join(late, " ")))
	case PhaseBackoff:
		if !m.now.Before(m.retry) {
			m.reform("retry after a failed step")
		}
	case PhaseRecovering:
		m.maybeStart()
	case PhaseDone, PhaseFailed:
		m.checkStop()
	}
}

// CheckpointDone reports the outcome of a SaveCheckpoint: err nil when the
// state was saved, else why it could not be pulled from any holder.
func (m *Machine) CheckpointDone(now time.Time, h Held, err error) {
	m.advance(now)
	if m.phase != PhaseCheckpoint || h != m.State() {
		return
	}
	if err != nil {
		m.emit(CheckpointSkipped{State: h, Err: err})
	} else {
		c := h
		m.ckpt = &c
	}
	if m.step == m.cfg.TotalSteps {
		m.phase, m.overAt = PhaseDone, m.now
		m.ring = nil
		m.emit(Finished{State: h})
		m.setTasks()
		m.checkStop()
		return
	}
	m.next()
}

// Told reports that worker id received its Done instruction: the job may
// stop once every member has been told.
func (m *Machine) Told(now time.Time, id string) {
	m.advance(now)
	if m.told == nil {
		m.told = map[string]bool{}
	}
	m.told[id] = true
	m.checkStop()
}

// Evaluating reports how many test evaluations are queued or running: a
// finished job waits for them before it stops (a failed one does not).
func (m *Machine) Evaluating(now time.Time, n int) {
	m.advance(now)
	m.evals = n
	m.checkStop()
}

// checkStop emits Stop once the job is over and may stop serving.
func (m *Machine) checkStop() {
	if m.over || m.phase != PhaseDone && m.phase != PhaseFailed {
		return
	}
	if m.phase == PhaseDone && m.evals > 0 {
		return
	}
	if m.now.Before(m.overAt.Add(m.cfg.FinishGrace)) {
		if m.wasOver {
			return
		}
		for id := range m.members {
			if !m.told[id] {
				return
			}
		}
	}
	m.over = true
	m.emit(Stop{Err: m.err})
}

// Abort stops the job with err (the checkpoint store failed, the coordinator
// shuts down).
func (m *Machine) Abort(now time.Time, err error) {
	m.advance(now)
	if m.phase == PhaseDone || m.phase == PhaseFailed {
		return
	}
	m.fail(err)
}

func (m *Machine) fail(err error) {
	m.phase, m.err, m.ring, m.overAt = PhaseFailed, err, nil, m.now
	m.emit(Failed{Err: err})
	m.setTasks()
	m.checkStop()
}

func (m *Machine) inRing(id string) bool { return slices.Contains(m.ring, id) }

// eligible returns the ready members sorted by id: the next ring.
func (m *Machine) eligible() []string {
	var ids []string
	for _, id := range m.sortedIDs() {
		if m.members[id].ready {
			ids = append(ids, id)
		}
	}
	return ids
}

func (m *Machine) maybeStart() {
	if m.phase != PhaseRecovering || m.now.Sub(m.start) < m.settle || len(m.eligible()) < m.startNeed {
		return
	}
	m.adopt()
	m.reform("start")
}

// adopt, after a (re)start, moves to the newest state that registered workers
// hold and agree on, if it is newer than the checkpoint.
func (m *Machine) adopt() {
	claims := map[int]map[Digest][]string{}
	for _, id := range m.eligible() {
		for _, h := range m.members[id].held {
			if h.Step <= m.step || h.Step > m.cfg.TotalSteps {
				continue
			}
			if claims[h.Step] == nil {
				claims[h.Step] = map[Digest][]string{}
			}
			claims[h.Step][h.Digest] = append(claims[h.Step][h.Digest], id)
		}
	}
	best := -1
	for s, ds := range claims {
		if len(ds) == 1 && s > best {
			best = s
		}
	}
	if best < 0 {
		return
	}
	var h Held
	var by []string
	for d, ids := range claims[best] {
		h, by = Held{Step: best, Digest: d}, ids
	}
	m.emit(Adopt{From: m.step, State: h, By: by})
	for s := len(m.ledger); s < best; s++ {
		m.ledger = append(m.ledger, LedgerRow{Step: s, Adopted: true})
	}
	m.step, m.base = h.Step, h.Digest
	m.maxCommitted = max(m.maxCommitted, m.step)
}

// available reports whether some eligible member, the checkpoint store or a
// fresh initialisation can provide the state the cluster is at.
func (m *Machine) available(elig []string) bool {
	s := m.State()
	if s.Step == 0 && s.Digest == m.fresh {
		return true
	}
	if m.ckpt != nil && *m.ckpt == s {
		return true
	}
	for _, id := range elig {
		if m.members[id].holds(s) {
			return true
		}
	}
	return false
}

// abandon counts an abandoned step attempt.
func (m *Machine) abandon(string) {
	if m.phase == PhaseRunning {
		m.retries++
	}
}

func (m *Machine) backoff(reason string) {
	m.phase = PhaseBackoff
	m.retry = m.now.Add(m.delay.Delay())
	m.emit(Backoff{Reason: reason, Delay: m.delay.Delay()})
	for _, id := range m.ring {
		m.probe(id, "after a failed step")
	}
	m.delay.Failed()
	m.ring = nil
	m.setTasks()
}

// reform forms a new generation of the ready members at the current step.
func (m *Machine) reform(reason string) {
	elig := m.eligible()
	need := m.cfg.MinWorkers
	if m.phase == PhaseRecovering {
		need = m.startNeed
	}
	if len(elig) < need {
		if m.phase != PhaseRecovering {
			m.phase = PhaseWaiting
		}
		m.ring = nil
		m.setTasks()
		return
	}
	if !m.available(elig) {
		to, d := 0, m.fresh
		if m.ckpt != nil {
			to, d = m.ckpt.Step, m.ckpt.Digest
		}
		m.emit(Rollback{From: m.step, To: to})
		m.step, m.base = to, d
	}
	if len(m.ledger) > m.step {
		m.ledger = m.ledger[:m.step]
	}
	m.gen++
	m.ring = elig
	m.emit(NewGeneration{Generation: m.gen, Ring: slices.Clone(elig), Step: m.step, Reason: reason})
	m.issue()
}

// issue starts the current step in the current ring.
func (m *Machine) issue() {
	m.phase = PhaseRunning
	m.issued = m.now
	clear(m.reports)
	m.setTasks()
}

func (m *Machine) commit() {
	first := m.reports[m.ring[0]]
	reps := make([]Report, len(m.ring))
	var diverged []string
	for i, id := range m.ring {
		reps[i] = m.reports[id]
		if reps[i].Digest != first.Digest {
			diverged = append(diverged, fmt.Sprintf("%s %x", id, reps[i].Digest[:8]))
		}
	}
	if len(diverged) > 0 {
		m.fail(fmt.Errorf("%w: step %d generation %d: %s has %x, but %s", ErrDiverged, m.step, m.gen,
			m.ring[0], first.Digest[:8], strings.Join(diverged, ", ")))
		return
	}
	row := LedgerRow{Step: m.step, Generation: m.gen, Workers: slices.Clone(m.ring), Micro: make([][]int, len(m.ring))}
	for i, r := range reps {
		row.Micro[i] = slices.Clone(r.Micro)
	}
	c := Commit{Step: m.step, Generation: m.gen, Ring: slices.Clone(m.ring), Digest: first.Digest, Stats: first.Stats,
		Reports: reps, Recomputed: m.step < m.maxCommitted}
	row.Recomputed = c.Recomputed
	m.ledger = append(m.ledger[:m.step], row)
	if c.Recomputed {
		m.recomputed++
	}
	m.step++
	m.base = first.Digest
	m.maxCommitted = max(m.maxCommitted, m.step)
	m.delay.Reset()
	after := m.State()
	for _, id := range m.ring {
		mb := m.members[id]
		mb.held = slices.DeleteFunc(mb.held, func(h Held) bool { return h.Step < after.Step-1 || h.Step == after.Step })
		mb.held = append(mb.held, after)
	}
	m.emit(c)
	epochEnd := m.step%m.cfg.StepsPerEpoch == 0
	final := m.step == m.cfg.TotalSteps
	if final || epochEnd || (m.cfg.CheckpointEvery > 0 && m.step%m.cfg.CheckpointEvery == 0) {
		m.phase = PhaseCheckpoint
		addrs := make([]string, len(m.ring))
		for i, id := range m.ring {
			addrs[i] = m.members[id].addr
		}
		m.emit(SaveCheckpoint{State: after, From: slices.Clone(m.ring), Addrs: addrs, EpochEnd: epochEnd, Final: final})
		m.setTasks()
		return
	}
	m.next()
}

// next issues the next step: in the same ring if it is unchanged, else in a new
// generation (departed members, or joiners waiting for a step boundary).
func (m *Machine) next() {
	elig := m.eligible()
	if slices.Equal(elig, m.ring) && len(m.ring) > 0 {
		m.issue()
		return
	}
	m.reform("membership changed at a step boundary")
}

func (m *Machine) doneTask() Task {
	if m.phase == PhaseFailed {
		return Task{Kind: TaskDone, Reason: "the job failed: " + m.err.Error()}
	}
	return Task{Kind: TaskDone, Step: m.step, Base: m.base, Reason: "the job is finished"}
}

// setTasks recomputes every member's instruction.
func (m *Machine) setTasks() {
	tasks := make(map[string]Task, len(m.members))
	s := m.State()
	for id, mb := range m.members {
		var t Task
		switch {
		case m.phase == PhaseDone || m.phase == PhaseFailed:
			t = m.doneTask()
		case m.phase == PhaseRunning && m.inRing(id):
			t = Task{Kind: TaskCompute, Generation: m.gen, Step: m.step, Ring: m.ring, Rank: slices.Index(m.ring, id), Base: m.base}
			if !mb.holds(s) && !(s.Step == 0 && s.Digest == m.fresh) {
				t.SyncFrom = m.source(id, t.Rank)
			}
		case !mb.ready:
			t = Task{Kind: TaskWait, Reason: "loading data"}
		default:
			t = Task{Kind: TaskWait, Reason: "waiting: " + m.phase.String()}
		}
		tasks[id] = t
	}
	if !tasksEqual(tasks, m.tasks) {
		m.tasks = tasks
		m.version++
	}
}

// source picks where worker id gets the current state: a ring member holding
// it, then another member, then the checkpoint store.
func (m *Machine) source(id string, rank int) string {
	s := m.State()
	var ring, other []string
	for _, o := range m.sortedIDs() {
		if o == id || !m.members[o].ready || !m.members[o].holds(s) {
			continue
		}
		if m.inRing(o) {
			ring = append(ring, o)
		} else {
			other = append(other, o)
		}
	}
	if len(ring) > 0 {
		return ring[rank%len(ring)]
	}
	if len(other) > 0 {
		return other[rank%len(other)]
	}
	return FromCoordinator
}

func tasksEqual(a, b map[string]Task) bool {
	if len(a) != len(b) {
		return false
	}
	for id, t := range a {
		u, ok := b[id]
		if !ok || t.Kind != u.Kind || t.Generation != u.Generation || t.Step != u.Step || t.Rank != u.Rank ||
			t.Base != u.Base || t.SyncFrom != u.SyncFrom || t.Reason != u.Reason || !slices.Equal(t.Ring, u.Ring) {
			return false
		}
	}
	return true
}

// Errors of the machine.
var (
	// ErrConfig reports a configuration field with a value out of range.
	ErrConfig = errors.New("coordinator: invalid configuration")
	// ErrDiverged reports replicas whose states differ after the same step: a
	// determinism bug, so the job stops.
	ErrDiverged = errors.New("coordinator: replicas diverged")
	// ErrStepFailed reports a step that cannot succeed on any worker.
	ErrStepFailed = errors.New("coordinator: step failed")
)
