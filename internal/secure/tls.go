package secure

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/peer"
)

// Errors of the TLS settings and of peer verification.
var (
	// ErrTLSConfig reports TLS files that are missing, incomplete or do not load.
	ErrTLSConfig = errors.New("secure: bad TLS configuration")
	// ErrNoCert reports a peer that presented no certificate.
	ErrNoCert = errors.New("secure: the peer presented no certificate")
	// ErrUntrusted reports a peer certificate that does not verify against the
	// cluster's CA.
	ErrUntrusted = errors.New("secure: the peer's certificate is not signed by the cluster CA")
	// ErrRole reports a peer certificate without an accepted asf role.
	ErrRole = errors.New("secure: the peer's role is not accepted")
)

// Role is what a certificate allows its holder to be.
type Role string

// Roles of certificates.
const (
	RoleCoordinator Role = "coordinator"
	RoleWorker      Role = "worker"
	// RoleClient is the asf command talking to a cluster (status, health).
	RoleClient Role = "client"
)

// Roles lists every role, in the order Init writes certificates.
var Roles = []Role{RoleCoordinator, RoleWorker, RoleClient}

// roleScheme and roleHost make the URI SAN asf://role/<role>.
const (
	roleScheme = "asf"
	roleHost   = "role"
)

// URI returns the URI SAN that names role r: asf://role/<r>.
func (r Role) URI() *url.URL {
	return &url.URL{Scheme: roleScheme, Host: roleHost, Path: "/" + string(r)}
}

// RoleOf returns the asf role named by cert's URI SANs.
func RoleOf(cert *x509.Certificate) (Role, bool) {
	for _, u := range cert.URIs {
		if u.Scheme == roleScheme && u.Host == roleHost {
			r := Role(strings.TrimPrefix(u.Path, "/"))
			if slices.Contains(Roles, r) {
				return r, true
			}
		}
	}
	return "", false
}

// Files names the PEM files of a node's TLS identity.
type Files struct {
	CA   string // the cluster CA's certificate, which every peer must chain to
	Cert string // this node's certificate
	Key  string // this node's private key
}

// Enabled reports whether any file is named (then all three must be).
func (f Files) Enabled() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

// TLS is a loaded TLS identity and trust root. A nil *TLS means plaintext.
type TLS struct {
	roots *x509.CertPool
	cert  tls.Certificate
	role  Role
}

// Load reads f. All three files must be named; the certificate must carry an
// asf role and chain to the CA.
func Load(f Files) (*TLS, error) {
	var missing []string
	for _, x := range []struct{ name, v string }{{"--tls-ca", f.CA}, {"--tls-cert", f.Cert}, {"--tls-key", f.Key}} {
		if x.v == "" {
			missing = append(missing, x.name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s not set (TLS needs the CA, the certificate and the key)", ErrTLSConfig, strings.Join(missing, ", "))
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("%w: CA file: %v", ErrTLSConfig, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%w: CA file %s: no PEM certificate found", ErrTLSConfig, f.CA)
	}
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: certificate %s with key %s: %v", ErrTLSConfig, f.Cert, f.Key, err)
	}
	t := &TLS{roots: roots, cert: cert}
	leaf := cert.Leaf
	role, ok := RoleOf(leaf)
	if !ok {
		return nil, fmt.Errorf("%w: certificate %s has no asf role (a URI SAN asf://role/coordinator, worker or client); make it with `asf certs init`", ErrTLSConfig, f.Cert)
	}
	t.role = role
	if err := t.verify(cert.Certificate, x509.ExtKeyUsageAny); err != nil {
		return nil, fmt.Errorf("%w: certificate %s: %v", ErrTLSConfig, f.Cert, err)
	}
	return t, nil
}

// Role is the role of this node's own certificate.
func (t *TLS) Role() Role { return t.role }

// verify checks a raw chain (leaf first) against the CA.
func (t *TLS) verify(raw [][]byte, usage x509.ExtKeyUsage) error {
	if len(raw) == 0 {
		return ErrNoCert
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, b := range raw {
		c, err := x509.ParseCertificate(b)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrUntrusted, err)
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: t.roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{usage}}); err != nil {
		return fmt.Errorf("%w: %v", ErrUntrusted, err)
	}
	return nil
}

// check verifies a peer's chain and that its role is one of accept (any asf
// role when accept is empty); it returns the peer's role.
func (t *TLS) check(cs tls.ConnectionState, usage x509.ExtKeyUsage, accept []Role) (Role, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", ErrNoCert
	}
	raw := make([][]byte, len(cs.PeerCertificates))
	for i, c := range cs.PeerCertificates {
		raw[i] = c.Raw
	}
	if err := t.verify(raw, usage); err != nil {
		return "", err
	}
	role, ok := RoleOf(cs.PeerCertificates[0])
	if !ok {
		return "", fmt.Errorf("%w: the certificate (subject %q) names no asf role", ErrRole, cs.PeerCertificates[0].Subject.CommonName)
	}
	if len(accept) > 0 && !slices.Contains(accept, role) {
		return role, fmt.Errorf("%w: role %q, want one of %q", ErrRole, role, accept)
	}
	return role, nil
}

// base is the TLS configuration shared by both ends: TLS 1.3 only, this
// node's certificate, no session resumption (every connection is verified in
// full).
func (t *TLS) base() *tls.Config {
	return &tls.Config{
		MinVersion:             tls.VersionTLS13,
		Certificates:           []tls.Certificate{t.cert},
		SessionTicketsDisabled: true,
	}
}

// ServerConfig returns the tls.Config of a server that accepts clients with a
// certificate of the CA and one of the roles accept (any role if none).
func (t *TLS) ServerConfig(accept ...Role) *tls.Config {
	c := t.base()
	// The client's certificate is requested and then verified by
	// VerifyConnection (equivalent to RequireAndVerifyClientCert), so that a
	// refusal carries its reason.
	c.ClientAuth = tls.RequestClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := t.check(cs, x509.ExtKeyUsageClientAuth, accept)
		return err
	}
	return c
}

// ClientConfig returns the tls.Config of a client that accepts servers with a
// certificate of the CA and one of the roles accept (any role if none). The
// server's host name is not checked (see the package documentation).
func (t *TLS) ClientConfig(accept ...Role) *tls.Config {
	c := t.base()
	// Verification is done by VerifyConnection against the CA and the role;
	// InsecureSkipVerify only turns off the host name check of crypto/tls.
	c.InsecureSkipVerify = true
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := t.check(cs, x509.ExtKeyUsageServerAuth, accept)
		return err
	}
	return c
}

// ServerOption returns the gRPC server option of t's credentials, logging
// every refused connection to log with its reason (warn level). With a nil t
// it is plaintext.
func (t *TLS) ServerOption(log *slog.Logger, accept ...Role) grpc.ServerOption {
	if t == nil {
		return grpc.Creds(insecure.NewCredentials())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return grpc.Creds(&loggingCreds{TransportCredentials: credentials.NewTLS(t.ServerConfig(accept...)), log: log})
}

// DialOption returns the gRPC dial option of t's credentials for a server
// with one of the roles accept. With a nil t it is plaintext.
func (t *TLS) DialOption(accept ...Role) grpc.DialOption {
	if t == nil {
		return grpc.WithTransportCredentials(insecure.NewCredentials())
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(t.ClientConfig(accept...)))
}

// PlaintextWarning is the message logged by a process that serves gRPC
// without TLS.
const PlaintextWarning = "plaintext gRPC: anyone who can reach the ports can join the cluster; set --tls-ca, --tls-cert and --tls-key (asf certs init)"

// loggingCreds logs failed server handshakes.
type loggingCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

func (c *loggingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.log.Warn("refused a gRPC connection", "peer", conn.RemoteAddr().String(), "reason", err.Error())
	}
	return out, info, err
}

func (c *loggingCreds) Clone() credentials.TransportCredentials {
	return &loggingCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}

// PeerRole returns the asf role of the TLS peer of a gRPC call; false on a
// plaintext connection.
func PeerRole(ctx context.Context) (Role, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.PeerCertificates) == 0 {
		return "", false
	}
	return RoleOf(info.State.PeerCertificates[0])
}

// RoleAllowed reports whether the peer of a call may call it: always on a
// plaintext connection (there is no identity to check), else when the
// peer's role is one of accept.
func RoleAllowed(ctx context.Context, accept ...Role) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	if _, tlsConn := p.AuthInfo.(credentials.TLSInfo); !tlsConn {
		return true
	}
	r, ok := PeerRole(ctx)
	return ok && slices.Contains(accept, r)
}
