package main

import (
	"fmt"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/local"
	"github.com/spf13/cobra"
)

func init() {
	var (
		ts      []int
		batch   int
		micro   int
		steps   int
		threads int
		spec    string
	)
	cmd := &cobra.Command{
		Use:   "engine",
		Short: "Measure training throughput of the engine on real MNIST batches",
		Long: `Measure the engine's training speed (forward over T steps, ASF-BP backward and
the Adam update) on real MNIST batches, in this process.

For each T it first trains a few warm-up steps (so the network fires as in
training), then reports:
  samples/s   training throughput on all threads (micro-batches in parallel)
  cpu est.    samples per CPU-second times the thread count: what the threads
              would reach alone on the machine (robust to other load)
  fwd, bwd    per-sample forward and backward CPU time on one thread
  bwd share   backward / (forward + backward)
  neurons fired  share of spiking neurons that fired at least once in the window:
              the backward skips the others, so its cost follows this, not T
  peak RSS    the process's peak resident memory so far`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			train, err := dataset.Load(cmd.Context(), "mnist", globals.dataDir, dataset.Train)
			if err != nil {
				return err
			}
			if threads <= 0 {
				threads = runtime.GOMAXPROCS(0)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "engine benchmark: %s on MNIST, batch %d (micro-batch %d), %d thread(s), %s %s/%s\n",
				spec, batch, micro, threads, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			w := tabwriter.NewWriter(out, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "T\tsamples/s\tcpu est.\tms/batch\tfwd ms/sample\tbwd ms/sample\tbwd share\tneurons fired\tpeak RSS MB\t\n")
			for _, T := range ts {
				r, err := benchEngine(cmd, train, spec, T, batch, micro, steps, threads)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%d\t%.1f\t%.1f\t%.1f\t%.3f\t%.3f\t%.1f%%\t%.1f%%\t%.0f\t\n", T, r.samplesPerSec, r.cpuSamplesPerSec, r.msPerBatch,
					r.fwd.Seconds()*1e3, r.bwd.Seconds()*1e3, 100*r.bwd.Seconds()/(r.fwd+r.bwd).Seconds(), 100*float64(r.nonzero)/float64(max(1, r.active)), peakRSSMB())
			}
			return w.Flush()
		},
	}
	cmd.Flags().IntSliceVar(&ts, "T", []int{20, 100}, "time steps to measure")
	cmd.Flags().IntVar(&batch, "batch", 64, "batch size")
	cmd.Flags().IntVar(&micro, "micro-batch", 8, "micro-batch size")
	cmd.Flags().IntVar(&steps, "steps", 10, "measured steps per T (after 3 warm-up steps)")
	cmd.Flags().IntVar(&threads, "threads", 0, "threads (0 = all cores)")
	cmd.Flags().StringVar(&spec, "spec", engine.LeNetSpec, "network")
	benchCmd.AddCommand(cmd)
}

type engineBench struct {
	samplesPerSec, cpuSamplesPerSec, msPerBatch float64
	fwd, bwd                                    time.Duration
	nonzero, active                             int // spiking neurons with FO > 0, all (sampled)
}

func benchEngine(cmd *cobra.Command, train *dataset.Set, spec string, T, batch, micro, steps, threads int) (engineBench, error) {
	var r engineBench
	cfg := engine.DefaultConfig()
	cfg.T = T
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
	wss := local.Workspaces(n, threads)
	acc := make([]int64, n.ResultLen())
	perm := dataset.Perm(1, 0, train.Len())
	step := func(k int) error {
		var mbs []engine.Batch
		for _, idx := range plan.MicroBatches(perm, k) {
			mbs = append(mbs, local.MakeBatch(train, idx))
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
		b := local.MakeBatch(train, plan.StepSamples(perm, warm+steps+k))
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
		}
		fwd += t2 - t1
		full += threadCPUTime() - t2
		samples += len(b.X)
	}
	r.fwd = fwd / time.Duration(samples)
	r.bwd = max(0, full-fwd) / time.Duration(samples)
	return r, nil
}
