package worker_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/worker"
)

// A worker that joins a coordinator whose job is already finished (the
// coordinator started again on the finished store, as a Kubernetes Job may,
// with its workers beside it) is told so in the join answer and ends at once,
// with no error (exit 0) and without loading the data. The coordinator serves
// its whole FinishGrace for them instead of ending before they join.
func TestWorkerFindsJobFinished(t *testing.T) {
	j := job.Default()
	j.ID, j.Dataset, j.Spec = "over", "synthetic", "4C3-P2-10FC"
	j.Neuron.T, j.Epochs, j.Batch, j.Micro, j.TrainSize, j.TestSize = 4, 1, 16, 16, 32, 16
	dir := t.TempDir()
	cc := coordinator.DefaultConfig(j).Loopback()
	cc.DataDir, cc.StorePath, cc.NoTest, cc.FinishGrace = dir, dir+"/asf.db", true, 200*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := inproc.Run(ctx, inproc.Config{Coordinator: cc, Workers: 1}); err != nil {
		t.Fatal(err)
	}
	// The coordinator again, on the finished store, running: its job is done,
	// and it serves for its FinishGrace so that workers started beside it are
	// told so.
	cc.Data, cc.FinishGrace = inproc.SharedData(dir), 30*time.Second
	co, err := coordinator.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	cctx, stop := context.WithCancel(ctx)
	defer stop()
	coDone := make(chan error, 1)
	go func() { _, err := co.Run(cctx); coDone <- err }()
	time.Sleep(500 * time.Millisecond) // the worker starts a little after its coordinator, as pods do
	var loads atomic.Int32
	wc := worker.DefaultConfig().Loopback()
	wc.ID, wc.Join, wc.DataDir, wc.JoinWait = "late", []string{co.GossipAddr()}, dir, 5*time.Second
	wc.Data = func(ctx context.Context, j job.Job) (*dataset.Set, *dataset.Set, error) {
		loads.Add(1)
		return cc.Data(ctx, j)
	}
	w, err := worker.New(wc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := w.Run(ctx)
	if err != nil {
		t.Fatalf("a worker joining a finished job: %v, want it to end without error", err)
	}
	if out.Steps != 0 || loads.Load() != 0 {
		t.Fatalf("the worker did %d steps and loaded the data %d times; want neither", out.Steps, loads.Load())
	}
	stop()
	if err := <-coDone; err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("the coordinator of the finished job: %v", err)
	}
}
