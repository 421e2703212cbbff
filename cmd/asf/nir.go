package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/atomicfile"
	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/hdf5"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
	"github.com/asfnet/asf/nir"
	"github.com/spf13/cobra"
)

func init() {
	rootCmd.AddCommand(newExportCmd(), newImportCmd())
}

func newExportCmd() *cobra.Command {
	var (
		out, db, input string
	)
	cmd := &cobra.Command{
		Use:   "export --nir FILE.nir (WEIGHTS.safetensors | JOB [ID])",
		Short: "Export a trained network to NIR (for Lava, SpiNNaker2, snnTorch, Norse, Sinabs, Rockpool ...)",
		Long: `Export a trained network as a NIR graph (Neuromorphic Intermediate Representation,
an HDF5 file that nir.read and the NIR tools load): Input, Conv2d, SumPool2d,
IF/LIF neurons, Threshold (max pooling of spikes), Flatten, Linear, the output
integrator I and Output, with asf's spec, T, leak, reset, encoding and job in the
graph metadata. The source is a safetensors file (asf train --save, asf checkpoint
export) or a job in the checkpoint store (its newest valid checkpoint, or ID).
docs/interop.md has the mapping and why the NIR semantics reproduce asf's.`,
		Example: `  asf export --nir lenet.nir lenet.safetensors
  asf export --nir lenet.nir mnist-lenet 3`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--nir FILE.nir is required: the NIR file to write")
			}
			st, what, err := exportSource(cmd, args, db)
			if err != nil {
				return err
			}
			j, err := snapshot.Job(st)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			var in engine.Shape
			if input != "" {
				in, err = parseShape(input)
			} else {
				in, err = datasetShape(j)
			}
			if err != nil {
				return err
			}
			g, err := nir.ExportState(st, in)
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			n, err := atomicfile.Write(out, 0o644, func(w io.Writer) error {
				b, err := g.Marshal()
				if err != nil {
					return err
				}
				_, err = w.Write(b)
				return err
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s (%s on %v, T=%d) -> %s: %d NIR nodes, %d edges, %s\n",
				what, st.Spec, in, j.Neuron.T, out, len(g.Nodes), len(g.Edges), humanBytes(n))
			if l0 := st.Spec; strings.HasPrefix(strings.ToUpper(l0), "MP") && j.Neuron.Encoding == engine.Poisson {
				fmt.Fprintln(cmd.OutOrStdout(), "note: the first layer max-pools the input spikes; with negative inputs (signed Poisson spikes) asf takes the max of -1/0/+1, which the NIR SumPool2d + Threshold pair reproduces only for non-negative data")
			}
			if j.Neuron.Reset == engine.ResetSubtract {
				fmt.Fprintln(cmd.OutOrStdout(), "note: NIR 1.0 has no subtract reset; the neurons carry metadata asf_reset=subtract, which asf's import honours and other tools may not")
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "nir", "", "NIR file to write")
	cmd.Flags().StringVar(&db, "store", "", "checkpoint store file for a JOB source (default <data-dir>/"+coordinator.DefaultStoreFile+")")
	cli.Alias(cmd.Flags(), "db", "store")
	cmd.Flags().StringVar(&input, "input", "", "input shape CxHxW (default: the job's data set's)")
	return cmd
}

// exportSource loads the state named by args: a safetensors file, or a job (and
// checkpoint id) in the store.
func exportSource(cmd *cobra.Command, args []string, db string) (*checkpoint.State, string, error) {
	if fi, err := os.Stat(args[0]); err == nil && !fi.IsDir() {
		if len(args) > 1 {
			return nil, "", fmt.Errorf("%s is a file: a checkpoint ID goes with a JOB name only", args[0])
		}
		st, _, err := readWeights(args[0])
		return st, args[0], err
	} else if strings.HasSuffix(args[0], ".safetensors") {
		return nil, "", fmt.Errorf("%s: no such file (write one with asf train --save %s)", args[0], args[0])
	}
	id, err := parseID(args, 1)
	if err != nil {
		return nil, "", err
	}
	f := &checkpointFlags{store: db}
	s, err := f.open(cmd, true)
	if err != nil {
		return nil, "", err
	}
	defer s.Close()
	st, info, err := loadState(s, args[0], id)
	if err != nil {
		return nil, "", err
	}
	return st, fmt.Sprintf("checkpoint %d of job %s", info.ID, info.Job), nil
}

// datasetShape is the input shape of one step of the job's data set.
func datasetShape(j job.Job) (engine.Shape, error) {
	if j.Dataset == "nmnist" {
		return engine.Shape{C: 2, H: 34, W: 34}, nil
	}
	in, err := imageShape(j)
	if err != nil {
		return in, fmt.Errorf("%v; give the input shape with --input CxHxW", err)
	}
	return in, nil
}

func newImportCmd() *cobra.Command {
	var (
		in, out, ds, id, enc string
		dt                   float64
		T                    int
		gain                 float32
	)
	cmd := &cobra.Command{
		Use:   "import --nir FILE.nir -o WEIGHTS.safetensors",
		Short: "Import a NIR graph as an asf network to evaluate and fine-tune",
		Long: `Import a NIR graph (written by asf export, snnTorch, Norse, Rockpool, Sinabs ...)
as an asf network: a safetensors file with the weights and a job that asf eval
and asf predict take; to fine-tune, asf checkpoint import FILE --job-id ID (give
this command the same --id), then asf train --workers 1 --resume --job-id ID.

asf represents chains of Conv2d (square kernel, stride, padding, bias),
SumPool2d/AvgPool2d 2x2 (with pooling neurons, or fused into the next layer),
IF/LIF neurons (thresholds and gains per neuron are folded into the weights; one
time constant for the network), Threshold after a SumPool2d (max pooling),
Flatten, Linear/Affine and an output integrator I; a graph that ends in spiking
neurons gets an identity readout that integrates their spikes. Anything else is
refused with the node, its type and the field. NIR has no time step: give --dt
for LIF taus (asf's own files carry it).`,
		Example: `  asf import --nir lenet.nir -o lenet2.safetensors && asf eval --weights lenet2.safetensors
  asf import --nir lif_norse.nir --dt 1e-4 --dataset synthetic -o norse.safetensors`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in == "" || out == "" {
				return fmt.Errorf("--nir FILE.nir and -o FILE.safetensors are required")
			}
			imp, err := importNIR(in, dt, T, enc, gain, cmd)
			if err != nil {
				return err
			}
			base := job.Default()
			if cmd.Flags().Changed("dataset") {
				base.Dataset = ds
			}
			if cmd.Flags().Changed("id") {
				base.ID = id
			}
			j, err := imp.Job(base)
			if err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			if cmd.Flags().Changed("dataset") {
				j.Dataset = ds
			}
			if cmd.Flags().Changed("id") {
				j.ID = id
			}
			if err := j.Validate(); err != nil {
				return err
			}
			if err := writeSafetensors(out, imp.State(j)); err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s -> %s: job %s, %s on %v (%s), T=%d, leak %v, reset %v\n",
				in, out, j.ID, j.Spec, imp.Model.Net.Input, j.Dataset, j.Neuron.T, j.Neuron.Leak, j.Neuron.Reset)
			if err := printImported(w, imp); err != nil {
				return err
			}
			fmt.Fprintf(w, "evaluate with: asf eval --weights %s\n", out)
			return nil
		},
	}
	cmd.Flags().StringVar(&in, "nir", "", "NIR file to read")
	cmd.Flags().StringVarP(&out, "output", "o", "", "safetensors file to write")
	cmd.Flags().StringVar(&ds, "dataset", "mnist", "data set of the job (for a graph without an asf job in its metadata)")
	cmd.Flags().StringVar(&id, "id", "", "job name (default: the graph's job, or mnist-lenet)")
	cmd.Flags().Float64Var(&dt, "dt", 0, "time step of one asf step in the unit of the graph's taus (0 = the graph's dt metadata)")
	cmd.Flags().IntVarP(&T, "time-steps", "T", 0, "time steps per sample (0 = the graph's asf_t, else 20)")
	cmd.Flags().StringVar(&enc, "encoding", "", "input encoding (default: the graph's, else poisson)")
	cmd.Flags().Float32Var(&gain, "gain", 0, "Poisson gain (0 = the graph's, else 0.5)")
	return cmd
}

// importNIR reads and converts path; flags given override the graph's settings.
func importNIR(path string, dt float64, T int, enc string, gain float32, cmd *cobra.Command) (*nir.Imported, error) {
	g, err := nir.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("--nir %s: no such file", path)
		}
		return nil, err
	}
	opt := nir.DefaultImportOptions()
	opt.Base.T = job.Default().Neuron.T
	opt.DT = dt
	imp, err := nir.Import(g, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	cfg := imp.Model.Net.Config
	changed := func(name string) bool { return cmd != nil && cmd.Flags().Changed(name) }
	if changed("time-steps") {
		cfg.T = T
	}
	if changed("encoding") {
		if cfg.Encoding, err = engine.ParseEncoding(enc); err != nil {
			return nil, err
		}
	}
	if changed("gain") {
		cfg.Gain = gain
	}
	if cfg != imp.Model.Net.Config {
		n, err := engine.NewNet(imp.Model.Net.Spec, imp.Model.Net.Input, cfg)
		if err != nil {
			return nil, err
		}
		m := engine.NewModel(n, 0)
		copy(m.Params, imp.Model.Params)
		imp.Model = m
	}
	return imp, nil
}

// printImported shows the asf layers of an imported graph with the NIR nodes each
// came from, and the conversion notes.
func printImported(w io.Writer, imp *nir.Imported) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "#\tasf layer\tinput\toutput\tVth\tparams\tNIR nodes\n")
	for i, l := range imp.Model.Net.Layers {
		src := "-"
		if i < len(imp.Layers) && len(imp.Layers[i].Nodes) > 0 {
			parts := make([]string, len(imp.Layers[i].Nodes))
			for k := range parts {
				parts[k] = imp.Layers[i].Nodes[k] + " (" + imp.Layers[i].Types[k] + ")"
			}
			src = strings.Join(parts, " + ")
		} else if i < len(imp.Layers) {
			src = "(appended readout)"
		}
		vth := "-"
		if l.Spiking || l.Output {
			vth = fmt.Sprint(l.Vth)
		}
		fmt.Fprintf(tw, "%d\t%s\t%v\t%v\t%s\t%d\t%s\n", i+1, l.Text, l.In, l.Out, vth, l.WLen, src)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range imp.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

// nirSummary prints the nodes of a NIR file and the asf network it imports as
// (asf model summary FILE.nir).
func nirSummary(cmd *cobra.Command, path string, dt float64) error {
	g, err := nir.ReadFile(path)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "NIR graph %s (version %s): %d nodes, %d edges\n", path, g.Version, len(g.Nodes), len(g.Edges))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "node\ttype\tparameters\n")
	names, err := g.Chain()
	if err != nil {
		names = g.NodeNames() // not a chain: list them all; the import below says why
	}
	for _, name := range names {
		n := g.Nodes[name]
		var ps []string
		for _, k := range sortedKeys(n.Params) {
			ps = append(ps, k+describeParam(n.Params[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", name, n.Type, strings.Join(ps, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	imp, err := importNIR(path, dt, 0, "", 0, nil)
	if err != nil {
		fmt.Fprintf(w, "as an asf network: not representable: %v\n", err)
		return nil
	}
	n := imp.Model.Net
	fmt.Fprintf(w, "as an asf network: %s on %v, T=%d, leak %v, reset %v, %d weights\n", n.Spec, n.Input, n.Config.T, n.Config.Leak, n.Config.Reset, n.NParams)
	return printImported(w, imp)
}

func sortedKeys(m map[string]*hdf5.Dataset) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// describeParam renders a parameter briefly: its value when small, else its shape.
func describeParam(d *hdf5.Dataset) string {
	if d.Len() <= 4 {
		switch d.Kind {
		case hdf5.Float32:
			return fmt.Sprint("=", d.F32)
		case hdf5.Float64:
			return fmt.Sprint("=", d.F64)
		case hdf5.Int:
			return fmt.Sprint("=", d.Ints)
		case hdf5.String:
			return fmt.Sprintf("=%q", d.Strings)
		}
	}
	return fmt.Sprintf(":%v%v", d.Kind, d.Shape)
}

// isNIRPath tells whether a model summary argument names a NIR file.
func isNIRPath(s string) bool {
	if strings.HasSuffix(strings.ToLower(s), ".nir") {
		return true
	}
	b := make([]byte, 8)
	f, err := os.Open(s)
	if err != nil {
		return false
	}
	defer f.Close()
	n, _ := io.ReadFull(f, b)
	return n == 8 && string(b[1:4]) == "HDF"
}
