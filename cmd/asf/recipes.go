package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/asfnet/asf/recipes"
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newRecipesCmd()) }

func newRecipesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "recipes [NAME]",
		Short: "List the named training jobs (asf train --recipe NAME), or print one",
		Long: `List the named training jobs built into asf, one line each: the paper's recipes
(the hyper-parameters of the authors' reference code) and asf's own. Train one
with "asf train --recipe NAME" (or asf-coordinator --recipe NAME); flags given
override the recipe's fields, e.g. "asf train --recipe paper-mnist-if --epochs 40".
With a NAME, print that recipe's JSON job file (usable with --job-file as well).`,
		Example:   "  asf recipes\n  asf recipes paper-cifar10-vgg7\n  asf train --recipe paper-mnist-if --epochs 40",
		Args:      cobra.MaximumNArgs(1),
		ValidArgs: recipes.Names(),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if len(args) == 1 {
				b, err := recipes.File(args[0])
				if err != nil {
					return err
				}
				_, err = out.Write(b)
				return err
			}
			all, err := recipes.All()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			for _, r := range all {
				fmt.Fprintf(tw, "%s\t%s\n", r.Name, r.Summary)
			}
			return tw.Flush()
		},
	}
}
