package cli

import (
	"github.com/asfnet/asf/internal/secure"
	"github.com/spf13/pflag"
)

// RegisterSecurity declares a node's security flags on fs, into f: --tls-ca,
// --tls-cert, --tls-key, --gossip-key, --gossip-key-file, --cluster-label,
// --join-token and --join-token-file.
func RegisterSecurity(fs *pflag.FlagSet, f *secure.Flags) {
	fs.StringVar(&f.TLS.CA, "tls-ca", "", secure.FlagHelp["tls-ca"])
	fs.StringVar(&f.TLS.Cert, "tls-cert", "", secure.FlagHelp["tls-cert"])
	fs.StringVar(&f.TLS.Key, "tls-key", "", secure.FlagHelp["tls-key"])
	fs.StringVar(&f.GossipKey, "gossip-key", "", secure.FlagHelp["gossip-key"])
	fs.StringVar(&f.GossipKeyFile, "gossip-key-file", "", secure.FlagHelp["gossip-key-file"])
	fs.StringVar(&f.Label, "cluster-label", "", secure.FlagHelp["cluster-label"])
	fs.StringVar(&f.Token, "join-token", "", secure.FlagHelp["join-token"])
	fs.StringVar(&f.TokenFile, "join-token-file", "", secure.FlagHelp["join-token-file"])
}
