package main

// The cluster side of the asf command: `asf train --workers N` (a coordinator
// and N workers in this process, over loopback gRPC and gossip) and
// `asf status` (a running coordinator's view of the cluster).

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/inproc"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/local"
	"github.com/asfnet/asf/internal/observe"
	"github.com/asfnet/asf/worker"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
)

func init() { rootCmd.AddCommand(newStatusCmd()) }

// clusterFlags are the flags of `asf train` that select and tune the embedded
// cluster.
type clusterFlags struct {
	workers         int
	resume          bool
	checkpointEvery int
	stepDeadline    time.Duration
	syncMode        string
	localSteps      int
	http            string
}

func (f *clusterFlags) register(fs *pflag.FlagSet) {
	d := coordinator.DefaultConfig(job.Default())
	fs.IntVar(&f.workers, "workers", 2, "train on an embedded cluster of N workers (a coordinator and N workers in this process, over loopback gRPC and gossip, with a checkpoint store in --data-dir); 0 = the engine alone, no cluster")
	fs.BoolVar(&f.resume, "resume", d.Resume, "with --workers: continue the job --job-id from the checkpoint store in --data-dir")
	fs.IntVar(&f.checkpointEvery, "checkpoint-every", d.CheckpointEvery, "with --workers: save the training state every N steps (and at each epoch end)")
	fs.DurationVar(&f.stepDeadline, "step-deadline", d.StepDeadline, "with --workers: evict a worker that has not finished a step this long after it was issued")
	fs.StringVar(&f.syncMode, "sync-mode", string(d.SyncMode), "with --workers: gradient (sum every step; bitwise independent of the worker count) or weights (local SGD)")
	fs.IntVar(&f.localSteps, "local-steps", d.LocalSteps, "with --sync-mode weights: local steps between weight averages")
	fs.StringVar(&f.http, "http", defaultTrainHTTP, "with --workers: serve the dashboard, /metrics and /healthz on this address (the default falls back to a free port when taken; \"\" = off)")
}

// defaultTrainHTTP is where `asf train` serves its dashboard by default: this
// machine only.
const defaultTrainHTTP = "localhost:8080"

// validate checks the flags that the coordinator's own validation cannot name.
func (f clusterFlags) validate() error {
	switch {
	case f.workers < 0:
		return fmt.Errorf("--workers %d: want 0 (the engine alone) or a number of workers", f.workers)
	case f.resume && f.workers == 0:
		return errors.New("--resume continues a job of the embedded cluster's store: give --workers 1 or more, not 0")
	}
	return nil
}

// trainOptions are the settings of `asf train` shared by both paths.
type trainOptions struct {
	threads int
	save    string
	noTest  bool
}

// runClusterTrain trains j on an embedded cluster and prints like the local
// path: a line per epoch and the final weight digest.
func runClusterTrain(cmd *cobra.Command, j job.Job, cf clusterFlags, o trainOptions) error {
	prog := newProgress(cmd.ErrOrStderr())
	logger, err := newLogger(prog.logWriter())
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	cc := coordinator.DefaultConfig(j)
	cc.DataDir = globals.dataDir
	cc.Resume, cc.Fresh = cf.resume, !cf.resume
	cc.StartWorkers = cf.workers
	cc.CheckpointEvery = cf.checkpointEvery
	cc.StepDeadline = cf.stepDeadline
	cc.SyncMode, cc.LocalSteps = coordinator.SyncMode(cf.syncMode), cf.localSteps
	cc.NoTest = o.noTest
	cc.EvalThreads = o.threads
	cc.FinishGrace = time.Second
	epochs := j.Epochs
	var rec testRecord
	cc.OnStep = func(s coordinator.StepInfo) {
		prog.step(local.Progress{Epoch: s.Epoch, Epochs: s.Epochs, Step: s.StepInEpoch, Steps: s.StepsPerEpoch,
			Loss: s.Loss, Acc: s.Acc, SamplesPerSec: s.SamplesPerSec, Elapsed: s.Elapsed})
	}
	cc.OnEpoch = func(r coordinator.EpochReport) {
		prog.done()
		printEpoch(out, r, epochs, &rec)
	}
	threads := o.threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	cl, err := inproc.Start(cmd.Context(), inproc.Config{Coordinator: cc, Workers: cf.workers, Logger: logger,
		Worker: func(i int) worker.Config {
			wc := worker.DefaultConfig()
			wc.ID = fmt.Sprintf("w%d", i)
			wc.Threads = max(1, threads/cf.workers)
			return wc
		}})
	if err != nil {
		return err
	}
	j = cl.Coordinator().Job()
	epochs = j.Epochs
	for _, e := range cl.Coordinator().Earlier() {
		if e.HasTest {
			rec.add(e.Epoch+1, e.TestAcc)
		}
	}
	fmt.Fprintf(out, "job %s: %s on %s, T=%d, %d epoch(s), batch %d (micro-batch %d), seed %d, %d worker(s)\n",
		j.ID, j.Spec, j.Dataset, j.Neuron.T, j.Epochs, j.Batch, j.Micro, j.Seed, cf.workers)
	fmt.Fprintf(out, "coordinator %s (gossip %s); asf status --coordinator %s\n",
		cl.Coordinator().Addr(), cl.Coordinator().GossipAddr(), cl.Coordinator().Addr())
	if cf.http != "" {
		hc := observe.DefaultConfig(cf.http)
		hc.Fallback = cf.http == defaultTrainHTTP
		hc.Logger = logger.With("component", "http")
		hs, err := observe.Start(cmd.Context(), hc, observe.Node{Coordinator: cl.Coordinator, Workers: func() []worker.Stats {
			var st []worker.Stats
			for _, n := range cl.Workers() {
				st = append(st, n.W.Stats())
			}
			return st
		}})
		if err != nil {
			cl.Stop()
			return err
		}
		defer hs.Close()
		fmt.Fprintf(out, "dashboard %s (metrics %smetrics)\n", hs.URL(), hs.URL())
	}
	start := time.Now()
	res, err := cl.Run()
	prog.done()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "trained in %s (%d generation(s), %d step attempt(s) redone, %d step(s) recomputed)\n",
		time.Since(start).Round(time.Millisecond), res.Generation, res.Retries, res.Recomputed)
	fmt.Fprint(out, rec.summary())
	fmt.Fprintf(out, "weights sha256: %s\n", hex.EncodeToString(res.Final.Digest[:]))
	if o.save != "" {
		if res.State == nil {
			return fmt.Errorf("--save: the final state was not saved by the coordinator (see the log)")
		}
		if err := writeSafetensors(o.save, res.State); err != nil {
			return err
		}
		fmt.Fprintf(out, "weights saved to %s (safetensors; evaluate with: asf eval --weights %s)\n", o.save, o.save)
	}
	return nil
}

func newStatusCmd() *cobra.Command {
	var (
		addr    string
		timeout time.Duration
		tf      tlsFlags
	)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show a running coordinator's cluster and job",
		Long: `Show what a running coordinator knows: the job's progress (step, epoch, loss,
accuracy, samples/s), the current generation and ring, and every worker with its
state and step times.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			creds, err := tf.dialOption()
			if err != nil {
				return err
			}
			cc, err := grpc.NewClient(addr, creds)
			if err != nil {
				return fmt.Errorf("--coordinator %q: %w", addr, err)
			}
			defer cc.Close()
			st, err := asfpb.NewCoordinatorClient(cc).Status(ctx, &asfpb.StatusRequest{})
			if err != nil {
				return fmt.Errorf("coordinator %s: %w", addr, err)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "coordinator", "127.0.0.1:7070", "the coordinator's gRPC address")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "give up after this long")
	tf.register(cmd.Flags())
	return cmd
}

func printStatus(w io.Writer, st *asfpb.ClusterStatus) {
	fmt.Fprintf(w, "job %s  phase %s  generation %d  ring [%s]\n", st.GetJobId(), st.GetPhase(), st.GetGeneration(),
		strings.Join(st.GetRing(), " "))
	spe := max(1, st.GetStepsPerEpoch())
	fmt.Fprintf(w, "step %d/%d  epoch %d/%d (step %d/%d)  loss %.4f  accuracy %.2f%%  %.0f samples/s\n",
		st.GetStep(), st.GetTotalSteps(), min(st.GetEpoch()+1, st.GetEpochs()), st.GetEpochs(), st.GetStep()%spe, spe,
		st.GetLoss(), 100*st.GetAccuracy(), st.GetSamplesPerSec())
	if st.GetHasTest() {
		fmt.Fprintf(w, "test accuracy (last epoch): %.2f%%\n", 100*st.GetTestAccuracy())
	}
	fmt.Fprintf(w, "checkpoint at step %d; %d step(s) recomputed; %d step attempt(s) redone; %.2f MB all-reduced per worker per step\n",
		st.GetCheckpointStep(), st.GetRecomputed(), st.GetRetries(), float64(st.GetReduceBytesPerStep())/1e6)
	if d := st.GetDigest(); len(d) > 0 {
		fmt.Fprintf(w, "weights sha256 at step %d: %s\n", st.GetStep(), hex.EncodeToString(d))
	}
	if e := st.GetError(); e != "" {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tSTATE\tRANK\tADDRESS\tSTEPS\tLAST STEP\tMEAN STEP\tCOMPUTE\tREDUCE")
	for _, m := range st.GetMembers() {
		rank := "-"
		if m.GetRank() >= 0 {
			rank = fmt.Sprint(m.GetRank())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%.1f ms\t%.1f ms\t%.1f ms\t%.1f ms\n", m.GetWorkerId(), m.GetState(), rank,
			m.GetGrpcAddr(), m.GetSteps(), m.GetLastStepMs(), m.GetMeanStepMs(), m.GetLastComputeMs(), m.GetLastReduceMs())
	}
	tw.Flush()
}
