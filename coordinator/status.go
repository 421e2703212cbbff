package coordinator

import (
	"slices"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/cluster"
)

// Status: what the gRPC handlers read, published from the event loop.

// publish makes the machine's instructions and the status visible to the
// gRPC handlers, and wakes the long polls when an instruction changed.
func (c *Coordinator) publish() {
	members := c.m.Members()
	st := c.buildStatus(members)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pub.status = st
	c.pub.done = c.m.Phase() == PhaseDone
	c.pub.stranger = c.m.Stranger()
	addrs := make(map[string]string, len(members))
	for _, mi := range members {
		addrs[mi.ID] = mi.Addr
	}
	if v := c.m.TasksVersion(); v != c.pub.version || c.pub.tasks == nil || !sameAddrs(c.pub.addrs, addrs) {
		tasks := make(map[string]Task, len(members))
		for _, mi := range members {
			tasks[mi.ID] = c.m.Task(mi.ID)
		}
		c.pub.tasks, c.pub.version, c.pub.addrs = tasks, v, addrs
		close(c.pub.wake)
		c.pub.wake = make(chan struct{})
	}
}

func sameAddrs(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// liveStatus is the coordinator's state as the outside sees it, derived once per
// turn of the event loop from the machine (publish); the gRPC Status (its
// proto, statusPB) and Observe both read it.
type liveStatus struct {
	phase, err                                     string
	generation                                     uint64
	ring                                           []string
	step, totalSteps, epoch, epochs, stepsPerEpoch int64
	recomputed, retries                            int64
	digest                                         Digest
	reduceBytesPerStep                             int64
	loss, accuracy, samplesPerSec, testAccuracy    float64
	hasTest                                        bool
	checkpointStep                                 int64
	members                                        []memberStatus
}

// memberStatus is one member of the status.
type memberStatus struct {
	id, addr, state                             string
	rank                                        int
	steps                                       int64
	lastStep, meanStep, lastCompute, lastReduce time.Duration
}

// buildStatus derives the status from the machine (its members as Members
// returned them this turn) and the event loop's accumulators.
func (c *Coordinator) buildStatus(members []MemberInfo) liveStatus {
	m := c.m
	s := m.State()
	ring := m.Ring()
	st := liveStatus{phase: m.Phase().String(), generation: m.Generation(), ring: ring, step: int64(c.units.Steps(s.Step)),
		totalSteps: int64(c.job.Epochs * c.units.StepsPerEpoch), epoch: int64(min(s.Step/c.units.PerEpoch, c.job.Epochs)),
		epochs: int64(c.job.Epochs), stepsPerEpoch: int64(c.units.StepsPerEpoch),
		recomputed: int64(m.Recomputed()), retries: int64(m.Retries()), digest: s.Digest}
	if w := int64(len(ring)); w > 1 {
		// What the members reported sending (the gradient codec packs the
		// elements into the bytes they need); the int64 size before any report.
		st.reduceBytesPerStep = 2 * (w - 1) * c.reduceB / w
		var reported int64
		for _, mi := range members {
			if mi.Rank >= 0 {
				reported = max(reported, mi.LastReduceBytes)
			}
		}
		if reported > 0 {
			st.reduceBytesPerStep = reported
		}
	}
	if a := c.epoch; a.samples > 0 {
		st.loss = a.mse / float64(a.samples)
		st.accuracy = float64(a.correct) / float64(a.samples)
		st.samplesPerSec = float64(a.timed) / max(a.last.Sub(a.start).Seconds(), 1e-9)
	}
	if n := len(c.reports); n > 0 && c.reports[n-1].HasTest {
		st.testAccuracy, st.hasTest = c.reports[n-1].TestAcc, true
	}
	if ck, ok := m.Checkpoint(); ok {
		st.checkpointStep = int64(c.units.Steps(ck.Step))
	}
	if err := m.Err(); err != nil {
		st.err = err.Error()
	}
	for _, mi := range members {
		st.members = append(st.members, memberStatus{id: mi.ID, addr: mi.Addr, state: mi.State, rank: mi.Rank,
			steps: int64(mi.Steps), lastStep: mi.LastStep, meanStep: mi.MeanStep, lastCompute: mi.LastCompute, lastReduce: mi.LastReduce})
	}
	return st
}

// statusPB is the status on the wire.
func (c *Coordinator) statusPB(s liveStatus) *asfpb.ClusterStatus {
	st := &asfpb.ClusterStatus{JobId: c.job.ID, CoordinatorNode: c.ml.Name(), Version: cluster.Version(), Phase: s.phase,
		Generation: s.generation, Ring: slices.Clone(s.ring), Step: s.step, TotalSteps: s.totalSteps, Epoch: s.epoch, Epochs: s.epochs,
		StepsPerEpoch: s.stepsPerEpoch, Recomputed: s.recomputed, Retries: s.retries, Digest: slices.Clone(s.digest[:]),
		ReduceBytesPerStep: s.reduceBytesPerStep, Loss: s.loss, Accuracy: s.accuracy, SamplesPerSec: s.samplesPerSec,
		TestAccuracy: s.testAccuracy, HasTest: s.hasTest, CheckpointStep: s.checkpointStep, Error: s.err}
	for _, mi := range s.members {
		st.Members = append(st.Members, &asfpb.MemberStatus{WorkerId: mi.id, GrpcAddr: mi.addr, State: mi.state,
			Rank: int32(mi.rank), LastStepMs: ms(mi.lastStep), MeanStepMs: ms(mi.meanStep), LastComputeMs: ms(mi.lastCompute),
			LastReduceMs: ms(mi.lastReduce), Steps: mi.steps})
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
