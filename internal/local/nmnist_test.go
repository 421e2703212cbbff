package local

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/asfnet/asf/engine"
)

// writeNMNIST writes a small event data set in the real N-MNIST format (5 bytes
// per event: x, y, polarity in bit 7 of byte 2 and a 23-bit microsecond
// timestamp): class k emits events along column 3k+2, ON events first, then OFF.
func writeNMNIST(t *testing.T, dir string, perClass int) {
	t.Helper()
	for _, split := range []string{"Train", "Test"} {
		for k := 0; k < 4; k++ {
			d := filepath.Join(dir, "nmnist", split, fmt.Sprint(k))
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			for s := 0; s < perClass; s++ {
				var b []byte
				for e := 0; e < 60; e++ {
					x, y := byte(3*k+2), byte((e*7+s)%34)
					ts := uint32(e * 1000)
					pol := byte(0)
					if e < 30 {
						pol = 0x80
					}
					b = append(b, x, y, pol|byte(ts>>16&0x7f), byte(ts>>8), byte(ts))
				}
				if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%05d.bin", s)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

// TestEventDataTrains trains on N-MNIST-format event files with the events
// encoding, and refuses a job whose encoding does not fit the data.
func TestEventDataTrains(t *testing.T) {
	dir := t.TempDir()
	writeNMNIST(t, dir, 12)
	j := synthJob()
	j.Dataset = "nmnist"
	j.Spec = "4C3-P2-10FC"
	j.Neuron.T = 8
	j.Neuron.Encoding = engine.Events
	j.Neuron.Frames = 4
	j.Epochs = 3
	j.Batch = 8
	j.Micro = 4
	res, err := Run(context.Background(), j, Options{DataDir: dir, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Epochs[len(res.Epochs)-1].TestAcc; got < 0.9 {
		t.Fatalf("test accuracy %.3f on separable event data; want >= 0.9", got)
	}
	j.Neuron.Encoding = engine.Poisson
	j.Neuron.Frames = 0
	if _, err := Run(context.Background(), j, Options{DataDir: dir}); err == nil {
		t.Fatal("trained event data with the Poisson encoding")
	}
}
