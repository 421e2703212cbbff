// Command asf-coordinator runs the coordinator of an asf training cluster: it
// owns the job, forms rings of workers, hands out steps, checks that the
// replicas agree, and keeps checkpoints and metrics in <data-dir>/asf.db.
//
// Run a cluster by hand (one machine, three shells):
//
//	asf-coordinator --job job.json --data-dir ./asf-data
//	asf-worker --id w0 --join 127.0.0.1:7946 --listen :7071 --gossip-bind :7947
//	asf-worker --id w1 --join 127.0.0.1:7946 --listen :7072 --gossip-bind :7948
//	asf status                      # progress, ring, per-worker step times
//
// While it runs, the coordinator serves a live dashboard at
// http://localhost:8080/ (--http), with Prometheus metrics at /metrics and a
// health check at /healthz; each worker serves its own /metrics and /healthz
// (asf-worker --http, default :8081). See docs/observability.md.
//
// The job file is JSON (see `asf train --help` for the fields; absent fields
// keep their defaults) and the job flags below override it. Restarted on the
// same --data-dir, the coordinator continues the job from its store: the
// workers re-register, and their state is adopted when it is newer than the
// last checkpoint. Every flag can be set from the environment as ASF_<FLAG>
// (--data-dir is ASF_DATA_DIR).
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
	"strings"
	"syscall"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/secure"
	"github.com/asfnet/asf/internal/web"
	"github.com/asfnet/asf/recipes"
	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "asf-coordinator:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := pflag.NewFlagSet("asf-coordinator", pflag.ContinueOnError)
	d := coordinator.DefaultConfig(job.Default())
	var (
		jobFile, gossipBind, gossipAdv, logLevel, logFormat, httpAddr string
		join                                                          []string
	)
	j := job.Default()
	var recipe string
	fs.StringVar(&recipe, "recipe", "", "start from this named job (see `asf recipes`); --job and the job flags override it")
	fs.StringVar(&jobFile, "job", "", "JSON job file (absent fields keep their defaults; the job flags override it)")
	fs.StringVar(&j.ID, "id", j.ID, "job name in the checkpoint store")
	fs.StringVar(&j.Dataset, "dataset", j.Dataset, "data set: "+strings.Join(job.Datasets, ", "))
	fs.StringVar(&j.Spec, "spec", j.Spec, "network in the paper's notation")
	fs.IntVar(&j.Epochs, "epochs", j.Epochs, "epochs to train")
	fs.IntVar(&j.Batch, "batch", j.Batch, "global batch size")
	fs.IntVar(&j.Micro, "micro-batch", j.Micro, "micro-batch size (the unit of work)")
	fs.Uint64Var(&j.Seed, "seed", j.Seed, "seed of weights, permutations and spikes")
	fs.IntVar(&j.TrainSize, "train-size", 0, "train on the first N samples only (0 = all)")
	fs.IntVar(&j.TestSize, "test-size", 0, "evaluate on the first N test samples only (0 = all)")
	fs.IntVarP(&j.Neuron.T, "time-steps", "T", j.Neuron.T, "time steps per sample")
	fs.BoolVar(&d.Resume, "resume", false, "continue job --id from the store (its stored configuration)")
	fs.BoolVar(&d.Fresh, "fresh", false, "start the job from step 0 even if the store holds checkpoints of it")
	fs.StringVar(&d.DataDir, "data-dir", d.DataDir, "directory of the data sets and the checkpoint store")
	fs.StringVar(&d.StorePath, "store", "", "checkpoint store (default <data-dir>/asf.db)")
	fs.StringVar(&d.Listen, "listen", d.Listen, "gRPC listen address")
	fs.StringVar(&d.Advertise, "advertise", "", "gRPC address workers dial (default: the listen address)")
	fs.StringVar(&gossipBind, "gossip-bind", ":7946", "gossip (memberlist) bind address, TCP and UDP")
	fs.StringVar(&gossipAdv, "gossip-advertise", "", "gossip address other nodes use (default: the bound one)")
	fs.StringSliceVar(&join, "join", nil, "gossip addresses of members to join at start (workers of a previous run)")
	fs.IntVar(&d.StartWorkers, "start-workers", d.StartWorkers, "ready workers to wait for before the first step")
	fs.IntVar(&d.MinWorkers, "min-workers", d.MinWorkers, "fewer workers than this: training waits")
	fs.DurationVar(&d.StepDeadline, "step-deadline", d.StepDeadline, "evict a worker that has not finished a step this long after it was issued")
	fs.IntVar(&d.CheckpointEvery, "checkpoint-every", d.CheckpointEvery, "save the state every N steps (and at each epoch end)")
	fs.DurationVar(&d.Settle, "settle", d.Settle, "after a restart, wait this long for workers to register")
	fs.BoolVar(&d.NoTest, "no-test", false, "skip the test-set evaluation after each epoch")
	fs.StringVar((*string)(&d.SyncMode), "sync-mode", string(d.SyncMode), "gradient (sum every step; bitwise independent of the worker count) or weights (local SGD)")
	fs.IntVar(&d.LocalSteps, "local-steps", d.LocalSteps, "with --sync-mode weights: local steps between weight averages")
	fs.IntVar(&d.EvalThreads, "eval-threads", 0, "goroutines of the test evaluation (0 = all cores)")
	var secFlags secure.Flags
	fs.StringVar(&secFlags.TLS.CA, "tls-ca", "", secure.FlagHelp["tls-ca"])
	fs.StringVar(&secFlags.TLS.Cert, "tls-cert", "", secure.FlagHelp["tls-cert"])
	fs.StringVar(&secFlags.TLS.Key, "tls-key", "", secure.FlagHelp["tls-key"])
	fs.StringVar(&secFlags.GossipKey, "gossip-key", "", secure.FlagHelp["gossip-key"])
	fs.StringVar(&secFlags.GossipKeyFile, "gossip-key-file", "", secure.FlagHelp["gossip-key-file"])
	fs.StringVar(&secFlags.Label, "cluster-label", "", secure.FlagHelp["cluster-label"])
	fs.StringVar(&secFlags.Token, "join-token", "", secure.FlagHelp["join-token"])
	fs.StringVar(&secFlags.TokenFile, "join-token-file", "", secure.FlagHelp["join-token-file"])
	fs.StringVar(&httpAddr, "http", ":8080", "HTTP address of the dashboard, /metrics and /healthz (\"\" = off; the default falls back to a free port when taken)")
	var linger bool
	fs.BoolVar(&linger, "linger", false, "after the job finishes, stay up (dashboard, /metrics and /healthz on --http) until stopped: for orchestrators that restart exited containers, such as Kubernetes")
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
	if jobFile != "" || recipe != "" {
		base, err := recipes.Base(recipe)
		if err != nil {
			return fmt.Errorf("--recipe: %w", err)
		}
		if jobFile != "" {
			if base, err = job.Load(jobFile, base); err != nil {
				return err
			}
		}
		// The flags given (or set from the environment) override the file.
		flagJob := j
		j = base
		over := map[string]func(){"id": func() { j.ID = flagJob.ID }, "dataset": func() { j.Dataset = flagJob.Dataset },
			"spec": func() { j.Spec = flagJob.Spec }, "epochs": func() { j.Epochs = flagJob.Epochs },
			"batch": func() { j.Batch = flagJob.Batch }, "micro-batch": func() { j.Micro = flagJob.Micro },
			"seed": func() { j.Seed = flagJob.Seed }, "train-size": func() { j.TrainSize = flagJob.TrainSize },
			"test-size": func() { j.TestSize = flagJob.TestSize }, "time-steps": func() { j.Neuron.T = flagJob.Neuron.T }}
		for name, apply := range over {
			if fs.Changed(name) {
				apply()
			}
		}
	} else if fs.Changed("dataset") && !fs.Changed("id") {
		j.Neuron.Gain = job.GainFor(j.Dataset)
		j.ID = j.Dataset + "-" + j.Spec
	}
	d.Job = j
	d.GossipJoin = join
	if err := d.Gossip.SetGossipAddrs(gossipBind, gossipAdv); err != nil {
		return err
	}
	sec, err := secFlags.Load()
	if err != nil {
		return err
	}
	for _, w := range sec.Warnings() {
		log.Warn(w)
	}
	d.Gossip.SecretKey, d.Gossip.Label = sec.GossipKey, sec.Label
	d.TLS, d.JoinToken = sec.TLS, sec.Token
	if sec.TLS != nil && sec.Token == "" {
		log.Warn("no join token: any holder of a worker certificate of the CA can join; set --join-token-file")
	}
	d.Logger = log
	c, err := coordinator.New(ctx, d)
	if err != nil {
		return err
	}
	if httpAddr != "" {
		hc := web.DefaultConfig(httpAddr)
		hc.Fallback = !fs.Changed("http")
		hc.Logger = log.With("component", "http")
		hs, err := web.StartNode(ctx, hc, web.Node{Coordinator: func() *coordinator.Coordinator { return c }})
		if err != nil {
			return err
		}
		defer hs.Close()
		log.Info("dashboard", "url", hs.URL(), "metrics", hs.URL()+"metrics", "healthz", hs.URL()+"healthz")
	}
	start := time.Now()
	res, err := c.Run(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("job %s finished in %s: %d steps, generation %d, %d step attempt(s) redone, %d step(s) recomputed\n",
		res.Job.ID, time.Since(start).Round(time.Millisecond), res.Steps, res.Generation, res.Retries, res.Recomputed)
	for _, e := range res.Epochs {
		fmt.Printf("epoch %d  loss %.4f  train %.2f%%  test %.2f%%  %.0f samples/s\n", e.Epoch+1, e.TrainLoss,
			100*e.TrainAcc, 100*e.TestAcc, e.SamplesPerSec)
	}
	fmt.Printf("weights sha256: %s\n", hex.EncodeToString(res.Final.Digest[:]))
	if linger {
		log.Info("the job is finished; lingering until stopped (--linger)")
		<-ctx.Done()
	}
	return nil
}
