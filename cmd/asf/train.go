package main

import (
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/internal/atomicfile"
	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/local"
	"github.com/asfnet/asf/internal/snapshot"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newTrainCmd()) }

func newTrainCmd() *cobra.Command {
	var (
		jf      cli.JobFlags
		cf      clusterFlags // --workers N: the embedded cluster (cluster.go)
		threads int
		save    string
		noTest  bool
	)
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Train a spiking network with ASF-BP (or BPTT) in this process",
		Long: `Train a spiking neural network with ASF-BP (--method bptt: back-propagation
through time with a surrogate gradient) in this process.

On its defaults it trains the paper's MNIST network (20C5-P2-50C5-P2-200FC-10FC)
for one epoch at T=20, fetching MNIST into the data directory on first use, and
prints the loss and train/test accuracy of each epoch and the final weight digest.
Progress goes to stderr: a bar per epoch on a terminal, a line every 10 s
otherwise. The embedded cluster serves a live dashboard, Prometheus metrics and
/healthz on --http (it prints the address).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			trainGC()
			j, err := jf.Resolve(cmd.Flags())
			if err != nil {
				return err
			}
			if err := cf.validate(); err != nil {
				return err
			}
			if cf.workers > 0 {
				return runClusterTrain(cmd, j, cf, trainOptions{threads: threads, save: save, noTest: noTest})
			}
			prog := newProgress(cmd.ErrOrStderr())
			logger, err := newLogger(prog.logWriter())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "job %s: %s on %s, T=%d, %d epoch(s), batch %d (micro-batch %d), seed %d\n",
				j.ID, j.Spec, j.Dataset, j.Neuron.T, j.Epochs, j.Batch, j.Micro, j.Seed)
			start := time.Now()
			var rec testRecord
			res, err := local.Run(cmd.Context(), j, local.Options{
				DataDir:  globals.dataDir,
				Threads:  threads,
				Logger:   logger.With("component", "train"),
				Progress: prog.step,
				NoTest:   noTest,
				Epoch: func(r local.EpochReport) {
					prog.done()
					printEpoch(out, r, j.Epochs, &rec)
				},
			})
			prog.done()
			if err != nil {
				return err
			}
			d := res.Model.Digest()
			fmt.Fprintf(out, "trained in %s\n", time.Since(start).Round(time.Millisecond))
			fmt.Fprint(out, rec.summary())
			fmt.Fprintf(out, "weights sha256: %s\n", hex.EncodeToString(d[:]))
			if save != "" {
				last := res.Epochs[len(res.Epochs)-1]
				st := snapshot.Capture(j, res.Model, res.Optimizer,
					snapshot.Position{Epoch: j.Epochs, Step: j.Epochs * stepsPerEpoch(res.Train.Len(), j.Batch)},
					checkpoint.Summary{TrainLoss: last.TrainLoss, TrainAcc: last.TrainAcc, TestAcc: last.TestAcc,
						HasTest: last.HasTest, SamplesPerSec: last.SamplesPerSec})
				if err := writeSafetensors(save, st); err != nil {
					return err
				}
				fmt.Fprintf(out, "weights saved to %s (safetensors; evaluate with: asf eval --weights %s)\n", save, save)
			}
			return nil
		},
	}
	jf.Register(cmd.Flags())
	cf.register(cmd.Flags())
	cmd.Flags().IntVar(&threads, "threads", 0, "goroutines computing micro-batches (0 = all cores)")
	cmd.Flags().StringVar(&save, "save", "", "write the trained weights to this safetensors file")
	cmd.Flags().BoolVar(&noTest, "no-test", false, "skip the test-set evaluation after each epoch")
	return cmd
}

func stepsPerEpoch(n, batch int) int { return (n + batch - 1) / batch }

// testRecord keeps the last and the best test accuracy of a run. The reference code
// reports the best over all epochs (selected on the test set); asf prints both,
// labelled.
type testRecord struct {
	last, best           float64
	lastEpoch, bestEpoch int // 1-based; 0 = none yet
}

func (t *testRecord) add(epoch int, acc float64) {
	t.last, t.lastEpoch = acc, epoch
	if t.bestEpoch == 0 || acc > t.best {
		t.best, t.bestEpoch = acc, epoch
	}
}

// summary is the final line: both accuracies, or "" without test evaluations.
func (t *testRecord) summary() string {
	if t.lastEpoch == 0 {
		return ""
	}
	return fmt.Sprintf("test accuracy: last %.2f%% (epoch %d), best %.2f%% (epoch %d; the best epoch is chosen on the test set, as the reference code reports it)\n",
		100*t.last, t.lastEpoch, 100*t.best, t.bestEpoch)
}

func printEpoch(w io.Writer, r local.EpochReport, epochs int, rec *testRecord) {
	test := "n/a"
	if r.HasTest {
		rec.add(r.Epoch+1, r.TestAcc)
		test = fmt.Sprintf("%.2f%% (best %.2f%%, epoch %d)", 100*r.TestAcc, 100*rec.best, rec.bestEpoch)
	}
	fmt.Fprintf(w, "epoch %d/%d  loss %.4f  ce %.4f  train %.2f%%  test %s  %.0f samples/s  %s (+%s eval)\n",
		r.Epoch+1, epochs, r.TrainLoss, r.TrainCE, 100*r.TrainAcc, test, r.SamplesPerSec,
		r.Duration.Round(100*time.Millisecond), r.EvalDuration.Round(100*time.Millisecond))
}

// writeSafetensors writes st to path atomically.
func writeSafetensors(path string, st *checkpoint.State) error {
	_, err := atomicfile.Write(path, 0o644, func(w io.Writer) error { return checkpoint.ExportSafetensors(st, w) })
	return err
}

// trainGCPercent is the GOGC of asf train unless the environment sets one.
// The heap is dominated by long-lived, pointer-free memory (the data set, the
// replicas' weights and Adam state), and the default GOGC=100 lets it grow by
// as much again in garbage (gRPC buffers, batches) before a collection.
// Marking skips pointer-free memory, so the extra collections cost next to
// nothing: with the data set decoded to float32 the default run peaked at
// 665 MB with GOGC=100 and 405 MB with 10 at the same user CPU time; with the
// data kept as bytes it peaks at 207 MB (docs/scaling.md).
const trainGCPercent = 10

// trainGC applies trainGCPercent unless GOGC is set.
func trainGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(trainGCPercent)
	}
}
