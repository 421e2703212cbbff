package allreduce

import (
	"context"
	"errors"
	"math"
	"testing"
)

// TestRunBench runs a tiny benchmark end to end: real gRPC peers, the raw TCP
// transfers, and consistent figures.
func TestRunBench(t *testing.T) {
	for _, codec := range []string{"int64", "float32"} {
		cfg := DefaultBenchConfig()
		cfg.Peers, cfg.Bytes, cfg.Codec, cfg.Iters, cfg.Warmup = 3, 100_003, codec, 2, 1
		cfg.ChunkBytes = 4096
		res, err := RunBench(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
		es := map[string]int64{"int64": 8, "float32": 4}[codec]
		if want := cfg.Bytes / es * es; res.Bytes != want || res.LinkBytes != want*4/3 {
			t.Errorf("%s: Bytes %d LinkBytes %d, want %d and %d", codec, res.Bytes, res.LinkBytes, want, want*4/3)
		}
		if len(res.Times) != 2 || len(res.Ratios) != 2 || res.Best > res.Mean {
			t.Errorf("%s: times %v, mean %v, best %v", codec, res.Times, res.Mean, res.Best)
		}
		if res.AlgBW <= 0 || math.Abs(res.BusBW-res.AlgBW*4/3) > 1e-9*res.BusBW || res.RawTCP <= 0 || res.RawRing <= 0 {
			t.Errorf("%s: algbw %g busbw %g raw %g ring %g", codec, res.AlgBW, res.BusBW, res.RawTCP, res.RawRing)
		}
	}
	bad := DefaultBenchConfig()
	bad.Peers = 1
	if _, err := RunBench(context.Background(), bad); !errors.Is(err, ErrConfig) {
		t.Errorf("one peer: %v, want ErrConfig", err)
	}
}
