package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/asfnet/asf/internal/cluster"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/secure"
)

// ErrConfig reports a configuration field with a value out of range.
var ErrConfig = errors.New("worker: invalid configuration")

// DataFunc loads a job's training and test sets. Sets are read-only once
// loaded, so one process may share them between nodes.
type DataFunc = job.LoadFunc

// Hooks let tests observe or disturb a worker.
type Hooks struct {
	// BeforeReduce is called after the worker computed its micro-batches of a
	// step and before it joins the reduction; a hook that blocks stalls the
	// worker as a stopped process would (its gossip still answers).
	BeforeReduce func(ctx context.Context, step int)
}

// Config configures a Worker.
type Config struct {
	// ID is the worker's stable identity (default: host name and process id).
	ID string
	// Listen is the gRPC listen address (all-reduce peers and state transfer);
	// Advertise what the others dial ("" = the listener's address, with the
	// gossip address's host if it listens on all interfaces).
	Listen    string
	Advertise string
	// Gossip configures the worker's membership; Join names members to join
	// through (usually the coordinator's gossip address).
	Gossip cluster.MembershipConfig
	Join   []string
	// JoinWait bounds the wait for a member to answer through Join at start:
	// after it, Run gives up with ErrJoin saying what it found at each address
	// (nothing listening, not a gossip endpoint, no answer). 0 waits for ever.
	JoinWait time.Duration
	// ReresolveEvery is how often a worker whose gossip advertise address is
	// auto-detected (Gossip bound to 0.0.0.0 or "", no Gossip.AdvertiseAddr)
	// looks its address up again through Resolver; when it changed, the
	// worker restarts its gossip on the new address and registers again (see
	// readvertise.go). 0 disables. Explicit advertise addresses are never
	// looked up again.
	ReresolveEvery time.Duration
	// Resolver returns the IP address to advertise (nil: PrivateIP, what
	// memberlist picks itself).
	Resolver Resolver
	// TLS is the worker's TLS identity: every gRPC connection is mutual TLS
	// against its CA (see package secure for the roles). Nil is plaintext.
	TLS *secure.TLS
	// JoinToken is sent with every call to the coordinator.
	JoinToken string
	// Coordinator is the coordinator's gRPC address; "" finds it through the
	// gossip metadata.
	Coordinator string
	// DataDir holds the data sets.
	DataDir string
	// Threads computes micro-batches (0 = GOMAXPROCS).
	Threads int
	// ComputeAhead starts computing the next step's micro-batches in gradient
	// mode as soon as a step is reported, before its instruction comes
	// (ahead.go): the coordinator's round trip is then hidden behind compute.
	// The result is bitwise the same either way.
	ComputeAhead bool
	// PollWait is how long a task poll may be held by the coordinator.
	PollWait time.Duration
	// RPCTimeout bounds Join and Report calls.
	RPCTimeout time.Duration
	// PullTimeout bounds fetching a state from a peer.
	PullTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts to reach a lost
	// coordinator.
	RetryMin time.Duration
	RetryMax time.Duration
	// LostAfter is how many consecutive failed polls mean the coordinator is
	// lost (the worker then finds it again and re-registers).
	LostAfter int
	// Logger receives the worker's log; nil discards.
	Logger *slog.Logger
	// Data loads a job's data (nil: job.LoadData from DataDir).
	Data DataFunc
	// Hooks are for tests.
	Hooks Hooks
}

// DefaultConfig returns the configuration of a worker on the standard ports.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		ID:             sanitize(host) + "-" + strconv.Itoa(os.Getpid()), // unique per process on a machine
		Listen:         ":7071",                                          // beside the coordinator's 7070 on one machine
		Gossip:         workerGossip(),                                   // fast failure detection on a LAN, on 7947 beside the coordinator's 7946
		ReresolveEvery: 3 * time.Second,                                  // a new address (docker reconnect, DHCP) costs a few seconds; listing the interfaces is cheap
		JoinWait:       5 * time.Minute,                                  // a coordinator pod scheduled after its workers (image pull included) is up by then; a wrong address is said at once and ends in minutes
		DataDir:        "asf-data",                                       // the asf command's default data directory
		PollWait:       5 * time.Second,                                  // long polls: few calls while idle, instant hand-over
		RPCTimeout:     10 * time.Second,                                 // a coordinator that does not answer this long is treated as lost
		PullTimeout:    2 * time.Minute,                                  // a state of hundreds of MB on a slow link
		RetryMin:       100 * time.Millisecond,                           // a restarted coordinator is found quickly
		RetryMax:       2 * time.Second,                                  // and a long outage costs little
		LostAfter:      3,                                                // one broken connection is retried before giving up on it
		ComputeAhead:   true,                                             // the coordinator's round trip overlaps compute
	}
}

// workerGossip is the default gossip configuration of a worker: the cluster's,
// on the port after the coordinator's so that both fit on one machine.
func workerGossip() cluster.MembershipConfig {
	g := cluster.DefaultMembershipConfig()
	g.BindPort++
	return g
}

// Loopback returns c set up for one machine: gRPC and gossip on 127.0.0.1 on
// free ports.
func (c Config) Loopback() Config {
	c.Listen = "127.0.0.1:0"
	c.Gossip = c.Gossip.Loopback()
	return c
}

// validID is the shape of a worker id, the coordinator's too.
var validID = cluster.IDPattern

func sanitize(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '.') {
			b[i] = '-'
		}
	}
	if len(b) == 0 || !validID.Match(b[:1]) {
		b = append([]byte("w"), b...)
	}
	return string(b[:min(len(b), 48)])
}

// backoff is the delay between attempts to reach a lost coordinator, to join
// the gossip or to deliver a report: RetryMin doubling up to RetryMax.
func (c Config) backoff() cluster.Backoff { return cluster.NewBackoff(c.RetryMin, c.RetryMax) }

// retries is the retry rule of a call allowed n consecutive failures.
func (c Config) retries(n int) *retries { return &retries{max: n, bo: c.backoff()} }

// Validate reports the first bad field.
func (c Config) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: %s is %v, want %s", ErrConfig, field, v, want)
	}
	switch {
	case !validID.MatchString(c.ID):
		return bad("ID", strconv.Quote(c.ID), cluster.IDRule)
	case c.Listen == "":
		return bad("Listen", `""`, "host:port")
	case c.Coordinator == "" && len(c.Join) == 0:
		return fmt.Errorf("%w: neither Coordinator nor Join is set: the worker cannot find the cluster", ErrConfig)
	case c.Threads < 0:
		return bad("Threads", c.Threads, ">= 0 (0 = all cores)")
	case c.PollWait <= 0:
		return bad("PollWait", c.PollWait, "> 0")
	case c.RPCTimeout <= 0:
		return bad("RPCTimeout", c.RPCTimeout, "> 0")
	case c.PullTimeout <= 0:
		return bad("PullTimeout", c.PullTimeout, "> 0")
	case c.RetryMin <= 0:
		return bad("RetryMin", c.RetryMin, "> 0")
	case c.RetryMax < c.RetryMin:
		return bad("RetryMax", c.RetryMax, fmt.Sprintf(">= RetryMin (%v)", c.RetryMin))
	case c.LostAfter < 1:
		return bad("LostAfter", c.LostAfter, ">= 1")
	case c.ReresolveEvery < 0:
		return bad("ReresolveEvery", c.ReresolveEvery, ">= 0 (0 disables)")
	case c.JoinWait < 0:
		return bad("JoinWait", c.JoinWait, ">= 0 (0 waits for ever)")
	}
	return c.Gossip.Validate()
}
