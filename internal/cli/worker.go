package cli

import (
	"encoding/hex"
	"fmt"

	"github.com/asfnet/asf/internal/observe"
	"github.com/asfnet/asf/worker"
	"github.com/spf13/cobra"
)

// Worker is the asf-worker command.
func Worker() *cobra.Command {
	c := worker.DefaultConfig()
	var nf nodeFlags
	cmd := &cobra.Command{
		Use:           "asf-worker",
		Short:         "Run a worker of an asf training cluster",
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	fs := cmd.Flags()
	fs.StringVar(&c.ID, "worker-id", c.ID, "the worker's stable identity")
	Alias(fs, "id", "worker-id")
	fs.StringSliceVar(&c.Join, "join", c.Join, "gossip address(es) to join through, e.g. the coordinator's host:7946")
	fs.StringVar(&c.Coordinator, "coordinator", c.Coordinator, "the coordinator's gRPC address (default: found through the gossip)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "gRPC listen address (all-reduce peers, state transfer)")
	fs.StringVar(&c.Advertise, "advertise", c.Advertise, "gRPC address the others dial (default: the listen address; on all interfaces, the gossip address's host); an explicit address is never looked up again")
	fs.DurationVar(&c.JoinWait, "join-wait", c.JoinWait, "give up (exit 1) when no cluster member answers through --join for this long, saying what each address is (0 = wait for ever)")
	fs.DurationVar(&c.ReresolveEvery, "reresolve-every", c.ReresolveEvery, "how often an auto-detected address (no --gossip-advertise) is looked up again; when it changed (docker reconnect, DHCP), the worker rejoins at the new one (0 = never)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the data sets")
	fs.IntVar(&c.Threads, "threads", c.Threads, "goroutines computing micro-batches (0 = all cores)")
	fs.BoolVar(&c.ComputeAhead, "compute-ahead", c.ComputeAhead, "in gradient mode, start computing the next step's micro-batches as soon as a step is reported, before the coordinator's instruction (same result; hides the coordinator's round trip)")
	nf.register(fs, c.Gossip.BindPort, "gossip address other nodes use (default: the bound one; on all interfaces, a private IP of this host, looked up again every --reresolve-every); an explicit address is never looked up again",
		DefaultWorkerHTTP, "/metrics and /healthz")

	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		log, sec, err := nf.settle(cmd, &c.Gossip)
		if err != nil {
			return err
		}
		c.TLS, c.JoinToken = sec.TLS, sec.Token
		c.Logger = log
		w, err := worker.New(c)
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		hs, closeHTTP, err := nf.serveHTTP(ctx, fs, log, observe.Node{Workers: func() []worker.Stats { return []worker.Stats{w.Stats()} }})
		if err != nil {
			return err
		}
		defer closeHTTP()
		if hs != nil {
			log.Info("metrics", "url", hs.URL()+"metrics", "healthz", hs.URL()+"healthz")
		}
		out, err := w.Run(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "job %s finished: this worker computed %d step(s) and synced %d state(s); weights sha256 at step %d: %s\n",
			out.Job, out.Steps, out.Synced, out.Final.Step, hex.EncodeToString(out.Final.Digest[:]))
		nf.lingerIfAsked(ctx, log)
		return nil
	}
	SuggestFlags(cmd)
	return cmd
}
