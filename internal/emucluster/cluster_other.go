//go:build !linux

package emucluster

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"runtime"
)

// Cluster is a running emulated cluster; only Linux can make one.
type Cluster struct {
	cfg   Config
	run   string
	nodes []Node
}

// Check reports that only Linux can emulate a cluster.
func Check(Config) error {
	return fmt.Errorf("%w: network namespaces and cgroups are Linux features (this is %s)", ErrUnsupported, runtime.GOOS)
}

// Create fails: only Linux can emulate a cluster.
func Create(_ context.Context, cfg Config) (*Cluster, error) { return nil, Check(cfg) }

// CleanStale has nothing to clean outside Linux.
func CleanStale(context.Context, *slog.Logger) (int, error) { return 0, nil }

// Command fails: only Linux can emulate a cluster.
func (c *Cluster) Command(context.Context, string, string, ...string) (*exec.Cmd, error) {
	return nil, Check(c.cfg)
}

// Start fails: only Linux can emulate a cluster.
func (c *Cluster) Start(*exec.Cmd) error { return Check(c.cfg) }

// DialContext fails: only Linux can emulate a cluster.
func (c *Cluster) DialContext(string) func(context.Context, string, string) (net.Conn, error) {
	return func(context.Context, string, string) (net.Conn, error) { return nil, Check(c.cfg) }
}

// Usage fails: only Linux can emulate a cluster.
func (c *Cluster) Usage(context.Context, string) (Usage, error) { return Usage{}, Check(c.cfg) }

// Shaping fails: only Linux can emulate a cluster.
func (c *Cluster) Shaping(context.Context, string) (string, string, error) {
	return "", "", Check(c.cfg)
}

// Close has nothing to remove.
func (c *Cluster) Close() error { return nil }
