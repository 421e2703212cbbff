package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/asfnet/asf/api/asfpb"
	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/atomicfile"
	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/secure"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
)

func init() { rootCmd.AddCommand(newCheckpointCmd()) }

// checkpointFlags are the options the checkpoint subcommands share.
type checkpointFlags struct {
	store string
}

// register declares --store (and its deprecated alias --db) on fs.
func (f *checkpointFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.store, "store", "", "checkpoint store file (default <data-dir>/"+coordinator.DefaultStoreFile+")")
	cli.Alias(fs, "db", "store")
}

// path is --store, or the store file in --data-dir.
func (f *checkpointFlags) path() string { return coordinator.StoreIn(globals.dataDir, f.store) }

// open opens the store; read-only commands take a shared lock and never create it.
func (f *checkpointFlags) open(cmd *cobra.Command, readOnly bool) (*checkpoint.Store, error) {
	logger, err := newLogger(cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	o := checkpoint.DefaultOptions()
	o.ReadOnly = readOnly
	o.Logger = logger.With("component", "checkpoint")
	return checkpoint.Open(f.path(), &o)
}

func newCheckpointCmd() *cobra.Command {
	f := &checkpointFlags{}
	cmd := &cobra.Command{
		Use:     "checkpoint",
		Aliases: []string{"ckpt"},
		Short:   "List, inspect, verify, salvage, export, import, back up and prune checkpoints",
		Long: `Work with the checkpoint store: a bbolt file (default <data-dir>/asf.db, or --store)
holding each job's configuration, its checkpoints (weights, optimizer state, ASF
scales, position, metrics summary, each with a sha256 checksum) and its metrics
history.

The store allows one writer at a time: while a coordinator holds it, these
commands fail after 2 s with a message saying so (backup --coordinator asks the
coordinator for a copy instead). Read-only commands (ls, show, verify, export,
backup) never create or change the file; salvage repairs a damaged one.`,
	}
	f.register(cmd.PersistentFlags())
	cmd.AddCommand(
		newCkptLsCmd(f), newCkptShowCmd(f), newCkptVerifyCmd(f), newCkptExportCmd(f),
		newCkptImportCmd(f), newCkptBackupCmd(f), newCkptPruneCmd(f), newCkptSalvageCmd(f),
	)
	return cmd
}

func optionalJob(args []string) string {
	if len(args) > 0 {
		return args[0]
	}
	return ""
}

// parseID reads an optional checkpoint id argument; 0 means the latest valid one.
func parseID(args []string, i int) (uint64, error) {
	if len(args) <= i {
		return 0, nil
	}
	id, err := strconv.ParseUint(args[i], 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("checkpoint id %q: want a positive integer (see asf checkpoint ls)", args[i])
	}
	return id, nil
}

// loadState loads checkpoint id of job, or the newest valid one if id is 0.
func loadState(s *checkpoint.Store, job string, id uint64) (*checkpoint.State, checkpoint.Info, error) {
	if id == 0 {
		return s.Latest(job)
	}
	return s.Load(job, id)
}

func newCkptLsCmd(f *checkpointFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "ls [JOB]",
		Short: "List checkpoints (all jobs, or one), verifying each checksum",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			return checkpointLs(cmd.OutOrStdout(), s, optionalJob(args))
		},
	}
}

func checkpointLs(w io.Writer, s *checkpoint.Store, job string) error {
	res, err := s.Verify(job)
	if err != nil {
		return err
	}
	if len(res) == 0 {
		fmt.Fprintf(w, "no checkpoints in %s\n", s.Path())
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tJOB\tEPOCH\tSTEP\tSAVED\tSIZE\tTEST ACC\tTRAIN LOSS\tCHECKSUM")
	for _, r := range res {
		if r.Saved.IsZero() { // the index record itself is unreadable
			fmt.Fprintf(tw, "%d\t%s\t-\t-\t-\t-\t-\t-\t%s\n", r.ID, r.Job, verdict(r))
			continue
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Job, r.Epoch, r.Step,
			r.Saved.Local().Format("2006-01-02 15:04:05"), humanBytes(r.Size), testAcc(r.Metrics), fmtFloat(r.Metrics.TrainLoss, 4), verdict(r))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range res {
		if !r.OK() {
			fmt.Fprintf(w, "checkpoint %d of job %s: %v\n", r.ID, r.Job, r.Err)
		}
	}
	return nil
}

func verdict(r checkpoint.VerifyResult) string {
	switch {
	case r.OK():
		return "ok"
	case errors.Is(r.Err, checkpoint.ErrVersion):
		return "NEWER FORMAT"
	}
	return "CORRUPT"
}

func testAcc(m checkpoint.Summary) string {
	if !m.HasTest {
		return "-"
	}
	return fmt.Sprintf("%.2f%%", 100*m.TestAcc)
}

func fmtFloat(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func newCkptShowCmd(f *checkpointFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "show JOB [ID]",
		Short: "Show a checkpoint (default: the newest valid one): fields, tensors with norms, scales",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args, 1)
			if err != nil {
				return err
			}
			s, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			st, in, err := loadState(s, args[0], id)
			if err != nil {
				return err
			}
			return checkpointShow(cmd.OutOrStdout(), st, in)
		},
	}
}

func checkpointShow(w io.Writer, st *checkpoint.State, in checkpoint.Info) error {
	fmt.Fprintf(w, "checkpoint %d of job %s (checksum ok, sha256 %s)\n", in.ID, in.Job, hex.EncodeToString(in.Checksum[:8]))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "  saved\t%s\n", in.Saved.Local().Format(time.RFC3339))
	fmt.Fprintf(tw, "  size\t%s in %d chunk(s), format %d\n", humanBytes(in.Size), in.Chunks, in.Format)
	fmt.Fprintf(tw, "  spec\t%s\n", st.Spec)
	fmt.Fprintf(tw, "  position\tepoch %d, step %d (%d into the epoch)\n", st.Epoch, st.Step, st.StepInEpoch)
	fmt.Fprintf(tw, "  seed\t%d\n", st.Seed)
	fmt.Fprintf(tw, "  config\t%d bytes, sha256 %s\n", len(st.Config), hex.EncodeToString(st.ConfigDigest[:8]))
	fmt.Fprintf(tw, "  optimizer\t%s, step %d, lr %g, %d slot(s)\n", orDash(st.Optimizer.Name), st.Optimizer.Step, st.Optimizer.LR, len(st.Optimizer.Slots))
	m := st.Metrics
	fmt.Fprintf(tw, "  metrics\ttrain loss %s, train acc %.2f%%, test acc %s, %.0f samples/s\n", fmtFloat(m.TrainLoss, 4), 100*m.TrainAcc, testAcc(m), m.SamplesPerSec)
	if !m.Time.IsZero() {
		fmt.Fprintf(tw, "  taken\t%s\n", m.Time.Local().Format(time.RFC3339))
	}
	scales := make([]string, len(st.Scales))
	for i, v := range st.Scales {
		scales[i] = strconv.FormatFloat(v, 'g', 6, 64)
	}
	fmt.Fprintf(tw, "  scales\t[%s]\n", strings.Join(scales, " "))
	if err := tw.Flush(); err != nil {
		return err
	}
	var params int
	for _, t := range st.Weights {
		params += len(t.Data)
	}
	fmt.Fprintf(w, "weights: %d tensors, %d parameters\n", len(st.Weights), params)
	if err := tensorTable(w, st.Weights); err != nil {
		return err
	}
	if len(st.Optimizer.Slots) > 0 {
		fmt.Fprintf(w, "optimizer slots:\n")
		if err := tensorTable(w, st.Optimizer.Slots); err != nil {
			return err
		}
	}
	if len(st.Config) > 0 {
		var pretty bytes.Buffer
		if json.Indent(&pretty, st.Config, "  ", "  ") == nil {
			fmt.Fprintf(w, "config:\n  %s\n", pretty.String())
		}
	}
	return nil
}

// tensorTable lists tensors with their shape, size, L2 norm and range.
func tensorTable(w io.Writer, ts []checkpoint.Tensor) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  NAME\tSHAPE\tVALUES\tL2 NORM\tMIN\tMAX\tNON-FINITE")
	for _, t := range ts {
		var sum float64
		lo, hi := math.Inf(1), math.Inf(-1)
		bad := 0
		for _, x := range t.Data {
			v := float64(x)
			if math.IsNaN(v) || math.IsInf(v, 0) {
				bad++
				continue
			}
			sum += v * v
			lo, hi = min(lo, v), max(hi, v)
		}
		shape := make([]string, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = strconv.Itoa(d)
		}
		if len(t.Data) == bad {
			lo, hi = math.NaN(), math.NaN()
		}
		fmt.Fprintf(tw, "  %s\t[%s]\t%d\t%.6g\t%.4g\t%.4g\t%d\n", t.Name, strings.Join(shape, " "), len(t.Data), math.Sqrt(sum), lo, hi, bad)
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func newCkptVerifyCmd(f *checkpointFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "verify [JOB]",
		Short: "Check the file page by page and every record's checksum; fail if anything is bad",
		Long: `Read the store file page by page without trusting it (meta pages, freelist,
branch and leaf pages, the store's layout, every record's crc32c and every
checkpoint's sha256) and report every problem. It never changes the file and
never panics, whatever the file holds; a damaged store is repaired with
asf checkpoint salvage (a coordinator does it by itself at start).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rep, err := checkpoint.Inspect(f.path(), nil)
			if err != nil {
				return err
			}
			return checkpointVerify(cmd.OutOrStdout(), rep, optionalJob(args))
		},
	}
}

func checkpointVerify(w io.Writer, rep *checkpoint.FileReport, job string) error {
	switch {
	case !rep.Bolt:
		return fmt.Errorf("%w: %s is not a bbolt file", checkpoint.ErrNotStore, rep.Path)
	case rep.MetaPage >= 0 && !rep.Store:
		return fmt.Errorf("%w: %s is a bbolt database of another program", checkpoint.ErrNotStore, rep.Path)
	}
	if rep.MetaPage >= 0 {
		fmt.Fprintf(w, "%s: %s, %d pages of %d bytes, transaction %d (meta page %d)\n",
			rep.Path, humanBytes(rep.Size), rep.Pages, rep.PageSize, rep.Txid, rep.MetaPage)
	}
	if rep.Damaged() {
		fmt.Fprintf(w, "file structure: %d problem(s)\n", len(rep.Problems))
		for _, p := range rep.Problems {
			fmt.Fprintf(w, "  %s\n", p)
		}
	} else {
		fmt.Fprintf(w, "file structure: ok (%s)\n", rep.Path)
	}
	if job != "" && !slices.Contains(rep.Jobs, job) && !slices.ContainsFunc(rep.Checkpoints, func(r checkpoint.VerifyResult) bool { return r.Job == job }) {
		return fmt.Errorf("%w: no job %q in %s (jobs: %s)", checkpoint.ErrJobNotFound, job, rep.Path, strings.Join(rep.Jobs, ", "))
	}
	n, bad := 0, 0
	for _, r := range rep.Checkpoints {
		if job != "" && r.Job != job {
			continue
		}
		n++
		if r.OK() {
			fmt.Fprintf(w, "job %s checkpoint %d (epoch %d, step %d): ok\n", r.Job, r.ID, r.Epoch, r.Step)
			continue
		}
		bad++
		fmt.Fprintf(w, "job %s checkpoint %d: %s: %v\n", r.Job, r.ID, verdict(r), r.Err)
	}
	fmt.Fprintf(w, "%d checkpoint(s), %d ok, %d bad; %d metric point(s) verify\n", n, n-bad, bad, rep.Metrics)
	switch {
	case rep.Damaged():
		return fmt.Errorf("%w (repair: asf checkpoint salvage --store %s)", rep.Err(), rep.Path)
	case bad > 0:
		return fmt.Errorf("%d of %d checkpoint(s) in %s fail verification", bad, n, rep.Path)
	}
	return nil
}

func newCkptSalvageCmd(f *checkpointFlags) *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "salvage [-o FILE]",
		Short: "Repair a damaged store: keep every job, checkpoint and metric point that verifies",
		Long: `Read the store without trusting it (as verify does) and write every job record,
checkpoint and metric point whose checksum holds into a new store. Records come
from the tree of the meta page in use and, where that is damaged, from the tree
of the previous transaction.

Without -o the store is repaired in place, if it is damaged: the damaged file is
set aside as <store>.damaged-<UTC time> (never deleted) and the salvaged store
takes its place; this needs the write lock (no coordinator running). With -o the
salvaged store is written to FILE and the store is left as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var rep *checkpoint.SalvageReport
			var err error
			if out != "" {
				rep, err = checkpoint.Salvage(f.path(), out, nil)
			} else {
				rep, err = checkpoint.Repair(f.path(), nil)
			}
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if rep == nil {
				fmt.Fprintf(w, "%s: no damage found, left as it is\n", f.path())
				return nil
			}
			printSalvage(w, rep)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the salvaged store to this new file and leave the store as it is")
	return cmd
}

func printSalvage(w io.Writer, r *checkpoint.SalvageReport) {
	fmt.Fprintf(w, "%d problem(s) in %s\n", len(r.Problems), r.Damaged)
	for i, p := range r.Problems {
		if i == 10 {
			fmt.Fprintf(w, "  ... and %d more (asf checkpoint verify lists them all)\n", len(r.Problems)-10)
			break
		}
		fmt.Fprintf(w, "  %s\n", p)
	}
	fmt.Fprintf(w, "salvaged into %s: %d job(s), %d checkpoint(s), %d metric point(s) (%d only from the previous transaction's tree)\n",
		r.Store, r.Jobs, r.Checkpoints, r.Metrics, r.FromOlderMeta)
	fmt.Fprintf(w, "lost: %d job record(s), %d checkpoint(s), %d metric point(s) that did not verify\n", r.LostJobs, r.LostCheckpoints, r.LostMetrics)
	for _, job := range slices.Sorted(maps.Keys(r.Newest)) {
		in := r.Newest[job]
		fmt.Fprintf(w, "job %s continues from checkpoint %d (epoch %d, step %d)\n", job, in.ID, in.Epoch, in.Step)
	}
	if r.Damaged != "" && r.Store != "" && r.Damaged != r.Store {
		fmt.Fprintf(w, "the damaged file is kept at %s\n", r.Damaged)
	}
}

func newCkptExportCmd(f *checkpointFlags) *cobra.Command {
	var out, jsonOut string
	var withOpt bool
	cmd := &cobra.Command{
		Use:   "export JOB [ID] -o FILE.safetensors [--json FILE]",
		Short: "Export a checkpoint (default: the newest valid one) to safetensors and a JSON model description",
		Long: `Export a checkpoint's weights to a safetensors file (F32 tensors in the standard
layout: conv [out][in][kh][kw], FC [out][in]; the spec, scales, seed, position and
job configuration in __metadata__). With --optimizer the optimizer state goes in
too (tensors "optimizer/<slot>"), so that an import resumes training bitwise.
--json writes a description of the network (layers, tensors, scales, neuron
settings and the job configuration) for rebuilding the model elsewhere.`,
		Example: "  asf checkpoint export lenet -o lenet.safetensors --json lenet.json",
		Args:    cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("-o FILE.safetensors is required")
			}
			id, err := parseID(args, 1)
			if err != nil {
				return err
			}
			s, err := f.open(cmd, true)
			if err != nil {
				return err
			}
			defer s.Close()
			st, in, err := loadState(s, args[0], id)
			if err != nil {
				return err
			}
			return checkpointExport(cmd.OutOrStdout(), st, in, out, jsonOut, withOpt)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "safetensors file to write")
	cmd.Flags().StringVar(&jsonOut, "json", "", "also write the JSON model description to this file")
	cmd.Flags().BoolVar(&withOpt, "optimizer", false, "include the optimizer state")
	return cmd
}

func checkpointExport(w io.Writer, st *checkpoint.State, in checkpoint.Info, out, jsonOut string, withOpt bool) error {
	n, err := atomicfile.Write(out, 0o644, func(fw io.Writer) error {
		return checkpoint.ExportSafetensorsOpts(st, fw, checkpoint.SafetensorsOptions{Optimizer: withOpt})
	})
	if err != nil {
		return err
	}
	tensors := len(st.Weights)
	if withOpt {
		tensors += len(st.Optimizer.Slots)
	}
	fmt.Fprintf(w, "checkpoint %d of job %s (epoch %d, step %d) -> %s: %d tensors, %s\n",
		in.ID, in.Job, st.Epoch, st.Step, out, tensors, humanBytes(n))
	if jsonOut != "" {
		n, err := atomicfile.Write(jsonOut, 0o644, func(fw io.Writer) error { return checkpoint.ExportModelJSON(st, fw) })
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "model description -> %s (%s)\n", jsonOut, humanBytes(n))
	}
	return nil
}

func newCkptImportCmd(f *checkpointFlags) *cobra.Command {
	var job string
	cmd := &cobra.Command{
		Use:   "import FILE.safetensors --job-id JOB",
		Short: "Create a checkpoint of JOB from a safetensors file",
		Long: `Read a safetensors file (one written by asf checkpoint export or asf train --save,
or F32 weights from another framework) and store it as a new checkpoint of JOB.
If the store has no configuration for JOB yet and the file carries one, it is
recorded too, in the same transaction.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if job == "" {
				return fmt.Errorf("--job-id JOB is required")
			}
			s, err := f.open(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			return checkpointImport(cmd.OutOrStdout(), s, args[0], job)
		},
	}
	cmd.Flags().StringVar(&job, "job-id", "", "job to add the checkpoint to")
	cli.Alias(cmd.Flags(), "job", "job-id")
	return cmd
}

func checkpointImport(w io.Writer, s *checkpoint.Store, path, job string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	st, err := checkpoint.ImportSafetensors(file)
	file.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	from := st.Job
	st.Job = job
	var id uint64
	var recorded bool
	err = s.Update(func(tx *checkpoint.Tx) error {
		if _, err := tx.Job(job); errors.Is(err, checkpoint.ErrJobNotFound) && len(st.Config) > 0 && json.Valid(st.Config) {
			if err := tx.PutJob(job, st.Config); err != nil {
				return err
			}
			recorded = true
		}
		id, err = tx.Save(st)
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	note := ""
	if from != "" && from != job {
		note = fmt.Sprintf(" (exported from job %s)", from)
	}
	fmt.Fprintf(w, "%s -> checkpoint %d of job %s%s: epoch %d, step %d, %d weight tensors, %d optimizer slots\n",
		path, id, job, note, st.Epoch, st.Step, len(st.Weights), len(st.Optimizer.Slots))
	if recorded {
		fmt.Fprintf(w, "recorded the job configuration from the file (%d bytes)\n", len(st.Config))
	}
	return nil
}

func newCkptBackupCmd(f *checkpointFlags) *cobra.Command {
	var (
		out, addr        string
		token, tokenFile string
		timeout          time.Duration
		tf               tlsFlags
	)
	cmd := &cobra.Command{
		Use:   "backup -o FILE [--coordinator ADDR]",
		Short: "Copy the whole store, consistently, to FILE (from a running coordinator with --coordinator)",
		Long: `Copy the whole store to FILE from one read transaction (written to a temporary
file, synced, checked page by page, then renamed).

While a coordinator runs it holds the store's write lock; --coordinator ADDR asks
it (over gRPC) for the copy instead: it streams one read transaction of its store
while training goes on, as etcd's snapshot save does, and the copy is checked
against the size and SHA-256 it sends. That call needs the cluster's join token
(--join-token-file) and, with TLS, a client or worker certificate.
Without --coordinator the file (--store) is read directly and must not be held by a
writer.`,
		Example: "  asf checkpoint backup --coordinator coordinator:7070 --join-token-file certs/join.token -o asf-backup.db",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("-o FILE is required")
			}
			from := f.path()
			if addr != "" {
				if err := backupFromCoordinator(cmd, addr, token, tokenFile, timeout, tf, out); err != nil {
					return err
				}
				from = "coordinator " + addr
			} else {
				s, err := f.open(cmd, true)
				if err != nil {
					return err
				}
				defer s.Close()
				if err := s.BackupTo(out); err != nil {
					return err
				}
			}
			rep, err := checkpoint.Inspect(out, nil)
			if err != nil {
				return err
			}
			if err := rep.Err(); err != nil {
				return fmt.Errorf("the backup %s does not verify: %w", out, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s -> %s (%s; %d job(s), %d checkpoint(s), %d metric point(s), verified)\n",
				from, out, humanBytes(rep.Size), len(rep.Jobs), len(rep.Checkpoints), rep.Metrics)
			return nil
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "backup file to write")
	cmd.Flags().StringVar(&addr, "coordinator", "", "back up the store of the coordinator at this gRPC address while it runs")
	cmd.Flags().StringVar(&token, "join-token", "", "the cluster's join token (prefer --join-token-file)")
	cmd.Flags().StringVar(&tokenFile, "join-token-file", "", "file holding the cluster's join token")
	cmd.Flags().DurationVar(&timeout, "timeout", 10*time.Minute, "give up on --coordinator after this long")
	tf.register(cmd.Flags())
	return cmd
}

// backupFromCoordinator streams the store of the coordinator at addr into out.
func backupFromCoordinator(cmd *cobra.Command, addr, token, tokenFile string, timeout time.Duration, tf tlsFlags, out string) error {
	if token != "" && tokenFile != "" {
		return fmt.Errorf("both --join-token and --join-token-file are set; give one")
	}
	if tokenFile != "" {
		b, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("--join-token-file: %w", err)
		}
		if token = strings.TrimSpace(string(b)); token == "" {
			return fmt.Errorf("--join-token-file %s is empty", tokenFile)
		}
	}
	creds, err := tf.dialOption()
	if err != nil {
		return err
	}
	cc, err := grpc.NewClient(addr, append([]grpc.DialOption{creds}, secure.TokenDialOptions(token)...)...)
	if err != nil {
		return fmt.Errorf("--coordinator %q: %w", addr, err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	_, err = atomicfile.Write(out, 0o644, func(w io.Writer) error {
		_, err := coordinator.ReceiveBackup(ctx, asfpb.NewCoordinatorClient(cc), w)
		return err
	})
	if err != nil {
		return fmt.Errorf("backup from coordinator %s: %w", addr, err)
	}
	return nil
}

func newCkptPruneCmd(f *checkpointFlags) *cobra.Command {
	var keepLast, keepBest int
	cmd := &cobra.Command{
		Use:   "prune JOB --keep-last N --keep-best M",
		Short: "Delete a job's checkpoints except the last N, the best M by test accuracy and the newest valid one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := f.open(cmd, false)
			if err != nil {
				return err
			}
			defer s.Close()
			return checkpointPrune(cmd.OutOrStdout(), s, args[0], keepLast, keepBest)
		},
	}
	d := checkpoint.DefaultOptions()
	cmd.Flags().IntVar(&keepLast, "keep-last", d.KeepLast, "newest checkpoints to keep (>= 1)")
	cmd.Flags().IntVar(&keepBest, "keep-best", d.KeepBest, "checkpoints with the best test accuracy to keep")
	return cmd
}

func checkpointPrune(w io.Writer, s *checkpoint.Store, job string, keepLast, keepBest int) error {
	deleted, err := s.Prune(job, keepLast, keepBest)
	if err != nil {
		return err
	}
	left, err := s.List(job)
	if err != nil {
		return err
	}
	ids := make([]string, len(left))
	for i, in := range left {
		ids[i] = strconv.FormatUint(in.ID, 10)
	}
	fmt.Fprintf(w, "job %s: deleted %d checkpoint(s) %v, kept %d: %s\n", job, len(deleted), deleted, len(left), strings.Join(ids, ", "))
	return nil
}
