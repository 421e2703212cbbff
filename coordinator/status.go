package coordinator

import (
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/cluster"
)

// Status: what the gRPC handlers read, published from the event loop.

// publish makes the machine's instructions and the status visible to the
// gRPC handlers, and wakes the long polls when an instruction changed.
func (c *Coordinator) publish() {
	st := c.buildStatus()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pub.status = st
	c.pub.done = c.m.Phase() == PhaseDone
	c.pub.stranger = c.m.Stranger()
	if v := c.m.TasksVersion(); v != c.pub.version || c.pub.tasks == nil || !sameAddrs(c.pub.addrs, c.addrs) {
		tasks := make(map[string]Task)
		for _, mi := range c.m.Members() {
			tasks[mi.ID] = c.m.Task(mi.ID)
		}
		c.pub.tasks, c.pub.version = tasks, v
		c.pub.addrs = make(map[string]string, len(c.addrs))
		for k, a := range c.addrs {
			c.pub.addrs[k] = a
		}
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

func (c *Coordinator) buildStatus() *asfpb.ClusterStatus {
	m := c.m
	s := m.State()
	st := &asfpb.ClusterStatus{JobId: c.job.ID, CoordinatorNode: c.ml.Name(), Version: cluster.Version(), Phase: m.Phase().String(),
		Generation: m.Generation(), Ring: m.Ring(), Step: int64(c.units.Steps(s.Step)), TotalSteps: int64(c.job.Epochs * c.units.StepsPerEpoch),
		Epoch: int64(min(s.Step/c.units.PerEpoch, c.job.Epochs)), Epochs: int64(c.job.Epochs), StepsPerEpoch: int64(c.units.StepsPerEpoch),
		Recomputed: int64(m.Recomputed()), Retries: int64(m.Retries()), Digest: s.Digest[:]}
	if w := int64(len(m.Ring())); w > 1 {
		// What the members reported sending (the gradient codec packs the
		// elements into the bytes they need); the int64 size before any report.
		st.ReduceBytesPerStep = 2 * (w - 1) * c.reduceB / w
		var reported int64
		for _, mi := range m.Members() {
			if mi.Rank >= 0 {
				reported = max(reported, mi.LastReduceBytes)
			}
		}
		if reported > 0 {
			st.ReduceBytesPerStep = reported
		}
	}
	if a := c.epoch; a.samples > 0 {
		st.Loss = a.mse / float64(a.samples)
		st.Accuracy = float64(a.correct) / float64(a.samples)
		st.SamplesPerSec = float64(a.timed) / max(a.last.Sub(a.start).Seconds(), 1e-9)
	}
	if n := len(c.reports); n > 0 && c.reports[n-1].HasTest {
		st.TestAccuracy, st.HasTest = c.reports[n-1].TestAcc, true
	}
	if ck, ok := m.Checkpoint(); ok {
		st.CheckpointStep = int64(c.units.Steps(ck.Step))
	}
	if err := m.Err(); err != nil {
		st.Error = err.Error()
	}
	for _, mi := range m.Members() {
		st.Members = append(st.Members, &asfpb.MemberStatus{WorkerId: mi.ID, GrpcAddr: c.addrs[mi.ID], State: mi.State,
			Rank: int32(mi.Rank), LastStepMs: ms(mi.LastStep), MeanStepMs: ms(mi.MeanStep), LastComputeMs: ms(mi.LastCompute),
			LastReduceMs: ms(mi.LastReduce), Steps: int64(mi.Steps)})
	}
	return st
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
