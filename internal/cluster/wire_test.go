package cluster

import (
	"crypto/sha256"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/job"
)

// TestTaskWire checks that an instruction crosses the wire unchanged, and
// that a malformed base digest is an error naming the field.
func TestTaskWire(t *testing.T) {
	d := sha256.Sum256([]byte("base"))
	for _, tc := range []struct {
		name string
		task job.Task
	}{
		{"compute", job.Task{Kind: job.TaskCompute, Job: "j", Generation: 3, Step: 17, Epoch: 2, StepInEpoch: 8, LocalSteps: 4,
			Ring: []job.Peer{{ID: "w1", Addr: "a:1"}, {ID: "w2", Addr: "b:2"}}, Rank: 1, Base: d, HasBase: true,
			Sync: &job.Peer{ID: "w1", Addr: "a:1"}, Stall: 1500 * time.Millisecond}},
		{"sync from the coordinator", job.Task{Kind: job.TaskCompute, Job: "j", Step: 0, Ring: []job.Peer{{ID: "w1", Addr: "a:1"}},
			Base: d, HasBase: true, Sync: &job.Peer{Addr: "c:7070"}}},
		{"done with the final state", job.Task{Kind: job.TaskDone, Job: "j", Step: 40, Base: d, HasBase: true, Reason: "finished"}},
		{"done without", job.Task{Kind: job.TaskDone, Job: "j", Reason: "failed: diverged"}},
		{"wait", job.Task{Kind: job.TaskWait, Job: "j", Generation: 9, Reason: "step abandoned"}},
		{"rejoin", job.Task{Kind: job.TaskRejoin, Reason: "not a member"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			back, err := TaskFromPB(TaskToPB(tc.task))
			if err != nil || !reflect.DeepEqual(back, tc.task) {
				t.Fatalf("round trip:\n got %+v, %v\nwant %+v", back, err, tc.task)
			}
		})
	}
	if _, err := TaskFromPB(&asfpb.Task{Kind: asfpb.TaskKind_TASK_KIND_COMPUTE, BaseDigest: []byte{1, 2, 3}}); !errors.Is(err, ErrWire) ||
		!strings.Contains(err.Error(), "base_digest") {
		t.Errorf("a 3-byte base digest: %v, want ErrWire naming base_digest", err)
	}
	if got, _ := TaskFromPB(&asfpb.Task{Kind: 9}); got.Kind != 9 {
		t.Errorf("an unknown kind became %v, want it kept as 9", got.Kind)
	}
}

// TestWelcomeWire checks the answer to a registration on the wire, the sync
// mode in particular.
func TestWelcomeWire(t *testing.T) {
	for _, w := range []job.Welcome{
		{JobID: "j", Job: []byte(`{"id":"j"}`), Mode: job.SyncGradient, Generation: 4, CoordinatorNode: "c-1", GossipAddr: "c:7946"},
		{JobID: "j", Job: []byte(`{}`), Mode: job.SyncWeights, LocalSteps: 8},
		{JobID: "j", Finished: true, Mode: job.SyncGradient},
	} {
		if back := WelcomeFromPB(WelcomeToPB(w)); !reflect.DeepEqual(back, w) {
			t.Errorf("round trip:\n got %+v\nwant %+v", back, w)
		}
	}
	for _, tc := range []struct {
		pb   asfpb.SyncMode
		want job.SyncMode
	}{
		{asfpb.SyncMode_SYNC_MODE_UNSPECIFIED, job.SyncGradient},
		{asfpb.SyncMode_SYNC_MODE_WEIGHTS, job.SyncWeights},
		{asfpb.SyncMode(7), "7"},
	} {
		if got := WelcomeFromPB(&asfpb.JoinResponse{SyncMode: tc.pb}).Mode; got != tc.want {
			t.Errorf("sync mode %d: %q, want %q", tc.pb, got, tc.want)
		}
	}
}

// TestReportWire checks a step report on the wire.
func TestReportWire(t *testing.T) {
	r := job.Report{ID: "w1", Job: "j", Generation: 2, Step: 5, OK: true, Digest: sha256.Sum256([]byte("after")),
		Stats: job.StepStats{MSE: 0.25, CE: 1.5, Correct: 60, Samples: 64}, Micro: []int{1, 3},
		SyncTime: time.Millisecond, ComputeTime: 2 * time.Millisecond, ReduceTime: 3 * time.Millisecond, StepTime: 7 * time.Millisecond,
		ReduceBytes: 1 << 20}
	back, err := ReportFromPB(ReportToPB(r, nil))
	if err != nil || !reflect.DeepEqual(back, r) {
		t.Fatalf("round trip:\n got %+v, %v\nwant %+v", back, err, r)
	}
	if got, _ := ReportFromPB(&asfpb.StepReport{Failure: 9}); got.Failure != job.FailureAborted {
		t.Errorf("an unknown failure kind became %v, want aborted", got.Failure)
	}
}
