package coordinator

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/internal/job"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

func smallJob() job.Job {
	j := job.Default()
	j.ID = "coord-test"
	j.Dataset = "synthetic"
	j.Spec = "8C3-P2-10FC"
	j.Neuron.T = 4
	j.Batch, j.Micro = 32, 8
	j.TrainSize, j.TestSize = 64, 16
	return j
}

func testConfig(t *testing.T, j job.Job, store string) Config {
	c := DefaultConfig(j).Loopback()
	c.DataDir = t.TempDir()
	c.StorePath = store
	return c
}

// The store decides where a job starts: a new job is recorded; the same job
// continues; another configuration under the same id is refused unless
// Fresh; Resume needs the job in the store.
func TestJobInStore(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir() + "/asf.db"
	j := smallJob()
	open := func(c Config) error {
		co, err := New(ctx, c)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err = co.Run(cctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Run with a cancelled context: %v", err)
		}
		return nil
	}
	if err := open(testConfig(t, j, store)); err != nil {
		t.Fatal(err)
	}
	if err := open(testConfig(t, j, store)); err != nil {
		t.Fatalf("the same job again: %v", err)
	}
	other := j
	other.Epochs = 3
	if err := open(testConfig(t, other, store)); !errors.Is(err, ErrJobExists) {
		t.Fatalf("another configuration: %v, want ErrJobExists", err)
	}
	c := testConfig(t, other, store)
	c.Fresh = true
	if err := open(c); err != nil {
		t.Fatalf("Fresh: %v", err)
	}
	c = testConfig(t, job.Job{ID: "coord-test"}, store)
	c.Resume = true
	if err := open(c); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	c = testConfig(t, job.Job{ID: "nope"}, store)
	c.Resume = true
	if err := open(c); !errors.Is(err, ErrNoJob) {
		t.Fatalf("Resume of an unknown job: %v, want ErrNoJob", err)
	}
}

// The gRPC services check their input and answer status.
func TestServices(t *testing.T) {
	ctx := context.Background()
	c := testConfig(t, smallJob(), t.TempDir()+"/asf.db")
	c.PollWait = 200 * time.Millisecond
	co, err := New(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _, _ = co.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	cc, err := grpc.NewClient(co.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cl := asfpb.NewCoordinatorClient(cc)
	if _, err := cl.Join(ctx, &asfpb.JoinRequest{WorkerId: "bad id!", GrpcAddr: "x:1"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("bad worker id: %v", err)
	}
	if _, err := cl.Join(ctx, &asfpb.JoinRequest{WorkerId: "w1"}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("no address: %v", err)
	}
	resp, err := cl.Join(ctx, &asfpb.JoinRequest{WorkerId: "w1", GrpcAddr: "127.0.0.1:1", NodeName: "w1.x"})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetJobId() != "coord-test" || !strings.Contains(string(resp.GetJob()), `"spec": "8C3-P2-10FC"`) {
		t.Errorf("join response %v", resp)
	}
	// Not ready: told to wait; the poll is held and then answered the same.
	start := time.Now()
	task, err := cl.NextTask(ctx, &asfpb.NextTaskRequest{WorkerId: "w1", HaveKind: asfpb.TaskKind_TASK_KIND_WAIT, WaitMs: 200})
	if err != nil || task.GetKind() != asfpb.TaskKind_TASK_KIND_WAIT || time.Since(start) < 150*time.Millisecond {
		t.Errorf("poll of a loading worker: %v %v after %v", task, err, time.Since(start))
	}
	// An unknown worker is told to join.
	task, err = cl.NextTask(ctx, &asfpb.NextTaskRequest{WorkerId: "w9", WaitMs: 10})
	if err != nil || task.GetKind() != asfpb.TaskKind_TASK_KIND_REJOIN {
		t.Errorf("poll of an unknown worker: %v %v", task, err)
	}
	// Ready: the first generation starts and w1 gets step 0.
	if _, err := cl.Join(ctx, &asfpb.JoinRequest{WorkerId: "w1", GrpcAddr: "127.0.0.1:1", NodeName: "w1.x", Ready: true}); err != nil {
		t.Fatal(err)
	}
	task, err = cl.NextTask(ctx, &asfpb.NextTaskRequest{WorkerId: "w1", JobId: "coord-test", HaveKind: asfpb.TaskKind_TASK_KIND_WAIT, WaitMs: 2000})
	if err != nil || task.GetKind() != asfpb.TaskKind_TASK_KIND_COMPUTE || task.GetStep() != 0 || len(task.GetBaseDigest()) != 32 || len(task.GetRing()) != 1 {
		t.Fatalf("first task: %v %v", task, err)
	}
	if _, err := cl.Report(ctx, &asfpb.StepReport{WorkerId: "w1", JobId: "coord-test", Generation: task.GetGeneration(), Ok: true, Digest: []byte{1}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("a report with a short digest: %v", err)
	}
	st, err := cl.Status(ctx, &asfpb.StatusRequest{})
	if err != nil || st.GetPhase() != "running" || st.GetTotalSteps() != 2 || len(st.GetMembers()) != 1 {
		t.Errorf("status %v %v", st, err)
	}
	// WorkerState on the coordinator: no checkpoint yet.
	sc, err := asfpb.NewWorkerStateClient(cc).GetState(ctx, &asfpb.StateRequest{JobId: "coord-test", Step: 0, Digest: make([]byte, 32)})
	if err == nil {
		_, err = sc.Recv()
	}
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetState without a checkpoint: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig(smallJob())
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		field string
		mod   func(*Config)
	}{
		{"Job.ID", func(c *Config) { c.Job.ID = ""; c.Resume = true }},
		{"Resume and Fresh", func(c *Config) { c.Resume, c.Fresh = true, true }},
		{"Listen", func(c *Config) { c.Listen = "" }},
		{"SyncMode", func(c *Config) { c.SyncMode = "both" }},
		{"MinWorkers", func(c *Config) { c.MinWorkers = 0 }},
		{"StartWorkers", func(c *Config) { c.MinWorkers, c.StartWorkers = 2, 1 }},
		{"StepDeadline", func(c *Config) { c.StepDeadline = 0 }},
		{"CheckpointEvery", func(c *Config) { c.CheckpointEvery = -1 }},
		{"PollWait", func(c *Config) { c.PollWait = 0 }},
		{"ProbeTimeout", func(c *Config) { c.ProbeTimeout = 0 }},
		{"MaxRetryDelay", func(c *Config) { c.MaxRetryDelay = time.Millisecond }},
	} {
		c := good
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.field) {
			t.Errorf("%s: got %v", tc.field, err)
		}
	}
	bad := good
	bad.Job.Batch = 30
	if err := bad.Validate(); !errors.Is(err, job.ErrInvalid) {
		t.Errorf("a bad job: %v", err)
	}
	for _, id := range []string{"", "@coordinator", "a b", strings.Repeat("x", 64)} {
		if ValidateWorkerID(id) == nil {
			t.Errorf("worker id %q accepted", id)
		}
	}
	if err := ValidateWorkerID("host-1.w_2:0"); err != nil {
		t.Error(err)
	}
}
