package dataset

import (
	"errors"
	"math/bits"
	"slices"
	"strings"
	"testing"
)

func TestSyntheticShapeAndDeterminism(t *testing.T) {
	cfg := DefaultSyntheticConfig()
	a, b := Synthetic(cfg), Synthetic(cfg)
	if !slices.Equal(a.X, b.X) || !slices.Equal(a.Y, b.Y) {
		t.Fatal("Synthetic is not deterministic")
	}
	if err := a.Check(); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 2000 || a.C != 1 || a.H != 16 || a.W != 16 || a.Frames != 1 || a.Classes != 10 || a.Name != "synthetic" {
		t.Fatalf("got N=%d C=%d H=%d W=%d Frames=%d Classes=%d Name=%q", a.Len(), a.C, a.H, a.W, a.Frames, a.Classes, a.Name)
	}
	for _, v := range a.X {
		if v < 0 || v > 1 {
			t.Fatalf("value %v outside [0,1]", v)
		}
	}
	if h := a.Histogram(); slices.Min(h) != 200 || slices.Max(h) != 200 {
		t.Fatalf("class histogram %v, want 200 each", h)
	}
	// Two samples of the same class differ (noise, intensity, shift).
	if slices.Equal(a.Sample(0), a.Sample(10)) {
		t.Fatal("samples 0 and 10 (both class 0) are identical")
	}
	other := cfg
	other.Seed = 2
	if slices.Equal(Synthetic(other).X, a.X) {
		t.Fatal("seed 2 gives the same data as seed 1")
	}
	test := Synthetic(SplitConfig(cfg, Test))
	if test.Len() != 1000 || slices.Equal(test.Sample(0), a.Sample(0)) {
		t.Fatalf("test split: N=%d (want 1000), first sample equal to train's: %v", test.Len(), slices.Equal(test.Sample(0), a.Sample(0)))
	}
	// Sample i does not depend on N.
	small := cfg
	small.N = 50
	if !slices.Equal(Synthetic(small).X, a.X[:50*a.SampleSize()]) {
		t.Fatal("the first 50 samples change with N")
	}
}

func TestSynthCodes(t *testing.T) {
	codes := synthCodes(10)
	for i, c := range codes {
		if bits.OnesCount16(c) != synthWeight {
			t.Fatalf("code %d = %016b lights %d blocks, want %d", i, c, bits.OnesCount16(c), synthWeight)
		}
		for j := range i {
			if n := bits.OnesCount16(c & codes[j]); n > 1 {
				t.Fatalf("codes %d and %d share %d blocks, want at most 1", j, i, n)
			}
		}
	}
	big := synthCodes(256)
	seen := map[uint16]bool{}
	for _, c := range big {
		if seen[c] {
			t.Fatalf("synthCodes(256) repeats %016b", c)
		}
		seen[c] = true
	}
}

// TestSyntheticLearnable checks the data set is easy for the networks downstream tests
// use: with Poisson spike input at gain 0.5 over 8 time steps (as the engine encodes
// [0,1] data), a nearest-class-mean classifier on spike counts, fitted on the train
// split, is above 95% on the test split.
func TestSyntheticLearnable(t *testing.T) {
	cfg := DefaultSyntheticConfig()
	train, test := Synthetic(cfg), Synthetic(SplitConfig(cfg, Test))
	const steps, gain = 8, 0.5
	r := newStream(0x74657374, 0, 0)
	counts := func(x []float32) []float32 {
		out := make([]float32, len(x))
		for range steps {
			for i, v := range x {
				if r.float32() < v*gain {
					out[i]++
				}
			}
		}
		return out
	}
	size := train.SampleSize()
	mean := make([][]float32, train.Classes)
	for k := range mean {
		mean[k] = make([]float32, size)
	}
	for i := range train.Len() {
		c := counts(train.Sample(i))
		for p := range c {
			mean[train.Y[i]][p] += c[p]
		}
	}
	correct := 0
	for i := range test.Len() {
		c := counts(test.Sample(i))
		best, bestD := -1, float32(0)
		for k := range mean {
			d := float32(0)
			for p := range c {
				e := c[p] - mean[k][p]/200
				d += e * e
			}
			if best < 0 || d < bestD {
				best, bestD = k, d
			}
		}
		if best == int(test.Y[i]) {
			correct++
		}
	}
	acc := float64(correct) / float64(test.Len())
	t.Logf("nearest-class-mean accuracy on Poisson spike counts: %.4f", acc)
	if acc <= 0.95 {
		t.Fatalf("accuracy %.4f <= 0.95: the synthetic data set is too hard for fast tests", acc)
	}
}

func TestSyntheticValidate(t *testing.T) {
	base := DefaultSyntheticConfig()
	cases := []struct {
		mod   func(*SyntheticConfig)
		field string
	}{
		{func(c *SyntheticConfig) { c.N = 0 }, "N"},
		{func(c *SyntheticConfig) { c.Classes = 1 }, "Classes"},
		{func(c *SyntheticConfig) { c.Classes = 257 }, "Classes"},
		{func(c *SyntheticConfig) { c.C = 0 }, "C"},
		{func(c *SyntheticConfig) { c.H = 3 }, "H, W"},
		{func(c *SyntheticConfig) { c.Noise = -0.1 }, "Noise"},
		{func(c *SyntheticConfig) { c.Noise = 1 }, "Noise"},
		{func(c *SyntheticConfig) { c.N = 1 << 30 }, "N*C*H*W"},
	}
	for _, c := range cases {
		cfg := base
		c.mod(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "SyntheticConfig."+c.field) && !strings.Contains(err.Error(), c.field) {
			t.Errorf("%+v: error %v, want ErrConfig naming %s", cfg, err, c.field)
		}
	}
	if err := base.Validate(); err != nil {
		t.Fatal(err)
	}
	multi := base
	multi.C, multi.H, multi.W, multi.N = 3, 8, 12, 30
	if s := Synthetic(multi); s.Check() != nil || s.SampleSize() != 3*8*12 {
		t.Fatalf("3x8x12 synthetic set: %v, sample size %d", s.Check(), s.SampleSize())
	}
}
