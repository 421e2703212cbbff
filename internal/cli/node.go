package cli

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/observe"
	"github.com/asfnet/asf/internal/secure"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// nodeFlags are the flags both daemons have, declared once: the gossip
// addresses, the security flags, --http, --linger and the logging flags.
type nodeFlags struct {
	gossipBind, gossipAdv, http string
	linger, pprof               bool
	sec                         secure.Flags
	log                         LogFlags
}

// register declares them on fs: the gossip bound by default on gossipPort,
// with advHelp the help of --gossip-advertise; the HTTP server on httpAddr,
// serving what (for the help).
func (n *nodeFlags) register(fs *pflag.FlagSet, gossipPort int, advHelp, httpAddr, what string) {
	fs.StringVar(&n.gossipBind, "gossip-bind", ":"+strconv.Itoa(gossipPort), "gossip (memberlist) bind address, TCP and UDP")
	fs.StringVar(&n.gossipAdv, "gossip-advertise", "", advHelp)
	RegisterSecurity(fs, &n.sec)
	fs.StringVar(&n.http, "http", httpAddr, "HTTP address of "+what+" (\"\" = off; the default falls back to a free port when taken)")
	fs.BoolVar(&n.pprof, "pprof", false, "serve Go's runtime profiles under /debug/pprof/ on --http (go tool pprof http://ADDR/debug/pprof/profile?seconds=10); off by default, they show the process's internals")
	fs.BoolVar(&n.linger, "linger", false, "after the job finishes, stay up ("+what+" on --http) until stopped: for orchestrators that restart exited containers, such as Kubernetes")
	n.log.Register(fs)
}

// settle finishes the flags after parsing: the environment, the logger, the
// gossip addresses into g and the security settings (their gossip part into
// g too; warnings logged).
func (n *nodeFlags) settle(cmd *cobra.Command, g *cluster.MembershipConfig) (*slog.Logger, secure.Settings, error) {
	fs := cmd.Flags()
	if err := ApplyEnv(fs, cmd.ErrOrStderr()); err != nil {
		return nil, secure.Settings{}, err
	}
	log, err := n.log.Logger(cmd.ErrOrStderr())
	if err != nil {
		return nil, secure.Settings{}, err
	}
	if err := g.SetGossipAddrs(n.gossipBind, n.gossipAdv); err != nil {
		return nil, secure.Settings{}, err
	}
	sec, err := n.sec.Load()
	if err != nil {
		return nil, secure.Settings{}, err
	}
	for _, w := range sec.Warnings() {
		log.Warn(w)
	}
	g.SecretKey, g.Label = sec.GossipKey, sec.Label
	return log, sec, nil
}

// serveHTTP starts the node's HTTP server unless --http is empty; the returned
// function closes it.
func (n *nodeFlags) serveHTTP(ctx context.Context, fs *pflag.FlagSet, log *slog.Logger, node observe.Node) (*observe.Server, func(), error) {
	if n.http == "" {
		return nil, func() {}, nil
	}
	hc := observe.DefaultConfig(n.http)
	hc.Fallback = !fs.Changed("http")
	hc.Logger = log.With("component", "http")
	hc.Pprof = n.pprof
	hs, err := observe.Start(ctx, hc, node)
	if err != nil {
		return nil, nil, err
	}
	return hs, func() { _ = hs.Close() }, nil
}

// lingerIfAsked keeps the process up after the job until ctx ends, with --linger.
func (n *nodeFlags) lingerIfAsked(ctx context.Context, log *slog.Logger) {
	if n.linger {
		log.Info("the job is finished; lingering until stopped (--linger)")
		<-ctx.Done()
	}
}
