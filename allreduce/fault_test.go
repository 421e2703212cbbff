package allreduce

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fault is what a faulty peer does once it has sent a number of messages.
type fault int

const (
	faultClose fault = iota // the peer dies: its reduction is cancelled (and, over gRPC, its server stops)
	faultStall              // the peer stops sending and receiving, but keeps its links open
	faultStale              // the peer sends one message with the previous generation number
)

func (f fault) String() string { return [...]string{"close", "stall", "stale"}[f] }

// faultyTransport wraps a peer's Transport and injects a fault after `after`
// messages sent.
type faultyTransport struct {
	Transport
	kind  fault
	after int
	die   func() // for faultClose: kills the peer
}

func (f *faultyTransport) Open(ctx context.Context, s Session) (Link, error) {
	l, err := f.Transport.Open(ctx, s)
	if err != nil {
		return nil, err
	}
	return &faultyLink{Link: l, f: f, ctx: ctx, stalled: make(chan struct{})}, nil
}

type faultyLink struct {
	Link
	f         *faultyTransport
	ctx       context.Context
	sent      int
	stallOnce sync.Once
	stalled   chan struct{}
}

func (l *faultyLink) Send(m *Message) error {
	l.sent++
	if l.sent == l.f.after {
		switch l.f.kind {
		case faultClose:
			l.f.die()
		case faultStall:
			l.stallOnce.Do(func() { close(l.stalled) })
			<-l.ctx.Done()
			return context.Cause(l.ctx)
		case faultStale:
			m.Generation--
		}
	}
	return l.Link.Send(m)
}

func (l *faultyLink) Recv() (*Message, error) {
	select {
	case <-l.stalled:
		<-l.ctx.Done()
		return nil, context.Cause(l.ctx)
	default:
	}
	return l.Link.Recv()
}

// TestFaults makes one peer of a ring fail mid-reduce and checks that every
// peer returns an error (promptly: a broken link or a refusal is noticed at once,
// not after the stall timeout, which is set long), that nothing leaks, and that
// the survivors then reduce successfully in a new generation.
func TestFaults(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, transport := range []string{"mem", "grpc"} {
		for _, kind := range []fault{faultClose, faultStall, faultStale} {
			for _, w := range []int{2, 4} {
				t.Run(fmt.Sprintf("%s/%v/W=%d", transport, kind, w), func(t *testing.T) {
					testFault(t, rng, transport, kind, w)
				})
			}
		}
	}
}

func testFault(t *testing.T, rng *rand.Rand, transport string, kind fault, w int) {
	const n = 4000 // 250 chunks of 128 bytes per peer: the fault lands mid-reduce
	const chunk = 128
	bad := rng.IntN(w)
	ctxs := make([]context.Context, w)
	cancels := make([]context.CancelFunc, w)
	for r := range ctxs {
		ctxs[r], cancels[r] = context.WithCancel(context.Background())
		defer cancels[r]()
	}

	var ts []Transport
	var mem *MemNetwork
	var peers []*grpcPeer
	if transport == "mem" {
		mem = NewMemNetwork(w)
		for r := range w {
			ts = append(ts, mem.Transport(r))
		}
	} else {
		peers = startGRPCPeers(t, w)
		ts = grpcRing(t, peers, identity(w))
	}
	// Generation 1, step 1: a good reduction (it also opens the gRPC connections).
	cfgs := ringConfigs(w, chunk, 1, 1)
	bufs := make([][]int64, w)
	for r := range bufs {
		bufs[r] = randInt64s(rng, n)
	}
	for r, err := range reduceAll(context.Background(), ts, cfgs, Int64, bufs) {
		if err != nil {
			t.Fatalf("good reduction, rank %d: %v", r, err)
		}
	}
	before := runtime.NumGoroutine()

	// Generation 1, step 2: peer bad fails after sending a third of its messages.
	stall := time.Minute // long: every failure but a stall must be noticed sooner
	if kind == faultStall {
		stall = 300 * time.Millisecond
	}
	cfgs = ringConfigs(w, chunk, 1, 2)
	for r := range cfgs {
		cfgs[r].StallTimeout = stall
	}
	ft := &faultyTransport{Transport: ts[bad], kind: kind, after: 2 * (w - 1) * n / w / (chunk / 8) / 3}
	ft.die = func() {
		cancels[bad]()
		if peers != nil {
			peers[bad].stop()
			ts[bad].(*GRPCTransport).Close()
		}
	}
	faulty := append([]Transport(nil), ts...)
	faulty[bad] = ft
	errs := make([]error, w)
	var wg sync.WaitGroup
	for r := range w {
		wg.Go(func() { errs[r] = AllReduce(ctxs[r], faulty[r], cfgs[r], Int64, bufs[r]) })
	}
	wg.Wait()
	for r, err := range errs {
		t.Logf("rank %d: %v", r, err)
		switch {
		case err == nil:
			t.Errorf("rank %d succeeded despite the fault at rank %d", r, bad)
		case kind != faultStall && errors.Is(err, ErrStalled):
			t.Errorf("rank %d noticed the %v fault only by stalling: %v", r, kind, err)
		case r != bad && !errors.Is(err, ErrAborted) && !errors.Is(err, ErrStale):
			t.Errorf("rank %d: %v, want ErrAborted", r, err)
		}
	}
	if kind == faultStale && !errors.Is(errs[(bad+1)%w], ErrStale) {
		t.Errorf("the right neighbour of the stale peer returned %v, want ErrStale", errs[(bad+1)%w])
	}
	if kind == faultClose && !errors.Is(errs[bad], context.Canceled) {
		t.Errorf("the dead peer returned %v, want context.Canceled", errs[bad])
	}
	// Every stream and goroutine of the failed reduction is gone (a dead gRPC
	// peer takes its server's and connections' goroutines with it: fewer, never more).
	settleGoroutines(t, before)

	// Generation 2, step 2: the survivors redo the step.
	var survivors []int
	for r := range w {
		if r != bad {
			survivors = append(survivors, r)
		}
	}
	if len(survivors) == 1 {
		return // a ring of one has nothing to exchange
	}
	var sts []Transport
	if mem != nil {
		for i, node := range survivors {
			sts = append(sts, mem.TransportTo(node, survivors[(i+1)%len(survivors)]))
		}
	} else {
		sts = grpcRing(t, peers, survivors)
	}
	scfgs := ringConfigs(len(survivors), chunk, 2, 2)
	sbufs := make([][]int64, len(survivors))
	for i := range sbufs {
		sbufs[i] = randInt64s(rng, n)
	}
	checkInt64Sum(t, sts, scfgs, rng, n)
}

// TestCancel checks that cancelling one peer's context aborts its reduction at
// once with the context's error, and the others with ErrAborted.
func TestCancel(t *testing.T) {
	for _, transport := range []string{"mem", "grpc"} {
		t.Run(transport, func(t *testing.T) {
			const w = 3
			var ts []Transport
			if transport == "mem" {
				ts = memRing(w)
			} else {
				ts = grpcRing(t, startGRPCPeers(t, w), identity(w))
			}
			cfgs := ringConfigs(w, 64, 1, 1)
			for r := range cfgs {
				cfgs[r].StallTimeout = time.Minute
			}
			// Rank 1's context is cancelled before it starts; ranks 0 and 2 wait for it.
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			bufs := [][]int64{make([]int64, 100), make([]int64, 100), make([]int64, 100)}
			errs := make([]error, w)
			var wg sync.WaitGroup
			for r := range w {
				c := context.Background()
				if r == 1 {
					c = ctx
				}
				wg.Go(func() { errs[r] = AllReduceInt64(c, ts[r], cfgs[r], bufs[r]) })
			}
			wg.Wait()
			if !errors.Is(errs[1], context.Canceled) {
				t.Errorf("cancelled rank: %v, want context.Canceled", errs[1])
			}
			for _, r := range []int{0, 2} {
				if !errors.Is(errs[r], ErrAborted) || errors.Is(errs[r], ErrStalled) {
					t.Errorf("rank %d: %v, want ErrAborted (not by stalling)", r, errs[r])
				}
			}
		})
	}
}
