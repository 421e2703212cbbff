package allreduce

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// The reasons a peer gives its left neighbour when it refuses or aborts the
// neighbour's stream. They travel as the Reason of a google.rpc.ErrorInfo over
// gRPC, and as is in memory.
const (
	errorDomain    = "asf.allreduce"
	reasonAborted  = "ABORTED"  // the receiving peer gave up for its own reasons
	reasonStale    = "STALE"    // the stream is of an older generation or step
	reasonForeign  = "FOREIGN"  // the stream is of another job
	reasonMismatch = "MISMATCH" // the stream is not what the ring expects
)

// reasonOf classifies a verdict on the left neighbour's stream. An error that
// wraps ErrAborted came from elsewhere (a neighbour, the watchdog), so it says
// nothing about the left neighbour's messages.
func reasonOf(verdict error) string {
	switch {
	case errors.Is(verdict, ErrAborted):
		return reasonAborted
	case errors.Is(verdict, ErrStale):
		return reasonStale
	case errors.Is(verdict, ErrForeign):
		return reasonForeign
	case errors.Is(verdict, ErrMismatch):
		return reasonMismatch
	}
	return reasonAborted
}

// rightError turns the right neighbour's verdict on this peer's stream into this
// peer's error: a refusal of its messages wraps the matching sentinel as well as
// ErrAborted.
func rightError(s Session, reason, msg string) error {
	right := (s.Rank + 1) % s.Size
	var sentinel error
	switch reason {
	case reasonStale:
		sentinel = ErrStale
	case reasonForeign:
		sentinel = ErrForeign
	case reasonMismatch:
		sentinel = ErrMismatch
	default:
		return fmt.Errorf("%w: the right neighbour (rank %d) aborted: %s", ErrAborted, right, msg)
	}
	return fmt.Errorf("%w: %w: the right neighbour (rank %d) refused this peer's stream: %s", ErrAborted, sentinel, right, msg)
}

// abortOnDone arranges for abort to run once ctx ends, unless stopped first; wait
// returns once abort has finished or can no longer start.
type abortOnDone struct {
	stop func() bool
	done chan struct{}
	once sync.Once
}

func newAbortOnDone(ctx context.Context, abort func(cause error)) *abortOnDone {
	a := &abortOnDone{done: make(chan struct{})}
	a.stop = context.AfterFunc(ctx, func() {
		defer close(a.done)
		abort(context.Cause(ctx))
	})
	return a
}

// wait disarms the abort, or waits for it if it already started.
func (a *abortOnDone) wait() {
	a.once.Do(func() {
		if !a.stop() {
			<-a.done
		}
	})
}
