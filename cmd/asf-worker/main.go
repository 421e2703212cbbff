// Command asf-worker runs a worker of an asf training cluster: it joins the
// cluster through a gossip address (usually the coordinator's), receives the
// job and the live state, trains its micro-batches of each step, all-reduces
// them with its ring neighbours, and reports to the coordinator. It exits when
// the job is finished.
//
//	asf-worker --id w0 --join coordinator-host:7946 --data-dir ./asf-data
//
// Data sets are read (MNIST is fetched on first use) from --data-dir on the
// worker's own machine. Every flag can be set from the environment as
// ASF_<FLAG> (--join is ASF_JOIN).
//
// Security (docs/security.md): --tls-ca, --tls-cert and --tls-key turn on
// mutual TLS on every gRPC connection (`asf certs init DIR` makes the files);
// --gossip-key-file and --cluster-label encrypt the gossip and keep clusters
// apart; --join-token-file is the token a worker presents to the coordinator.
// Without them the process warns that it runs in plaintext.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/secure"
	"github.com/asfnet/asf/internal/web"
	"github.com/asfnet/asf/worker"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "asf-worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("asf-worker", pflag.ContinueOnError)
	c := worker.DefaultConfig()
	var gossipBind, gossipAdv, logLevel, logFormat, httpAddr string
	fs.StringVar(&c.ID, "id", c.ID, "the worker's stable identity")
	fs.StringSliceVar(&c.Join, "join", nil, "gossip address(es) to join through, e.g. the coordinator's host:7946")
	fs.StringVar(&c.Coordinator, "coordinator", "", "the coordinator's gRPC address (default: found through the gossip)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "gRPC listen address (all-reduce peers, state transfer)")
	fs.StringVar(&c.Advertise, "advertise", "", "gRPC address the others dial (default: the listen address; on all interfaces, the gossip address's host); an explicit address is never looked up again")
	fs.StringVar(&gossipBind, "gossip-bind", ":7947", "gossip (memberlist) bind address, TCP and UDP")
	fs.StringVar(&gossipAdv, "gossip-advertise", "", "gossip address other nodes use (default: the bound one; on all interfaces, a private IP of this host, looked up again every --reresolve-every); an explicit address is never looked up again")
	fs.DurationVar(&c.ReresolveEvery, "reresolve-every", c.ReresolveEvery, "how often an auto-detected address (no --gossip-advertise) is looked up again; when it changed (docker reconnect, DHCP), the worker rejoins at the new one (0 = never)")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the data sets")
	fs.IntVar(&c.Threads, "threads", 0, "goroutines computing micro-batches (0 = all cores)")
	var secFlags secure.Flags
	fs.StringVar(&secFlags.TLS.CA, "tls-ca", "", secure.FlagHelp["tls-ca"])
	fs.StringVar(&secFlags.TLS.Cert, "tls-cert", "", secure.FlagHelp["tls-cert"])
	fs.StringVar(&secFlags.TLS.Key, "tls-key", "", secure.FlagHelp["tls-key"])
	fs.StringVar(&secFlags.GossipKey, "gossip-key", "", secure.FlagHelp["gossip-key"])
	fs.StringVar(&secFlags.GossipKeyFile, "gossip-key-file", "", secure.FlagHelp["gossip-key-file"])
	fs.StringVar(&secFlags.Label, "cluster-label", "", secure.FlagHelp["cluster-label"])
	fs.StringVar(&secFlags.Token, "join-token", "", secure.FlagHelp["join-token"])
	fs.StringVar(&secFlags.TokenFile, "join-token-file", "", secure.FlagHelp["join-token-file"])
	fs.StringVar(&httpAddr, "http", ":8081", "HTTP address of /metrics and /healthz (\"\" = off; the default falls back to a free port when taken)")
	var linger bool
	fs.BoolVar(&linger, "linger", false, "after the job finishes, stay up (/metrics and /healthz on --http) until stopped: for orchestrators that restart exited containers, such as Kubernetes")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if err := cluster.ApplyEnv(fs); err != nil {
		return err
	}
	log, err := cluster.NewLogger(os.Stderr, logLevel, logFormat)
	if err != nil {
		return err
	}
	if err := c.Gossip.SetGossipAddrs(gossipBind, gossipAdv); err != nil {
		return err
	}
	sec, err := secFlags.Load()
	if err != nil {
		return err
	}
	for _, w := range sec.Warnings() {
		log.Warn(w)
	}
	c.Gossip.SecretKey, c.Gossip.Label = sec.GossipKey, sec.Label
	c.TLS, c.JoinToken = sec.TLS, sec.Token
	c.Logger = log
	w, err := worker.New(c)
	if err != nil {
		return err
	}
	if httpAddr != "" {
		hc := web.DefaultConfig(httpAddr)
		hc.Fallback = !fs.Changed("http")
		hc.Logger = log.With("component", "http")
		hs, err := web.StartNode(ctx, hc, web.Node{Workers: func() []worker.Stats { return []worker.Stats{w.Stats()} }})
		if err != nil {
			return err
		}
		defer hs.Close()
		log.Info("metrics", "url", hs.URL()+"metrics", "healthz", hs.URL()+"healthz")
	}
	out, err := w.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("job %s finished: this worker computed %d step(s) and synced %d state(s); weights sha256 at step %d: %s\n",
		out.Job, out.Steps, out.Synced, out.Final.Step, hex.EncodeToString(out.Final.Digest[:]))
	if linger {
		log.Info("the job is finished; lingering until stopped (--linger)")
		<-ctx.Done()
	}
	return nil
}
