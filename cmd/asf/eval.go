package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"text/tabwriter"
	"time"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
	"github.com/spf13/cobra"
)

func init() {
	var (
		weights  string
		testSize int
		threads  int
	)
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate saved weights on the test set of their job's data set",
		Long: `Evaluate weights saved by 'asf train --save FILE' (or exported from a checkpoint)
on the test set of their job's data set: accuracy, per-class precision and recall,
the confusion matrix and the mean firing rate of each layer.`,
		Example: "  asf train --save lenet.safetensors && asf eval --weights lenet.safetensors",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if weights == "" {
				return fmt.Errorf("--weights FILE is required (a .safetensors file written by asf train --save or asf checkpoint export)")
			}
			f, err := os.Open(weights)
			if err != nil {
				return err
			}
			st, err := checkpoint.ImportSafetensors(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("%s: %w", weights, err)
			}
			j, err := snapshot.Job(st)
			if err != nil {
				return fmt.Errorf("%s: %w", weights, err)
			}
			if testSize > 0 {
				j.TestSize = testSize
			}
			_, test, err := job.LoadData(cmd.Context(), j, globals.dataDir)
			if err != nil {
				return err
			}
			in := job.InputShape(test)
			_, m, _, err := snapshot.Restore(st, in)
			if err != nil {
				return fmt.Errorf("%s: %w", weights, err)
			}
			if threads <= 0 {
				threads = runtime.GOMAXPROCS(0)
			}
			t0 := time.Now()
			res, err := job.Evaluate(m, test, j.Seed, job.Workspaces(m.Net, threads))
			if err != nil {
				return err
			}
			printEval(cmd.OutOrStdout(), j.Dataset, m.Net, res, time.Since(t0))
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "safetensors file with the weights and their job")
	cmd.Flags().IntVar(&testSize, "test-size", 0, "evaluate on the first N test samples only (0 = as the job says)")
	cmd.Flags().IntVar(&threads, "threads", 0, "goroutines (0 = all cores)")
	rootCmd.AddCommand(cmd)
}

func printEval(out io.Writer, dataset string, n *engine.Net, r engine.EvalResult, d time.Duration) {
	fmt.Fprintf(out, "%s test set: %d samples, accuracy %.2f%% (%d correct), mean MSE loss %.4f, %.1fs\n\n",
		dataset, r.Samples, 100*r.Accuracy(), r.Correct, r.MSE/float64(max(r.Samples, 1)), d.Seconds())
	w := tabwriter.NewWriter(out, 0, 4, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(w, "true\\pred\t")
	for k := range r.Confusion {
		fmt.Fprintf(w, "%d\t", k)
	}
	fmt.Fprint(w, "recall\t\n")
	colSum := make([]int, len(r.Confusion))
	for _, row := range r.Confusion {
		for k, v := range row {
			colSum[k] += v
		}
	}
	for c, row := range r.Confusion {
		fmt.Fprintf(w, "%d\t", c)
		total := 0
		for _, v := range row {
			fmt.Fprintf(w, "%d\t", v)
			total += v
		}
		fmt.Fprintf(w, "%s\t\n", pct(row[c], total))
	}
	fmt.Fprint(w, "precision\t")
	for k := range r.Confusion {
		fmt.Fprintf(w, "%s\t", pct(r.Confusion[k][k], colSum[k]))
	}
	fmt.Fprint(w, "\t\n")
	w.Flush()
	fmt.Fprintln(out, "\nmean firing rate (spikes per neuron per step):")
	rates := r.FiringRates(n)
	for l, ly := range n.Layers {
		if ly.Spiking {
			fmt.Fprintf(out, "  %-8s %-6s %.4f\n", ly.Name(), ly.Text, rates[l])
		}
	}
}

func pct(a, b int) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(b))
}
