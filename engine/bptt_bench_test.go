package engine_test

import (
	"testing"

	"github.com/asfnet/asf/engine"
)

// benchSample measures forward plus backward of one sample of the paper's MNIST
// network on one thread, with the given method, after a few warm-up steps of
// training so that the network fires as in training.
func benchSample(b *testing.B, method engine.Method, T int) {
	cfg := engine.DefaultConfig()
	cfg.T = T
	cfg.Method = method
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
		sink += ws.Backward(m, batch.Y[k])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkSampleASFT20(b *testing.B)  { benchSample(b, engine.ASF, 20) }
func BenchmarkSampleBPTTT20(b *testing.B) { benchSample(b, engine.BPTT, 20) }
