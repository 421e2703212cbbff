package main

import "github.com/spf13/cobra"

// benchCmd groups the benchmark subcommands (engine, allreduce, ...); each
// subcommand file adds itself with benchCmd.AddCommand in its init.
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure the speed of asf's parts on this machine",
}

func init() { rootCmd.AddCommand(benchCmd) }
