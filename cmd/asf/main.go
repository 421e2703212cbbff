// Command asf trains spiking neural networks with ASF-BP, in one process or on a
// cluster, and manages their data sets, checkpoints and benchmarks.
//
// Conventions shared by every subcommand:
//   - Every flag can also be set through the environment: --data-dir is ASF_DATA_DIR,
//     --log-level is ASF_LOG_LEVEL, and so on (upper case, dashes become underscores).
//     A flag given on the command line wins over the environment.
//   - --data-dir (default ./asf-data) is where data sets and the checkpoint store live;
//     --job-file is a JSON job file, --job-id a job's name in the store, --store the
//     store file (package internal/cli holds the convention and the shared flags).
//   - Logs go to stderr through log/slog (--log-level, --log-format text|json);
//     results go to stdout.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/cli"
	"github.com/asfnet/asf/internal/job"
	"github.com/spf13/cobra"
)

// globalOptions are the persistent flags every subcommand shares.
type globalOptions struct {
	dataDir string
	log     cli.LogFlags
}

var (
	globals globalOptions
	rootCmd = newRootCmd()
)

func newRootCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "asf",
		Short:         "Train spiking neural networks with ASF-BP (Accumulated Spiking Flow)",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			// After parsing, cmd.Flags() holds the inherited flags too.
			return cli.ApplyEnv(cmd.Flags(), cmd.ErrOrStderr())
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&globals.dataDir, "data-dir", coordinator.DefaultConfig(job.Default()).DataDir, "directory for data sets and the checkpoint store")
	globals.log.Register(pf)
	cli.SuggestFlags(cmd)
	return cmd
}

// newLogger builds the process logger from the global flags; logs go to w.
func newLogger(w io.Writer) (*slog.Logger, error) { return globals.log.Logger(w) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "asf:", err)
		os.Exit(1)
	}
}
