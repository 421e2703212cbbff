package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/asfnet/asf/allreduce"
	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/spf13/cobra"
)

// benchAllreduceFlags are the flags of `asf bench allreduce`.
type benchAllreduceFlags struct {
	peers, iters, warmup                     int
	size, chunk, window, connWindow, sockBuf string
	codec, cpuProfile, data                  string
	dataBatch                                int
	reusePool                                bool
}

func newBenchAllreduceCmd() *cobra.Command {
	def := allreduce.DefaultBenchConfig()
	f := benchAllreduceFlags{}
	cmd := &cobra.Command{
		Use:   "allreduce",
		Short: "Measure ring all-reduce over gRPC on loopback against raw TCP",
		Long: `Runs --peers peers in this process (goroutines, each with its own gRPC server,
PeerServer and client connection, talking over real TCP on 127.0.0.1), times
--iters ring all-reduces of a --size buffer after --warmup untimed ones, and
prints algbw = S/t and busbw = algbw*2(W-1)/W (the nccl-tests definitions, t the
mean time).

After each reduction it times raw TCP on the same machine, so that both see the
same load: one connection between two loopback sockets carrying the bytes one
ring link carries (rawTCP, and bus/raw = busbw/rawTCP), and W such connections in
a ring carrying them at once (rawRing: what the ring's traffic pattern costs
without gRPC or summing). cpu/GB is the process CPU time per GB carried by one
link (ring) or by the raw connection, and cores the CPU time of the reductions
over their wall time (near the number of cores: CPU-bound). Sizes take B, KB,
MB, GB, KiB, MiB, GiB.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := f.config()
			if err != nil {
				return err
			}
			switch f.data {
			case "uniform":
			case "lenet":
				if cfg.Codec == "float32" {
					return fmt.Errorf("--data lenet: the fixed-point gradient is for --codec int64 or packed64, not float32")
				}
				if cfg.Int64Data, err = lenetGradient(cmd.Context(), f.dataBatch); err != nil {
					return err
				}
			default:
				return fmt.Errorf("--data %q: want uniform or lenet", f.data)
			}
			return runBenchAllreduce(cmd, cfg, f.cpuProfile)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&f.peers, "peers", def.Peers, "number of peers W in the ring")
	fl.StringVar(&f.size, "size", "64MiB", "buffer size S per peer")
	fl.StringVar(&f.codec, "codec", def.Codec, "element codec: int64 (deterministic fixed point, 8 bytes), packed64 (the same sums in blocks of 16 at the bytes they need) or float32")
	fl.StringVar(&f.data, "data", "uniform", "int64/packed64 input: uniform (values below 2^20) or lenet (the fixed-point LeNet gradient of --data-batch MNIST samples, tiled)")
	fl.IntVar(&f.dataBatch, "data-batch", 64, "with --data lenet: samples in each peer's gradient (a global batch of batch x peers)")
	fl.IntVar(&f.iters, "iters", def.Iters, "timed reductions")
	fl.IntVar(&f.warmup, "warmup", def.Warmup, "untimed reductions before the timed ones")
	fl.StringVar(&f.chunk, "chunk", "1MiB", "bytes per message")
	fl.StringVar(&f.window, "window", "8MiB", "HTTP/2 per-stream flow-control window (0: gRPC's default, with BDP estimation)")
	fl.StringVar(&f.connWindow, "conn-window", "16MiB", "HTTP/2 per-connection flow-control window")
	fl.StringVar(&f.sockBuf, "buffer", "256KiB", "gRPC read and write buffer size")
	fl.BoolVar(&f.reusePool, "reuse-pool", def.Tuning.ReusePool, "let gRPC reuse buffers from the payload pool without clearing them")
	fl.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the timed reductions to this file")
	return cmd
}

func init() { benchCmd.AddCommand(newBenchAllreduceCmd()) }

// config turns the flags into a benchmark configuration.
func (f benchAllreduceFlags) config() (allreduce.BenchConfig, error) {
	cfg := allreduce.DefaultBenchConfig()
	cfg.Peers, cfg.Codec, cfg.Iters, cfg.Warmup = f.peers, f.codec, f.iters, f.warmup
	cfg.Tuning.ReusePool = f.reusePool
	sizes := []struct {
		flag, value string
		max         int64
		set         func(int64)
	}{
		{"--size", f.size, 1 << 40, func(v int64) { cfg.Bytes = v }},
		{"--chunk", f.chunk, 1 << 30, func(v int64) { cfg.ChunkBytes = int(v) }},
		{"--window", f.window, 1<<31 - 1, func(v int64) { cfg.Tuning.Window = int32(v) }},
		{"--conn-window", f.connWindow, 1<<31 - 1, func(v int64) { cfg.Tuning.ConnWindow = int32(v) }},
		{"--buffer", f.sockBuf, 1 << 30, func(v int64) { cfg.Tuning.ReadBuffer, cfg.Tuning.WriteBuffer = int(v), int(v) }},
	}
	for _, s := range sizes {
		v, err := parseBenchAllreduceSize(s.value)
		if err != nil {
			return cfg, fmt.Errorf("%s: %w", s.flag, err)
		}
		if v > s.max {
			return cfg, fmt.Errorf("%s %q: want at most %d bytes", s.flag, s.value, s.max)
		}
		s.set(v)
	}
	return cfg, cfg.Validate()
}

// parseBenchAllreduceSize parses a byte count such as 4096, 4KiB, 64MiB or 1GB.
func parseBenchAllreduceSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
	}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(strings.ToUpper(num), strings.ToUpper(u.suffix)) {
			num, mult = strings.TrimSpace(num[:len(num)-len(u.suffix)]), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > (1<<62)/mult {
		return 0, fmt.Errorf("size %q: want a non-negative whole number of bytes, optionally with a unit (B, KB, MB, GB, KiB, MiB, GiB)", s)
	}
	return v * mult, nil
}

func runBenchAllreduce(cmd *cobra.Command, cfg allreduce.BenchConfig, cpuProfile string) error {
	if cpuProfile != "" {
		pf, err := os.Create(cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer pf.Close()
		cfg.Profile = pf
	}
	res, err := allreduce.RunBench(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	printBenchAllreduce(cmd.OutOrStdout(), res)
	return nil
}

func printBenchAllreduce(w io.Writer, r allreduce.BenchResult) {
	c := r.Config
	const gb = 1e9
	fmt.Fprintf(w, "ring all-reduce over gRPC on 127.0.0.1: %d peers as goroutines of one process (GOMAXPROCS %d), each with its own gRPC server and connection\n",
		c.Peers, runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "codec %s, chunk %d B, window %d/%d B, buffers %d B, %d timed + %d warm-up reductions; bandwidths in GB/s (1e9 B/s)\n",
		c.Codec, c.ChunkBytes, c.Tuning.Window, c.Tuning.ConnWindow, c.Tuning.ReadBuffer, c.Iters, c.Warmup)
	fmt.Fprintf(w, "%5s %10s %8s %8s %7s %7s %9s %7s %8s %8s %8s %8s %6s\n",
		"peers", "size(B)", "mean(ms)", "best(ms)", "algbw", "busbw", "bestbus", "rawTCP", "bus/raw", "rawRing", "cpu/GB", "raw/GB", "cores")
	// cpu/GB: CPU seconds per GB on each link of the ring, that is the process
	// CPU time divided by W links' worth of bytes; raw/GB the same for raw TCP.
	cpu := r.CPU.Seconds() * gb / (float64(r.LinkBytes) * float64(c.Peers))
	// cores: CPU time over wall time during the reductions; near GOMAXPROCS means
	// the ring is CPU-bound.
	fmt.Fprintf(w, "%5d %10d %8.1f %8.1f %7.3f %7.3f %9.3f %7.3f %7.0f%% %8.3f %8.3f %8.3f %6.2f\n",
		c.Peers, r.Bytes, r.Mean.Seconds()*1e3, r.Best.Seconds()*1e3, r.AlgBW/gb, r.BusBW/gb, r.BestBusBW/gb,
		r.RawTCP/gb, 100*r.BusBW/r.RawTCP, r.RawRing/gb, cpu, r.RawTCPCPU.Seconds(), r.CPU.Seconds()/r.Mean.Seconds())
	fmt.Fprintf(w, "median of the per-reduction ratios busbw/rawTCP: %.0f%%; best busbw / best rawTCP: %.0f%%\n",
		100*r.MedianRatio, 100*r.BestBusBW/r.BestRawTCP)
	elems := r.Bytes / int64(max(1, map[string]int{"int64": 8, "packed64": 8, "float32": 4}[c.Codec]))
	fmt.Fprintf(w, "elements reduced per second: %.4g (%d elements in %.1f ms); each peer sent %.0f bytes per reduction, %.2f bytes per element it carried\n",
		r.ElemsPerSec, elems, r.Mean.Seconds()*1e3, float64(r.SentBytes), float64(r.SentBytes)*float64(c.Peers)/(2*float64(c.Peers-1)*float64(elems)))
}

// lenetGradient returns the fixed-point result vector (gradient and
// statistics) of LeNet on the first batch MNIST training samples, from the
// untrained network at T = 20: the values a worker's all-reduce carries.
func lenetGradient(ctx context.Context, batch int) ([]int64, error) {
	if batch < 8 || batch%8 != 0 {
		return nil, fmt.Errorf("--data-batch %d: want a positive multiple of 8 (the micro-batch)", batch)
	}
	train, err := dataset.Load(ctx, "mnist", globals.dataDir, dataset.Train)
	if err != nil {
		return nil, err
	}
	cfg := engine.DefaultConfig()
	cfg.T = 20
	n, err := engine.BuildNet(engine.LeNetSpec, engine.Shape{C: train.C, H: train.H, W: train.W}, cfg)
	if err != nil {
		return nil, err
	}
	m := engine.NewModel(n, 1)
	var mbs []engine.Batch
	for k := 0; k < batch/8; k++ {
		idx := make([]int, 8)
		for i := range idx {
			idx[i] = k*8 + i
		}
		mbs = append(mbs, job.MakeBatch(train, idx))
	}
	acc := make([]int64, n.ResultLen())
	if err := engine.RunMicroBatches(m, mbs, 1, 0, job.Workspaces(n, 0), acc); err != nil {
		return nil, err
	}
	return acc, nil
}
