package cluster

import (
	"time"

	"github.com/asfnet/asf/api/asfpb"
)

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
// asfpb.StepReport (ToPB, ReportFromPB), converted only there.
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
}

// ToPB is r on the wire, with the states the worker holds; durations travel
// in whole microseconds.
func (r Report) ToPB(held []Held) *asfpb.StepReport {
	pb := &asfpb.StepReport{WorkerId: r.ID, JobId: r.Job, Generation: r.Generation, Step: int64(r.Step), Ok: r.OK,
		Failure: asfpb.FailureKind(r.Failure), Error: r.Err, Mse: r.Stats.MSE, Ce: r.Stats.CE,
		Correct: int64(r.Stats.Correct), Samples: int64(r.Stats.Samples),
		SyncUs: r.SyncTime.Microseconds(), ComputeUs: r.ComputeTime.Microseconds(), ReduceUs: r.ReduceTime.Microseconds(),
		StepUs: r.StepTime.Microseconds(), ReduceBytes: r.ReduceBytes, Held: HeldToPB(held)}
	if r.OK {
		pb.Digest = r.Digest[:]
	}
	for _, j := range r.Micro {
		pb.MicroBatches = append(pb.MicroBatches, int32(j))
	}
	return pb
}

func us(v int64) time.Duration { return time.Duration(v) * time.Microsecond }

// ReportFromPB converts a step report from the wire. A failure of an unknown
// kind counts as aborted; a success needs a well-formed digest.
func ReportFromPB(req *asfpb.StepReport) (Report, error) {
	r := Report{ID: req.GetWorkerId(), Job: req.GetJobId(), Generation: req.GetGeneration(), Step: int(req.GetStep()), OK: req.GetOk(),
		Failure: FailureKind(req.GetFailure()), Err: req.GetError(), Stats: StepStats{MSE: req.GetMse(), CE: req.GetCe(),
			Correct: int(req.GetCorrect()), Samples: int(req.GetSamples())},
		SyncTime: us(req.GetSyncUs()), ComputeTime: us(req.GetComputeUs()), ReduceTime: us(req.GetReduceUs()),
		StepTime: us(req.GetStepUs()), ReduceBytes: req.GetReduceBytes()}
	if r.OK {
		d, err := DigestFrom(req.GetDigest(), "digest")
		if err != nil {
			return r, err
		}
		r.Digest = d
	} else if r.Failure < FailureAborted || r.Failure > FailureFatal {
		r.Failure = FailureAborted
	}
	for _, j := range req.GetMicroBatches() {
		r.Micro = append(r.Micro, int(j))
	}
	return r, nil
}
