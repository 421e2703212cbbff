package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Main runs the command that newCmd makes with the process's arguments until
// it returns or SIGINT/SIGTERM cancels it; an error is printed after the
// program's name and exits 1. It is the whole main of asf-coordinator and
// asf-worker.
func Main(newCmd func() *cobra.Command) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	cmd := newCmd()
	err := Run(ctx, cmd, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, cmd.Name()+":", err)
		os.Exit(1)
	}
}

// Run executes cmd with args (without the program name) under ctx.
func Run(ctx context.Context, cmd *cobra.Command, args []string) error {
	cmd.SetArgs(args)
	return cmd.ExecuteContext(ctx)
}
