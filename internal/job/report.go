package job

import (
	"fmt"
	"time"
)

// Digest is the SHA-256 of a model's weights and scales (engine.Model.Digest).
type Digest = [32]byte

// Held names a training state: the units it has completed and its digest.
type Held struct {
	Step   int
	Digest Digest
}

// String formats h for logs.
func (h Held) String() string { return fmt.Sprintf("step %d (%x)", h.Step, h.Digest[:4]) }

// FailureKind classifies a failed step.
type FailureKind int

// Failure kinds (the values of asfpb.FailureKind).
const (
	FailureNone    FailureKind = iota
	FailureAborted             // the reduction broke: redo in a new generation
	FailureSync                // the worker could not get the base state
	FailureFatal               // the step cannot succeed anywhere
)

func (k FailureKind) String() string {
	return [...]string{"none", "aborted", "sync", "fatal"}[min(max(int(k), 0), 3)]
}

// StepStats are the statistics of one global batch.
type StepStats struct {
	MSE, CE          float64
	Correct, Samples int
}

// Report is a worker's account of one step of one generation: what the
// worker builds and the coordinator's machine reads. It crosses the wire as
// asfpb.StepReport, converted only there (cluster.ReportToPB,
// cluster.ReportFromPB).
type Report struct {
	ID          string // the worker
	Job         string // the job's id
	Generation  uint64
	Step        int
	OK          bool
	Failure     FailureKind
	Err         string
	Digest      Digest // state after the step
	Stats       StepStats
	Micro       []int // micro-batches of the step the worker computed
	SyncTime    time.Duration
	ComputeTime time.Duration
	ReduceTime  time.Duration
	StepTime    time.Duration
	ReduceBytes int64
	// UpdateTime is the worker's optimizer step, weights digest and state
	// copy after the all-reduce. The worker's metrics show it; it is not sent.
	UpdateTime time.Duration
}
