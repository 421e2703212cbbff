package main

import (
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/asfnet/asf/engine"
	"github.com/spf13/cobra"
)

func init() {
	model := &cobra.Command{Use: "model", Short: "Inspect network specs"}
	var (
		input string
		dt    float64
	)
	summary := &cobra.Command{
		Use:   "summary SPEC|FILE.nir",
		Short: "Print the layers, shapes and parameter counts of a network spec or a NIR graph",
		Example: `  asf model summary 20C5-P2-50C5-P2-200FC-10FC
  asf model summary 64C3-64C3-P2-128C3-128C3-128C3-MP2-1024FC-10FC --input 3x32x32
  asf model summary lenet.nir`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if isNIRPath(args[0]) {
				return nirSummary(cmd, args[0], dt)
			}
			in, err := parseShape(input)
			if err != nil {
				return err
			}
			n, err := engine.BuildNet(args[0], in, engine.DefaultConfig())
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintf(w, "#\tlayer\tkind\tinput\toutput\tneurons\tVth\tparams\t\n")
			neurons := 0
			for i, l := range n.Layers {
				nn, vth := "-", "-"
				if l.Spiking {
					nn = strconv.Itoa(l.Out.Size())
					neurons += l.Out.Size()
					vth = fmt.Sprint(l.Vth)
				} else if l.Output {
					nn = strconv.Itoa(l.Out.Size()) + " (integrating)"
				}
				fmt.Fprintf(w, "%d\t%s\t%s\t%v\t%v\t%s\t%s\t%d\t\n", i+1, l.Text, l.Kind, l.In, l.Out, nn, vth, l.WLen)
			}
			if err := w.Flush(); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "spec %s on %v: %d layers, %d spiking neurons, %d weights (%.2f MB float32)\n",
				n.Spec, n.Input, len(n.Layers), neurons, n.NParams, float64(4*n.NParams)/1e6)
			return nil
		},
	}
	summary.Flags().StringVar(&input, "input", "1x28x28", "input shape CxHxW")
	summary.Flags().Float64Var(&dt, "dt", 0, "NIR graphs: time step of one asf step in the unit of the graph's LIF taus")
	model.AddCommand(summary)
	rootCmd.AddCommand(model)
}

// parseShape parses "CxHxW".
func parseShape(s string) (engine.Shape, error) {
	parts := strings.Split(strings.ToLower(s), "x")
	if len(parts) != 3 {
		return engine.Shape{}, fmt.Errorf("input shape %q: want CxHxW, e.g. 1x28x28", s)
	}
	var v [3]int
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 1<<14 {
			return engine.Shape{}, fmt.Errorf("input shape %q: %q is not a positive size", s, p)
		}
		v[i] = n
	}
	return engine.Shape{C: v[0], H: v[1], W: v[2]}, nil
}
