package allreduce

import (
	"context"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// testConfig returns the config of rank in a ring of size for tests: small chunks
// so that every path of the chunking runs, and a short stall timeout.
func testConfig(rank, size, chunkBytes int) Config {
	c := DefaultConfig()
	c.Job, c.Generation, c.Step = "test", 1, 1
	c.Rank, c.Size = rank, size
	c.ChunkBytes = chunkBytes
	c.StallTimeout = 5 * time.Second
	return c
}

// reduceAll runs one reduction on every peer at once and returns their errors.
func reduceAll[T any](ctx context.Context, ts []Transport, cfgs []Config, codec Codec[T], bufs [][]T) []error {
	errs := make([]error, len(ts))
	var wg sync.WaitGroup
	for i := range ts {
		wg.Go(func() { errs[i] = AllReduce(ctx, ts[i], cfgs[i], codec, bufs[i]) })
	}
	wg.Wait()
	return errs
}

// ringConfigs returns the configs of a ring of size with the given job, generation
// and step.
func ringConfigs(size, chunkBytes int, gen, step uint64) []Config {
	cfgs := make([]Config, size)
	for r := range cfgs {
		cfgs[r] = testConfig(r, size, chunkBytes)
		cfgs[r].Generation, cfgs[r].Step = gen, step
	}
	return cfgs
}

// memRing returns the transports of a ring over all nodes of a new MemNetwork.
func memRing(size int) []Transport {
	n := NewMemNetwork(size)
	ts := make([]Transport, size)
	for r := range ts {
		ts[r] = n.Transport(r)
	}
	return ts
}

// grpcPeer is one real gRPC peer on loopback.
type grpcPeer struct {
	srv      *PeerServer
	gs       *grpc.Server
	addr     string
	done     chan struct{}
	accepted atomic.Int64 // TCP connections accepted
}

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startGRPCPeers starts n gRPC servers on 127.0.0.1 with a PeerServer each; they
// stop at the end of the test.
func startGRPCPeers(t testing.TB, n int) []*grpcPeer {
	t.Helper()
	peers := make([]*grpcPeer, n)
	for i := range peers {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ps, err := NewPeerServer(nil)
		if err != nil {
			t.Fatal(err)
		}
		gs := grpc.NewServer(DefaultGRPCTuning().ServerOptions()...)
		RegisterPeerServer(gs, ps)
		p := &grpcPeer{srv: ps, gs: gs, addr: lis.Addr().String(), done: make(chan struct{})}
		go func() {
			defer close(p.done)
			gs.Serve(countingListener{lis, &p.accepted})
		}()
		peers[i] = p
	}
	t.Cleanup(func() {
		for _, p := range peers {
			p.stop()
		}
	})
	return peers
}

// stop stops the peer's server at once (a crash, as far as its neighbours see).
func (p *grpcPeer) stop() {
	p.gs.Stop()
	<-p.done
}

// grpcRing returns the transports of a ring over peers in the given order
// (order[i] is the peer at rank i); they close at the end of the test.
func grpcRing(t testing.TB, peers []*grpcPeer, order []int) []Transport {
	t.Helper()
	ts := make([]Transport, len(order))
	for r, p := range order {
		right := peers[order[(r+1)%len(order)]]
		gt, err := NewGRPCTransport(peers[p].srv, right.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { gt.Close() })
		ts[r] = gt
	}
	return ts
}

// identity returns 0, 1, ..., n-1.
func identity(n int) []int {
	o := make([]int, n)
	for i := range o {
		o[i] = i
	}
	return o
}

// settleGoroutines waits until at most want goroutines run, and fails the test
// with their stacks if that does not happen within a few seconds.
func settleGoroutines(t testing.TB, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines still running, want at most %d:\n%s", n, want, filterStacks(string(buf)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// filterStacks keeps the goroutines that mention this package.
func filterStacks(all string) string {
	var keep []string
	for g := range strings.SplitSeq(all, "\n\n") {
		if strings.Contains(g, "allreduce") {
			keep = append(keep, g)
		}
	}
	return strings.Join(keep, "\n\n")
}
