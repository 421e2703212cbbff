package allreduce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// ServerConfig tunes a PeerServer.
type ServerConfig struct {
	// ParkTimeout bounds how long a neighbour's stream may wait for the local
	// reduction it belongs to (a neighbour may start a step a little earlier).
	ParkTimeout time.Duration
	// MaxParked bounds the number of neighbour streams waiting at once.
	MaxParked int
	// Logger receives refusals and expiries at debug level; nil discards.
	Logger *slog.Logger
}

// DefaultServerConfig returns the default PeerServer tuning.
func DefaultServerConfig() ServerConfig {
	return ServerConfig{
		ParkTimeout: 30 * time.Second, // a safety net: the sender's own stall timeout usually ends a stream first
		MaxParked:   16,               // a ring needs one or two (this step and the next); more is a misbehaving peer
	}
}

// Validate reports the first field with a value out of range, wrapping ErrConfig.
func (c ServerConfig) Validate() error {
	switch {
	case c.ParkTimeout <= 0:
		return fmt.Errorf("%w: ServerConfig.ParkTimeout is %v, want > 0", ErrConfig, c.ParkTimeout)
	case c.MaxParked < 1:
		return fmt.Errorf("%w: ServerConfig.MaxParked is %d, want >= 1", ErrConfig, c.MaxParked)
	}
	return nil
}

// PeerServer receives the streams that left neighbours open to this peer and hands
// each to the local reduction it belongs to. A worker creates one PeerServer for
// its whole life, registers it on its gRPC server with RegisterPeerServer, and
// passes it to every GRPCTransport it creates (one per generation).
//
// It refuses streams of another job than the newest local reduction (ErrForeign)
// and streams of an older generation or earlier step (ErrStale); a stream of a
// newer reduction waits (up to ParkTimeout) for the local reduction to begin.
type PeerServer struct {
	cfg ServerConfig
	log *slog.Logger

	mu     sync.Mutex
	cur    key   // the newest reduction begun locally
	begun  bool  // whether cur is set
	ended  bool  // whether cur has finished
	curErr error // how cur finished
	slots  map[key]*slot
}

// NewPeerServer returns a PeerServer; a nil cfg means DefaultServerConfig().
func NewPeerServer(cfg *ServerConfig) (*PeerServer, error) {
	c := DefaultServerConfig()
	if cfg != nil {
		c = *cfg
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PeerServer{cfg: c, log: log.With("component", "allreduce"), slots: make(map[key]*slot)}, nil
}

// key identifies a reduction on one peer.
type key struct {
	job        string
	generation uint64
	step       uint64
}

// before reports whether k orders before o (same job assumed).
func (k key) before(o key) bool {
	if k.generation != o.generation {
		return k.generation < o.generation
	}
	return k.step < o.step
}

func (k key) String() string {
	return fmt.Sprintf("job %q generation %d step %d", k.job, k.generation, k.step)
}

// slot is the meeting point of a local reduction and its left neighbour's stream.
type slot struct {
	key     key
	local   bool          // a local reduction has begun
	in      *inbound      // the neighbour's stream, once it has arrived
	arrived chan struct{} // closed when in is set
}

// inStream is a neighbour's stream as the server sees it: gRPC or in-memory.
type inStream interface {
	Recv() (*Message, error)
	Context() context.Context
}

// inbound is a neighbour's stream parked at or taken by a slot.
type inbound struct {
	first   *Message // the hello, already read
	stream  inStream
	release chan error // the verdict that ends the stream (nil: consumed in full); capacity 1
}

// serve runs one neighbour stream to its end and returns the verdict to send back:
// nil when the local reduction consumed it in full, else the refusal or abort.
func (p *PeerServer) serve(st inStream) error {
	m, err := st.Recv()
	if err != nil {
		return err
	}
	if m.Phase != PhaseHello || m.Hello == nil {
		return fmt.Errorf("%w: first message of a stream is %v round %d, want hello", ErrMismatch, m.Phase, m.Round)
	}
	in := &inbound{first: m, stream: st, release: make(chan error, 1)}
	k := key{m.Job, m.Generation, m.Step}
	s, err := p.admit(k, in)
	if err != nil {
		p.log.Debug("refused a stream", "sender", m.Sender, "err", err)
		return err
	}
	park := time.NewTimer(p.cfg.ParkTimeout)
	defer park.Stop()
	for {
		select {
		case verdict := <-in.release:
			return verdict
		case <-st.Context().Done():
			p.drop(s, in)
			return fmt.Errorf("%w: the sender left: %w", ErrAborted, context.Cause(st.Context()))
		case <-park.C:
			if p.expire(s, in) {
				p.log.Debug("a stream expired", "reduction", k, "sender", m.Sender)
				return fmt.Errorf("%w: no local reduction for %v began within %v", ErrAborted, k, p.cfg.ParkTimeout)
			}
		}
	}
}

// admit parks in at the slot of k, or refuses it.
func (p *PeerServer) admit(k key, in *inbound) (*slot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.begun {
		switch {
		case k.job != p.cur.job:
			return nil, fmt.Errorf("%w: stream of job %q, this peer serves job %q", ErrForeign, k.job, p.cur.job)
		case k.before(p.cur):
			return nil, fmt.Errorf("%w: stream of generation %d step %d, this peer is at generation %d step %d",
				ErrStale, k.generation, k.step, p.cur.generation, p.cur.step)
		}
	}
	s := p.slots[k]
	if s == nil {
		if p.begun && k == p.cur {
			if p.ended && p.curErr != nil {
				return nil, fmt.Errorf("%w: this peer gave up %v: %v", ErrAborted, k, p.curErr)
			}
			return nil, fmt.Errorf("%w: %v is already over on this peer", ErrStale, k)
		}
		if len(p.slots) >= p.cfg.MaxParked {
			return nil, fmt.Errorf("%w: %d streams are already waiting on this peer", ErrAborted, len(p.slots))
		}
		s = &slot{key: k, arrived: make(chan struct{})}
		p.slots[k] = s
	}
	if s.in != nil {
		return nil, fmt.Errorf("%w: a second stream for %v", ErrMismatch, k)
	}
	s.in = in
	close(s.arrived)
	return s, nil
}

// drop forgets a parked stream whose sender went away before the local reduction
// began.
func (p *PeerServer) drop(s *slot, in *inbound) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !s.local && p.slots[s.key] == s {
		delete(p.slots, s.key)
	}
}

// expire forgets a parked stream whose local reduction did not begin in time. It
// reports false if the reduction began meanwhile, or if the stream was refused
// meanwhile (its verdict is then waiting in in.release).
func (p *PeerServer) expire(s *slot, in *inbound) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.local || p.slots[s.key] != s {
		return false
	}
	delete(p.slots, s.key)
	return true
}

// begin registers a local reduction and returns its slot. It refuses a reduction
// that is not newer than the last one begun for the same job, and refuses the
// parked streams that the new reduction makes stale or foreign.
func (p *PeerServer) begin(k key) (*slot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.begun && k.job == p.cur.job && !p.cur.before(k) {
		return nil, fmt.Errorf("%w: %v: this peer already began generation %d step %d",
			ErrStale, k, p.cur.generation, p.cur.step)
	}
	p.cur, p.begun, p.ended, p.curErr = k, true, false, nil
	for sk, s := range p.slots {
		if s.local || sk == k {
			continue
		}
		var err error
		switch {
		case sk.job != k.job:
			err = fmt.Errorf("%w: stream of job %q, this peer now serves job %q", ErrForeign, sk.job, k.job)
		case sk.before(k):
			err = fmt.Errorf("%w: stream of generation %d step %d, this peer moved on to generation %d step %d",
				ErrStale, sk.generation, sk.step, k.generation, k.step)
		default:
			continue
		}
		s.in.release <- err
		delete(p.slots, sk)
	}
	s := p.slots[k]
	if s == nil {
		s = &slot{key: k, arrived: make(chan struct{})}
		p.slots[k] = s
	}
	s.local = true
	return s, nil
}

// finish ends a local reduction: it hands the verdict to the neighbour's stream,
// if one arrived, and forgets the slot.
func (p *PeerServer) finish(s *slot, verdict error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s.in != nil {
		s.in.release <- verdict
	}
	if s.key == p.cur {
		p.ended, p.curErr = true, verdict
	}
	if p.slots[s.key] == s {
		delete(p.slots, s.key)
	}
}

// localLink is the receiving half of a link, common to both transports: it waits
// for the left neighbour's stream at the slot and reads it.
type localLink struct {
	srv  *PeerServer
	slot *slot
	ctx  context.Context
	in   *inbound
	once sync.Once
}

// recv returns the next message of the left neighbour's stream.
func (l *localLink) recv() (*Message, error) {
	if l.in == nil {
		select {
		case <-l.slot.arrived:
		case <-l.ctx.Done():
			return nil, context.Cause(l.ctx)
		}
		l.in = l.slot.in
		return l.in.first, nil
	}
	m, err := l.in.stream.Recv()
	if err != nil {
		if l.ctx.Err() != nil {
			return nil, context.Cause(l.ctx)
		}
		if errors.Is(err, ErrAborted) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: the left neighbour's stream broke: %w", ErrAborted, err)
	}
	return m, nil
}

// release ends the receiving half with the verdict for the left neighbour; only
// the first call has an effect.
func (l *localLink) release(verdict error) {
	l.once.Do(func() { l.srv.finish(l.slot, verdict) })
}
