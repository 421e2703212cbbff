package main

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/plot"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newPlotCmd()) }

func newPlotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plot",
		Short: "Draw training curves and spike rasters as PNG or SVG",
		Long: `Draw figures of a job (the format follows the output file's extension, .png or .svg):

  curves   loss and accuracy against the step, from a job's metrics history in the
           checkpoint store
  raster   the spikes of every layer for one sample, its firing rate per layer and
           the output scores, from a weights file`,
	}
	cmd.AddCommand(newPlotCurvesCmd(), newPlotRasterCmd())
	return cmd
}

func newPlotCurvesCmd() *cobra.Command {
	var (
		f      checkpointFlags
		jobID  string
		output string
	)
	cmd := &cobra.Command{
		Use:   "curves --job-id JOB -o FILE.png|FILE.svg",
		Short: "Plot a job's loss and accuracy curves from its metrics history",
		Long: `Plot the training loss (top) and the training and test accuracy (bottom) of a job
against the global step, from the metrics history in the checkpoint store (--store,
default <data-dir>/asf.db): thin lines per step, bold lines with markers per epoch,
dashed red lines where training was rolled back. Only the run after the job's last
fresh start is shown. The store is opened read-only and may be in use by a
coordinator that is training.`,
		Example: "  asf plot curves --job-id mnist-lenet -o curves.png",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return fmt.Errorf("-o FILE.png or FILE.svg is required")
			}
			format, err := plot.FormatOf(output)
			if err != nil {
				return fmt.Errorf("-o: %w", err)
			}
			s, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			if jobID == "" {
				jobs, err := s.Jobs()
				if err != nil {
					return err
				}
				if len(jobs) != 1 {
					return fmt.Errorf("--job-id is required: the store %s holds %d jobs (%s)", s.Path(), len(jobs), strings.Join(jobs, ", "))
				}
				jobID = jobs[0]
			}
			points, err := s.Metrics(jobID) // ErrJobNotFound names the store's jobs
			if err != nil {
				return err
			}
			if len(points) == 0 {
				return fmt.Errorf("job %q has no metrics history in %s: a cluster run records one point per step and per epoch in its coordinator's store (asf train --workers N writes <data-dir>/asf.db, asf-coordinator its --data-dir's); a local 'asf train' without --workers writes none", jobID, s.Path())
			}
			var buf bytes.Buffer
			if err := plot.TrainingCurves(points, &buf, format); err != nil {
				return fmt.Errorf("job %q: %w", jobID, err)
			}
			if err := writeFile(output, buf.Bytes()); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: curves of job %s from %d metric points\n", output, jobID, len(points))
			return nil
		},
	}
	f.register(cmd.Flags())
	cmd.Flags().StringVar(&jobID, "job-id", "", "job whose history to plot (may be left out when the store holds one job)")
	cli.Alias(cmd.Flags(), "job", "job-id")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output file: .png or .svg")
	return cmd
}

func newPlotRasterCmd() *cobra.Command {
	var (
		weights, output string
		sf              sampleFlags
	)
	cmd := &cobra.Command{
		Use:   "raster --weights FILE (--index N | --image IMG.png) -o FILE.png|FILE.svg",
		Short: "Plot the spikes of every layer for one sample",
		Long: `Run one sample through a network saved by 'asf train --save FILE' and plot a dot at
(t, neuron) for every spike of every layer that emits spikes, one panel per layer
in network order, with the firing rate of each layer and the output scores.

The sample is --index N of the job's data set (--split test or train) or a PNG
image (--image, converted as 'asf predict' does; --invert for dark on light).`,
		Example: "  asf plot raster --weights lenet.safetensors --index 0 -o raster.png",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return fmt.Errorf("-o FILE.png or FILE.svg is required")
			}
			format, err := plot.FormatOf(output)
			if err != nil {
				return fmt.Errorf("-o: %w", err)
			}
			logger, err := newLogger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			ls, err := loadWeightsAndSample(cmd.Context(), weights, &sf, globals.dataDir, logger)
			if err != nil {
				return err
			}
			rec, err := plot.Record(engine.NewWorkspace(ls.model.Net), ls.model, ls.s.x, ls.job.Seed, ls.s.index)
			if err != nil {
				return err
			}
			rec.Label, rec.Title = ls.s.label, ls.s.what
			if err := writeRaster(output, format, rec); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %s: %s through %s, predicted class %d\n", output, ls.s.what, ls.model.Net.Spec.Text, rec.Predicted())
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "safetensors file with the weights and their job")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output file: .png or .svg")
	sf.register(cmd.Flags(), true)
	return cmd
}
