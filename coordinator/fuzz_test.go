package coordinator

import (
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
