package main

import (
	"fmt"
	"io"
	"runtime"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/spf13/cobra"
)

func init() {
	var (
		ts      []int
		methods []string
		batch   int
		micro   int
		steps   int
		rounds  int
		threads int
		spec    string
		data    string
	)
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Measure training throughput of the engine (ASF-BP and/or BPTT) on real MNIST batches",
		Long: `Measure the engine's training speed (forward over T steps, the backward of each
--method, and the Adam update) on real MNIST batches, in this process.

For each T and method (methods alternate within each T, --rounds times, so that a
change of the machine's load hits all of them alike; each figure is the median
over the rounds) it first trains a few warm-up steps (so the network fires as in
training), then reports:
  samples/s   training throughput on all threads (micro-batches in parallel)
  cpu est.    samples per CPU-second times the thread count: what the threads
              would reach alone on the machine (robust to other load)
  fwd, bwd    per-sample forward and backward CPU time on one thread
  bwd share   backward / (forward + backward)
  neurons fired  share of spiking neurons that fired at least once in the window:
              ASF-BP's backward skips the others, so its cost follows this, not T
  bwd MB      scratch memory of the backward per thread (BPTT: its T x layer buffers)
  spikes KB   the spike events the forward keeps per sample (4 bytes per spike),
              and the same spikes as one bit per neuron and step
  peak RSS    the process's peak resident memory so far
and after the table, per method, the backward time at the largest T over that at
T=20 (or the smallest T), and BPTT's time over ASF-BP's at each T.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var ms []engine.Method
			for _, s := range methods {
				m, err := engine.ParseMethod(s)
				if err != nil {
					return fmt.Errorf("--method: %w", err)
				}
				ms = append(ms, m)
			}
			if len(ms) == 0 || len(ts) == 0 || rounds < 1 || steps < 1 {
				return fmt.Errorf("bench engine: need at least one --method and --T, and --rounds, --steps >= 1")
			}
			train, err := dataset.Load(cmd.Context(), data, globals.dataDir, dataset.Train)
			if err != nil {
				return err
			}
			if threads <= 0 {
				threads = runtime.GOMAXPROCS(0)
			}
			return runBenchEngine(cmd, train, benchEngineConfig{spec: spec, ts: ts, methods: ms, batch: batch,
				micro: micro, steps: steps, rounds: rounds, threads: threads})
		},
	}
	cmd.Flags().IntSliceVar(&ts, "T", []int{20, 100}, "time steps to measure")
	cmd.Flags().StringSliceVar(&methods, "method", []string{"asf"}, "training methods to measure, alternating: asf, bptt (e.g. asf,bptt)")
	cmd.Flags().IntVar(&batch, "batch", 64, "batch size")
	cmd.Flags().IntVar(&micro, "micro-batch", 8, "micro-batch size")
	cmd.Flags().IntVar(&steps, "steps", 10, "measured steps per T and method (after 3 warm-up steps)")
	cmd.Flags().IntVar(&rounds, "rounds", 1, "times each T runs all methods in turn (figures are medians)")
	cmd.Flags().IntVar(&threads, "threads", 0, "threads (0 = all cores)")
	cmd.Flags().StringVar(&spec, "spec", engine.LeNetSpec, "network")
	cmd.Flags().StringVar(&data, "dataset", "mnist", "data set (mnist; synthetic for a quick check)")
	benchCmd.AddCommand(cmd)
}

type benchEngineConfig struct {
	spec                                 string
	ts                                   []int
	methods                              []engine.Method
	batch, micro, steps, rounds, threads int
}

type engineBench struct {
	samplesPerSec, cpuSamplesPerSec, msPerBatch float64
	fwd, bwd                                    time.Duration
	nonzero, active                             int // spiking neurons with FO > 0, all (sampled)
	bwdBytes                                    int // backward scratch per thread
	eventBytes, bitBytes                        int // spikes kept per sample: as events, as bits (mean)
}

func runBenchEngine(cmd *cobra.Command, train *dataset.Set, c benchEngineConfig) error {
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "engine benchmark: %s on %s, batch %d (micro-batch %d), %d thread(s), %d round(s), %s %s/%s\n",
		c.spec, train.Name, c.batch, c.micro, c.threads, c.rounds, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	type key struct {
		T int
		m engine.Method
	}
	res := map[key][]engineBench{}
	for _, T := range c.ts {
		for r := 0; r < c.rounds; r++ {
			for i := range c.methods {
				// Alternate the order between rounds, so neither method always goes first.
				m := c.methods[i]
				if r%2 == 1 {
					m = c.methods[len(c.methods)-1-i]
				}
				b, err := benchEngine(cmd, train, c.spec, m, T, c.batch, c.micro, c.steps, c.threads)
				if err != nil {
					return err
				}
				res[key{T, m}] = append(res[key{T, m}], b)
			}
		}
	}
	med := func(k key) engineBench { return medianBench(res[k]) }
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(w, "T\tmethod\tsamples/s\tcpu est.\tms/batch\tfwd ms/sample\tbwd ms/sample\tbwd share\tneurons fired\tbwd MB\tspikes KB (events)\tspikes KB (bits)\tpeak RSS MB\t\n")
	for _, T := range c.ts {
		for _, m := range c.methods {
			r := med(key{T, m})
			fmt.Fprintf(w, "%d\t%s\t%.1f\t%.1f\t%.1f\t%.3f\t%.3f\t%.1f%%\t%.1f%%\t%.1f\t%.1f\t%.1f\t%.0f\t\n", T, m, r.samplesPerSec, r.cpuSamplesPerSec, r.msPerBatch,
				r.fwd.Seconds()*1e3, r.bwd.Seconds()*1e3, 100*r.bwd.Seconds()/max(1e-12, (r.fwd+r.bwd).Seconds()),
				100*float64(r.nonzero)/float64(max(1, r.active)), float64(r.bwdBytes)/(1<<20),
				float64(r.eventBytes)/1024, float64(r.bitBytes)/1024, peakRSSMB())
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	writeBenchRatios(out, c, func(T int, m engine.Method) engineBench { return med(key{T, m}) })
	return nil
}

// writeBenchRatios prints the backward's growth with T per method and BPTT over
// ASF-BP per T.
func writeBenchRatios(out io.Writer, c benchEngineConfig, get func(int, engine.Method) engineBench) {
	if len(c.ts) > 1 {
		ts := append([]int(nil), c.ts...)
		sort.Ints(ts)
		// The base is T=20 when measured (the T=100/T=20), else the smallest T.
		lo, hi := ts[0], ts[len(ts)-1]
		for _, T := range ts {
			if T == 20 && T < hi {
				lo = T
			}
		}
		for _, m := range c.methods {
			a, b := get(lo, m), get(hi, m)
			fmt.Fprintf(out, "%s: backward T=%d / T=%d = %.2f (forward %.2f)\n", m, hi, lo,
				safeRatio(b.bwd, a.bwd), safeRatio(b.fwd, a.fwd))
		}
	}
	var hasASF, hasBPTT bool
	for _, m := range c.methods {
		hasASF = hasASF || m == engine.ASF
		hasBPTT = hasBPTT || m == engine.BPTT
	}
	if hasASF && hasBPTT {
		for _, T := range c.ts {
			a, b := get(T, engine.ASF), get(T, engine.BPTT)
			fmt.Fprintf(out, "T=%d: bptt/asf backward %.1fx, fwd+bwd %.1fx, cpu est. asf/bptt %.1fx\n", T,
				safeRatio(b.bwd, a.bwd), safeRatio(b.fwd+b.bwd, a.fwd+a.bwd), a.cpuSamplesPerSec/max(1e-12, b.cpuSamplesPerSec))
		}
	}
}

func safeRatio(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// medianBench returns the element-wise median of the measured figures.
func medianBench(bs []engineBench) engineBench {
	if len(bs) == 0 {
		return engineBench{}
	}
	mf := func(f func(engineBench) float64) float64 {
		v := make([]float64, len(bs))
		for i, b := range bs {
			v[i] = f(b)
		}
		sort.Float64s(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	r := bs[0]
	r.samplesPerSec = mf(func(b engineBench) float64 { return b.samplesPerSec })
	r.cpuSamplesPerSec = mf(func(b engineBench) float64 { return b.cpuSamplesPerSec })
	r.msPerBatch = mf(func(b engineBench) float64 { return b.msPerBatch })
	r.fwd = time.Duration(mf(func(b engineBench) float64 { return float64(b.fwd) }))
	r.bwd = time.Duration(mf(func(b engineBench) float64 { return float64(b.bwd) }))
	return r
}

func benchEngine(cmd *cobra.Command, train *dataset.Set, spec string, method engine.Method, T, batch, micro, steps, threads int) (engineBench, error) {
	var r engineBench
	cfg := engine.DefaultConfig()
	cfg.T = T
	cfg.Method = method
	n, err := engine.BuildNet(spec, engine.Shape{C: train.C, H: train.H, W: train.W}, cfg)
	if err != nil {
		return r, err
	}
	plan := dataset.Plan{N: train.Len(), Batch: batch, Micro: micro}
	if err := plan.Validate(); err != nil {
		return r, err
	}
	m := engine.NewModel(n, 1)
	opt := engine.NewOptimizer(engine.DefaultTrainConfig(), n.NParams)
	wss := job.Workspaces(n, threads)
	acc := make([]int64, n.ResultLen())
	perm := dataset.Perm(1, 0, train.Len())
	step := func(k int) error {
		var mbs []engine.Batch
		for _, idx := range plan.MicroBatches(perm, k) {
			mbs = append(mbs, job.MakeBatch(train, idx))
		}
		clear(acc)
		if err := engine.RunMicroBatches(m, mbs, 1, 0, wss, acc); err != nil {
			return err
		}
		_, err := opt.Apply(m, acc, 0)
		return err
	}
	const warm = 3
	for k := 0; k < warm; k++ {
		if err := step(k); err != nil {
			return r, err
		}
	}
	t0, c0 := time.Now(), cpuTime()
	for k := warm; k < warm+steps; k++ {
		if err := cmd.Context().Err(); err != nil {
			return r, err
		}
		if err := step(k); err != nil {
			return r, err
		}
	}
	el, cpu := time.Since(t0), cpuTime()-c0
	r.samplesPerSec = float64(steps*batch) / el.Seconds()
	r.cpuSamplesPerSec = float64(steps*batch*threads) / cpu.Seconds()
	r.msPerBatch = el.Seconds() * 1e3 / float64(steps)
	// Forward/backward split on one thread over one batch, in thread CPU time.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	// CPU time of forwards alone, then of forward+backward, over the same batches;
	// the difference is the backward (totals, so the clock's tick does not matter).
	ws := wss[0]
	var fwd, full time.Duration
	samples := 0
	for k := 0; k < 3; k++ {
		b := job.MakeBatch(train, plan.StepSamples(perm, warm+steps+k))
		t1 := threadCPUTime()
		for i, x := range b.X {
			ws.Forward(m, x, 1, 0, b.Index[i])
		}
		t2 := threadCPUTime()
		for l := range n.Layers {
			for _, v := range ws.LayerSpikes(l) {
				r.active++
				if v != 0 {
					r.nonzero++
				}
			}
		}
		for i, x := range b.X {
			ws.Forward(m, x, 1, 0, b.Index[i])
			ws.Backward(m, b.Y[i])
			ev, bits := ws.SpikeBytes()
			r.eventBytes += ev
			r.bitBytes += bits
		}
		fwd += t2 - t1
		full += threadCPUTime() - t2
		samples += len(b.X)
	}
	r.fwd = fwd / time.Duration(samples)
	r.bwd = max(0, full-fwd) / time.Duration(samples)
	r.eventBytes /= samples
	r.bitBytes /= samples
	r.bwdBytes = ws.BackwardBytes()
	return r, nil
}
