package allreduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/status"
)

// GRPCTuning sizes the HTTP/2 flow-control windows and socket buffers of the peer
// connections. The defaults let a 1 MiB chunk and the next few be in flight at
// once, so that a sender rarely waits for a window update.
type GRPCTuning struct {
	// Window is the per-stream HTTP/2 flow-control window, in bytes (>= 64 KiB).
	// Setting it turns off gRPC's BDP estimation; 0 keeps gRPC's default (a
	// 64 KiB window grown by BDP estimation).
	Window int32
	// ConnWindow is the per-connection window, in bytes (>= Window; 0 with
	// Window 0).
	ConnWindow int32
	// ReadBuffer and WriteBuffer size the transport's socket buffers, in bytes.
	ReadBuffer, WriteBuffer int
	// ReusePool makes gRPC take its frame and message buffers from this
	// package's payload pool, which (unlike gRPC's default pool) does not clear a
	// buffer before reusing it: every user overwrites what it reads. The pool is
	// shared by the connection or server as a whole.
	ReusePool bool
}

// DefaultGRPCTuning returns the default tuning. On loopback (where the
// bandwidth-delay product is tiny) gRPC's own window with BDP estimation, 1 MiB
// and 8 MiB windows all measured within the noise of a shared 2-core machine;
// smaller socket buffers cost more CPU per byte (none at all about twice as
// much). The windows are sized for real links: 8 MiB is the bandwidth-delay
// product of 10 Gb/s at 6.7 ms.
func DefaultGRPCTuning() GRPCTuning {
	return GRPCTuning{
		Window:      8 << 20,   // several 1 MiB chunks in flight: the sender never waits for the receiver's updates
		ConnWindow:  16 << 20,  // room for a second reduction's stream opening while one drains
		ReadBuffer:  256 << 10, // fewer read syscalls per chunk than the 32 KiB default
		WriteBuffer: 256 << 10, // fewer write syscalls per chunk than the 32 KiB default
		ReusePool:   true,      // clearing every 16 KiB frame buffer cost about 5% of the CPU of a reduction
	}
}

// Validate reports the first field with a value out of range, wrapping ErrConfig.
func (g GRPCTuning) Validate() error {
	switch {
	case g.Window != 0 && g.Window < 64<<10:
		return fmt.Errorf("%w: GRPCTuning.Window is %d, want 0 (gRPC's default) or >= 65536", ErrConfig, g.Window)
	case g.ConnWindow < g.Window:
		return fmt.Errorf("%w: GRPCTuning.ConnWindow is %d, want >= Window (%d)", ErrConfig, g.ConnWindow, g.Window)
	case g.ReadBuffer < 0 || g.WriteBuffer < 0:
		return fmt.Errorf("%w: GRPCTuning buffers are %d/%d, want >= 0", ErrConfig, g.ReadBuffer, g.WriteBuffer)
	}
	return nil
}

// DialOptions returns the dial options for a connection to a neighbour: windows,
// buffers and message size limits. Credentials are the caller's to add.
func (g GRPCTuning) DialOptions() []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithReadBufferSize(g.ReadBuffer),
		grpc.WithWriteBufferSize(g.WriteBuffer),
	}
	if g.Window != 0 {
		opts = append(opts, grpc.WithInitialWindowSize(g.Window), grpc.WithInitialConnWindowSize(g.ConnWindow))
	}
	if g.ReusePool {
		opts = append(opts, experimental.WithBufferPool(payloadPool))
	}
	return opts
}

// ServerOptions returns the options for the gRPC server that serves a PeerServer,
// matching DialOptions.
func (g GRPCTuning) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{
		grpc.ReadBufferSize(g.ReadBuffer),
		grpc.WriteBufferSize(g.WriteBuffer),
	}
	if g.Window != 0 {
		opts = append(opts, grpc.InitialWindowSize(g.Window), grpc.InitialConnWindowSize(g.ConnWindow))
	}
	if g.ReusePool {
		opts = append(opts, experimental.BufferPool(payloadPool))
	}
	return opts
}

// RegisterPeerServer registers p as the AllReducePeer service of s. Create s with
// DefaultGRPCTuning().ServerOptions() (plus credentials) for full speed.
func RegisterPeerServer(s grpc.ServiceRegistrar, p *PeerServer) {
	asfpb.RegisterAllReducePeerServer(s, grpcService{p: p})
}

// grpcService adapts a PeerServer to the generated service interface.
type grpcService struct {
	asfpb.UnimplementedAllReducePeerServer
	p *PeerServer
}

func (g grpcService) Exchange(st asfpb.AllReducePeer_ExchangeServer) error {
	in := &grpcInStream{st: st}
	verdict := g.p.serve(in)
	if verdict == nil {
		return st.SendAndClose(&asfpb.ReduceAck{Chunks: in.n})
	}
	return toStatus(verdict)
}

// toStatus turns a verdict into a gRPC status carrying its reason.
func toStatus(verdict error) error {
	reason := reasonOf(verdict)
	code := codes.Aborted
	switch reason {
	case reasonStale:
		code = codes.FailedPrecondition
	case reasonForeign:
		code = codes.PermissionDenied
	case reasonMismatch:
		code = codes.InvalidArgument
	}
	st, err := status.New(code, verdict.Error()).WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain})
	if err != nil {
		return status.Error(code, verdict.Error())
	}
	return st.Err()
}

// fromStatus turns the status that ended this peer's outbound stream into its
// error.
func fromStatus(s Session, err error) error {
	st, ok := status.FromError(err)
	if ok {
		for _, d := range st.Details() {
			if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
				return rightError(s, info.Reason, st.Message())
			}
		}
	}
	return fmt.Errorf("%w: the link to the right neighbour (rank %d) failed: %w", ErrAborted, (s.Rank+1)%s.Size, err)
}

// grpcInStream is a left neighbour's gRPC stream as the PeerServer sees it.
type grpcInStream struct {
	st asfpb.AllReducePeer_ExchangeServer
	n  uint64 // data messages received
}

func (g *grpcInStream) Context() context.Context { return g.st.Context() }

func (g *grpcInStream) Recv() (*Message, error) {
	pb, err := g.st.Recv()
	if err != nil {
		return nil, err
	}
	m := &Message{
		Header: Header{
			Job:        pb.GetJob(),
			Generation: pb.GetGeneration(),
			Step:       pb.GetStep(),
			Phase:      Phase(pb.GetPhase()),
			Round:      pb.GetRound(),
			Chunk:      pb.GetIndex(),
			Sender:     pb.GetSender(),
		},
		Payload: pb.GetData(),
	}
	if h := pb.GetHello(); h != nil {
		m.Hello = &Hello{Size: h.GetSize(), Elements: h.GetElements(), Codec: h.GetCodec(), ChunkElements: h.GetChunkElements()}
	} else {
		g.n++
	}
	return m, nil
}

// GRPCTransport is a peer's Transport over gRPC: it streams to the right
// neighbour over one client connection, and receives from the left neighbour
// through the peer's PeerServer. Create one per generation (the neighbours change
// with it); it serves every step of the generation over the same connection.
type GRPCTransport struct {
	srv    *PeerServer
	client asfpb.AllReducePeerClient
	own    *grpc.ClientConn // closed by Close; nil when the connection is the caller's
	closed atomic.Bool
}

// NewGRPCTransport returns a Transport whose right neighbour serves at address
// right; inbound streams arrive through srv. The connection is made lazily and
// lives until Close. opts come after DefaultGRPCTuning().DialOptions() and must
// include transport credentials (insecure.NewCredentials() for none).
func NewGRPCTransport(srv *PeerServer, right string, opts ...grpc.DialOption) (*GRPCTransport, error) {
	if srv == nil {
		return nil, fmt.Errorf("%w: nil PeerServer", ErrConfig)
	}
	cc, err := grpc.NewClient(right, append(DefaultGRPCTuning().DialOptions(), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("allreduce: right neighbour %q: %w", right, err)
	}
	return &GRPCTransport{srv: srv, client: asfpb.NewAllReducePeerClient(cc), own: cc}, nil
}

// NewGRPCTransportConn is NewGRPCTransport over the caller's connection to the
// right neighbour, which Close leaves open (so that it can outlive a generation).
func NewGRPCTransportConn(srv *PeerServer, cc grpc.ClientConnInterface) (*GRPCTransport, error) {
	if srv == nil || cc == nil {
		return nil, fmt.Errorf("%w: nil PeerServer or connection", ErrConfig)
	}
	return &GRPCTransport{srv: srv, client: asfpb.NewAllReducePeerClient(cc)}, nil
}

// Close closes the connection (if the transport made it); reductions in flight
// fail. Open fails with ErrClosed afterwards.
func (t *GRPCTransport) Close() error {
	if t.closed.Swap(true) || t.own == nil {
		return nil
	}
	return t.own.Close()
}

// Open implements Transport.
func (t *GRPCTransport) Open(ctx context.Context, s Session) (Link, error) {
	if t.closed.Load() {
		return nil, ErrClosed
	}
	sl, err := t.srv.begin(key{s.Job, s.Generation, s.Step})
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancelCause(ctx)
	l := &grpcLink{sess: s, ctx: lctx, cancel: cancel, in: localLink{srv: t.srv, slot: sl, ctx: lctx}}
	out, err := t.client.Exchange(lctx, grpc.CallContentSubtype(codecName))
	if err != nil {
		if lctx.Err() != nil {
			err = context.Cause(lctx)
		} else {
			err = fromStatus(s, err)
		}
		cancel(err)
		l.in.release(err)
		return nil, err
	}
	l.out = out
	l.abort = newAbortOnDone(lctx, l.in.release)
	l.watchDone = make(chan struct{})
	go l.watch()
	return l, nil
}

// grpcLink is one reduction's links over gRPC.
type grpcLink struct {
	sess   Session
	ctx    context.Context
	cancel context.CancelCauseFunc
	in     localLink
	out    asfpb.AllReducePeer_ExchangeClient
	pb     asfpb.ReduceChunk // reused: Send serialises it before returning
	hello  asfpb.ReduceHello
	abort  *abortOnDone

	watchDone chan struct{} // closed when the right neighbour has answered
	watchErr  error         // its verdict as this peer's error; nil for an ack

	closeOnce sync.Once
	closeErr  error
}

// watch waits for the right neighbour's answer on the outbound stream, so that a
// refusal or abort there fails this peer at once, even while it has nothing to
// send.
func (l *grpcLink) watch() {
	defer close(l.watchDone)
	var ack asfpb.ReduceAck
	err := l.out.RecvMsg(&ack)
	if err == nil {
		return
	}
	if l.ctx.Err() != nil {
		l.watchErr = context.Cause(l.ctx)
		return
	}
	l.watchErr = fromStatus(l.sess, err)
	l.cancel(l.watchErr)
}

func (l *grpcLink) Send(m *Message) error {
	pb := &l.pb
	pb.Job, pb.Generation, pb.Step = m.Job, m.Generation, m.Step
	pb.Phase = asfpb.ReducePhase(m.Phase)
	pb.Round, pb.Index, pb.Sender = m.Round, m.Chunk, m.Sender
	pb.Data = m.Payload
	pb.Hello = nil
	if h := m.Hello; h != nil {
		l.hello = asfpb.ReduceHello{Size: h.Size, Elements: h.Elements, Codec: h.Codec, ChunkElements: h.ChunkElements}
		pb.Hello = &l.hello
	}
	err := l.out.Send(pb)
	pb.Data = nil
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) { // the server ended the stream: its answer says why
		<-l.watchDone
		if l.watchErr == nil {
			return fmt.Errorf("%w: the right neighbour (rank %d) ended the stream early", ErrAborted, (l.sess.Rank+1)%l.sess.Size)
		}
		return l.watchErr
	}
	if l.ctx.Err() != nil {
		return context.Cause(l.ctx)
	}
	return fromStatus(l.sess, err)
}

func (l *grpcLink) Recv() (*Message, error) { return l.in.recv() }

// alloc and free implement pooledLink: payloads come from and go back to
// payloadPool, which gRPC also returns sent payloads to.
func (l *grpcLink) alloc(n int) []byte { return allocPayload(n) }
func (l *grpcLink) free(b []byte)      { freePayload(b) }

func (l *grpcLink) Close(cause error) error {
	l.closeOnce.Do(func() {
		if cause != nil {
			l.cancel(cause) // resets the outbound stream; the abort hook releases the inbound one
			l.abort.wait()
			l.in.release(cause)
			<-l.watchDone
			return
		}
		l.in.release(nil)
		if err := l.out.CloseSend(); err != nil && l.ctx.Err() == nil {
			l.closeErr = fromStatus(l.sess, err)
		}
		<-l.watchDone
		if l.closeErr == nil {
			l.closeErr = l.watchErr
		}
		l.abort.wait()
		l.cancel(nil)
	})
	return l.closeErr
}
