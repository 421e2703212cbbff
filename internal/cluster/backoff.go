package cluster

import "time"

// Backoff is the delay between attempts at something that fails: Min at
// first, doubled after each failure up to Max, and back to Min after a
// success. The zero Backoff is not usable: set Min and Max (Min > 0,
// Max >= Min).
type Backoff struct {
	Min, Max time.Duration
	cur      time.Duration
}

// NewBackoff returns a Backoff from min doubling up to max.
func NewBackoff(min, max time.Duration) Backoff { return Backoff{Min: min, Max: max} }

// Delay is the delay before the next attempt.
func (b *Backoff) Delay() time.Duration {
	if b.cur == 0 {
		return b.Min
	}
	return b.cur
}

// Failed doubles the delay, up to Max: call it after waiting Delay for a
// failed attempt.
func (b *Backoff) Failed() { b.cur = min(2*b.Delay(), b.Max) }

// Reset goes back to Min after a success.
func (b *Backoff) Reset() { b.cur = 0 }
