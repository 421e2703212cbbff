package secure

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Errors of the gossip key and the join token.
var (
	// ErrGossipKey reports a gossip key that does not decode to GossipKeyLen bytes.
	ErrGossipKey = errors.New("secure: bad gossip key")
	// ErrToken reports an unreadable or empty join token file.
	ErrToken = errors.New("secure: bad join token")
)

// GossipKeyLen is the length of the gossip key: AES-256.
const GossipKeyLen = 32

// ParseGossipKey decodes a gossip key: base64 (standard or URL alphabet,
// padded or not) of 32 bytes, or 32 raw bytes. Surrounding white space is
// ignored. from names the source in errors.
func ParseGossipKey(b []byte, from string) ([]byte, error) {
	s := bytes.TrimSpace(b)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(string(s)); err == nil && len(k) == GossipKeyLen {
			return k, nil
		}
	}
	if len(b) == GossipKeyLen {
		return bytes.Clone(b), nil
	}
	return nil, fmt.Errorf("%w: %s holds %d bytes that are not base64 of %d bytes nor %d raw bytes (make one with `asf certs init` or `head -c32 /dev/urandom | base64`)",
		ErrGossipKey, from, len(b), GossipKeyLen, GossipKeyLen)
}

// TokenEqual compares a presented join token with the expected one in time
// that depends on neither (both are hashed first).
func TokenEqual(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// Flags are the security flags of a process.
type Flags struct {
	TLS           Files
	GossipKey     string // base64 key (flag --gossip-key, env ASF_GOSSIP_KEY)
	GossipKeyFile string
	Label         string
	Token         string
	TokenFile     string
}

// FlagHelp is the help text of each security flag, for the mains that
// declare them (--tls-ca, --tls-cert, --tls-key, --gossip-key,
// --gossip-key-file, --cluster-label, --join-token, --join-token-file).
var FlagHelp = map[string]string{
	"tls-ca":          "PEM CA certificate that every gRPC peer must chain to (with --tls-cert and --tls-key: mutual TLS; none of the three: plaintext)",
	"tls-cert":        "PEM certificate of this node (made by asf certs init)",
	"tls-key":         "PEM private key of this node",
	"gossip-key":      "gossip encryption key: base64 of 32 bytes (prefer --gossip-key-file)",
	"gossip-key-file": "file holding the gossip encryption key (base64 or 32 raw bytes)",
	"cluster-label":   "cluster label prefixed to gossip packets: nodes with another label are ignored",
	"join-token":      "join token: workers present it to the coordinator, which refuses any other (prefer --join-token-file)",
	"join-token-file": "file holding the join token",
}

// Settings are the loaded security settings.
type Settings struct {
	// TLS is the node's TLS identity; nil means plaintext.
	TLS *TLS
	// GossipKey encrypts and authenticates gossip; nil means plaintext gossip.
	GossipKey []byte
	// Label is the gossip cluster label.
	Label string
	// Token is the join token ("" means none).
	Token string
}

// Load reads the files the flags name.
func (f Flags) Load() (Settings, error) {
	var s Settings
	var err error
	if f.TLS.Enabled() {
		if s.TLS, err = Load(f.TLS); err != nil {
			return s, err
		}
	}
	switch {
	case f.GossipKey != "" && f.GossipKeyFile != "":
		return s, fmt.Errorf("%w: both --gossip-key and --gossip-key-file are set; give one", ErrGossipKey)
	case f.GossipKey != "":
		if s.GossipKey, err = ParseGossipKey([]byte(f.GossipKey), "--gossip-key"); err != nil {
			return s, err
		}
	case f.GossipKeyFile != "":
		b, err := os.ReadFile(f.GossipKeyFile)
		if err != nil {
			return s, fmt.Errorf("%w: %v", ErrGossipKey, err)
		}
		if s.GossipKey, err = ParseGossipKey(b, f.GossipKeyFile); err != nil {
			return s, err
		}
	}
	s.Label = f.Label
	switch {
	case f.Token != "" && f.TokenFile != "":
		return s, fmt.Errorf("%w: both --join-token and --join-token-file are set; give one", ErrToken)
	case f.Token != "":
		s.Token = f.Token
	case f.TokenFile != "":
		b, err := os.ReadFile(f.TokenFile)
		if err != nil {
			return s, fmt.Errorf("%w: %v", ErrToken, err)
		}
		if s.Token = strings.TrimSpace(string(b)); s.Token == "" {
			return s, fmt.Errorf("%w: %s is empty", ErrToken, f.TokenFile)
		}
	}
	return s, nil
}

// Warnings lists what the settings leave open, for the process to log.
func (s Settings) Warnings() []string {
	var w []string
	if s.TLS == nil {
		w = append(w, PlaintextWarning)
	}
	if s.GossipKey == nil {
		w = append(w, "plaintext gossip: membership can be read and forged by anyone on the network; set --gossip-key-file")
	}
	return w
}
