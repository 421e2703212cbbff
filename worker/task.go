package worker

import (
	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/cluster"
)

// task is a coordinator instruction as the worker uses it: the wire's Task,
// converted once where it arrives (serve, from the poll's mailbox).
type task struct {
	Kind        instruction
	Job         string
	Generation  uint64
	Step        int64 // the unit to compute: the units completed before it
	Epoch       int64
	StepInEpoch int64
	LocalSteps  int32        // training steps of the unit (weights mode; 0 or 1 in gradient mode)
	Ring        []ringMember // rank order
	Rank        int32
	Base        cluster.Digest // the state the step starts from (or, for done, the final state)
	HasBase     bool           // a base digest was sent
	BaseErr     error          // the base digest is malformed (or absent)
	Sync        *syncSource    // where to fetch the base state, if the worker lacks it
	StallMs     int64          // how long a reduction may go without progress
	Reason      string         // for wait, done and rejoin
}

// ringMember is a worker of the ring and its gRPC address.
type ringMember struct{ ID, Addr string }

// syncSource is a WorkerState server holding a state: a worker (ID) or the
// coordinator (ID "").
type syncSource struct{ ID, Addr string }

// taskFromPB converts an instruction from the wire.
func taskFromPB(t *asfpb.Task) task {
	out := task{Kind: instructionOf(t.GetKind()), Job: t.GetJobId(), Generation: t.GetGeneration(), Step: t.GetStep(),
		Epoch: t.GetEpoch(), StepInEpoch: t.GetStepInEpoch(), LocalSteps: t.GetLocalSteps(), Rank: t.GetRank(),
		HasBase: len(t.GetBaseDigest()) > 0, StallMs: t.GetStallMs(), Reason: t.GetReason()}
	out.Base, out.BaseErr = cluster.DigestFrom(t.GetBaseDigest(), "base_digest")
	for _, m := range t.GetRing() {
		out.Ring = append(out.Ring, ringMember{ID: m.GetWorkerId(), Addr: m.GetGrpcAddr()})
	}
	if s := t.GetSync(); s != nil {
		out.Sync = &syncSource{ID: s.GetSourceId(), Addr: s.GetGrpcAddr()}
	}
	return out
}

// instructionOf converts a task kind from the wire.
func instructionOf(k asfpb.TaskKind) instruction {
	switch k {
	case asfpb.TaskKind_TASK_KIND_COMPUTE:
		return doCompute
	case asfpb.TaskKind_TASK_KIND_REJOIN:
		return doRejoin
	case asfpb.TaskKind_TASK_KIND_DONE:
		return doDone
	}
	return doWait
}
