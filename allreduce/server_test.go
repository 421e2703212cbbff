package allreduce

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// fakeStream is a neighbour's stream that sends a hello and then waits.
type fakeStream struct {
	ctx   context.Context
	hello *Message
	sent  bool
}

func (f *fakeStream) Context() context.Context { return f.ctx }

func (f *fakeStream) Recv() (*Message, error) {
	if !f.sent {
		f.sent = true
		return f.hello, nil
	}
	<-f.ctx.Done()
	return nil, f.ctx.Err()
}

func helloFor(job string, gen, step uint64) *Message {
	return &Message{Header: Header{Job: job, Generation: gen, Step: step, Phase: PhaseHello}, Hello: &Hello{}}
}

// TestPeerServerRouting checks which neighbour streams a PeerServer refuses, parks
// or hands over, depending on the reduction begun locally.
func TestPeerServerRouting(t *testing.T) {
	cfg := DefaultServerConfig()
	cfg.ParkTimeout = 50 * time.Millisecond
	p, err := NewPeerServer(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	serve := func(m *Message) <-chan error {
		ch := make(chan error, 1)
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() { ch <- p.serve(&fakeStream{ctx: ctx, hello: m}) }()
		return ch
	}
	// Before any local reduction, a stream parks and expires.
	if err := <-serve(helloFor("a", 1, 1)); !errors.Is(err, ErrAborted) {
		t.Fatalf("unclaimed stream: %v, want ErrAborted after the park timeout", err)
	}
	cfg.ParkTimeout = time.Minute
	p, _ = NewPeerServer(&cfg)
	if _, err := p.begin(key{"a", 2, 5}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		m    *Message
		want error
	}{
		{"older generation", helloFor("a", 1, 9), ErrStale},
		{"earlier step", helloFor("a", 2, 4), ErrStale},
		{"other job", helloFor("b", 2, 5), ErrForeign},
		{"not a hello", &Message{Header: Header{Job: "a", Generation: 2, Step: 5, Phase: PhaseReduceScatter}}, ErrMismatch},
	}
	for _, c := range cases {
		if err := <-serve(c.m); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	// The current reduction's stream is handed over; a second one is refused.
	cur := serve(helloFor("a", 2, 5))
	p.mu.Lock()
	sl := p.slots[key{"a", 2, 5}]
	p.mu.Unlock()
	<-sl.arrived
	if err := <-serve(helloFor("a", 2, 5)); !errors.Is(err, ErrMismatch) {
		t.Errorf("second stream: %v, want ErrMismatch", err)
	}
	// A stream of the next step parks; beginning a later generation refuses it.
	next := serve(helloFor("a", 2, 6))
	for {
		p.mu.Lock()
		_, parked := p.slots[key{"a", 2, 6}]
		p.mu.Unlock()
		if parked {
			break
		}
		time.Sleep(time.Millisecond)
	}
	p.finish(sl, nil)
	if err := <-cur; err != nil {
		t.Errorf("consumed stream: verdict %v, want nil", err)
	}
	if err := <-serve(helloFor("a", 2, 5)); !errors.Is(err, ErrStale) {
		t.Errorf("stream of a finished reduction: %v, want ErrStale", err)
	}
	if _, err := p.begin(key{"a", 3, 0}); err != nil {
		t.Fatal(err)
	}
	if err := <-next; !errors.Is(err, ErrStale) {
		t.Errorf("parked stream of an older generation: %v, want ErrStale", err)
	}
	if _, err := p.begin(key{"a", 2, 9}); !errors.Is(err, ErrStale) {
		t.Errorf("beginning an older reduction: %v, want ErrStale", err)
	}
}

// TestGRPCRefusals opens streams to a real gRPC peer server as a misbehaving
// neighbour would, and checks the status codes and reasons it gets back, and
// that the peer goes on reducing.
func TestGRPCRefusals(t *testing.T) {
	peers := startGRPCPeers(t, 2)
	ts := grpcRing(t, peers, identity(2))
	good := func(step uint64) {
		t.Helper()
		bufs := [][]int64{{1, 2, 3}, {4, 5, 6}}
		for r, err := range reduceAll(context.Background(), ts, ringConfigs(2, 64, 2, step), Int64, bufs) {
			if err != nil {
				t.Fatalf("step %d rank %d: %v", step, r, err)
			}
		}
	}
	good(1)
	cc, err := grpc.NewClient(peers[0].addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := asfpb.NewAllReducePeerClient(cc)
	cases := []struct {
		name   string
		job    string
		gen    uint64
		step   uint64
		code   codes.Code
		reason string
	}{
		{"old generation", "test", 1, 7, codes.FailedPrecondition, reasonStale},
		{"finished step", "test", 2, 1, codes.FailedPrecondition, reasonStale},
		{"other job", "other", 2, 2, codes.PermissionDenied, reasonForeign},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st, err := client.Exchange(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := st.Send(&asfpb.ReduceChunk{Job: c.job, Generation: c.gen, Step: c.step, Phase: asfpb.ReducePhase_REDUCE_PHASE_HELLO, Hello: &asfpb.ReduceHello{}}); err != nil {
				t.Fatal(err)
			}
			_, err = st.CloseAndRecv()
			s := status.Convert(err)
			if s.Code() != c.code {
				t.Fatalf("status %v, want code %v", err, c.code)
			}
			var reason string
			for _, d := range s.Details() {
				if info, ok := d.(*errdetails.ErrorInfo); ok && info.Domain == errorDomain {
					reason = info.Reason
				}
			}
			if reason != c.reason {
				t.Fatalf("reason %q, want %q (status %v)", reason, c.reason, err)
			}
			if err := fromStatus(Session{Rank: 0, Size: 2}, err); !errors.Is(err, ErrAborted) {
				t.Fatalf("as a sender's error: %v, want ErrAborted", err)
			}
		})
	}
	good(2)
}

func TestServerConfigValidate(t *testing.T) {
	if err := DefaultServerConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []ServerConfig{{ParkTimeout: 0, MaxParked: 1}, {ParkTimeout: time.Second, MaxParked: 0}} {
		if _, err := NewPeerServer(&c); !errors.Is(err, ErrConfig) {
			t.Errorf("NewPeerServer(%+v) = %v, want ErrConfig", c, err)
		}
	}
	if err := DefaultGRPCTuning().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (GRPCTuning{Window: 1 << 20, ConnWindow: 1 << 10}).Validate(); !errors.Is(err, ErrConfig) {
		t.Errorf("ConnWindow < Window: %v, want ErrConfig", err)
	}
}
