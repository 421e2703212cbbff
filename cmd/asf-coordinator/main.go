// Command asf-coordinator runs the coordinator of an asf training cluster: it
// owns the job, forms rings of workers, hands out steps, checks that the
// replicas agree, and keeps checkpoints and metrics in <data-dir>/asf.db.
//
// Run a cluster by hand (one machine, three shells):
//
//	asf-coordinator --job-file job.json --data-dir ./asf-data
//	asf-worker --worker-id w0 --join 127.0.0.1:7946 --listen :7071 --gossip-bind :7947
//	asf-worker --worker-id w1 --join 127.0.0.1:7946 --listen :7072 --gossip-bind :7948
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

	"github.com/asfnet/asf/internal/cli"
)

func main() { cli.Main(cli.Coordinator) }

// run executes the command with args (without the program name).
func run(ctx context.Context, args []string) error { return cli.Run(ctx, cli.Coordinator(), args) }
