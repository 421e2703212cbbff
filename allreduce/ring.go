package allreduce

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// AllReduceInt64 replaces buf, in place, with the elementwise sum of every peer's
// buf, exactly (the Int64 codec): the result is bitwise the same whatever the ring
// order. It fails with ErrOverflow rather than wrap around.
func AllReduceInt64(ctx context.Context, t Transport, cfg Config, buf []int64) error {
	return AllReduce(ctx, t, cfg, Int64, buf)
}

// AllReduceFloat32 replaces buf, in place, with the elementwise sum of every
// peer's buf in float32 (the Float32 codec). All peers get the same bits, but the
// bits depend on the ring order.
func AllReduceFloat32(ctx context.Context, t Transport, cfg Config, buf []float32) error {
	return AllReduce(ctx, t, cfg, Float32, buf)
}

// AllReduce replaces buf, in place, with the elementwise sum over the ring of every
// peer's buf, using the ring algorithm: a reduce-scatter then an all-gather, each
// of Size-1 rounds, after which every peer has sent and received 2(Size-1)/Size of
// the buffer. Every peer of the ring must call it with the same Job, Generation,
// Step, Size, ChunkBytes, codec and len(buf), and its own Rank.
//
// The buffer is cut into Size segments of n/Size elements (the first n mod Size
// get one more), and each segment into chunks of cfg.ChunkBytes. In round t a peer
// sends segment (Rank-t) mod Size to its right neighbour and receives segment
// (Rank-t-1) mod Size from its left one; it forwards each received chunk as soon as
// it has added it (reduce-scatter) or copied it (all-gather), so that sending,
// receiving and summing overlap.
//
// A ring of one returns at once. On error, buf holds partial results; the error
// wraps ErrAborted, ErrStale, ErrForeign, ErrMismatch or ErrOverflow, or is the
// context's error. A failure of any peer makes every other peer fail within
// about cfg.StallTimeout (usually much sooner: a broken link is seen at once).
// One peer may still succeed while another fails (a neighbour may fail after
// consuming everything it needed); the caller resolves that at the next generation.
func AllReduce[T any](ctx context.Context, t Transport, cfg Config, codec Codec[T], buf []T) error {
	_, err := AllReduceSent(ctx, t, cfg, codec, buf)
	return err
}

// AllReduceSent is AllReduce that also returns the payload bytes this peer
// sent (its own chunks and the ones it forwarded): 2(Size-1)/Size of the
// buffer's encoding, which for the Packed codec depends on the values.
func AllReduceSent[T any](ctx context.Context, t Transport, cfg Config, codec Codec[T], buf []T) (int64, error) {
	if err := cfg.Validate(); err != nil {
		return 0, err
	}
	if cfg.Size == 1 {
		return 0, nil
	}
	if t == nil || codec == nil {
		return 0, fmt.Errorf("%w: nil Transport or Codec for a ring of %d", ErrConfig, cfg.Size)
	}
	r := &ring[T]{
		cfg:   cfg,
		codec: codec,
		buf:   buf,
		plan:  newPlan(len(buf), cfg.Size, cfg.Rank, cfg.ChunkBytes/codec.Size()),
		sess:  Session{Job: cfg.Job, Generation: cfg.Generation, Step: cfg.Step, Rank: cfg.Rank, Size: cfg.Size},
		queue: newMsgQueue(),
	}
	if err := r.run(ctx, t); err != nil {
		return r.sent.Load(), fmt.Errorf("allreduce %v: %w", r.sess, err)
	}
	return r.sent.Load(), nil
}

// plan is the geometry of a reduction: segments and chunks.
type plan struct {
	n, size, rank int
	chunkElems    int
}

func newPlan(n, size, rank, chunkElems int) plan {
	return plan{n: n, size: size, rank: rank, chunkElems: chunkElems}
}

// segment returns the bounds [lo, hi) of segment s.
func (p plan) segment(s int) (lo, hi int) {
	q, rem := p.n/p.size, p.n%p.size
	lo = s*q + min(s, rem)
	hi = lo + q
	if s < rem {
		hi++
	}
	return lo, hi
}

// chunks returns the number of chunks of segment s.
func (p plan) chunks(s int) int {
	lo, hi := p.segment(s)
	return (hi - lo + p.chunkElems - 1) / p.chunkElems
}

// chunk returns the bounds [lo, hi) of chunk c of segment s.
func (p plan) chunk(s, c int) (lo, hi int) {
	slo, shi := p.segment(s)
	lo = slo + c*p.chunkElems
	return lo, min(lo+p.chunkElems, shi)
}

// rounds is the number of data rounds, 2(Size-1).
func (p plan) rounds() int { return 2 * (p.size - 1) }

// sendSeg and recvSeg are the segments sent and received in round t.
func (p plan) sendSeg(t int) int { return ((p.rank-t)%p.size + p.size) % p.size }
func (p plan) recvSeg(t int) int { return ((p.rank-t-1)%p.size + 2*p.size) % p.size }

// phase returns the phase of round t.
func (p plan) phase(t int) Phase {
	if t < p.size-1 {
		return PhaseReduceScatter
	}
	return PhaseAllGather
}

// ring is one peer's run of one reduction.
type ring[T any] struct {
	cfg   Config
	codec Codec[T]
	buf   []T
	plan  plan
	sess  Session
	queue *msgQueue

	progress atomic.Uint64   // messages sent or received, for the stall watchdog
	sent     atomic.Int64    // payload bytes sent
	parent   context.Context // the caller's context
	cancel   context.CancelCauseFunc
	mu       sync.Mutex
	err      error // the first failure
}

// fail records the first failure and aborts the reduction.
func (r *ring[T]) fail(err error) {
	r.mu.Lock()
	if r.err == nil {
		r.err = err
	}
	r.mu.Unlock()
	r.cancel(err)
}

func (r *ring[T]) hello() *Hello {
	return &Hello{
		Size:          uint32(r.cfg.Size),
		Elements:      uint64(len(r.buf)),
		Codec:         r.codec.Name(),
		ChunkElements: uint64(r.plan.chunkElems),
	}
}

func (r *ring[T]) run(ctx context.Context, t Transport) error {
	r.parent = ctx
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r.cancel = cancel
	link, err := t.Open(ctx, r.sess)
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	watchdogDone := make(chan struct{})
	wg.Go(func() { r.watchdog(ctx, watchdogDone) })
	senderDone := make(chan struct{})
	go func() {
		defer close(senderDone)
		if err := r.send(ctx, link); err != nil {
			r.fail(err)
		}
	}()
	if err := r.receive(link); err != nil {
		r.fail(err)
	}
	<-senderDone

	if err := r.failed(ctx); err != nil {
		close(watchdogDone)
		wg.Wait()
		link.Close(err)
		return err
	}
	// Everything was sent and received; Close waits for the right neighbour to
	// confirm, still under the watchdog.
	if err := link.Close(nil); err != nil {
		r.fail(err)
	}
	close(watchdogDone)
	wg.Wait()
	return r.failed(ctx)
}

// failed returns nil if the reduction is still going; else the caller's
// context error if the caller's context ended (so that cancelling reads as
// cancelling, whatever broke as a result), else the first failure.
func (r *ring[T]) failed(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if err := r.parent.Err(); err != nil {
		return context.Cause(r.parent)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err == nil {
		r.err = context.Cause(ctx)
	}
	return r.err
}

// watchdog fails the reduction when no message was sent or received for
// StallTimeout.
func (r *ring[T]) watchdog(ctx context.Context, done <-chan struct{}) {
	stall := r.cfg.StallTimeout
	tick := time.NewTicker(max(stall/8, time.Millisecond))
	defer tick.Stop()
	last, since := r.progress.Load(), time.Now()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case now := <-tick.C:
			if p := r.progress.Load(); p != last {
				last, since = p, now
			} else if now.Sub(since) >= stall {
				r.fail(fmt.Errorf("%w: %w: nothing sent or received for %v", ErrAborted, ErrStalled, stall))
				return
			}
		}
	}
}

// send sends the hello and the round-0 chunks of this peer's own segment, then
// forwards the chunks that receive queues, in order.
func (r *ring[T]) send(ctx context.Context, link Link) error {
	h := Header{Job: r.cfg.Job, Generation: r.cfg.Generation, Step: r.cfg.Step, Phase: PhaseHello, Sender: uint32(r.cfg.Rank)}
	if err := link.Send(&Message{Header: h, Hello: r.hello()}); err != nil {
		return err
	}
	r.progress.Add(1)
	es := r.codec.Size()
	own := r.plan.sendSeg(0)
	h.Phase = r.plan.phase(0)
	total := 0
	for t := range r.plan.rounds() {
		total += r.plan.chunks(r.plan.sendSeg(t))
	}
	for c := range r.plan.chunks(own) {
		lo, hi := r.plan.chunk(own, c)
		var payload []byte
		if vc, ok := r.codec.(varCodec[T]); ok {
			payload = allocOn(link, vc.MaxLen(hi-lo))
			payload = payload[:vc.EncodeVar(payload, r.buf[lo:hi])]
		} else {
			payload = allocOn(link, es*(hi-lo))
			r.codec.Encode(payload, r.buf[lo:hi])
		}
		r.sent.Add(int64(len(payload)))
		h.Chunk = uint32(c)
		if err := link.Send(&Message{Header: h, Payload: payload}); err != nil {
			return err
		}
		r.progress.Add(1)
		total--
	}
	for ; total > 0; total-- {
		m, err := r.queue.pop(ctx)
		if err != nil {
			return err
		}
		if err := link.Send(m); err != nil {
			return err
		}
		r.progress.Add(1)
	}
	return nil
}

// receive reads the left neighbour's hello and data chunks, adds or copies each
// into buf, and queues it for forwarding.
func (r *ring[T]) receive(link Link) error {
	m, err := link.Recv()
	if err != nil {
		return err
	}
	r.progress.Add(1)
	if err := r.check(m, PhaseHello, 0, 0, 0); err != nil {
		return err
	}
	if m.Hello == nil {
		return fmt.Errorf("%w: hello from rank %d carries no parameters", ErrMismatch, m.Sender)
	}
	if got, want := *m.Hello, *r.hello(); got != want {
		return fmt.Errorf("%w: left neighbour (rank %d) reduces %+v, this peer %+v", ErrMismatch, m.Sender, got, want)
	}
	es := r.codec.Size()
	vc, variable := r.codec.(varCodec[T])
	last := r.plan.rounds() - 1
	for t := range r.plan.rounds() {
		seg := r.plan.recvSeg(t)
		phase := r.plan.phase(t)
		for c := range r.plan.chunks(seg) {
			m, err := link.Recv()
			if err != nil {
				return err
			}
			r.progress.Add(1)
			lo, hi := r.plan.chunk(seg, c)
			if variable {
				if err := r.check(m, phase, t, c, -vc.MaxLen(hi-lo)); err != nil {
					return err
				}
				if err := r.receiveVar(link, vc, m, phase, lo, hi, t < last); err != nil {
					return err
				}
				continue
			}
			if err := r.check(m, phase, t, c, es*(hi-lo)); err != nil {
				return err
			}
			if phase == PhaseReduceScatter {
				if err := r.codec.Accumulate(r.buf[lo:hi], m.Payload); err != nil {
					return fmt.Errorf("elements [%d, %d): %w", lo, hi, err)
				}
			} else {
				r.codec.Decode(r.buf[lo:hi], m.Payload)
			}
			if t < last {
				r.forward(m, t)
			} else if pl, ok := link.(pooledLink); ok {
				pl.free(m.Payload)
			}
		}
	}
	return nil
}

// forward queues m, received in round t, for the right neighbour in round
// t+1.
func (r *ring[T]) forward(m *Message, t int) {
	m.Phase = r.plan.phase(t + 1)
	m.Round = uint32(t + 1)
	m.Sender = uint32(r.cfg.Rank)
	r.sent.Add(int64(len(m.Payload)))
	r.queue.push(m)
}

// receiveVar adds (reduce-scatter) or copies (all-gather) a chunk of a
// variable-length codec into buf[lo:hi] and forwards it unless it is the last
// round's: a partial sum re-encoded into a new payload, a final sum as it came.
func (r *ring[T]) receiveVar(link Link, vc varCodec[T], m *Message, phase Phase, lo, hi int, more bool) error {
	if phase == PhaseReduceScatter {
		out := allocOn(link, vc.MaxLen(hi-lo))
		n, err := vc.AccumulateVar(r.buf[lo:hi], m.Payload, out)
		if err != nil {
			return fmt.Errorf("elements [%d, %d): %w", lo, hi, err)
		}
		freeOn(link, m.Payload)
		m.Payload = out[:n]
	} else if err := vc.DecodeVar(r.buf[lo:hi], m.Payload); err != nil {
		return fmt.Errorf("elements [%d, %d): %w", lo, hi, err)
	}
	if more {
		r.forward(m, int(m.Round))
	} else {
		freeOn(link, m.Payload)
	}
	return nil
}

// allocOn returns a payload buffer of n bytes, from link's pool if it has one.
func allocOn(link Link, n int) []byte {
	if pl, ok := link.(pooledLink); ok {
		return pl.alloc(n)
	}
	return make([]byte, n)
}

// freeOn gives a payload back to link's pool if it has one.
func freeOn(link Link, b []byte) {
	if pl, ok := link.(pooledLink); ok {
		pl.free(b)
	}
}

// check verifies that m is the message the ring expects next from the left
// neighbour: same reduction, phase, round, chunk, and a payload of wantLen bytes
// (of 1..-wantLen bytes for a negative wantLen: a variable-length codec).
func (r *ring[T]) check(m *Message, phase Phase, round, chunk, wantLen int) error {
	c := r.cfg
	switch {
	case m.Job != c.Job:
		return fmt.Errorf("%w: message of job %q from rank %d, this reduction is of job %q", ErrForeign, m.Job, m.Sender, c.Job)
	case m.Generation != c.Generation || m.Step != c.Step:
		err := ErrMismatch
		if m.Generation < c.Generation || m.Generation == c.Generation && m.Step < c.Step {
			err = ErrStale
		}
		return fmt.Errorf("%w: message of generation %d step %d from rank %d, this reduction is generation %d step %d",
			err, m.Generation, m.Step, m.Sender, c.Generation, c.Step)
	case m.Sender != uint32(c.left()):
		return fmt.Errorf("%w: message from rank %d, want the left neighbour %d", ErrMismatch, m.Sender, c.left())
	case m.Phase != phase || m.Round != uint32(round) || m.Chunk != uint32(chunk):
		return fmt.Errorf("%w: got %v round %d chunk %d, want %v round %d chunk %d",
			ErrMismatch, m.Phase, m.Round, m.Chunk, phase, round, chunk)
	case wantLen < 0 && (len(m.Payload) == 0 || len(m.Payload) > -wantLen):
		return fmt.Errorf("%w: %v round %d chunk %d has %d payload bytes, want 1..%d",
			ErrMismatch, phase, round, chunk, len(m.Payload), -wantLen)
	case wantLen >= 0 && len(m.Payload) != wantLen:
		return fmt.Errorf("%w: %v round %d chunk %d has %d payload bytes, want %d",
			ErrMismatch, phase, round, chunk, len(m.Payload), wantLen)
	}
	return nil
}

// msgQueue is an unbounded FIFO from the receiving goroutine to the sending one.
// Unbounded, so that receiving never waits for sending: a ring of bounded queues
// can deadlock when every link is full.
type msgQueue struct {
	mu    sync.Mutex
	items []*Message
	ready chan struct{} // capacity 1: a token meaning "items may be non-empty"
}

func newMsgQueue() *msgQueue { return &msgQueue{ready: make(chan struct{}, 1)} }

func (q *msgQueue) push(m *Message) {
	q.mu.Lock()
	q.items = append(q.items, m)
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *msgQueue) pop(ctx context.Context) (*Message, error) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			m := q.items[0]
			q.items[0] = nil
			q.items = q.items[1:]
			q.mu.Unlock()
			return m, nil
		}
		q.mu.Unlock()
		select {
		case <-q.ready:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}
