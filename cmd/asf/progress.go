package main

// Training progress on stderr: a live bar per epoch on a terminal
// (github.com/schollz/progressbar), a plain line every ten seconds otherwise
// (CI logs, containers). The per-epoch lines and the weight digest go to
// stdout and are not part of it.

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/asfnet/asf/internal/local"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// plainEvery is how often a line is written when stderr is not a terminal.
const plainEvery = 10 * time.Second

type progress struct {
	mu    sync.Mutex // the bar and the log share the terminal
	w     io.Writer
	tty   bool
	bar   *progressbar.ProgressBar
	epoch int
	last  time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, last: time.Now()}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		p.tty = true
	}
	return p
}

// logWriter returns the writer for the log: on a terminal, each log line
// first takes the bar off the screen (it comes back at the next step), so that
// the two do not mix on one line.
func (p *progress) logWriter() io.Writer {
	if !p.tty {
		return p.w
	}
	return writerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.bar != nil {
			_ = p.bar.Clear()
		}
		return p.w.Write(b)
	})
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// step shows the progress after a step.
func (p *progress) step(s local.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	desc := fmt.Sprintf("epoch %d/%d  loss %.4f  acc %.2f%%  %.0f samples/s", s.Epoch+1, s.Epochs, s.Loss, 100*s.Acc, s.SamplesPerSec)
	if p.tty {
		if p.bar == nil || p.epoch != s.Epoch {
			p.clearLocked()
			p.epoch = s.Epoch
			p.bar = progressbar.NewOptions(s.Steps, progressbar.OptionSetWriter(p.w), progressbar.OptionSetWidth(30),
				progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionSetElapsedTime(true),
				progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(),
				progressbar.OptionSetItsString("steps"), progressbar.OptionShowIts(),
				progressbar.OptionSetDescription(desc))
		}
		p.bar.Describe(desc)
		_ = p.bar.Set(s.Step) // a write error to the terminal is not worth stopping training
		return
	}
	now := time.Now()
	if now.Sub(p.last) < plainEvery {
		return
	}
	p.last = now
	eta := time.Duration(0)
	if s.Step > 0 {
		eta = time.Duration(float64(s.Elapsed) * float64(s.Steps-s.Step) / float64(s.Step))
	}
	fmt.Fprintf(p.w, "epoch %d/%d  step %d/%d  %5.1f%%  loss %.4f  acc %.2f%%  %.0f samples/s  ETA %s\n",
		s.Epoch+1, s.Epochs, s.Step, s.Steps, 100*float64(s.Step)/float64(max(1, s.Steps)), s.Loss, 100*s.Acc,
		s.SamplesPerSec, eta.Round(time.Second))
}

// done removes the bar (before an epoch line is printed, and at the end).
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clearLocked()
}

func (p *progress) clearLocked() {
	if p.bar != nil {
		_ = p.bar.Clear()
		p.bar = nil
	}
}
