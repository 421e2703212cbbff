package allreduce

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestHostilePeer: a peer that sends a malformed or oversized message to a
// worker in the middle of a reduction over real gRPC makes that reduction
// fail with an error (no panic), the victim's buffer is not turned into a
// result, and the server goes on serving good reductions.
func TestHostilePeer(t *testing.T) {
	peers := startGRPCPeers(t, 2)
	ts := grpcRing(t, peers, identity(2))
	const n = 16 // two segments of one 8-element (64-byte) chunk
	cc, err := grpc.NewClient(peers[1].addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := asfpb.NewAllReducePeerClient(cc)

	hdr := func(step uint64, phase asfpb.ReducePhase, round uint32) *asfpb.ReduceChunk {
		return &asfpb.ReduceChunk{Job: "test", Generation: 1, Step: step, Phase: phase, Round: round, Sender: 0}
	}
	hello := func(step uint64) *asfpb.ReduceChunk {
		m := hdr(step, asfpb.ReducePhase_REDUCE_PHASE_HELLO, 0)
		m.Hello = &asfpb.ReduceHello{Size: 2, Elements: n, Codec: Int64.Name(), ChunkElements: 8}
		return m
	}
	data := func(step uint64, round uint32, sender uint32, payload []byte) *asfpb.ReduceChunk {
		m := hdr(step, asfpb.ReducePhase_REDUCE_PHASE_REDUCE_SCATTER, round)
		m.Sender, m.Data = sender, payload
		return m
	}
	step := uint64(1)
	// want nil: the stream is refused before it can be tied to a reduction,
	// and the reduction goes on with the real neighbour.
	cases := []struct {
		name string
		msgs func(step uint64) []*asfpb.ReduceChunk
		want error
	}{
		{"hello of a larger model", func(s uint64) []*asfpb.ReduceChunk {
			m := hello(s)
			m.Hello.Elements = 1 << 40
			return []*asfpb.ReduceChunk{m}
		}, ErrMismatch},
		{"hello without parameters", func(s uint64) []*asfpb.ReduceChunk {
			m := hello(s)
			m.Hello = nil
			return []*asfpb.ReduceChunk{m}
		}, nil},
		{"data instead of hello", func(s uint64) []*asfpb.ReduceChunk {
			return []*asfpb.ReduceChunk{data(s, 0, 0, make([]byte, 64))}
		}, nil},
		{"oversized chunk", func(s uint64) []*asfpb.ReduceChunk {
			return []*asfpb.ReduceChunk{hello(s), data(s, 0, 0, make([]byte, 1<<20))}
		}, ErrMismatch},
		{"chunk of partial elements", func(s uint64) []*asfpb.ReduceChunk {
			return []*asfpb.ReduceChunk{hello(s), data(s, 0, 0, make([]byte, 61))}
		}, ErrMismatch},
		{"wrong round", func(s uint64) []*asfpb.ReduceChunk {
			return []*asfpb.ReduceChunk{hello(s), data(s, 5, 0, make([]byte, 64))}
		}, ErrMismatch},
		{"wrong sender", func(s uint64) []*asfpb.ReduceChunk {
			return []*asfpb.ReduceChunk{hello(s), data(s, 0, 1, make([]byte, 64))}
		}, ErrMismatch},
		{"message over the gRPC limit", func(s uint64) []*asfpb.ReduceChunk {
			return []*asfpb.ReduceChunk{hello(s), data(s, 0, 0, make([]byte, 5<<20))}
		}, ErrAborted},
	}
	// good runs a reduction of both real peers at step s and checks the sum.
	good := func(t *testing.T, s uint64) {
		t.Helper()
		bufs := [][]int64{make([]int64, n), make([]int64, n)}
		for i := range n {
			bufs[0][i], bufs[1][i] = int64(i), int64(10*i)
		}
		for r, err := range reduceAll(context.Background(), ts, ringConfigs(2, 64, 1, s), Int64, bufs) {
			if err != nil {
				t.Fatalf("good reduction, rank %d: %v", r, err)
			}
		}
		for i := range n {
			if bufs[0][i] != int64(11*i) || bufs[1][i] != int64(11*i) {
				t.Fatalf("element %d: %d, %d, want %d", i, bufs[0][i], bufs[1][i], 11*i)
			}
		}
	}
	send := func(ctx context.Context, msgs []*asfpb.ReduceChunk) error {
		st, err := client.Exchange(ctx)
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				break // the server refused the stream; CloseAndRecv says why
			}
		}
		_, err = st.CloseAndRecv()
		return err
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := step
			step++
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if c.want == nil {
				if err := send(ctx, c.msgs(s)); err == nil {
					t.Fatal("the server accepted the stream")
				}
				good(t, s)
				return
			}
			cfg := testConfig(1, 2, 64)
			cfg.Step = s
			buf := make([]int64, n)
			for i := range buf {
				buf[i] = int64(i + 1)
			}
			orig := slices.Clone(buf)
			done := make(chan error, 1)
			go func() { done <- AllReduceInt64(ctx, ts[1], cfg, buf) }()
			if err := send(ctx, c.msgs(s)); err == nil {
				t.Fatal("the server accepted the stream")
			}
			var rerr error
			select {
			case rerr = <-done:
			case <-ctx.Done():
				t.Fatal("the victim's reduction did not end")
			}
			if !errors.Is(rerr, c.want) {
				t.Fatalf("victim: %v, want %v", rerr, c.want)
			}
			// The first message from the left is the first thing reduced into
			// the buffer: a refused one leaves it as it was.
			if !slices.Equal(buf, orig) {
				t.Fatalf("the victim's buffer changed: %v", buf)
			}
		})
	}
	// The servers still reduce correctly.
	good(t, step)
}
