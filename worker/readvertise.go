package worker

// Re-advertising: a worker whose gossip advertise address was auto-detected
// (gossip bound to all interfaces, no Config.Gossip.AdvertiseAddr) looks its
// address up again every Config.ReresolveEvery. Docker gives a container that
// is reconnected to a network, or restarted, the lowest free address of the
// network; DHCP may hand a laptop another lease. When the address changed,
// the worker abandons the step in flight, leaves the gossip, starts a new
// member (a new node name: to the others a new incarnation of the same worker
// id) advertising the new address, joins again through Config.Join, and
// registers again with the coordinator with its new gRPC address. The
// coordinator treats that as the worker restarting: a new generation redoes
// the step from the replicas' identical pre-step state.

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/asfnet/asf/internal/cluster"
	sockaddr "github.com/hashicorp/go-sockaddr"
)

// Errors of re-advertising.
var (
	// ErrNoAddress reports that no address to advertise was found.
	ErrNoAddress = errors.New("worker: no IP address to advertise")
	// ErrGossip reports that the gossip could not be restarted on a new
	// address.
	ErrGossip = errors.New("worker: could not restart the gossip on the new address")
)

// errMoved ends serve when the worker's address changed.
var errMoved = errors.New("worker: the advertised address changed")

// gossipRestartTries is how many times a gossip member on a new address is
// tried before the worker gives up (a fixed port held by someone else).
const gossipRestartTries = 5

// Resolver returns the IP address the worker should advertise now.
type Resolver func() (string, error)

// PrivateIP is the default Resolver: the address memberlist advertises when
// it is bound to all interfaces and given no advertise address (go-sockaddr's
// GetPrivateIP: the first private address of an interface that is up).
func PrivateIP() (string, error) {
	ip, err := sockaddr.GetPrivateIP()
	if err != nil {
		return "", fmt.Errorf("worker: list the interface addresses: %w", err)
	}
	if ip == "" {
		return "", fmt.Errorf("%w: no interface has a private address", ErrNoAddress)
	}
	return ip, nil
}

// reresolves reports whether the worker looks its address up again: the
// gossip advertise address is auto-detected (memberlist does that only when
// bound to 0.0.0.0) and ReresolveEvery is on. An explicit Advertise (gRPC)
// is kept as it is; the gRPC address follows the gossip host only when the
// listener is on all interfaces.
func (c Config) reresolves() bool {
	g := c.Gossip
	return c.ReresolveEvery > 0 && g.AdvertiseAddr == "" && (g.BindAddr == "" || g.BindAddr == "0.0.0.0")
}

// resolve asks the resolver for the address to advertise.
func (w *Worker) resolve() (net.IP, error) {
	r := w.cfg.Resolver
	if r == nil {
		r = PrivateIP
	}
	s, err := r()
	if err != nil {
		return nil, err
	}
	ip := net.ParseIP(s)
	if ip == nil || ip.IsUnspecified() {
		return nil, fmt.Errorf("%w: the resolver returned %q, want an IP address", ErrNoAddress, s)
	}
	if ip4 := ip.To4(); ip4 != nil {
		ip = ip4
	}
	return ip, nil
}

// startGossip starts a gossip member under a new node name, advertising ip
// ("" = what memberlist picks), and returns it with its node name and the
// gRPC address to advertise beside it.
func (w *Worker) startGossip(ip string) (ml *cluster.Membership, node, addr string, err error) {
	gc := w.cfg.Gossip
	if ip != "" {
		gc.AdvertiseAddr = ip
	}
	node = cluster.NewNodeName(w.cfg.ID)
	ml, err = cluster.StartMembership(gc, node, w.meta(w.advertise("")), w.log, nil)
	if err != nil {
		return nil, "", "", err
	}
	if addr = w.advertise(ml.Addr()); addr != w.advertise("") {
		if err := ml.SetMeta(w.meta(addr)); err != nil {
			_ = ml.Shutdown()
			return nil, "", "", err
		}
	}
	return ml, node, addr, nil
}

// gossipHost is the IP the gossip member advertises.
func (w *Worker) gossipHost() net.IP {
	w.gmu.Lock()
	defer w.gmu.Unlock()
	host, _, _ := net.SplitHostPort(w.ml.Addr())
	return net.ParseIP(host)
}

// watchAddress looks the address up every ReresolveEvery until ctx ends, and
// puts one that differs from the advertised one in the w.moved mailbox (a
// newer one replaces one not yet taken). It is the mailbox's only sender.
func (w *Worker) watchAddress(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(w.cfg.ReresolveEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ip, err := w.resolve()
		if err != nil {
			w.log.Debug("looking up the address to advertise", "err", err)
			continue
		}
		if ip.Equal(w.gossipHost()) {
			continue
		}
		select {
		case <-w.moved:
		default:
		}
		w.moved <- ip.String()
	}
}

// takeMove returns a changed address waiting to be advertised, or "" (Run's
// goroutine only).
func (w *Worker) takeMove() string {
	if ip := w.movedTo; ip != "" {
		w.movedTo = ""
		return ip
	}
	select {
	case ip := <-w.moved:
		return ip
	default:
		return ""
	}
}

// pause waits d, or until ctx ends (false), or until the address changed
// (true, the change kept for takeMove).
func (w *Worker) pause(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case ip := <-w.moved:
		w.movedTo = ip
		return true
	case <-ctx.Done():
		return false
	}
}

// readvertise moves the worker to address ip: it leaves the gossip, starts a
// new member advertising ip, joins through Config.Join and sets the gRPC
// address that the next registration gives the coordinator (Run's goroutine
// only).
func (w *Worker) readvertise(ctx context.Context, ip string) error {
	old := w.gossipHost()
	if net.ParseIP(ip).Equal(old) {
		return nil
	}
	w.gmu.Lock()
	crashed, ml, oldAddr := w.crashed, w.ml, w.addr
	w.gmu.Unlock()
	if crashed {
		return nil
	}
	w.log.Warn("the worker's address changed; advertising the new one", "old", old.String(), "new", ip,
		"old_grpc", oldAddr)
	if err := ml.Leave(3 * w.cfg.Gossip.GossipInterval); err != nil {
		w.log.Debug("leaving the gossip on the old address", "err", err)
	}
	var (
		nml        *cluster.Membership
		node, addr string
		err        error
	)
	tries := w.cfg.retries(gossipRestartTries)
	for {
		if nml, node, addr, err = w.startGossip(ip); err == nil {
			break
		}
		pause, last := tries.failed()
		if last {
			return fmt.Errorf("%w: %s: %v", ErrGossip, ip, err)
		}
		w.log.Warn("starting the gossip on the new address", "addr", ip, "err", err, "retry_in", pause)
		if !sleep(ctx, pause) {
			return ctx.Err()
		}
	}
	w.gmu.Lock()
	if w.crashed {
		w.gmu.Unlock()
		_ = nml.Shutdown()
		return nil
	}
	w.ml, w.node, w.addr = nml, node, addr
	w.gmu.Unlock()
	w.log.Info("gossip restarted on the new address", "gossip", nml.Addr(), "grpc", addr, "node", node)
	if len(w.cfg.Join) > 0 {
		if err := nml.Join(w.cfg.Join); err != nil {
			w.log.Info("joining the gossip from the new address", "via", w.cfg.Join, "err", err)
		}
	}
	return nil
}
