package allreduce

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// sizesFor returns the buffer lengths tested for a ring of w: empty, fewer than w,
// exactly w, not a multiple of w, several chunks, and a random one.
func sizesFor(w int, rng *rand.Rand) []int {
	return []int{0, 1, max(w-1, 1), w, w + 1, 3*w + 2, 97, 500 + rng.IntN(1500)}
}

// randInt64s returns n values in ±2^40, so that sums of a few peers cannot overflow.
func randInt64s(rng *rand.Rand, n int) []int64 {
	v := make([]int64, n)
	for i := range v {
		v[i] = rng.Int64N(1<<41) - 1<<40
	}
	return v
}

func TestAllReduceInt64Mem(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	before := runtime.NumGoroutine()
	for w := 1; w <= 8; w++ {
		for _, n := range sizesFor(w, rng) {
			for _, chunk := range []int{16, 40, 1 << 20} {
				t.Run(fmt.Sprintf("W=%d/n=%d/chunk=%d", w, n, chunk), func(t *testing.T) {
					checkInt64Sum(t, memRing(w), ringConfigs(w, chunk, 1, 1), rng, n)
				})
			}
		}
	}
	settleGoroutines(t, before)
}

func TestAllReduceInt64GRPC(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for w := 2; w <= 4; w++ {
		t.Run(fmt.Sprintf("W=%d", w), func(t *testing.T) {
			peers := startGRPCPeers(t, w)
			ts := grpcRing(t, peers, identity(w))
			// Successive steps reuse the servers and connections.
			step := uint64(0)
			for _, n := range sizesFor(w, rng) {
				for _, chunk := range []int{16, 1 << 20} {
					step++
					t.Run(fmt.Sprintf("n=%d/chunk=%d", n, chunk), func(t *testing.T) {
						checkInt64Sum(t, ts, ringConfigs(w, chunk, 1, step), rng, n)
					})
				}
			}
		})
	}
}

// checkInt64Sum reduces random int64 buffers of length n and checks that every
// peer holds exactly the sequential sum.
func checkInt64Sum(t *testing.T, ts []Transport, cfgs []Config, rng *rand.Rand, n int) {
	t.Helper()
	w := len(ts)
	want := make([]int64, n)
	bufs := make([][]int64, w)
	for r := range bufs {
		bufs[r] = randInt64s(rng, n)
		for i, v := range bufs[r] {
			want[i] += v
		}
	}
	for r, err := range reduceAll(context.Background(), ts, cfgs, Int64, bufs) {
		if err != nil {
			t.Fatalf("rank %d: %v", r, err)
		}
	}
	for r, b := range bufs {
		for i := range want {
			if b[i] != want[i] {
				t.Fatalf("rank %d element %d = %d, want %d", r, i, b[i], want[i])
			}
		}
	}
}

// TestGRPCReuse checks that successive reductions of a generation share one
// connection per neighbour and leave no stream or goroutine behind.
func TestGRPCReuse(t *testing.T) {
	const w = 3
	rng := rand.New(rand.NewPCG(11, 12))
	peers := startGRPCPeers(t, w)
	ts := grpcRing(t, peers, identity(w))
	checkInt64Sum(t, ts, ringConfigs(w, 256, 1, 1), rng, 1000)
	before := runtime.NumGoroutine()
	for step := uint64(2); step <= 6; step++ {
		checkInt64Sum(t, ts, ringConfigs(w, 256, 1, step), rng, 1000)
	}
	settleGoroutines(t, before)
	for i, p := range peers {
		if n := p.accepted.Load(); n != 1 {
			t.Errorf("peer %d accepted %d connections over 6 steps, want 1", i, n)
		}
	}
}

func TestAllReduceFloat32(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	check := func(t *testing.T, ts []Transport, cfgs []Config, n int) {
		w := len(ts)
		want := make([]float64, n)
		mag := make([]float64, n)
		bufs := make([][]float32, w)
		for r := range bufs {
			bufs[r] = make([]float32, n)
			for i := range bufs[r] {
				v := float32(rng.NormFloat64())
				bufs[r][i] = v
				want[i] += float64(v)
				mag[i] += math.Abs(float64(v))
			}
		}
		for r, err := range reduceAll(context.Background(), ts, cfgs, Float32, bufs) {
			if err != nil {
				t.Fatalf("rank %d: %v", r, err)
			}
		}
		for i := range want {
			// w-1 float32 additions, each with relative error at most 2^-24.
			tol := float64(w) * 0x1p-24 * mag[i]
			if got := float64(bufs[0][i]); math.Abs(got-want[i]) > tol {
				t.Fatalf("element %d = %g, want %g ± %g", i, got, want[i], tol)
			}
			for r := 1; r < w; r++ {
				if math.Float32bits(bufs[r][i]) != math.Float32bits(bufs[0][i]) {
					t.Fatalf("rank %d element %d = %g, rank 0 has %g: peers must agree bitwise", r, i, bufs[r][i], bufs[0][i])
				}
			}
		}
	}
	for w := 1; w <= 8; w++ {
		for _, n := range sizesFor(w, rng) {
			t.Run(fmt.Sprintf("mem/W=%d/n=%d", w, n), func(t *testing.T) {
				check(t, memRing(w), ringConfigs(w, 64, 1, 1), n)
			})
		}
	}
	for w := 2; w <= 4; w++ {
		peers := startGRPCPeers(t, w)
		ts := grpcRing(t, peers, identity(w))
		for i, n := range sizesFor(w, rng) {
			t.Run(fmt.Sprintf("grpc/W=%d/n=%d", w, n), func(t *testing.T) {
				check(t, ts, ringConfigs(w, 64, 1, uint64(i+1)), n)
			})
		}
	}
}

// TestInt64Deterministic reduces the same set of contributions with different
// ring sizes, ring orders and groupings of contributions onto peers, and checks
// that every result is bitwise the same.
func TestInt64Deterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const contributions, n = 12, 777
	parts := make([][]int64, contributions)
	for i := range parts {
		parts[i] = randInt64s(rng, n)
	}
	var want []int64
	cases := []struct {
		name  string
		w     int
		grpc  bool
		order func(w int) []int // order[rank] = node
		group func(i, w int) int
	}{
		{"W=4 identity round-robin", 4, false, identity, func(i, w int) int { return i % w }},
		{"W=4 reversed blocks", 4, false, reversed, func(i, w int) int { return i * w / contributions }},
		{"W=3 shuffled round-robin", 3, false, shuffled(rng), func(i, w int) int { return i % w }},
		{"W=6 shuffled blocks", 6, false, shuffled(rng), func(i, w int) int { return i * w / contributions }},
		{"W=5 uneven", 5, false, reversed, func(i, w int) int { return min(i, w-1) }},
		{"W=2 identity", 2, false, identity, func(i, w int) int { return i % w }},
		{"W=3 grpc reversed", 3, true, reversed, func(i, w int) int { return (i * 7) % w }},
		{"W=4 grpc shuffled", 4, true, shuffled(rng), func(i, w int) int { return i * w / contributions }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			order := c.order(c.w)
			// bufs[rank] holds the local sum of the contributions grouped onto the node at rank.
			bufs := make([][]int64, c.w)
			for r := range bufs {
				bufs[r] = make([]int64, n)
			}
			rankOf := make([]int, c.w)
			for r, node := range order {
				rankOf[node] = r
			}
			for i, p := range parts {
				b := bufs[rankOf[c.group(i, c.w)]]
				for j, v := range p {
					b[j] += v
				}
			}
			var ts []Transport
			if c.grpc {
				ts = grpcRing(t, startGRPCPeers(t, c.w), order)
			} else {
				net := NewMemNetwork(c.w)
				for r, node := range order {
					ts = append(ts, net.TransportTo(node, order[(r+1)%c.w]))
				}
			}
			for r, err := range reduceAll(context.Background(), ts, ringConfigs(c.w, 128, 1, 1), Int64, bufs) {
				if err != nil {
					t.Fatalf("rank %d: %v", r, err)
				}
			}
			if want == nil {
				want = bufs[0]
			}
			for r, b := range bufs {
				for j := range b {
					if b[j] != want[j] {
						t.Fatalf("rank %d element %d = %d, first case gave %d", r, j, b[j], want[j])
					}
				}
			}
		})
	}
}

func reversed(w int) []int {
	o := identity(w)
	for i, j := 0, w-1; i < j; i, j = i+1, j-1 {
		o[i], o[j] = o[j], o[i]
	}
	return o
}

func shuffled(rng *rand.Rand) func(int) []int {
	return func(w int) []int {
		o := identity(w)
		rng.Shuffle(w, func(i, j int) { o[i], o[j] = o[j], o[i] })
		return o
	}
}

// TestDisagreement checks that peers that disagree on the reduction all fail,
// and that the peer that sees the disagreement names it.
func TestDisagreement(t *testing.T) {
	cases := []struct {
		name   string
		modify func(cfgs []Config, bufs [][]int64) [][]int64
		want   error
	}{
		{"length", func(cfgs []Config, bufs [][]int64) [][]int64 { bufs[1] = bufs[1][:5]; return bufs }, ErrMismatch},
		{"chunk size", func(cfgs []Config, bufs [][]int64) [][]int64 { cfgs[2].ChunkBytes = 64; return bufs }, ErrMismatch},
		{"ring size", func(cfgs []Config, bufs [][]int64) [][]int64 { cfgs[0].Size, cfgs[0].Rank = 4, 0; return bufs }, ErrMismatch},
		{"overflow", func(cfgs []Config, bufs [][]int64) [][]int64 {
			for r := range bufs {
				bufs[r][3] = math.MaxInt64 / 2
			}
			return bufs
		}, ErrOverflow},
	}
	for _, c := range cases {
		for _, transport := range []string{"mem", "grpc"} {
			t.Run(c.name+"/"+transport, func(t *testing.T) {
				const w = 3
				var ts []Transport
				if transport == "mem" {
					ts = memRing(w)
				} else {
					ts = grpcRing(t, startGRPCPeers(t, w), identity(w))
				}
				// A first, good reduction opens the connections, which stay.
				warm := make([][]int64, w)
				for r := range warm {
					warm[r] = make([]int64, 20)
				}
				for r, err := range reduceAll(context.Background(), ts, ringConfigs(w, 32, 1, 1), Int64, warm) {
					if err != nil {
						t.Fatalf("warm-up rank %d: %v", r, err)
					}
				}
				before := runtime.NumGoroutine()
				cfgs := ringConfigs(w, 32, 1, 2)
				bufs := make([][]int64, w)
				for r := range bufs {
					bufs[r] = make([]int64, 20)
				}
				bufs = c.modify(cfgs, bufs)
				errs := reduceAll(context.Background(), ts, cfgs, Int64, bufs)
				seen := false
				for r, err := range errs {
					if err == nil {
						t.Errorf("rank %d succeeded", r)
						continue
					}
					seen = seen || errors.Is(err, c.want)
					t.Logf("rank %d: %v", r, err)
				}
				if !seen {
					t.Errorf("no peer reported %v", c.want)
				}
				settleGoroutines(t, before)
			})
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	cases := []struct {
		name   string
		modify func(*Config)
		field  string
	}{
		{"size 0", func(c *Config) { c.Size = 0 }, "Size"},
		{"rank negative", func(c *Config) { c.Rank = -1 }, "Rank"},
		{"rank = size", func(c *Config) { c.Size, c.Rank = 3, 3 }, "Rank"},
		{"chunk too small", func(c *Config) { c.ChunkBytes = 8 }, "ChunkBytes"},
		{"chunk too large", func(c *Config) { c.ChunkBytes = 4 << 20 }, "ChunkBytes"},
		{"no stall timeout", func(c *Config) { c.StallTimeout = 0 }, "StallTimeout"},
		{"long job", func(c *Config) { c.Job = string(make([]byte, 300)) }, "Job"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := DefaultConfig()
			c.modify(&cfg)
			err := cfg.Validate()
			if !errors.Is(err, ErrConfig) {
				t.Fatalf("Validate = %v, want ErrConfig", err)
			}
			if got := err.Error(); !containsWord(got, c.field) {
				t.Fatalf("Validate = %q, want it to name %s", got, c.field)
			}
			if err := AllReduceInt64(context.Background(), nil, cfg, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("AllReduceInt64 with a bad config = %v, want ErrConfig", err)
			}
		})
	}
	if err := AllReduceInt64(context.Background(), nil, testConfig(0, 2, 64), []int64{1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil transport: %v, want ErrConfig", err)
	}
}

func containsWord(s, w string) bool {
	for i := 0; i+len(w) <= len(s); i++ {
		if s[i:i+len(w)] == w {
			return true
		}
	}
	return false
}
