// Command asf trains spiking neural networks with ASF-BP, in one process or on a
// cluster, and manages their data sets, checkpoints and benchmarks.
//
// Conventions shared by every subcommand:
//   - Every flag can also be set through the environment: --data-dir is ASF_DATA_DIR,
//     --log-level is ASF_LOG_LEVEL, and so on (upper case, dashes become underscores).
//     A flag given on the command line wins over the environment.
//   - --data-dir (default ./asf-data) is where data sets and the checkpoint store live.
//   - Logs go to stderr through log/slog (--log-level, --log-format text|json);
//     results go to stdout.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// globalOptions are the persistent flags every subcommand shares.
type globalOptions struct {
	dataDir   string
	logLevel  string
	logFormat string
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
			return applyEnv(cmd)
		},
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&globals.dataDir, "data-dir", "asf-data", "directory for data sets and the checkpoint store")
	pf.StringVar(&globals.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	pf.StringVar(&globals.logFormat, "log-format", "text", "log format: text or json")
	return cmd
}

// envName is the environment variable that sets flag name: ASF_<NAME>.
func envName(flag string) string {
	return "ASF_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))
}

// applyEnv sets every flag of cmd (its own and inherited) that was not given on the
// command line from its ASF_* environment variable, if present.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	fs := cmd.Flags() // after parsing it holds the inherited flags too
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		v, ok := os.LookupEnv(envName(f.Name))
		if !ok {
			return
		}
		// Set (not Value.Set) so that the flag counts as given.
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("environment %s=%q: %w", envName(f.Name), v, err))
		}
	})
	return errors.Join(errs...)
}

// newLogger builds the process logger from the global flags; logs go to w.
func newLogger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(globals.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", globals.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch globals.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text or json", globals.logFormat)
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := rootCmd.ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "asf:", err)
		os.Exit(1)
	}
}
