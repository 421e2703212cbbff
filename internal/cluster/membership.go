package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math"
	"net"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/memberlist"
)

// Errors of membership.
var (
	// ErrConfig reports a MembershipConfig field with a value out of range.
	ErrConfig = errors.New("cluster: invalid membership configuration")
	// ErrMeta reports node metadata that does not decode or does not fit.
	ErrMeta = errors.New("cluster: bad node metadata")
	// ErrJoin reports that none of the join addresses answered.
	ErrJoin = errors.New("cluster: could not join the cluster")
)

// Roles of a node.
const (
	RoleCoordinator = "coordinator"
	RoleWorker      = "worker"
)

// Version is the build version nodes advertise: the main module's version, or
// "devel".
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// Meta is a node's metadata, gossiped with its membership.
type Meta struct {
	Role    string `json:"role"`    // RoleCoordinator or RoleWorker
	ID      string `json:"id"`      // stable identity (a worker's id; the coordinator's job-independent name)
	GRPC    string `json:"grpc"`    // host:port of the node's gRPC server
	Version string `json:"version"` // build version
}

// maxMeta is memberlist's limit on node metadata.
const maxMeta = memberlist.MetaMaxSize

func (m Meta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMeta, err)
	}
	if len(b) > maxMeta {
		return nil, fmt.Errorf("%w: %d bytes, memberlist allows %d (shorten the id or the address)", ErrMeta, len(b), maxMeta)
	}
	return b, nil
}

// DecodeMeta decodes node metadata.
func DecodeMeta(b []byte) (Meta, error) {
	var m Meta
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("%w: %v", ErrMeta, err)
	}
	return m, nil
}

// MembershipConfig configures a node's gossip membership.
type MembershipConfig struct {
	// BindAddr and BindPort are where the node listens for gossip (UDP and TCP);
	// port 0 picks a free port, which is then also advertised.
	BindAddr string
	BindPort int
	// AdvertiseAddr and AdvertisePort are what other nodes use to reach this one;
	// empty/0 means the bound address and port.
	AdvertiseAddr string
	AdvertisePort int
	// ProbeInterval is how often a node probes one other node.
	ProbeInterval time.Duration
	// ProbeTimeout is how long a direct probe waits for its ack.
	ProbeTimeout time.Duration
	// SuspicionMult scales the time a suspected node has to refute before it is
	// declared dead: SuspicionMult * ProbeInterval * max(1, log10(members)).
	SuspicionMult int
	// GossipInterval is how often a node gossips queued messages.
	GossipInterval time.Duration
	// PushPullInterval is how often a node syncs its full state with another.
	PushPullInterval time.Duration
	// TCPTimeout bounds TCP operations (joins, push/pull, fallback probes).
	TCPTimeout time.Duration
	// DeadNodeReclaimTime is how long after its death a node's name may be taken
	// by a node at another address.
	DeadNodeReclaimTime time.Duration
	// SecretKey, when set (16, 24 or 32 bytes), encrypts gossip.
	SecretKey []byte
	// Label, when set, is prefixed to every gossip packet; nodes with another
	// label are ignored (it keeps two clusters on one network apart).
	Label string
}

// DefaultMembershipConfig returns settings for a LAN or loopback, tuned for
// fast failure detection (about 1.5 to 2.5 s, see the package documentation).
func DefaultMembershipConfig() MembershipConfig {
	return MembershipConfig{
		BindAddr:            "0.0.0.0",              // every interface, like memberlist's LAN default
		BindPort:            7946,                   // memberlist's (and serf's) standard gossip port
		ProbeInterval:       500 * time.Millisecond, // half memberlist's LAN default: a dead worker stalls a synchronous cluster
		ProbeTimeout:        250 * time.Millisecond, // a LAN round trip is far below this, even on a busy host
		SuspicionMult:       2,                      // 1 s to refute a suspicion: enough for a GC pause, short for a dead node
		GossipInterval:      100 * time.Millisecond, // spreads a death to a handful of nodes in a few hundred ms
		PushPullInterval:    15 * time.Second,       // full syncs only repair what gossip missed
		TCPTimeout:          2 * time.Second,        // a join or push/pull on a LAN takes milliseconds
		DeadNodeReclaimTime: 10 * time.Second,       // a restarted process with the same name may take over after this
	}
}

// Loopback returns c bound to 127.0.0.1 on a free port: the settings of the
// embedded cluster and of tests.
func (c MembershipConfig) Loopback() MembershipConfig {
	c.BindAddr, c.BindPort, c.AdvertiseAddr, c.AdvertisePort = "127.0.0.1", 0, "", 0
	return c
}

// Validate reports the first field with a value out of range.
func (c MembershipConfig) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v, want %s", ErrConfig, field, v, want)
	}
	switch {
	case c.BindPort < 0 || c.BindPort > 65535:
		return bad("BindPort", c.BindPort, "0..65535")
	case c.AdvertisePort < 0 || c.AdvertisePort > 65535:
		return bad("AdvertisePort", c.AdvertisePort, "0..65535")
	case c.ProbeInterval <= 0:
		return bad("ProbeInterval", c.ProbeInterval, "> 0")
	case c.ProbeTimeout <= 0 || c.ProbeTimeout > c.ProbeInterval:
		return bad("ProbeTimeout", c.ProbeTimeout, fmt.Sprintf("> 0 and <= ProbeInterval (%v)", c.ProbeInterval))
	case c.SuspicionMult < 1:
		return bad("SuspicionMult", c.SuspicionMult, ">= 1")
	case c.GossipInterval <= 0:
		return bad("GossipInterval", c.GossipInterval, "> 0")
	case c.PushPullInterval < 0:
		return bad("PushPullInterval", c.PushPullInterval, ">= 0 (0 disables)")
	case c.TCPTimeout <= 0:
		return bad("TCPTimeout", c.TCPTimeout, "> 0")
	case c.DeadNodeReclaimTime < 0:
		return bad("DeadNodeReclaimTime", c.DeadNodeReclaimTime, ">= 0")
	}
	switch len(c.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return bad("SecretKey", fmt.Sprintf("%d bytes", len(c.SecretKey)), "16, 24 or 32 bytes")
	}
	if len(c.Label) > 255 {
		return bad("Label", fmt.Sprintf("%d bytes", len(c.Label)), "at most 255 bytes")
	}
	if c.BindAddr != "" && net.ParseIP(c.BindAddr) == nil {
		return bad("BindAddr", strconv.Quote(c.BindAddr), "an IP address")
	}
	return nil
}

// FailureDetectionTime is the expected time from a node's crash to its death
// being declared, in a cluster of n members: one probe interval for some member
// to probe it, then the suspicion timeout.
func (c MembershipConfig) FailureDetectionTime(n int) time.Duration {
	scale := math.Max(1, math.Log10(math.Max(1, float64(n))))
	return c.ProbeInterval + time.Duration(float64(c.SuspicionMult)*scale*float64(c.ProbeInterval))
}

// Member is a live node of the cluster.
type Member struct {
	Name   string // memberlist node name (id + per-process nonce)
	Gossip string // gossip address, host:port
	Meta   Meta
}

// EventKind says what happened to a member.
type EventKind int

// Membership events.
const (
	EventJoin EventKind = iota + 1
	EventLeave
	EventUpdate
)

func (k EventKind) String() string {
	switch k {
	case EventJoin:
		return "join"
	case EventLeave:
		return "leave"
	case EventUpdate:
		return "update"
	}
	return "event(" + strconv.Itoa(int(k)) + ")"
}

// Event is a change of membership. Leave covers both a graceful leave and a
// failure.
type Event struct {
	Kind   EventKind
	Member Member
}

// Membership is a node's gossip membership.
type Membership struct {
	ml   *memberlist.Memberlist
	cfg  MembershipConfig
	name string
	log  *slog.Logger

	// Events are queued without bound and delivered in order by one goroutine, so
	// that memberlist is never blocked by a slow consumer.
	mu      sync.Mutex
	queue   []Event
	wake    chan struct{}
	stop    chan struct{}
	stopped chan struct{}
	onEvent func(Event)
	closed  bool
	meta    *metaDelegate
}

// NewNodeName returns a memberlist node name for id: id plus a random nonce,
// different for every process.
func NewNodeName(id string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return id + "." + hex.EncodeToString(b[:])
}

// StartMembership starts the node's member with the given name and metadata;
// onEvent (may be nil) receives the membership changes of other nodes, in
// order, from one goroutine. It does not join anyone: call Join.
func StartMembership(cfg MembershipConfig, name string, meta Meta, logger *slog.Logger, onEvent func(Event)) (*Membership, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mb, err := meta.encode()
	if err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Membership{cfg: cfg, name: name, log: logger, onEvent: onEvent,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), stopped: make(chan struct{})}
	mc := memberlist.DefaultLANConfig()
	mc.Name = name
	mc.BindAddr, mc.BindPort = cfg.BindAddr, cfg.BindPort
	if mc.BindAddr == "" {
		mc.BindAddr = "0.0.0.0"
	}
	mc.AdvertiseAddr, mc.AdvertisePort = cfg.AdvertiseAddr, cfg.AdvertisePort
	if mc.AdvertisePort == 0 {
		mc.AdvertisePort = cfg.BindPort
	}
	mc.ProbeInterval, mc.ProbeTimeout = cfg.ProbeInterval, cfg.ProbeTimeout
	mc.SuspicionMult = cfg.SuspicionMult
	mc.GossipInterval = cfg.GossipInterval
	mc.PushPullInterval = cfg.PushPullInterval
	mc.TCPTimeout = cfg.TCPTimeout
	mc.DeadNodeReclaimTime = cfg.DeadNodeReclaimTime
	mc.GossipToTheDeadTime = 5 * time.Second
	mc.SecretKey = cfg.SecretKey
	// With a key, unencrypted gossip is neither sent nor accepted.
	mc.GossipVerifyIncoming, mc.GossipVerifyOutgoing = true, true
	mc.Label = cfg.Label
	m.meta = &metaDelegate{b: mb}
	mc.Delegate = m.meta
	mc.Events = (*eventSink)(m)
	mc.Logger = log.New(&logBridge{log: logger.With("component", "memberlist")}, "", 0)
	ml, err := memberlist.Create(mc)
	if err != nil {
		return nil, fmt.Errorf("cluster: start gossip on %s:%d: %w", cfg.BindAddr, cfg.BindPort, err)
	}
	m.ml = ml
	go m.deliver()
	return m, nil
}

// Name is this node's memberlist name.
func (m *Membership) Name() string { return m.name }

// Addr is this node's advertised gossip address, host:port.
func (m *Membership) Addr() string {
	n := m.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Join contacts the given gossip addresses and merges with their cluster. It
// succeeds if at least one answered.
func (m *Membership) Join(addrs []string) error {
	if len(addrs) == 0 {
		return fmt.Errorf("%w: no address to join", ErrJoin)
	}
	n, err := m.ml.Join(addrs)
	if n == 0 {
		return fmt.Errorf("%w via %v: %v", ErrJoin, addrs, err)
	}
	return nil
}

// Members returns the live members other than this node (suspected ones
// included), in no particular order; members whose metadata does not decode are
// skipped.
func (m *Membership) Members() []Member {
	var out []Member
	for _, n := range m.ml.Members() {
		if n.Name == m.name {
			continue
		}
		if mem, ok := toMember(n); ok {
			out = append(out, mem)
		}
	}
	return out
}

// Coordinator returns a live member with the coordinator role.
func (m *Membership) Coordinator() (Member, bool) {
	for _, mem := range m.Members() {
		if mem.Meta.Role == RoleCoordinator {
			return mem, true
		}
	}
	return Member{}, false
}

// Has reports whether the node named name is a live member.
func (m *Membership) Has(name string) bool {
	for _, n := range m.ml.Members() {
		if n.Name == name {
			return true
		}
	}
	return false
}

// SetMeta replaces the node's metadata and gossips it.
func (m *Membership) SetMeta(meta Meta) error {
	b, err := meta.encode()
	if err != nil {
		return err
	}
	m.meta.mu.Lock()
	m.meta.b = b
	m.meta.mu.Unlock()
	return m.ml.UpdateNode(m.cfg.TCPTimeout)
}

// Leave announces a graceful departure (waiting up to timeout for it to
// spread) and shuts the member down.
func (m *Membership) Leave(timeout time.Duration) error {
	m.mu.Lock()
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return nil
	}
	err := m.ml.Leave(timeout)
	return errors.Join(err, m.Shutdown())
}

// Shutdown stops the member without announcing anything: to the others it
// looks like a crash.
func (m *Membership) Shutdown() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	err := m.ml.Shutdown()
	close(m.stop)
	<-m.stopped
	return err
}

func toMember(n *memberlist.Node) (Member, bool) {
	meta, err := DecodeMeta(n.Meta)
	if err != nil {
		return Member{}, false
	}
	return Member{Name: n.Name, Gossip: net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port))), Meta: meta}, true
}

func (m *Membership) push(kind EventKind, n *memberlist.Node) {
	if n.Name == m.name || m.onEvent == nil {
		return
	}
	mem, ok := toMember(n)
	if !ok {
		m.log.Warn("ignoring a member with bad metadata", "node", n.Name)
		return
	}
	m.mu.Lock()
	m.queue = append(m.queue, Event{Kind: kind, Member: mem})
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Membership) deliver() {
	defer close(m.stopped)
	for {
		select {
		case <-m.stop:
			return
		case <-m.wake:
		}
		for {
			m.mu.Lock()
			if len(m.queue) == 0 {
				m.mu.Unlock()
				break
			}
			ev := m.queue[0]
			m.queue = m.queue[1:]
			m.mu.Unlock()
			m.onEvent(ev)
		}
	}
}

// eventSink adapts Membership to memberlist.EventDelegate.
type eventSink Membership

func (e *eventSink) NotifyJoin(n *memberlist.Node)   { (*Membership)(e).push(EventJoin, n) }
func (e *eventSink) NotifyLeave(n *memberlist.Node)  { (*Membership)(e).push(EventLeave, n) }
func (e *eventSink) NotifyUpdate(n *memberlist.Node) { (*Membership)(e).push(EventUpdate, n) }

// metaDelegate serves the node's metadata and nothing else.
type metaDelegate struct {
	mu sync.Mutex
	b  []byte
}

func (d *metaDelegate) NodeMeta(limit int) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.b) > limit {
		return nil
	}
	return d.b
}
func (*metaDelegate) NotifyMsg([]byte)                {}
func (*metaDelegate) GetBroadcasts(int, int) [][]byte { return nil }
func (*metaDelegate) LocalState(bool) []byte          { return nil }
func (*metaDelegate) MergeRemoteState([]byte, bool)   {}

// logBridge turns memberlist's "[LEVEL] memberlist: msg" lines into slog
// records. Gossip refused for a wrong key or label is logged as a warning
// (at most one every refusalEvery, the rest at debug level: a foreign node
// keeps trying).
type logBridge struct {
	log *slog.Logger

	mu   sync.Mutex
	last time.Time
}

// refusalEvery limits the warnings about refused gossip.
const refusalEvery = 5 * time.Second

// refusals are the memberlist messages of gossip from a node without the
// cluster's key or label.
var refusals = [][]byte{[]byte("unacceptable label"), []byte("Decrypt packet failed"), []byte("could decrypt"),
	[]byte("encryption is configured but"), []byte("encryption is not configured"), []byte("label header")}

// RefusedGossip starts the warning logged when gossip of a node without the
// cluster's key or label is discarded.
const RefusedGossip = "refused gossip from a node without the cluster's key or label"

func (b *logBridge) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(p)
	level := slog.LevelInfo
	for _, l := range []struct {
		tag   string
		level slog.Level
	}{{"[DEBUG]", slog.LevelDebug}, {"[INFO]", slog.LevelDebug}, {"[WARN]", slog.LevelDebug}, {"[ERR]", slog.LevelInfo}} {
		if bytes.HasPrefix(line, []byte(l.tag)) {
			level = l.level
			line = bytes.TrimSpace(line[len(l.tag):])
			break
		}
	}
	line = bytes.TrimPrefix(line, []byte("memberlist: "))
	for _, r := range refusals {
		if bytes.Contains(line, r) {
			b.mu.Lock()
			if now := time.Now(); now.Sub(b.last) >= refusalEvery {
				b.last = now
				b.mu.Unlock()
				b.log.Warn(RefusedGossip, "reason", string(line))
				return len(p), nil
			}
			b.mu.Unlock()
			level = slog.LevelDebug
			break
		}
	}
	b.log.Log(context.Background(), level, string(line))
	return len(p), nil
}

var _ io.Writer = (*logBridge)(nil)
