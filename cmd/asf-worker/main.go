// Command asf-worker runs a worker of an asf training cluster: it joins the
// cluster through a gossip address (usually the coordinator's), receives the
// job and the live state, trains its micro-batches of each step, all-reduces
// them with its ring neighbours, and reports to the coordinator. It exits when
// the job is finished.
//
//	asf-worker --worker-id w0 --join coordinator-host:7946 --data-dir ./asf-data
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

import "github.com/asfnet/asf/internal/cli"

func main() { cli.Main(cli.Worker) }
