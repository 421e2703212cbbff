package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/emucluster"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/scaling"
	"github.com/spf13/cobra"
)

// benchScalingFlags are the flags of `asf bench scaling`.
type benchScalingFlags struct {
	workers, batches          []int
	links, modes              []string
	cpus                      float64
	steps, warmup, localSteps int
	repeat                    int
	threads, micro, T         int
	dataset, spec             string
	binDir, plot, jsonOut     string
	logDir, fromJSON          string
	checkEngine, predict      bool
	computeAhead, pprof       bool
	sysctls                   map[string]string
}

func newBenchScalingCmd() *cobra.Command {
	def := scaling.DefaultRunConfig()
	f := benchScalingFlags{}
	cmd := &cobra.Command{
		Use:   "scaling",
		Short: "Measure how training scales out on an emulated cluster (namespaces, CPU quotas, shaped links)",
		Long: `Runs the real asf-coordinator and asf-worker binaries on an emulated cluster on
this host: each node in its own network namespace with an address from
198.18.0.0/15, a veth link shaped with tbf to --link in each direction, and a
cgroup CPU quota of --cpus cores per worker. For every combination of --workers,
--batch, --link and --sync-mode it trains --warmup + --steps steps of the job
and prints, from the workers' Prometheus metrics and the cgroup and switch-port
counters over the measured steps:

  samples/s   global throughput
  E(W)        throughput(W) / (W x throughput(1)), against the W = 1 run of the
              same batch, mode and link
  step ms     wall time per step, split into compute, allreduce (mean over the
              workers; (fastest) is the quickest worker's, the others include
              waiting for it inside the ring), update (the worker's optimizer
              step, weights digest and state copy) and coord (the rest: the
              coordinator's round trip, reports, commit, next task)
  payload KB  what a worker's all-reduce sends per step (the encoded elements)
  wire KB     what its link carried per step (frames, all protocols)
  link use    wire bytes over the fastest worker's all-reduce time, as a share
              of the link rate: the ring's bus bandwidth against the link
  cpu ms      its CPU time per step; throttled: quota periods it was stopped in
  model ms    the performance model fitted to the gradient-mode points, err its
              deviation from the measured step
  weights     the final weights' SHA-256 prefix; "=" when equal to the engine
              alone's (asf train --workers 0, --check-engine) on the same job

It then fits the model, prints its predictions for clusters this host cannot
emulate (W = 8..64 workers of 16 cores on 10 and 25 Gbit/s, batches 256..4096,
LeNet and the CIFAR-10 VGG7; --predict) and draws E(W) into --plot.

It needs root, iproute2 (ip, tc) and the cgroup v1 cpu controller, and refuses
to run otherwise. The binaries are taken from --bin-dir (default: next to this
asf executable; in the module's root directory they are built with go build
when absent). Everything it creates is removed when it ends, also on Ctrl-C;
leftovers of a killed run are removed by the next one. The host's load average
is printed with every point: CPU quotas are upper bounds, other load slows the
workers below them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchScaling(cmd, f) },
	}
	fl := cmd.Flags()
	fl.IntSliceVar(&f.workers, "workers", []int{1, 2, 4}, "ring sizes W to measure (include 1 for E(W))")
	fl.IntSliceVar(&f.batches, "batch", []int{64, 256}, "global batch sizes")
	fl.StringSliceVar(&f.links, "link", []string{"1gbit"}, "link rates per node and direction (tc units: 100mbit, 1gbit; 0 = unshaped)")
	fl.StringSliceVar(&f.modes, "sync-mode", []string{"gradient"}, "gradient (exact) and/or weights (local SGD)")
	fl.Float64Var(&f.cpus, "cpus", def.CPUs, "CPU quota per worker in cores (0 = none)")
	fl.IntVar(&f.localSteps, "local-steps", def.LocalSteps, "with --sync-mode weights: local steps between weight averages")
	fl.IntVar(&f.steps, "steps", def.Steps, "measured steps per configuration")
	fl.IntVar(&f.warmup, "warmup", def.WarmSteps, "steps before the measurement (loading, first connections)")
	fl.IntVar(&f.repeat, "repeat", 1, "measure every configuration this many times, in interleaved rounds, and keep the median (on a busy host)")
	fl.IntVar(&f.threads, "threads", def.Threads, "compute goroutines per worker")
	fl.StringToStringVar(&f.sysctls, "sysctl", nil, "network settings for every node's namespace, e.g. net.ipv4.tcp_slow_start_after_idle=0 (repeatable)")
	fl.BoolVar(&f.pprof, "pprof", false, "start the workers with --pprof (profile one with: ip netns exec NS curl http://ADDR:8081/debug/pprof/profile?seconds=5)")
	fl.BoolVar(&f.computeAhead, "compute-ahead", true, "workers compute the next step's micro-batches before its instruction comes (asf-worker --compute-ahead)")
	fl.IntVar(&f.micro, "micro-batch", def.Job.Micro, "micro-batch size")
	fl.IntVarP(&f.T, "time-steps", "T", def.Job.Neuron.T, "time steps per sample")
	fl.StringVar(&f.dataset, "dataset", def.Job.Dataset, "data set (mnist and fashion-mnist are fetched when absent)")
	fl.StringVar(&f.spec, "spec", def.Job.Spec, "network")
	fl.StringVar(&f.binDir, "bin-dir", "", "directory of asf-coordinator and asf-worker (default: next to this executable)")
	fl.StringVar(&f.plot, "plot", "docs/img/scaling.png", "write E(W) to this PNG or SVG file (\"\" = none)")
	fl.StringVar(&f.jsonOut, "json", "", "write the measured points to this JSON file")
	fl.StringVar(&f.fromJSON, "from-json", "", "do not measure: load the points of an earlier --json and print, fit and plot them")
	fl.StringVar(&f.logDir, "log-dir", "", "keep each node's log in this directory")
	fl.BoolVar(&f.checkEngine, "check-engine", true, "train each gradient-mode batch with the engine alone too and compare the weights bit for bit")
	fl.BoolVar(&f.predict, "predict", true, "print the model's predictions for larger clusters (LeNet and VGG7)")
	return cmd
}

func init() { benchCmd.AddCommand(newBenchScalingCmd()) }

// configs turns the flags into the list of runs, W innermost.
func (f benchScalingFlags) configs(binDir, dataDir string) ([]scaling.RunConfig, error) {
	var out []scaling.RunConfig
	for _, mode := range f.modes {
		for _, ls := range f.links {
			rate, err := emucluster.ParseRate(ls)
			if err != nil {
				return nil, fmt.Errorf("--link: %w", err)
			}
			for _, b := range f.batches {
				for _, w := range f.workers {
					c := scaling.DefaultRunConfig()
					c.Workers, c.CPUs, c.LinkBits, c.SyncMode, c.LocalSteps = w, f.cpus, rate, mode, f.localSteps
					c.Steps, c.WarmSteps, c.Threads, c.BinDir, c.DataDir = f.steps, f.warmup, f.threads, binDir, dataDir
					c.Job.Batch, c.Job.Micro, c.Job.Neuron.T, c.Job.Spec = b, f.micro, f.T, f.spec
					if f.dataset != c.Job.Dataset {
						c.Job.Dataset, c.Job.Neuron.Gain = f.dataset, job.GainFor(f.dataset)
					}
					c.LogDir = f.logDir
					c.NoComputeAhead = !f.computeAhead
					c.Sysctls = f.sysctls
					c.Pprof = f.pprof
					if err := c.Validate(); err != nil {
						return nil, fmt.Errorf("W=%d batch %d %s %s: %w", w, b, mode, ls, err)
					}
					out = append(out, c)
				}
			}
		}
	}
	return out, nil
}

func runBenchScaling(cmd *cobra.Command, f benchScalingFlags) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var points []scaling.Point
	ref := map[int]string{}
	if f.fromJSON != "" {
		ps, err := scaling.LoadPoints(f.fromJSON)
		if err != nil {
			return err
		}
		points = ps
	} else {
		ec := emucluster.DefaultConfig()
		ec.WorkerCPUs = f.cpus
		if err := emucluster.Check(ec); err != nil {
			return fmt.Errorf("asf bench scaling cannot run here: %w", err)
		}
		binDir, err := scalingBinaries(f.binDir)
		if err != nil {
			return err
		}
		if f.dataset == "mnist" || f.dataset == "fashion-mnist" {
			if err := dataset.Fetch(ctx, f.dataset, globals.dataDir); err != nil {
				return err
			}
		}
		cfgs, err := f.configs(binDir, globals.dataDir)
		if err != nil {
			return err
		}
		if f.logDir != "" {
			if err := os.MkdirAll(f.logDir, 0o755); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "emulated cluster: %d configuration(s), %s per worker, %d thread(s), %s %s T=%d micro-batch %d, %d+%d steps each\n",
			len(cfgs), cpusText(f.cpus), f.threads, f.dataset, f.spec, f.T, f.micro, f.warmup, f.steps)
		if f.checkEngine {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			for _, c := range cfgs {
				if _, ok := ref[c.Job.Batch]; ok || c.SyncMode != "gradient" {
					continue
				}
				d, err := scaling.EngineDigest(ctx, self, c)
				if err != nil {
					return err
				}
				ref[c.Job.Batch] = d
				fmt.Fprintf(out, "engine alone, batch %d: weights sha256 %s\n", c.Job.Batch, d)
			}
		}
		if f.repeat < 1 {
			return fmt.Errorf("--repeat %d: want at least 1", f.repeat)
		}
		runs := make([][]scaling.Point, len(cfgs))
		for round := range f.repeat {
			for i, c := range cfgs {
				c.Logger = log
				fmt.Fprintf(cmd.ErrOrStderr(), "[%d/%d, round %d/%d] W=%d batch %d %s %s (load %.2f)\n", i+1, len(cfgs), round+1, f.repeat,
					c.Workers, c.Job.Batch, c.SyncMode, emucluster.FormatRate(c.LinkBits), scaling.LoadAverage())
				p, err := scaling.Run(ctx, c)
				if err != nil {
					return err
				}
				if c.SyncMode == "gradient" {
					p.EngineDigest = ref[c.Job.Batch]
				}
				runs[i] = append(runs[i], p)
				if f.jsonOut != "" {
					var so []scaling.Point
					for _, r := range runs {
						if len(r) > 0 {
							so = append(so, scaling.Median(r))
						}
					}
					if err := scaling.SavePoints(f.jsonOut, so); err != nil {
						return err
					}
				}
			}
		}
		for _, r := range runs {
			p := scaling.Median(r)
			if f.repeat == 1 {
				p.Runs = nil
			}
			points = append(points, p)
		}
	}
	model, ferr := scaling.Fit(points)
	var mp *scaling.Model
	if ferr == nil {
		mp = &model
	}
	if err := scaling.PrintPoints(out, points, mp, ref); err != nil {
		return err
	}
	if ferr != nil {
		fmt.Fprintf(out, "no model: %v\n", ferr)
	} else {
		scaling.PrintModel(out, model)
	}
	if f.plot != "" {
		title := fmt.Sprintf("asf on an emulated cluster: %s, %s per worker", points[0].Config.Job.Spec, cpusText(points[0].Config.CPUs))
		if err := scaling.WritePlot(f.plot, title, scaling.SeriesOf(points, mp)); err != nil {
			return err
		}
		fmt.Fprintf(out, "plot written to %s\n", f.plot)
	}
	if f.predict && mp != nil {
		if err := printScalingPredictions(cmd, model, points); err != nil {
			return err
		}
	}
	return nil
}

// printScalingPredictions measures LeNet and VGG7 on one thread and prints
// the model's predictions for 16-core workers.
func printScalingPredictions(cmd *cobra.Command, m scaling.Model, points []scaling.Point) error {
	ctx, out := cmd.Context(), cmd.OutOrStdout()
	c := points[0].Config
	ref, err := scaling.MeasureNet(ctx, "LeNet", c.Job.Spec, engine.Shape{C: 1, H: 28, W: 28}, c.Job.Neuron.T, 16)
	if err != nil {
		return err
	}
	vgg, err := scaling.MeasureNet(ctx, "VGG7", engine.VGG7Spec, engine.Shape{C: 3, H: 32, W: 32}, c.Job.Neuron.T, 2)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\nnets (one thread, synthetic inputs, T=%d): %s %d parameters %.2f ms/sample; %s %d parameters %.1f ms/sample\n",
		c.Job.Neuron.T, ref.Name, ref.Params, ref.CPUPerSample.Seconds()*1e3, vgg.Name, vgg.Params, vgg.CPUPerSample.Seconds()*1e3)
	// The wire's bytes per parameter, as the emulated gradient all-reduces
	// carried them (packed64 depends on the values).
	var bpp float64
	var n int
	for _, p := range points {
		if s := scaling.ShapeOf(p); p.Config.SyncMode == "gradient" && s.PayloadBytes > 0 {
			bpp += s.PayloadBytes / float64(ref.Params)
			n++
		}
	}
	if n > 0 {
		ref.BytesPerParam, vgg.BytesPerParam = bpp/float64(n), bpp/float64(n)
	}
	fmt.Fprintf(out, "predictions: workers of 16 cores (16 threads), %.2f bytes per parameter on the wire (as measured for LeNet), micro-batch up to %d\n",
		ref.BytesPerParam, m.Micro)
	var ps []scaling.Prediction
	for _, net := range []scaling.NetProfile{ref, vgg} {
		ps = append(ps, scaling.Predict(m, ref, net, []int{8, 16, 32, 64}, 16, []int64{10e9, 25e9}, []int{256, 1024, 4096})...)
	}
	return scaling.PrintPredictions(out, ps)
}

// scalingBinaries returns the directory of asf-coordinator and asf-worker:
// dir, or next to this executable, or (in the module's root) a temporary
// directory they are built into.
func scalingBinaries(dir string) (string, error) {
	have := func(d string) bool {
		for _, b := range []string{"asf-coordinator", "asf-worker"} {
			if st, err := os.Stat(filepath.Join(d, b)); err != nil || st.IsDir() {
				return false
			}
		}
		return true
	}
	if dir != "" {
		if !have(dir) {
			return "", fmt.Errorf("--bin-dir %s: want asf-coordinator and asf-worker in it (go build -o %s/ ./cmd/asf-coordinator ./cmd/asf-worker)", dir, dir)
		}
		return dir, nil
	}
	if self, err := os.Executable(); err == nil && have(filepath.Dir(self)) {
		return filepath.Dir(self), nil
	}
	mod, err := os.ReadFile("go.mod")
	if err != nil || !strings.Contains(string(mod), "module github.com/asfnet/asf\n") {
		return "", errors.New("asf-coordinator and asf-worker are not next to this executable: give --bin-dir, or run in the asf module's root directory to build them")
	}
	out := filepath.Join(os.TempDir(), "asf-scaling-bin-"+strconv.Itoa(os.Getuid()))
	build := exec.Command("go", "build", "-o", out+"/", "./cmd/asf-coordinator", "./cmd/asf-worker")
	if b, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the binaries: go build: %v\n%s", err, b)
	}
	return out, nil
}

func cpusText(c float64) string {
	if c == 0 {
		return "no CPU quota"
	}
	return fmt.Sprintf("%.2f cores", c)
}
