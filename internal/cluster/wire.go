package cluster

// The gRPC edge of the domain types of package job: every conversion between
// them and their asfpb messages is here, and is called only where a message
// is sent or received.

import (
	"fmt"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/job"
)

// DigestFrom decodes a 32-byte digest; field names it in the error.
func DigestFrom(b []byte, field string) (job.Digest, error) {
	var d job.Digest
	if len(b) != len(d) {
		return d, fmt.Errorf("%w: %s is %d bytes, want %d", ErrWire, field, len(b), len(d))
	}
	copy(d[:], b)
	return d, nil
}

// HeldToPB converts held states to their wire form.
func HeldToPB(hs []job.Held) []*asfpb.HeldState {
	out := make([]*asfpb.HeldState, len(hs))
	for i, h := range hs {
		out[i] = &asfpb.HeldState{Step: int64(h.Step), Digest: append([]byte(nil), h.Digest[:]...)}
	}
	return out
}

// HeldFromPB decodes held states.
func HeldFromPB(ps []*asfpb.HeldState) ([]job.Held, error) {
	out := make([]job.Held, 0, len(ps))
	for i, p := range ps {
		d, err := DigestFrom(p.GetDigest(), fmt.Sprintf("held[%d].digest", i))
		if err != nil {
			return nil, err
		}
		if p.GetStep() < 0 {
			return nil, fmt.Errorf("%w: held[%d].step is %d, want >= 0", ErrWire, i, p.GetStep())
		}
		out = append(out, job.Held{Step: int(p.GetStep()), Digest: d})
	}
	return out, nil
}

// ReportToPB is r on the wire, with the states the worker holds; durations
// travel in whole microseconds.
func ReportToPB(r job.Report, held []job.Held) *asfpb.StepReport {
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
func ReportFromPB(req *asfpb.StepReport) (job.Report, error) {
	r := job.Report{ID: req.GetWorkerId(), Job: req.GetJobId(), Generation: req.GetGeneration(), Step: int(req.GetStep()), OK: req.GetOk(),
		Failure: job.FailureKind(req.GetFailure()), Err: req.GetError(), Stats: job.StepStats{MSE: req.GetMse(), CE: req.GetCe(),
			Correct: int(req.GetCorrect()), Samples: int(req.GetSamples())},
		SyncTime: us(req.GetSyncUs()), ComputeTime: us(req.GetComputeUs()), ReduceTime: us(req.GetReduceUs()),
		StepTime: us(req.GetStepUs()), ReduceBytes: req.GetReduceBytes()}
	if r.OK {
		d, err := DigestFrom(req.GetDigest(), "digest")
		if err != nil {
			return r, err
		}
		r.Digest = d
	} else if r.Failure < job.FailureAborted || r.Failure > job.FailureFatal {
		r.Failure = job.FailureAborted
	}
	for _, j := range req.GetMicroBatches() {
		r.Micro = append(r.Micro, int(j))
	}
	return r, nil
}

// TaskToPB is t on the wire; the stall bound travels in whole milliseconds,
// the base digest only when t has one.
func TaskToPB(t job.Task) *asfpb.Task {
	p := &asfpb.Task{Kind: asfpb.TaskKind(t.Kind), JobId: t.Job, Generation: t.Generation, Step: int64(t.Step),
		Epoch: int64(t.Epoch), StepInEpoch: int64(t.StepInEpoch), LocalSteps: int32(t.LocalSteps),
		Rank: int32(t.Rank), Reason: t.Reason, StallMs: t.Stall.Milliseconds()}
	if t.HasBase {
		p.BaseDigest = append([]byte(nil), t.Base[:]...)
	}
	for _, m := range t.Ring {
		p.Ring = append(p.Ring, &asfpb.RingMember{WorkerId: m.ID, GrpcAddr: m.Addr})
	}
	if s := t.Sync; s != nil {
		p.Sync = &asfpb.SyncSource{SourceId: s.ID, GrpcAddr: s.Addr}
	}
	return p
}

// TaskFromPB converts an instruction from the wire. A kind this version does
// not know is kept as its number (the worker treats it as wait). A base digest
// that is present but not 32 bytes is an error wrapping ErrWire, returned
// with the rest of the task (HasBase false).
func TaskFromPB(p *asfpb.Task) (job.Task, error) {
	t := job.Task{Kind: job.TaskKind(p.GetKind()), Job: p.GetJobId(), Generation: p.GetGeneration(), Step: int(p.GetStep()),
		Epoch: int(p.GetEpoch()), StepInEpoch: int(p.GetStepInEpoch()), LocalSteps: int(p.GetLocalSteps()),
		Rank: int(p.GetRank()), Reason: p.GetReason(), Stall: time.Duration(p.GetStallMs()) * time.Millisecond}
	for _, m := range p.GetRing() {
		t.Ring = append(t.Ring, job.Peer{ID: m.GetWorkerId(), Addr: m.GetGrpcAddr()})
	}
	if s := p.GetSync(); s != nil {
		t.Sync = &job.Peer{ID: s.GetSourceId(), Addr: s.GetGrpcAddr()}
	}
	if len(p.GetBaseDigest()) == 0 {
		return t, nil
	}
	d, err := DigestFrom(p.GetBaseDigest(), "base_digest")
	if err != nil {
		return t, err
	}
	t.Base, t.HasBase = d, true
	return t, nil
}

// WelcomeToPB is w on the wire.
func WelcomeToPB(w job.Welcome) *asfpb.JoinResponse {
	mode := asfpb.SyncMode_SYNC_MODE_UNSPECIFIED
	switch w.Mode {
	case job.SyncGradient:
		mode = asfpb.SyncMode_SYNC_MODE_GRADIENT
	case job.SyncWeights:
		mode = asfpb.SyncMode_SYNC_MODE_WEIGHTS
	}
	return &asfpb.JoinResponse{JobId: w.JobID, Job: w.Job, Finished: w.Finished, SyncMode: mode, LocalSteps: int32(w.LocalSteps),
		Generation: w.Generation, CoordinatorNode: w.CoordinatorNode, GossipAddr: w.GossipAddr}
}

// WelcomeFromPB converts the answer to a registration from the wire. An
// unspecified sync mode is gradient (what coordinators before the mode
// existed ran); a mode this version does not know keeps its wire name, for the
// worker to refuse.
func WelcomeFromPB(p *asfpb.JoinResponse) job.Welcome {
	w := job.Welcome{JobID: p.GetJobId(), Job: p.GetJob(), Finished: p.GetFinished(), LocalSteps: int(p.GetLocalSteps()),
		Generation: p.GetGeneration(), CoordinatorNode: p.GetCoordinatorNode(), GossipAddr: p.GetGossipAddr()}
	switch m := p.GetSyncMode(); m {
	case asfpb.SyncMode_SYNC_MODE_GRADIENT, asfpb.SyncMode_SYNC_MODE_UNSPECIFIED:
		w.Mode = job.SyncGradient
	case asfpb.SyncMode_SYNC_MODE_WEIGHTS:
		w.Mode = job.SyncWeights
	default:
		w.Mode = job.SyncMode(m.String())
	}
	return w
}
