package cli

import (
	"encoding/hex"
	"fmt"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/observe"
	"github.com/spf13/cobra"
)

// Default HTTP addresses of the daemons: the coordinator on the standard
// dashboard port, a worker beside it so both fit on one machine.
const (
	DefaultCoordinatorHTTP = ":8080"
	DefaultWorkerHTTP      = ":8081"
)

// Coordinator is the asf-coordinator command.
func Coordinator() *cobra.Command {
	cmd, _ := newCoordinator()
	SuggestFlags(cmd)
	return cmd
}

// newCoordinator returns the command and the function that turns its parsed
// flags into the coordinator's configuration (for tests).
func newCoordinator() (*cobra.Command, func(*cobra.Command) (coordinator.Config, error)) {
	d := coordinator.DefaultConfig(job.Default())
	var (
		jf   JobFlags
		nf   nodeFlags
		join []string
	)
	cmd := &cobra.Command{
		Use:           "asf-coordinator",
		Short:         "Run the coordinator of an asf training cluster",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	fs := cmd.Flags()
	jf.Register(fs)
	fs.BoolVar(&d.Resume, "resume", d.Resume, "continue job --job-id from the store (its stored configuration)")
	fs.BoolVar(&d.Fresh, "fresh", d.Fresh, "start the job from step 0 even if the store holds checkpoints of it")
	fs.StringVar(&d.DataDir, "data-dir", d.DataDir, "directory of the data sets and the checkpoint store")
	fs.StringVar(&d.StorePath, "store", d.StorePath, "checkpoint store (default <data-dir>/"+coordinator.DefaultStoreFile+")")
	Alias(fs, "db", "store")
	fs.StringVar(&d.Listen, "listen", d.Listen, "gRPC listen address")
	fs.StringVar(&d.Advertise, "advertise", d.Advertise, "gRPC address workers dial (default: the listen address)")
	fs.StringSliceVar(&join, "join", nil, "gossip addresses of members to join at start (workers of a previous run)")
	fs.IntVar(&d.StartWorkers, "start-workers", d.StartWorkers, "ready workers to wait for before the first step")
	fs.IntVar(&d.MinWorkers, "min-workers", d.MinWorkers, "fewer workers than this: training waits")
	fs.DurationVar(&d.StepDeadline, "step-deadline", d.StepDeadline, "evict a worker that has not finished a step this long after it was issued")
	fs.IntVar(&d.CheckpointEvery, "checkpoint-every", d.CheckpointEvery, "save the state every N steps (and at each epoch end)")
	fs.DurationVar(&d.Settle, "settle", d.Settle, "after a restart, wait this long for workers to register")
	fs.BoolVar(&d.NoTest, "no-test", d.NoTest, "skip the test-set evaluation after each epoch")
	fs.StringVar((*string)(&d.SyncMode), "sync-mode", string(d.SyncMode), "gradient (sum every step; bitwise independent of the worker count) or weights (local SGD)")
	fs.IntVar(&d.LocalSteps, "local-steps", d.LocalSteps, "with --sync-mode weights: local steps between weight averages")
	fs.IntVar(&d.EvalThreads, "eval-threads", d.EvalThreads, "goroutines of the test evaluation (0 = all cores)")
	nf.register(fs, d.Gossip.BindPort, "gossip address other nodes use (default: the bound one)",
		DefaultCoordinatorHTTP, "the dashboard, /metrics and /healthz")

	// config finishes the flags into the coordinator's configuration.
	config := func(cmd *cobra.Command) (coordinator.Config, error) {
		log, sec, err := nf.settle(cmd, &d.Gossip)
		if err != nil {
			return d, err
		}
		resolve := jf.Resolve
		if d.Resume {
			resolve = jf.Unchecked // the stored job is used; only its id comes from the flags
		}
		if d.Job, err = resolve(fs); err != nil {
			return d, err
		}
		d.GossipJoin = join
		d.TLS, d.JoinToken = sec.TLS, sec.Token
		if sec.TLS != nil && sec.Token == "" {
			log.Warn("no join token: any holder of a worker certificate of the CA can join; set --join-token-file")
		}
		d.Logger = log
		return d, nil
	}
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		d, err := config(cmd)
		if err != nil {
			return err
		}
		log := d.Logger
		ctx := cmd.Context()
		c, err := coordinator.New(ctx, d)
		if err != nil {
			return err
		}
		hs, closeHTTP, err := nf.serveHTTP(ctx, fs, log, observe.Node{Coordinator: func() *coordinator.Coordinator { return c }})
		if err != nil {
			return err
		}
		defer closeHTTP()
		if hs != nil {
			log.Info("dashboard", "url", hs.URL(), "metrics", hs.URL()+"metrics", "healthz", hs.URL()+"healthz")
		}
		start := time.Now()
		res, err := c.Run(ctx)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		fmt.Fprintf(out, "job %s finished in %s: %d steps, generation %d, %d step attempt(s) redone, %d step(s) recomputed\n",
			res.Job.ID, time.Since(start).Round(time.Millisecond), res.Steps, res.Generation, res.Retries, res.Recomputed)
		for _, e := range res.Epochs {
			fmt.Fprintf(out, "epoch %d  loss %.4f  train %.2f%%  test %.2f%%  %.0f samples/s\n", e.Epoch+1, e.TrainLoss,
				100*e.TrainAcc, 100*e.TestAcc, e.SamplesPerSec)
		}
		fmt.Fprintf(out, "weights sha256: %s\n", hex.EncodeToString(res.Final.Digest[:]))
		nf.lingerIfAsked(ctx, log)
		return nil
	}
	return cmd, config
}
