package coordinator

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/protobuf/proto"
)

// FuzzReports sends a coordinator's state machine, with a ring of two
// workers, step reports decoded from arbitrary bytes through the same
// validation and conversion as the Report handler. Whatever they say, the
// machine must not panic, count steps outside 0..TotalSteps, or put anyone
// but its workers in the ring.
func FuzzReports(f *testing.F) {
	d := Digest{7}
	var seeds [][]byte
	for _, r := range []*asfpb.StepReport{
		{WorkerId: "w1", JobId: "j", Generation: 1, Step: 0, Ok: true, Digest: d[:], MicroBatches: []int32{0, 2}, Samples: 16, Mse: 0.3},
		{WorkerId: "w2", JobId: "j", Generation: 1, Step: 0, Ok: true, Digest: d[:], MicroBatches: []int32{1, 3}, Samples: 16, Mse: 0.3},
		{WorkerId: "w2", Generation: 1, Step: 0, Failure: asfpb.FailureKind_FAILURE_KIND_ABORTED, Error: "x"},
		{WorkerId: "w9", Generation: 7, Step: 3, Ok: true, Digest: d[:]},
	} {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, b)
		seeds = append(seeds, b)
	}
	f.Add(seeds[0], seeds[1]) // a whole step's reports
	f.Fuzz(func(t *testing.T, b1, b2 []byte) {
		now := time.Unix(1000, 0)
		cfg := MachineConfig{TotalSteps: 4, StepsPerEpoch: 2, StartWorkers: 2, MinWorkers: 1, StepDeadline: 10 * time.Second,
			RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second}
		m, err := NewMachine(cfg, Start{Fresh: Digest{1}}, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"w1", "w2"} {
			m.Join(now, JoinInfo{ID: id, Incarnation: id + ".1", Ready: true})
		}
		for _, b := range [][]byte{b1, b2} {
			var req asfpb.StepReport
			if proto.Unmarshal(b, &req) != nil || validateReport(&req) != nil {
				continue
			}
			r, err := reportFromPB(&req)
			if err != nil {
				continue
			}
			now = now.Add(time.Millisecond)
			m.Report(now, r)
			m.Outputs()
			if s := m.Step(); s < 0 || s > cfg.TotalSteps {
				t.Fatalf("step %d after a report, want 0..%d", s, cfg.TotalSteps)
			}
			for _, id := range m.Ring() {
				if !slices.Contains([]string{"w1", "w2"}, id) {
					t.Fatalf("%q in the ring %v", id, m.Ring())
				}
			}
		}
	})
}

// FuzzEvents drives a machine with an arbitrary sequence of events (joins,
// restarts, departures by every route, reports, pauses, ticks, checkpoint
// outcomes, the end-of-job events). Whatever the order, the ring holds only
// members, the step stays in 0..TotalSteps, and Stop comes once, only when
// the job is over.
func FuzzEvents(f *testing.F) {
	// Op o acts on worker w1+(o>>5)%3: 0 joins w1, 32 w2, 64 w3.
	f.Add([]byte{0, 32, 9, 9, 11, 9, 9, 13, 11, 12, 44, 45, 16})    // a whole job, told, an evaluation
	f.Add([]byte{0, 32, 9, 14, 39, 16, 8, 38, 37, 7, 16, 9, 9, 11}) // a failure, a pause, departures
	f.Add([]byte{0, 32, 64, 35, 9, 4, 9, 15, 68, 9, 9, 11, 31, 31}) // a restart, a skipped checkpoint, the grace
	f.Fuzz(runEvents)
}

// runEvents is FuzzEvents' body.
func runEvents(t *testing.T, ops []byte) {
	now := time.Unix(1000, 0)
	cfg := MachineConfig{TotalSteps: 4, StepsPerEpoch: 2, StartWorkers: 2, MinWorkers: 1, StepDeadline: 10 * time.Second,
		RetryDelay: 100 * time.Millisecond, MaxRetryDelay: time.Second, PauseGrace: 10 * time.Second, FinishGrace: 3 * time.Second}
	m, err := NewMachine(cfg, Start{Fresh: Digest{1}}, now)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{"w1", "w2", "w3"}
	inc := map[string]int{}
	stops := 0
	for i, op := range ops {
		id := ids[int(op>>5)%len(ids)]
		node := fmt.Sprintf("%s.%d", id, inc[id])
		switch op & 31 {
		case 0, 1, 2:
			m.Join(now, JoinInfo{ID: id, Incarnation: node, Session: node, Ready: op&1 == 0, Addr: id + ":1"})
		case 3:
			inc[id]++
			m.Join(now, JoinInfo{ID: id, Incarnation: fmt.Sprintf("%s.%d", id, inc[id]), Session: node, Ready: true, Addr: id + ":2"})
		case 4:
			m.Leave(now, id, "failed")
		case 5:
			m.LeftGossip(now, node)
		case 6:
			m.Disconnected(now, id, node)
		case 7:
			m.Unreachable(now, id, id+":1")
		case 8:
			m.Paused(now, time.Duration(op)*time.Second)
		case 9, 10:
			for _, r := range m.Ring() {
				m.Report(now, Report{ID: r, Generation: m.Generation(), Step: m.Step(), OK: true, Digest: Digest{byte(m.Step() + 2)}})
			}
		case 11:
			m.CheckpointDone(now, m.State(), nil)
		case 12:
			m.Told(now, id)
		case 13:
			m.Evaluating(now, int(op>>5)%2)
		case 14:
			m.Report(now, Report{ID: id, Generation: m.Generation(), Step: m.Step(), Failure: FailureAborted, Err: "x"})
		case 15:
			m.CheckpointDone(now, m.State(), errors.New("no holder"))
		default:
			now = now.Add(time.Duration(op&31) * 200 * time.Millisecond)
			m.Tick(now)
		}
		for _, o := range m.Outputs() {
			if _, ok := o.(Stop); ok {
				stops++
				if p := m.Phase(); p != PhaseDone && p != PhaseFailed {
					t.Fatalf("op %d: Stop in phase %s", i, p)
				}
			}
		}
		if stops > 1 {
			t.Fatalf("op %d: Stop emitted %d times", i, stops)
		}
		if s := m.Step(); s < 0 || s > cfg.TotalSteps {
			t.Fatalf("op %d: step %d, want 0..%d", i, s, cfg.TotalSteps)
		}
		members := map[string]bool{}
		for _, mi := range m.Members() {
			members[mi.ID] = true
		}
		if p := m.Phase(); p == PhaseRunning {
			for _, r := range m.Ring() {
				if !members[r] {
					t.Fatalf("op %d: %s in the ring %v is no member", i, r, m.Ring())
				}
			}
		}
	}
}
