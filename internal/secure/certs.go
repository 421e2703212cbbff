package secure

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"
)

// ErrExists reports that Init would overwrite a file.
var ErrExists = errors.New("secure: refusing to overwrite an existing file")

// InitConfig says what Init creates.
type InitConfig struct {
	// Hosts are the DNS names and IP addresses written into every node
	// certificate (informative: peers are verified by CA and role).
	Hosts []string
	// Validity is how long the node certificates are valid; the CA gets twice
	// as long.
	Validity time.Duration
	// Now is the start of validity (zero: the current time).
	Now time.Time
}

// DefaultHosts are the names of the local machine and of the compose and
// Kubernetes services.
var DefaultHosts = []string{"localhost", "127.0.0.1", "::1", "coordinator", "worker", "asf-coordinator", "asf-worker", "asf-gossip"}

// DefaultInitConfig returns the default hosts and a validity of one year.
func DefaultInitConfig() InitConfig {
	return InitConfig{
		Hosts:    DefaultHosts,
		Validity: 365 * 24 * time.Hour, // a test or compose cluster; rotate by running Init into a new directory
	}
}

// Validate reports the first bad field.
func (c InitConfig) Validate() error {
	if c.Validity <= 0 {
		return fmt.Errorf("%w: Validity is %v, want > 0", ErrTLSConfig, c.Validity)
	}
	return nil
}

// Init file names, relative to the directory.
const (
	CAFile        = "ca.crt"
	CAKeyFile     = "ca.key"
	GossipKeyFile = "gossip.key"
	TokenFile     = "join.token"
)

// CertFile and KeyFile are the certificate and key files of role r.
func CertFile(r Role) string { return string(r) + ".crt" }

// KeyFile is the private key file of role r.
func KeyFile(r Role) string { return string(r) + ".key" }

// InitFiles lists the files Init writes, relative to its directory.
func InitFiles() []string {
	out := []string{CAFile, CAKeyFile}
	for _, r := range Roles {
		out = append(out, CertFile(r), KeyFile(r))
	}
	return append(out, GossipKeyFile, TokenFile)
}

// Existing counts the files of InitFiles that exist in dir.
func Existing(dir string) int {
	n := 0
	for _, f := range InitFiles() {
		if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
			n++
		}
	}
	return n
}

// Init creates in dir (made if needed, mode 0700) a CA (ECDSA P-256), a
// certificate and key for each role, a gossip key (32 random bytes, base64)
// and a join token (32 random bytes, hex). Keys, the gossip key and the token
// get mode 0600, certificates 0644. It writes nothing if any of the files
// exists.
func Init(dir string, cfg InitConfig) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("secure: %w", err)
	}
	for _, f := range InitFiles() {
		p := filepath.Join(dir, f)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("%w: %s", ErrExists, p)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("secure: %w", err)
		}
	}
	now := cfg.Now
	if now.IsZero() {
		now = time.Now()
	}
	now = now.Add(-time.Hour) // tolerate clocks a little behind
	var dns []string
	var ips []net.IP
	for _, h := range cfg.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			ips = append(ips, ip)
		} else if h != "" {
			dns = append(dns, h)
		}
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("secure: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "asf cluster CA", Organization: []string{"asf"}},
		NotBefore:             now,
		NotAfter:              now.Add(2 * cfg.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("secure: CA: %w", err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	files := map[string][]byte{CAFile: pemBlock("CERTIFICATE", caDER)}
	if files[CAKeyFile], err = keyPEM(caKey); err != nil {
		return err
	}
	for _, r := range Roles {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("secure: %w", err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: serial(),
			Subject:      pkix.Name{CommonName: "asf " + string(r), Organization: []string{"asf"}, OrganizationalUnit: []string{string(r)}},
			NotBefore:    now,
			NotAfter:     now.Add(cfg.Validity),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
			DNSNames:     dns,
			IPAddresses:  ips,
			URIs:         []*url.URL{r.URI()},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			return fmt.Errorf("secure: %s certificate: %w", r, err)
		}
		files[CertFile(r)] = pemBlock("CERTIFICATE", der)
		if files[KeyFile(r)], err = keyPEM(key); err != nil {
			return err
		}
	}
	var g [GossipKeyLen]byte
	var tok [32]byte
	_, _ = rand.Read(g[:])
	_, _ = rand.Read(tok[:])
	files[GossipKeyFile] = []byte(base64.StdEncoding.EncodeToString(g[:]) + "\n")
	files[TokenFile] = []byte(hex.EncodeToString(tok[:]) + "\n")

	for _, f := range InitFiles() {
		mode := os.FileMode(0o600)
		if filepath.Ext(f) == ".crt" {
			mode = 0o644
		}
		if err := writeNew(filepath.Join(dir, f), files[f], mode); err != nil {
			return err
		}
	}
	return nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func keyPEM(k *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("secure: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// writeNew creates p with mode (failing if it exists) and writes b.
func writeNew(p string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: %s", ErrExists, p)
	}
	if err != nil {
		return fmt.Errorf("secure: %w", err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("secure: write %s: %w", p, err)
	}
	return nil
}
