package worker_test

import (
	"context"
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
// coordinator started again on the finished store, as a Kubernetes Job may)
// is told so in the join answer and ends at once, with no error (exit 0) and
// without loading the data.
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
	// The coordinator again, on the finished store: it serves, its job is done.
	cc.Data = inproc.SharedData(dir)
	co, err := coordinator.New(ctx, cc)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		cctx, stop := context.WithCancel(ctx)
		stop()
		_, _ = co.Run(cctx)
	}()
	var loads atomic.Int32
	wc := worker.DefaultConfig().Loopback()
	wc.ID, wc.Join, wc.DataDir = "late", []string{co.GossipAddr()}, dir
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
}
