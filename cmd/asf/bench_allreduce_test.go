package main

import (
	"strings"
	"testing"
)

func TestParseBenchAllreduceSize(t *testing.T) {
	good := []struct {
		in   string
		want int64
	}{
		{"0", 0}, {"4096", 4096}, {"4MiB", 4 << 20}, {"64MiB", 64 << 20}, {"64mib", 64 << 20},
		{"1GiB", 1 << 30}, {"512KiB", 512 << 10}, {"4MB", 4_000_000}, {"1GB", 1e9}, {"10B", 10}, {" 2 MiB ", 2 << 20},
	}
	for _, c := range good {
		if got, err := parseBenchAllreduceSize(c.in); err != nil || got != c.want {
			t.Errorf("parseBenchAllreduceSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, in := range []string{"", "MiB", "-1", "1.5MiB", "4XB", "99999999999GiB"} {
		if _, err := parseBenchAllreduceSize(in); err == nil || !strings.Contains(err.Error(), "want a non-negative") {
			t.Errorf("parseBenchAllreduceSize(%q) = %v, want an error saying what is expected", in, err)
		}
	}
}

func TestBenchAllreduceFlags(t *testing.T) {
	f := benchAllreduceFlags{peers: 4, iters: 3, warmup: 1, size: "4MiB", chunk: "512KiB", window: "2MiB",
		connWindow: "4MiB", sockBuf: "64KiB", codec: "float32"}
	cfg, err := f.config()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Peers != 4 || cfg.Bytes != 4<<20 || cfg.ChunkBytes != 512<<10 || cfg.Tuning.Window != 2<<20 ||
		cfg.Tuning.ConnWindow != 4<<20 || cfg.Tuning.ReadBuffer != 64<<10 || cfg.Codec != "float32" {
		t.Errorf("config = %+v", cfg)
	}
	f.chunk = "8MiB"
	if _, err := f.config(); err == nil || !strings.Contains(err.Error(), "ChunkBytes") {
		t.Errorf("an 8 MiB chunk: %v, want an error naming ChunkBytes", err)
	}
	f.chunk, f.size = "1MiB", "lots"
	if _, err := f.config(); err == nil || !strings.Contains(err.Error(), "--size") {
		t.Errorf("--size lots: %v, want an error naming --size", err)
	}
}
