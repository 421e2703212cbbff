package allreduce

import "errors"

// Errors of configuration (returned before any message is sent).
var (
	// ErrConfig reports a Config or ServerConfig field with a value out of range.
	ErrConfig = errors.New("allreduce: invalid configuration")
	// ErrClosed reports the use of a Transport after Close.
	ErrClosed = errors.New("allreduce: transport closed")
)

// Errors of a reduction in flight. A reduction that fails returns an error that
// wraps one or more of these; test with errors.Is.
var (
	// ErrAborted reports that the reduction was abandoned because a peer failed,
	// stalled or refused it, or a link between peers broke. Every peer of a ring in
	// which one peer fails returns an error wrapping ErrAborted (or the context's
	// error, when its own context ended).
	ErrAborted = errors.New("allreduce: reduction aborted")
	// ErrStalled reports that no message was sent or received for Config.StallTimeout.
	// It always comes wrapped together with ErrAborted.
	ErrStalled = errors.New("allreduce: no progress within the stall timeout")
	// ErrStale reports a message, or a whole reduction, of an older generation or
	// an earlier step than the one this peer is at. A peer that is told that its
	// own messages are stale returns an error wrapping both ErrStale and ErrAborted.
	ErrStale = errors.New("allreduce: stale generation or step")
	// ErrForeign reports a message of another job.
	ErrForeign = errors.New("allreduce: message of another job")
	// ErrMismatch reports that peers disagree on the reduction (ring size, element
	// count, codec, chunk size) or that a message is not the one the ring expects
	// next (wrong phase, round, chunk index, sender or payload length).
	ErrMismatch = errors.New("allreduce: peers disagree on the reduction")
	// ErrOverflow reports that an int64 sum left the range of int64. Nothing wraps
	// around silently: the reduction stops with this error.
	ErrOverflow = errors.New("allreduce: int64 sum overflow")
)
