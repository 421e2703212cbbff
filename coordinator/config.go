package coordinator

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/secure"
)

// SyncMode says how replicas are kept equal (shared with the workers).
type SyncMode = job.SyncMode

// Synchronisation modes.
const (
	SyncGradient = job.SyncGradient // sum every worker's micro-batch results every step
	SyncWeights  = job.SyncWeights  // local SGD: LocalSteps steps, then the weights are averaged
)

// DataFunc loads a job's training and test sets. Sets are read-only once
// loaded, so one process may share them between nodes.
type DataFunc = job.LoadFunc

// StepInfo describes the cluster after a committed step.
type StepInfo struct {
	Step          int // steps completed
	Epoch         int // epoch of the step (0-based)
	StepInEpoch   int // steps of Epoch completed (1-based after the step)
	StepsPerEpoch int
	Epochs        int
	Loss, Acc     float64 // running means over the epoch so far
	SamplesPerSec float64 // over the epoch so far
	Workers       int
	Generation    uint64
	Elapsed       time.Duration // since the epoch began
}

// EpochReport summarises one epoch (the single-process trainer reports the
// same type). Duration is the training part: first to last commit of the
// epoch; Scales is left empty.
type EpochReport = job.EpochReport

// Hooks let tests and tools observe or pace the coordinator. They run on the
// coordinator's event loop: while one runs, nothing else happens.
type Hooks struct {
	// AfterCommit is called after step `steps`-1 is committed (and its metrics
	// recorded), before the next step's tasks are published, with the ring
	// (worker ids in rank order) that committed it.
	AfterCommit func(steps int, ring []string)
	// BeforeEvaluate is called on the evaluator's goroutine before the test
	// evaluation of epoch (0-based) starts.
	BeforeEvaluate func(epoch int)
}

// Config configures a Coordinator.
type Config struct {
	// Job is the job to run. With Resume, only Job.ID is used and the rest comes
	// from the store.
	Job job.Job
	// Resume continues Job.ID from the store; it fails if the store does not
	// know the job. Without Resume, a job the store already has with the same
	// configuration is continued too (a restart after a crash); one with another
	// configuration is an error, unless Fresh.
	Resume bool
	// Fresh starts the job from step 0 even if the store holds checkpoints of it
	// (its metrics history gets a "reset" mark).
	Fresh bool
	// DataDir holds the data sets; StorePath the checkpoint store (default
	// <DataDir>/asf.db).
	DataDir   string
	StorePath string
	// Listen is the gRPC listen address; Advertise what workers dial ("" = the
	// listener's address, with the gossip address's host if it listens on all
	// interfaces).
	Listen    string
	Advertise string
	// Gossip configures the coordinator's membership (with its key and label);
	// GossipJoin optionally names members to join at start (workers of a
	// previous run).
	Gossip     cluster.MembershipConfig
	GossipJoin []string
	// TLS is the coordinator's TLS identity: every gRPC connection is mutual
	// TLS against its CA, accepting workers and clients. Nil is plaintext.
	TLS *secure.TLS
	// JoinToken, when set, must be presented (gRPC metadata secure.TokenKey)
	// by every call of a worker: registering, polling for tasks, reporting,
	// fetching the state. Calls without it are refused with PermissionDenied.
	JoinToken string
	// SyncMode and LocalSteps choose gradient averaging every step (default) or
	// weight averaging every LocalSteps steps. A restarted coordinator must use
	// the same mode and LocalSteps as before.
	SyncMode   SyncMode
	LocalSteps int
	// StartWorkers is how many ready workers the first generation waits for;
	// MinWorkers how few a ring may shrink to before training waits.
	StartWorkers int
	MinWorkers   int
	// StepDeadline: a ring member that has not reported this long after a step
	// was issued is evicted.
	StepDeadline time.Duration
	// CheckpointEvery: save the state every this many steps (0: only at epoch
	// ends and at the end).
	CheckpointEvery int
	// Settle: after a restart (the store holds a checkpoint or a history of
	// the job), wait this long for workers to register before deciding which
	// state to continue from. A new job does not wait: no worker holds a state
	// of it.
	Settle time.Duration
	// RetryDelay and MaxRetryDelay bound the pause before a ring is re-formed
	// after a failed step.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// PollWait is the longest a NextTask long poll is held.
	PollWait time.Duration
	// PullTimeout bounds pulling a state from a worker.
	PullTimeout time.Duration
	// ProbeTimeout bounds the health check of each ring member after a failed
	// step; a member that does not answer is evicted.
	ProbeTimeout time.Duration
	// FinishGrace is how long a finished coordinator keeps answering, so that
	// workers learn the job is done.
	FinishGrace time.Duration
	// EvalThreads computes the test evaluation (0 = GOMAXPROCS); NoTest skips it.
	EvalThreads int
	NoTest      bool
	// Logger receives the coordinator's log; nil discards.
	Logger *slog.Logger
	// Data loads the job's data (nil: job.LoadData from DataDir).
	Data DataFunc
	// OnStep and OnEpoch are called from the event loop after each committed
	// step and after each epoch's evaluation; they must not block.
	OnStep  func(StepInfo)
	OnEpoch func(EpochReport)
	// Hooks are for tests.
	Hooks Hooks
}

// DefaultConfig returns the configuration of a coordinator for job j on the
// standard ports.
func DefaultConfig(j job.Job) Config {
	return Config{
		Job:             j,
		DataDir:         "asf-data",                        // the asf command's default data directory
		Listen:          ":7070",                           // the standard gRPC port of asf (docs/architecture.md)
		Gossip:          cluster.DefaultMembershipConfig(), // gossip on 7946, fast failure detection
		SyncMode:        SyncGradient,                      // the bitwise reproducible mode
		LocalSteps:      8,                                 // for SyncWeights: averages often enough to keep replicas close
		StartWorkers:    1,                                 // start as soon as one worker is ready; others join at step boundaries
		MinWorkers:      1,                                 // any one worker can carry the job
		StepDeadline:    30 * time.Second,                  // far above a normal step, short enough that a stalled worker is noticed
		CheckpointEvery: 100,                               // a crash costs at most 100 steps, a save costs one state pull
		Settle:          2 * time.Second,                   // workers retry every second or so after losing a coordinator
		RetryDelay:      100 * time.Millisecond,            // a second chance for a transient fault, at once
		MaxRetryDelay:   2 * time.Second,                   // about memberlist's failure detection time
		PollWait:        5 * time.Second,                   // long polls well inside their deadline
		PullTimeout:     2 * time.Minute,                   // a state of hundreds of MB on a slow link
		ProbeTimeout:    time.Second,                       // a live worker answers in milliseconds, even when busy
		FinishGrace:     3 * time.Second,                   // several polls of every worker
	}
}

// Loopback returns c set up for one machine: gRPC and gossip on 127.0.0.1 on
// free ports.
func (c Config) Loopback() Config {
	c.Listen = "127.0.0.1:0"
	c.Gossip = c.Gossip.Loopback()
	return c
}

// Validate reports the first bad field.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v, want %s", ErrConfig, field, v, want)
	}
	if !c.Resume {
		if err := c.Job.Validate(); err != nil {
			return err
		}
	}
	switch {
	case c.Job.ID == "":
		return bad("Job.ID", `""`, "a job name")
	case c.Resume && c.Fresh:
		return fmt.Errorf("%w: Resume and Fresh exclude each other", ErrConfig)
	case c.Listen == "":
		return bad("Listen", `""`, "host:port")
	case c.SyncMode != SyncGradient && c.SyncMode != SyncWeights:
		return bad("SyncMode", fmt.Sprintf("%q", c.SyncMode), `"gradient" or "weights"`)
	case c.SyncMode == SyncWeights && c.LocalSteps < 1:
		return bad("LocalSteps", c.LocalSteps, ">= 1")
	case c.MinWorkers < 1:
		return bad("MinWorkers", c.MinWorkers, ">= 1")
	case c.StartWorkers < c.MinWorkers:
		return bad("StartWorkers", c.StartWorkers, fmt.Sprintf(">= MinWorkers (%d)", c.MinWorkers))
	case c.StepDeadline <= 0:
		return bad("StepDeadline", c.StepDeadline, "> 0")
	case c.CheckpointEvery < 0:
		return bad("CheckpointEvery", c.CheckpointEvery, ">= 0")
	case c.Settle < 0:
		return bad("Settle", c.Settle, ">= 0")
	case c.RetryDelay <= 0:
		return bad("RetryDelay", c.RetryDelay, "> 0")
	case c.MaxRetryDelay < c.RetryDelay:
		return bad("MaxRetryDelay", c.MaxRetryDelay, fmt.Sprintf(">= RetryDelay (%v)", c.RetryDelay))
	case c.PollWait <= 0:
		return bad("PollWait", c.PollWait, "> 0")
	case c.PullTimeout <= 0:
		return bad("PullTimeout", c.PullTimeout, "> 0")
	case c.ProbeTimeout <= 0:
		return bad("ProbeTimeout", c.ProbeTimeout, "> 0")
	case c.FinishGrace < 0:
		return bad("FinishGrace", c.FinishGrace, ">= 0")
	case c.EvalThreads < 0:
		return bad("EvalThreads", c.EvalThreads, ">= 0")
	}
	return c.Gossip.Validate()
}

// DefaultStoreFile is the name of the checkpoint store inside the data
// directory when no store path is given.
const DefaultStoreFile = "asf.db"

// StoreIn is the store path that a store flag value names: store itself, or
// DefaultStoreFile inside dataDir when store is empty.
func StoreIn(dataDir, store string) string {
	if store != "" {
		return store
	}
	return filepath.Join(dataDir, DefaultStoreFile)
}

func (c Config) storePath() string { return StoreIn(c.DataDir, c.StorePath) }
