package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
)

// mnistBatch returns the first n MNIST training samples as a batch. MNIST is
// fetched into $ASF_DATA_DIR (default: a folder under the user cache directory).
func mnistBatch(b *testing.B, n int) engine.Batch {
	dir := os.Getenv("ASF_DATA_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "asf-bench-data")
	}
	s, err := dataset.Load(context.Background(), "mnist", dir, dataset.Train)
	if err != nil {
		b.Skipf("MNIST not available (%v): the benchmark needs real MNIST batches", err)
	}
	bt := engine.Batch{}
	for i := 0; i < n; i++ {
		bt.X = append(bt.X, s.Sample(i))
		bt.Y = append(bt.Y, int(s.Y[i]))
		bt.Index = append(bt.Index, i)
	}
	return bt
}

var sink float64

// benchTrain measures one training step (forward over T, ASF-BP backward, Adam) of
// the paper's MNIST network on a real batch of 64, on all cores.
func benchTrain(b *testing.B, T int) {
	cfg := engine.DefaultConfig()
	cfg.T = T
	n, err := engine.BuildNet(engine.LeNetSpec, engine.Shape{C: 1, H: 28, W: 28}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	batch := mnistBatch(b, 64)
	var mbs []engine.Batch
	for i := 0; i < 64; i += 8 {
		mbs = append(mbs, engine.Batch{X: batch.X[i : i+8], Y: batch.Y[i : i+8], Index: batch.Index[i : i+8]})
	}
	m := engine.NewModel(n, 1)
	opt := engine.NewOptimizer(engine.DefaultTrainConfig(), n.NParams)
	wss := make([]*engine.Workspace, runtime.GOMAXPROCS(0))
	for i := range wss {
		wss[i] = engine.NewWorkspace(n)
	}
	acc := make([]int64, n.ResultLen())
	// Warm up for one step so the network fires as it does in training.
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(acc)
		if err := engine.RunMicroBatches(m, mbs, 1, 1, wss, acc); err != nil {
			b.Fatal(err)
		}
		st, err := opt.Apply(m, acc, 1)
		if err != nil {
			b.Fatal(err)
		}
		sink += st.MSE
	}
	b.ReportMetric(float64(64*b.N)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkTrainMNISTT20(b *testing.B)  { benchTrain(b, 20) }
func BenchmarkTrainMNISTT100(b *testing.B) { benchTrain(b, 100) }

// BenchmarkForwardMNISTT20 measures the forward pass of one sample on one thread.
func BenchmarkForwardMNISTT20(b *testing.B) {
	cfg := engine.DefaultConfig()
	cfg.T = 20
	n, err := engine.BuildNet(engine.LeNetSpec, engine.Shape{C: 1, H: 28, W: 28}, cfg)
	if err != nil {
		b.Fatal(err)
	}
	batch := mnistBatch(b, 64)
	m := engine.NewModel(n, 1)
	ws := engine.NewWorkspace(n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		k := i % 64
		ws.Forward(m, batch.X[k], 1, 0, batch.Index[k])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}
