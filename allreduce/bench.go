package allreduce

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// BenchConfig describes a loopback benchmark: Peers peers, each a group of
// goroutines of this process with its own gRPC server, PeerServer and
// GRPCTransport, reduce a buffer of Bytes bytes over real TCP connections on
// 127.0.0.1. After each timed reduction the benchmark times raw TCP on the
// same machine, so that both see the same load: one connection carrying the
// bytes one ring link carries, and Peers connections in a ring carrying them
// all at once.
type BenchConfig struct {
	Peers  int
	Bytes  int64
	Codec  string // "int64", "packed64" or "float32"
	Iters  int    // timed reductions
	Warmup int    // untimed reductions first (they also open the connections)
	// ChunkBytes is Config.ChunkBytes.
	ChunkBytes int
	// Tuning sizes the gRPC windows and buffers.
	Tuning GRPCTuning
	// Int64Data, if set, is the input of the int64 and packed64 codecs
	// (tiled to the buffer, each peer starting at another offset) instead of
	// uniform values below 2^20: real gradients make the packed64 figures
	// honest.
	Int64Data []int64
	// Profile, if set, receives a CPU profile (pprof) of the timed reductions
	// (and of the raw TCP transfers between them).
	Profile io.Writer
}

// DefaultBenchConfig returns a two-peer 64 MiB int64 benchmark.
func DefaultBenchConfig() BenchConfig {
	return BenchConfig{
		Peers:      2,        // the smallest ring: busbw is the bandwidth of one link
		Bytes:      64 << 20, // large enough that per-message costs do not dominate
		Codec:      "int64",  // the deterministic default
		Iters:      10,       // enough for a stable mean on a quiet machine
		Warmup:     2,        // opens the connections and fills the buffer pools
		ChunkBytes: DefaultConfig().ChunkBytes,
		Tuning:     DefaultGRPCTuning(),
	}
}

// Validate reports the first field with a value out of range, wrapping ErrConfig.
func (c BenchConfig) Validate() error {
	switch {
	case c.Peers < 2 || c.Peers > 64:
		return fmt.Errorf("%w: Peers is %d, want 2..64", ErrConfig, c.Peers)
	case c.Bytes < 0:
		return fmt.Errorf("%w: Bytes is %d, want >= 0", ErrConfig, c.Bytes)
	case c.Codec != "int64" && c.Codec != "packed64" && c.Codec != "float32":
		return fmt.Errorf("%w: Codec is %q, want int64, packed64 or float32", ErrConfig, c.Codec)
	case c.Iters < 1:
		return fmt.Errorf("%w: Iters is %d, want >= 1", ErrConfig, c.Iters)
	case c.Warmup < 0:
		return fmt.Errorf("%w: Warmup is %d, want >= 0", ErrConfig, c.Warmup)
	}
	cfg := DefaultConfig()
	cfg.ChunkBytes = c.ChunkBytes
	if err := cfg.Validate(); err != nil {
		return err
	}
	return c.Tuning.Validate()
}

// BenchResult holds the timings of a benchmark. Bandwidths are in bytes per
// second, with the nccl-tests definitions: algbw = S/t and busbw = algbw *
// 2(W-1)/W, the rate at which each ring link carries data.
type BenchResult struct {
	Config BenchConfig
	// Bytes is the buffer size S actually reduced (whole elements), and
	// LinkBytes = S * 2(W-1)/W what each ring link carries.
	Bytes, LinkBytes int64
	// Times are the durations of the timed reductions; Mean and Best their mean
	// and minimum.
	Times      []time.Duration
	Mean, Best time.Duration
	// AlgBW and BusBW are computed from Mean, BestBusBW from Best.
	AlgBW, BusBW, BestBusBW float64
	// CPU is the process CPU time (user and system, all threads) per timed
	// reduction; 0 where not measured.
	CPU time.Duration
	// RawTCP is the mean rate of one TCP connection between two loopback
	// sockets carrying LinkBytes, timed after each reduction; BestRawTCP the best.
	RawTCP, BestRawTCP float64
	// RawTCPCPU is the process CPU time per GB (1e9 bytes) that one raw
	// connection carried.
	RawTCPCPU time.Duration
	// RawRing is the mean per-link rate of Peers raw TCP connections in a ring,
	// each carrying LinkBytes at the same time: the transport's ceiling for
	// busbw on this machine, without gRPC or summing.
	RawRing float64
	// SentBytes is what one peer sent per reduction (mean over peers and
	// reductions): LinkBytes for fixed-size codecs, less for packed64.
	SentBytes int64
	// ElemsPerSec is the elements reduced per second, S / element size / Mean.
	ElemsPerSec float64
	// Ratios are BusBW/RawTCP for each timed reduction and the raw transfer
	// right after it; MedianRatio is their median.
	Ratios      []float64
	MedianRatio float64
}

// RunBench runs the benchmark described by cfg.
func RunBench(ctx context.Context, cfg BenchConfig) (BenchResult, error) {
	if err := cfg.Validate(); err != nil {
		return BenchResult{}, err
	}
	res := BenchResult{Config: cfg}
	var k int
	int64s := func(rng *rand.Rand) int64 {
		if len(cfg.Int64Data) == 0 {
			return rng.Int64N(1 << 20)
		}
		// Peers are filled in turn, n elements each: peer i reads the data
		// contiguously from offset i*len/Peers.
		n, d := int(cfg.Bytes/8), cfg.Int64Data
		i, j := k/max(n, 1), k%max(n, 1)
		k++
		return d[(j+i*(len(d)/cfg.Peers))%len(d)]
	}
	switch cfg.Codec {
	case "int64":
		return res, benchRing(ctx, cfg, Int64, &res, int64s)
	case "packed64":
		return res, benchRing(ctx, cfg, Packed, &res, int64s)
	default:
		return res, benchRing(ctx, cfg, Float32, &res, func(rng *rand.Rand) float32 { return float32(rng.NormFloat64()) })
	}
}

func benchRing[T any](ctx context.Context, cfg BenchConfig, codec Codec[T], res *BenchResult, gen func(*rand.Rand) T) error {
	w := cfg.Peers
	n := int(cfg.Bytes / int64(codec.Size()))
	res.Bytes = int64(n * codec.Size())
	res.LinkBytes = res.Bytes * 2 * int64(w-1) / int64(w)

	// Peers: a gRPC server each, on loopback.
	servers := make([]*grpc.Server, w)
	peerSrv := make([]*PeerServer, w)
	addrs := make([]string, w)
	var serving sync.WaitGroup
	defer func() {
		for _, s := range servers {
			if s != nil {
				s.Stop()
			}
		}
		serving.Wait()
	}()
	for i := range w {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		if peerSrv[i], err = NewPeerServer(nil); err != nil {
			lis.Close()
			return err
		}
		servers[i] = grpc.NewServer(cfg.Tuning.ServerOptions()...)
		RegisterPeerServer(servers[i], peerSrv[i])
		addrs[i] = lis.Addr().String()
		s := servers[i]
		serving.Go(func() { s.Serve(lis) })
	}
	ts := make([]Transport, w)
	for i := range w {
		// Dialled here rather than by NewGRPCTransport, so that cfg.Tuning alone
		// sets the options.
		cc, err := grpc.NewClient(addrs[(i+1)%w], append(cfg.Tuning.DialOptions(), grpc.WithTransportCredentials(insecure.NewCredentials()))...)
		if err != nil {
			return err
		}
		defer cc.Close()
		if ts[i], err = NewGRPCTransportConn(peerSrv[i], cc); err != nil {
			return err
		}
	}
	raw, err := newRawRing(ctx, w)
	if err != nil {
		return err
	}
	defer raw.close()

	// Inputs, restored before every reduction (the sums would grow otherwise).
	rng := rand.New(rand.NewPCG(1, 2))
	inputs := make([][]T, w)
	bufs := make([][]T, w)
	for i := range w {
		inputs[i] = make([]T, n)
		for j := range inputs[i] {
			inputs[i][j] = gen(rng)
		}
		bufs[i] = make([]T, n)
	}
	errs := make([]error, w)
	sent := make([]int64, w)
	var sentTotal int64
	var rawTimes, ringTimes []time.Duration
	var rawCPU time.Duration
	for it := range cfg.Warmup + cfg.Iters {
		if it == cfg.Warmup && cfg.Profile != nil {
			if err := pprof.StartCPUProfile(cfg.Profile); err != nil {
				return fmt.Errorf("allreduce: CPU profile: %w", err)
			}
			defer pprof.StopCPUProfile()
		}
		for i := range w {
			copy(bufs[i], inputs[i])
		}
		start, startCPU := time.Now(), processCPU()
		var wg sync.WaitGroup
		for i := range w {
			c := DefaultConfig()
			c.Job, c.Generation, c.Step = "bench", 1, uint64(it)
			c.Rank, c.Size, c.ChunkBytes = i, w, cfg.ChunkBytes
			wg.Go(func() { sent[i], errs[i] = AllReduceSent(ctx, ts[i], c, codec, bufs[i]) })
		}
		wg.Wait()
		d, dCPU := time.Since(start), processCPU()-startCPU
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("reduction %d: %w", it, err)
		}
		cpu := processCPU()
		single, err := raw.transfer(1, res.LinkBytes)
		if err != nil {
			return err
		}
		rawCPU += processCPU() - cpu
		ring, err := raw.transfer(w, res.LinkBytes)
		if err != nil {
			return err
		}
		if it >= cfg.Warmup {
			for _, b := range sent {
				sentTotal += b
			}
			res.Times = append(res.Times, d)
			res.CPU += dCPU
			rawTimes = append(rawTimes, single)
			ringTimes = append(ringTimes, ring)
			res.Ratios = append(res.Ratios, single.Seconds()/d.Seconds())
		}
	}
	res.CPU /= time.Duration(cfg.Iters)
	res.SentBytes = sentTotal / int64(cfg.Iters*w)
	res.Mean, res.Best = meanMin(res.Times)
	res.AlgBW = float64(res.Bytes) / res.Mean.Seconds()
	factor := 2 * float64(w-1) / float64(w)
	res.BusBW = res.AlgBW * factor
	res.ElemsPerSec = float64(n) / res.Mean.Seconds()
	res.BestBusBW = float64(res.Bytes) / res.Best.Seconds() * factor
	rawMean, rawBest := meanMin(rawTimes)
	res.RawTCP = float64(res.LinkBytes) / rawMean.Seconds()
	res.BestRawTCP = float64(res.LinkBytes) / rawBest.Seconds()
	res.RawTCPCPU = time.Duration(float64(rawCPU) * 1e9 / float64(res.LinkBytes*int64(cfg.Iters+cfg.Warmup)))
	ringMean, _ := meanMin(ringTimes)
	res.RawRing = float64(res.LinkBytes) / ringMean.Seconds()
	sorted := slices.Sorted(slices.Values(res.Ratios))
	res.MedianRatio = sorted[len(sorted)/2]
	return nil
}

func meanMin(ds []time.Duration) (mean, least time.Duration) {
	least = ds[0]
	for _, d := range ds {
		mean += d
		least = min(least, d)
	}
	return mean / time.Duration(len(ds)), least
}

// rawRing is w raw TCP connections between loopback sockets; connection i
// stands for the link from ring peer i to peer i+1.
type rawRing struct {
	out, in []net.Conn
}

func newRawRing(ctx context.Context, w int) (*rawRing, error) {
	r := &rawRing{}
	for range w {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			r.close()
			return nil, err
		}
		type accepted struct {
			c   net.Conn
			err error
		}
		ch := make(chan accepted, 1)
		go func() {
			c, err := lis.Accept()
			ch <- accepted{c, err}
		}()
		var d net.Dialer
		out, err := d.DialContext(ctx, "tcp", lis.Addr().String())
		a := <-ch
		lis.Close()
		if err == nil {
			err = a.err
		}
		if err != nil {
			if out != nil {
				out.Close()
			}
			if a.c != nil {
				a.c.Close()
			}
			r.close()
			return nil, fmt.Errorf("allreduce: raw TCP connection: %w", err)
		}
		r.out, r.in = append(r.out, out), append(r.in, a.c)
	}
	return r, nil
}

func (r *rawRing) close() {
	for _, c := range append(r.out, r.in...) {
		c.Close()
	}
}

// transfer sends total bytes over each of the first k connections at once, in
// 1 MiB writes and reads, and returns the time until all were read.
func (r *rawRing) transfer(k int, total int64) (time.Duration, error) {
	errs := make([]error, 2*k)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range k {
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for left := total; left > 0 && errs[2*i] == nil; {
				m := min(left, int64(len(buf)))
				_, errs[2*i] = r.out[i].Write(buf[:m])
				left -= m
			}
		})
		wg.Go(func() {
			buf := make([]byte, 1<<20)
			for got := int64(0); got < total && errs[2*i+1] == nil; {
				m, err := r.in[i].Read(buf[:min(int64(len(buf)), total-got)])
				got += int64(m)
				errs[2*i+1] = err
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("allreduce: raw TCP transfer: %w", err)
	}
	return time.Since(start), nil
}
