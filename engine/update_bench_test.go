package engine_test

import (
	"testing"

	"github.com/asfnet/asf/engine"
)

// The fixed per-step work of a worker after the all-reduce, on the paper's
// MNIST network (517,522 parameters): the optimizer step, the weights digest
// and the copy of model and Adam state into the next replica.

func updateSetup(b *testing.B) (*engine.Model, *engine.Optimizer, []int64) {
	n, err := engine.BuildNet(engine.LeNetSpec, engine.Shape{C: 1, H: 28, W: 28}, engine.DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	m := engine.NewModel(n, 1)
	opt := engine.NewOptimizer(engine.DefaultTrainConfig(), n.NParams)
	acc := make([]int64, n.ResultLen())
	for i := range acc {
		acc[i] = int64(i%2001-1000) << 20
	}
	return m, opt, acc
}

func BenchmarkUpdateApply(b *testing.B) {
	m, opt, acc := updateSetup(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := opt.Apply(m, acc, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdateDigest(b *testing.B) {
	m, _, _ := updateSetup(b)
	b.SetBytes(int64(4 * len(m.Params)))
	for b.Loop() {
		_ = m.Digest()
	}
}

func BenchmarkUpdateCopy(b *testing.B) {
	m, opt, _ := updateSetup(b)
	m2, o2 := m.Clone(), opt.Clone()
	b.SetBytes(int64(12 * len(m.Params)))
	for b.Loop() {
		copy(m2.Params, m.Params)
		copy(o2.M, opt.M)
		copy(o2.V, opt.V)
	}
}
