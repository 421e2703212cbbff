package allreduce

import (
	"context"
	"fmt"
	"sync"
)

// memDepth is the number of messages in flight on an in-memory link, the
// in-memory counterpart of an HTTP/2 window.
const memDepth = 8

// MemNetwork is an in-memory network of peers, for tests: each node has a
// PeerServer, and a node's Transport sends to another node's server over Go
// channels. Messages are handed over, not copied. It exercises the same routing,
// refusal and abort paths as GRPCTransport.
type MemNetwork struct {
	servers []*PeerServer
}

// NewMemNetwork returns a network of nodes peers. It panics if nodes < 1.
func NewMemNetwork(nodes int) *MemNetwork {
	if nodes < 1 {
		panic(fmt.Sprintf("allreduce: NewMemNetwork(%d): want at least one node", nodes))
	}
	n := &MemNetwork{servers: make([]*PeerServer, nodes)}
	for i := range n.servers {
		n.servers[i], _ = NewPeerServer(nil) // the default config is valid
	}
	return n
}

// Server returns node's PeerServer.
func (n *MemNetwork) Server(node int) *PeerServer { return n.servers[node] }

// Transport returns the transport of the peer of the given rank in the ring of all
// nodes in index order: it sends to node (rank+1) mod nodes.
func (n *MemNetwork) Transport(rank int) Transport {
	return n.TransportTo(rank, (rank+1)%len(n.servers))
}

// TransportTo returns the transport of node in a ring where its right neighbour
// is node right; a ring of any order over the nodes is made this way.
func (n *MemNetwork) TransportTo(node, right int) Transport {
	return memTransport{local: n.servers[node], right: n.servers[right]}
}

type memTransport struct {
	local, right *PeerServer
}

// Open implements Transport.
func (t memTransport) Open(ctx context.Context, s Session) (Link, error) {
	sl, err := t.local.begin(key{s.Job, s.Generation, s.Step})
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	p := &memPipe{ctx: lctx, ch: make(chan *Message, memDepth), served: make(chan struct{})}
	l := &memLink{sess: s, ctx: lctx, cancel: cancel, pipe: p, in: localLink{srv: t.local, slot: sl, ctx: lctx}}
	l.abort = newAbortOnDone(lctx, l.in.release)
	go func() {
		p.verdict = t.right.serve(p)
		close(p.served)
		if p.verdict != nil { // a refusal or abort there fails this peer at once
			cancel(l.verdictError())
		}
	}()
	return l, nil
}

// memPipe is one reduction's stream from a node to its right neighbour.
type memPipe struct {
	ctx     context.Context // the sender's link context: ends when the sender aborts
	ch      chan *Message
	served  chan struct{} // closed when the receiving server ended the stream
	verdict error         // the receiver's verdict, set before served is closed
}

// Recv is the receiving server's side of the pipe.
func (p *memPipe) Recv() (*Message, error) {
	select {
	case m := <-p.ch:
		return m, nil
	case <-p.ctx.Done():
		return nil, fmt.Errorf("%w: the left neighbour aborted: %v", ErrAborted, context.Cause(p.ctx))
	case <-p.served:
		return nil, fmt.Errorf("%w: the stream from the left neighbour was ended", ErrAborted)
	}
}

func (p *memPipe) Context() context.Context { return p.ctx }

// memLink is one reduction's links in memory.
type memLink struct {
	sess   Session
	ctx    context.Context
	cancel context.CancelCauseFunc
	pipe   *memPipe
	in     localLink
	abort  *abortOnDone

	closeOnce sync.Once
	closeErr  error
}

// verdictError turns the right neighbour's verdict into this peer's error.
func (l *memLink) verdictError() error {
	if l.pipe.verdict == nil {
		return fmt.Errorf("%w: the right neighbour (rank %d) ended the stream early", ErrAborted, (l.sess.Rank+1)%l.sess.Size)
	}
	return rightError(l.sess, reasonOf(l.pipe.verdict), l.pipe.verdict.Error())
}

func (l *memLink) Send(m *Message) error {
	select {
	case l.pipe.ch <- m:
		return nil
	case <-l.ctx.Done():
		return context.Cause(l.ctx)
	case <-l.pipe.served:
		return l.verdictError()
	}
}

func (l *memLink) Recv() (*Message, error) { return l.in.recv() }

func (l *memLink) Close(cause error) error {
	l.closeOnce.Do(func() {
		if cause != nil {
			l.cancel(cause)
			l.abort.wait()
			l.in.release(cause)
			<-l.pipe.served // the sender's context ended, so the server returns promptly
			return
		}
		l.in.release(nil)
		select {
		case <-l.pipe.served:
			if l.pipe.verdict != nil {
				l.closeErr = l.verdictError()
			}
		case <-l.ctx.Done():
			l.closeErr = context.Cause(l.ctx)
			l.abort.wait()
			<-l.pipe.served
			return
		}
		l.abort.wait()
		l.cancel(nil)
	})
	return l.closeErr
}
