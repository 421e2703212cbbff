package main

// `asf certs init`: a CA, node certificates, a gossip key and a join token
// for a test, compose or Kubernetes cluster; and the TLS flags of the
// commands that talk to a cluster (status, health).

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/asfnet/asf/internal/secure"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
)

func init() { rootCmd.AddCommand(newCertsCmd()) }

func newCertsCmd() *cobra.Command {
	certs := &cobra.Command{
		Use:   "certs",
		Short: "Create the TLS certificates and secrets of a cluster",
	}
	cfg := secure.DefaultInitConfig()
	var existOK bool
	initCmd := &cobra.Command{
		Use:   "init DIR",
		Short: "Create a CA, coordinator/worker/client certificates, a gossip key and a join token in DIR",
		Long: `Create in DIR (made if needed) everything a secure cluster needs:

  ca.crt, ca.key              the cluster CA (ECDSA P-256); keep ca.key off the nodes
  coordinator.crt/.key        the coordinator's certificate (role asf://role/coordinator)
  worker.crt/.key             the workers' certificate (role asf://role/worker), shared by all workers
  client.crt/.key             the asf command's certificate (asf status, asf health)
  gossip.key                  32 random bytes, base64: --gossip-key-file
  join.token                  a random token: --join-token-file

Keys, gossip.key and join.token are written with mode 0600. Nothing is
overwritten: if any of the files exists, nothing is written. Peers are verified
by the CA and the role in the certificate, not by host name (worker addresses
change); --hosts only adds names and addresses to the certificates.`,
		Example: `  asf certs init ./certs
  asf-coordinator --tls-ca certs/ca.crt --tls-cert certs/coordinator.crt --tls-key certs/coordinator.key \
      --gossip-key-file certs/gossip.key --cluster-label prod --join-token-file certs/join.token`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if existOK {
				switch n := secure.Existing(args[0]); n {
				case len(secure.InitFiles()):
					fmt.Fprintf(cmd.OutOrStdout(), "%s already holds every file; nothing written\n", args[0])
					return nil
				case 0:
				default:
					return fmt.Errorf("%s holds %d of the %d files %v: remove them or complete the set by hand", args[0], n, len(secure.InitFiles()), secure.InitFiles())
				}
			}
			if err := secure.Init(args[0], cfg); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "created in %s:", args[0])
			for _, f := range secure.InitFiles() {
				fmt.Fprintf(out, " %s", f)
			}
			fmt.Fprintf(out, "\ncertificates valid until %s for %v\n", time.Now().Add(cfg.Validity).Format(time.DateOnly), cfg.Hosts)
			fmt.Fprintf(out, "keep %s away from the nodes: it signs certificates\n", filepath.Join(args[0], secure.CAKeyFile))
			return nil
		},
	}
	initCmd.Flags().StringSliceVar(&cfg.Hosts, "hosts", cfg.Hosts, "DNS names and IP addresses written into the certificates (informative: peers are checked by CA and role)")
	initCmd.Flags().BoolVar(&existOK, "exist-ok", false, "succeed without writing anything when DIR already holds every file (a compose init service)")
	initCmd.Flags().DurationVar(&cfg.Validity, "validity", cfg.Validity, "validity of the node certificates (the CA gets twice as long)")
	certs.AddCommand(initCmd)
	return certs
}

// tlsFlags are the TLS flags of a command that dials a cluster node.
type tlsFlags struct{ files secure.Files }

func (f *tlsFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.files.CA, "tls-ca", "", "PEM CA certificate of the cluster (with --tls-cert and --tls-key: mutual TLS; ASF_TLS_CA in a node's container)")
	fs.StringVar(&f.files.Cert, "tls-cert", "", "PEM certificate to present (client.crt made by asf certs init, or the node's own)")
	fs.StringVar(&f.files.Key, "tls-key", "", "PEM private key of --tls-cert")
}

// dialOption is the credentials of the connection: mutual TLS accepting a
// server of any role when the files are given, else plaintext.
func (f *tlsFlags) dialOption() (grpc.DialOption, error) {
	if !f.files.Enabled() {
		return (*secure.TLS)(nil).DialOption(), nil
	}
	t, err := secure.Load(f.files)
	if err != nil {
		return nil, err
	}
	return t.DialOption(), nil
}
