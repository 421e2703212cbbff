package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/local"
)

// Off a terminal, progress is a plain line at most every plainEvery.
func TestProgressPlain(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf)
	if p.tty {
		t.Fatal("a buffer taken for a terminal")
	}
	s := local.Progress{Epoch: 0, Epochs: 2, Step: 5, Steps: 10, Loss: 0.25, Acc: 0.5, SamplesPerSec: 640, Elapsed: 10 * time.Second}
	p.step(s)
	if buf.Len() != 0 {
		t.Fatalf("a line before %v passed: %q", plainEvery, buf.String())
	}
	p.last = time.Now().Add(-plainEvery - time.Second)
	p.step(s)
	want := "epoch 1/2  step 5/10   50.0%  loss 0.2500  acc 50.00%  640 samples/s  ETA 10s\n"
	if buf.String() != want {
		t.Fatalf("got %q, want %q", buf.String(), want)
	}
	p.step(s)
	if strings.Count(buf.String(), "\n") != 1 {
		t.Fatalf("a second line at once: %q", buf.String())
	}
	p.done()
}
