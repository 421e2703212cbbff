package worker

import (
	"fmt"
	"strings"
	"time"

	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
)

// The worker's decisions, as a pure machine in the coordinator's style. Run
// (worker.go, join.go, register.go) and the serve loop (serve.go) feed it the
// events they see and carry out the decisions it returns:
//
//   - joining the gossip: an attempt through every join address failed, or
//     one answered (when to say so, when to give up, how long to wait);
//   - registering: the coordinator's answer to a registration, the job
//     loaded, a registration or the serve loop ended (load the job, join the
//     coordinator's gossip, serve, register again now or after a backoff, or
//     return);
//   - serving: an instruction from the coordinator, the step in flight
//     finishing, the coordinator lost, its own address moved;
//
// and pickBase decides where a step's state comes from. None of it touches
// the network, a goroutine or the clock (the time of an event is passed in),
// so scripts (testdata/core/*.txt) test them.

// stepKey names a compute instruction: the step of a generation.
type stepKey struct {
	gen  uint64
	step int
}

func (k stepKey) String() string { return fmt.Sprintf("g%d s%d", k.gen, k.step) }

// decision is what the serve loop does after an event, in this order: cancel
// the step in flight (and wait for it, dropping its report), or wait for it
// to finish keeping its result; send the finished step's report; start a
// step; leave the serve loop with a reason.
type decision struct {
	Cancel bool    // cancel the step in flight and wait for it; its report is dropped
	Await  bool    // let the step in flight finish (its state is kept), report nothing
	Report bool    // send the report of the step that finished
	Start  bool    // start computing Key
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

// core is the worker's state as its decisions need it.
type core struct {
	serving // anew for every registration
	cfg     coreConfig

	// Registering.
	ready      runKey // the job run loaded (json "": none)
	loading    runKey // the job run being loaded
	announcing bool   // registered again as ready after loading: the answer confirms it
	retry      cluster.Backoff

	// Joining the gossip.
	gossip    cluster.Backoff
	joinStart time.Time
	said      string // the problem last said ("": none yet)
	saidAt    time.Time
}

// coreConfig are the rules of the core, from Config.
type coreConfig struct {
	JoinWait           time.Duration // give up joining the gossip after this (0: never)
	RetryMin, RetryMax time.Duration // the backoff between attempts
}

func newCore(cfg coreConfig) *core {
	return &core{cfg: cfg, retry: cluster.NewBackoff(cfg.RetryMin, cfg.RetryMax)}
}

// serving is the serve loop's state: the step in flight and the last compute
// instruction started (a repeat of it is ignored even after it finished).
type serving struct {
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

// joinReport is how often a worker still waiting to join the gossip says so
// again (the first failure, and every change of what it finds, are said at
// once).
const joinReport = 30 * time.Second

// gossipDecision is what the driver does after an attempt to join the
// gossip: say so, then give up or wait Delay and try again.
type gossipDecision struct {
	Warn   bool          // say that the gossip cannot be joined: the problem is new, or joinReport passed
	Joined bool          // say that the gossip was joined (after failing)
	Waited time.Duration // since joining began
	Left   time.Duration // until giving up (0: never)
	GiveUp bool          // stop trying: Run fails with ErrJoin
	Delay  time.Duration // try again after this
}

func (d gossipDecision) String() string {
	var parts []string
	if d.Warn {
		left := "for ever"
		if d.Left > 0 {
			left = d.Left.String() + " more"
		}
		parts = append(parts, fmt.Sprintf("warn (waited %v, retrying %s)", d.Waited, left))
	}
	if d.Joined {
		parts = append(parts, fmt.Sprintf("say joined after %v", d.Waited))
	}
	if d.GiveUp {
		parts = append(parts, fmt.Sprintf("give up after %v", d.Waited))
	}
	if d.Delay > 0 {
		parts = append(parts, fmt.Sprintf("retry in %v", d.Delay))
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// gossipBegin is the worker starting to join the gossip at now.
func (c *core) gossipBegin(now time.Time) {
	c.gossip = cluster.NewBackoff(c.cfg.RetryMin, c.cfg.RetryMax)
	c.joinStart, c.said, c.saidAt = now, "", time.Time{}
}

// gossipFailed is an attempt through every join address failing at now;
// problem says what was found at each.
func (c *core) gossipFailed(now time.Time, problem string) gossipDecision {
	d := gossipDecision{Waited: now.Sub(c.joinStart)}
	if c.cfg.JoinWait > 0 && d.Waited >= c.cfg.JoinWait {
		d.GiveUp = true
		return d
	}
	if problem != c.said || now.Sub(c.saidAt) >= joinReport {
		d.Warn = true
		if c.cfg.JoinWait > 0 {
			d.Left = c.cfg.JoinWait - d.Waited
		}
		c.said, c.saidAt = problem, now
	}
	d.Delay = c.gossip.Delay()
	c.gossip.Failed()
	return d
}

// gossipJoined is a join address answering at now.
func (c *core) gossipJoined(now time.Time) gossipDecision {
	return gossipDecision{Joined: c.said != "", Waited: now.Sub(c.joinStart)}
}

// runKey names a job run: the job (its JSON) and how it is trained.
type runKey struct {
	json string
	avg  bool // weights mode: local steps, then the weights are averaged
	h    int  // training steps per unit
}

// regDecision is what the driver does after a registration event, in this
// order: join the coordinator's gossip; load the job; register again (as
// ready); serve; or end the registration, then register again at once,
// after a pause, or return.
type regDecision struct {
	Gossip   string        // join the coordinator's gossip through this address (its node is not a member)
	Load     bool          // load the job run Key, then report loaded
	Key      runKey        // the job run to load
	Announce bool          // register again, as ready for the job
	Serve    bool          // follow the coordinator's instructions
	Finished bool          // the job was over before this worker did anything: Run returns
	Fail     string        // the job cannot run here: Run fails with ErrJobFailed
	Again    bool          // register again now
	Retry    time.Duration // register again after this pause
	Return   bool          // Run returns (the end says how)
}

func (d regDecision) String() string {
	var parts []string
	if d.Gossip != "" {
		parts = append(parts, "gossip "+d.Gossip)
	}
	if d.Load {
		mode := "gradient"
		if d.Key.avg {
			mode = fmt.Sprintf("weights h=%d", d.Key.h)
		}
		parts = append(parts, fmt.Sprintf("load %s %s", d.Key.json, mode))
	}
	if d.Announce {
		parts = append(parts, "announce")
	}
	if d.Serve {
		parts = append(parts, "serve")
	}
	if d.Finished {
		parts = append(parts, "finished")
	}
	if d.Fail != "" {
		parts = append(parts, "fail: "+d.Fail)
	}
	if d.Again {
		parts = append(parts, "register again")
	}
	if d.Retry > 0 {
		parts = append(parts, fmt.Sprintf("register again in %v", d.Retry))
	}
	if d.Return {
		parts = append(parts, "return")
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}

// welcome is the coordinator's answer a to a registration; member says
// whether its gossip node is already among this worker's members. The
// answer to the registration that announces the worker ready only confirms
// it: whatever the coordinator decided since comes with the instructions.
func (c *core) welcome(a job.Welcome, member bool) regDecision {
	if c.announcing {
		c.announcing = false
		return c.serve()
	}
	if a.Finished {
		return regDecision{Finished: true}
	}
	var d regDecision
	if !member && a.GossipAddr != "" {
		d.Gossip = a.GossipAddr
	}
	k := runKey{json: string(a.Job), h: 1}
	switch a.Mode {
	case job.SyncGradient:
	case job.SyncWeights:
		k.avg, k.h = true, a.LocalSteps
		if k.h < 1 {
			d.Fail = fmt.Sprintf("weights mode with %d local steps", k.h)
			return d
		}
	default:
		d.Fail = fmt.Sprintf("sync mode %v is not supported by this worker", a.Mode)
		return d
	}
	if k == c.ready {
		s := c.serve()
		s.Gossip = d.Gossip
		return s
	}
	c.loading = k
	d.Load, d.Key = true, k
	return d
}

// loaded is the job run being loaded ready (err nil), or not loadable: it
// replaces the run held before, whose states are dropped.
func (c *core) loaded(err error) regDecision {
	if err != nil {
		return regDecision{Fail: err.Error()}
	}
	c.ready, c.announcing = c.loading, true
	return regDecision{Announce: true}
}

// serve starts the serve loop: the registration succeeded.
func (c *core) serve() regDecision {
	c.retry.Reset()
	c.serving = serving{}
	return regDecision{Serve: true}
}

// end is why a registration, or the serve loop after it, ended.
type end int

const (
	endLost     end = iota // the coordinator cannot be reached (or was lost)
	endRejoin              // told to register again
	endMoved               // this worker's address changed
	endDone                // the job is over
	endFailed              // the job failed
	endCanceled            // Run's context ended
	endInvalid             // the coordinator refuses the registration as malformed
	endRefused             // the coordinator refuses this worker's credentials
)

var endNames = []string{"lost", "rejoin", "moved", "done", "failed", "canceled", "invalid", "refused"}

func (e end) String() string { return endNames[e] }

// ended is a registration or the serve loop ending for reason e.
func (c *core) ended(e end) regDecision {
	c.announcing = false
	switch e {
	case endRejoin, endMoved:
		return regDecision{Again: true}
	case endLost:
		d := regDecision{Retry: c.retry.Delay()}
		c.retry.Failed()
		return d
	}
	return regDecision{Return: true}
}

// retries is the rule of a call that is tried again after a failure (the
// task poll, the step report, the gossip restart on a new address): after
// each failure, the pause before the next attempt (a backoff doubling from
// Config.RetryMin to RetryMax), and whether it was the last failure allowed
// (max consecutive failures; a success starts the count again). Config.retries
// makes one.
type retries struct {
	max   int
	fails int
	bo    cluster.Backoff
}

// failed is a failure of the call: the pause before the next attempt, and
// whether the call should be given up.
func (r *retries) failed() (pause time.Duration, last bool) {
	r.fails++
	pause = r.bo.Delay()
	r.bo.Failed()
	return pause, r.fails >= r.max
}

// ok is a success of the call.
func (r *retries) ok() {
	r.fails = 0
	r.bo.Reset()
}
