package emucluster

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

// Errors of the package.
var (
	// ErrInvalid reports a configuration field out of range.
	ErrInvalid = errors.New("emucluster: invalid configuration")
	// ErrUnsupported reports a host that cannot run an emulated cluster: not
	// root, no ip or tc command, no cgroup v1 cpu controller.
	ErrUnsupported = errors.New("emucluster: this host cannot emulate a cluster")
	// ErrNoNode reports a node name the cluster does not have.
	ErrNoNode = errors.New("emucluster: no such node")
)

// Benchmark is the address range RFC 2544 reserves for benchmarks; every
// address of an emulated cluster is inside it.
var Benchmark = netip.MustParsePrefix("198.18.0.0/15")

// Config describes an emulated cluster.
type Config struct {
	// Workers is the number of worker nodes (w0, w1, ...); the coordinator
	// node (coord) always exists.
	Workers int
	// WorkerCPUs is each worker's CPU quota in cores (0.45 = 45% of one core);
	// 0 means no quota.
	WorkerCPUs float64
	// CoordCPUs is the coordinator's quota in cores; 0 means no quota.
	CoordCPUs float64
	// LinkBits is each node's link rate in bit/s, in each direction; 0 leaves
	// the links unshaped.
	LinkBits int64
	// Sysctls are set in every node's network namespace (name = value, as
	// for sysctl -w; only net.* keys, which are per namespace), e.g.
	// net.ipv4.tcp_slow_start_after_idle = 0.
	Sysctls map[string]string
	// Subnet holds the node addresses: the coordinator gets the first host
	// address, worker i the (i+2)th. It must lie inside Benchmark.
	Subnet netip.Prefix
	// Logger receives what is created and removed (nil: discard).
	Logger *slog.Logger
}

// DefaultConfig returns a cluster of two workers on 1 Gbit/s links without CPU
// quotas.
func DefaultConfig() Config {
	return Config{
		Workers:    2,                                      // the smallest ring
		WorkerCPUs: 0,                                      // no quota unless asked: the host decides
		CoordCPUs:  0,                                      // the coordinator is light; never the bottleneck
		LinkBits:   1e9,                                    // 1 Gbit/s, a common data-centre access link
		Subnet:     netip.MustParsePrefix("198.18.0.0/24"), // 253 nodes, inside the benchmark range
	}
}

// Validate reports the first field out of range.
func (c Config) Validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...))
	}
	for k := range c.Sysctls {
		if !strings.HasPrefix(k, "net.") || strings.ContainsAny(k, "/ =") || strings.Contains(k, "..") {
			return bad("Sysctls", "want keys of the namespace's network settings (net.ipv4.tcp_slow_start_after_idle), got %q", k)
		}
	}
	switch {
	case c.Workers < 1:
		return bad("Workers", "want at least 1, got %d", c.Workers)
	case !(c.WorkerCPUs >= 0) || c.WorkerCPUs > 1024:
		return bad("WorkerCPUs", "want 0 (no quota) or a positive number of cores up to 1024, got %g", c.WorkerCPUs)
	case c.WorkerCPUs > 0 && c.WorkerCPUs < 0.01:
		return bad("WorkerCPUs", "want at least 0.01 cores (1 ms per 100 ms period), got %g", c.WorkerCPUs)
	case !(c.CoordCPUs >= 0) || c.CoordCPUs > 1024 || (c.CoordCPUs > 0 && c.CoordCPUs < 0.01):
		return bad("CoordCPUs", "want 0 (no quota) or 0.01..1024 cores, got %g", c.CoordCPUs)
	case c.LinkBits < 0 || (c.LinkBits > 0 && c.LinkBits < 8000):
		return bad("LinkBits", "want 0 (unshaped) or at least 8000 bit/s, got %d", c.LinkBits)
	case !c.Subnet.IsValid() || !c.Subnet.Addr().Is4():
		return bad("Subnet", "want an IPv4 prefix inside %s, got %v", Benchmark, c.Subnet)
	case c.Subnet.Bits() < Benchmark.Bits() || !Benchmark.Contains(c.Subnet.Addr()):
		return bad("Subnet", "%s is not inside %s (RFC 2544's benchmark range)", c.Subnet, Benchmark)
	}
	if hosts := math.Ldexp(1, 32-c.Subnet.Bits()) - 2; float64(c.Workers+1) > hosts {
		return bad("Subnet", "%s holds %.0f hosts, too few for %d workers and the coordinator", c.Subnet, hosts, c.Workers)
	}
	return nil
}

// ParseRate parses a link rate as tc writes it: a number with an optional unit
// bit, kbit, mbit, gbit (powers of 1000) or bps, kbps, mbps, gbps (bytes per
// second), case-insensitive; a bare number is bit/s. It returns bit/s.
func ParseRate(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}, {"tbit", 1e12},
		{"kbps", 8e3}, {"mbps", 8e6}, {"gbps", 8e9}, {"bps", 8}, {"bit", 1},
	}
	num, mult := strings.ToLower(strings.TrimSpace(s)), 1.0
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v >= 0) || v*mult > 1e15 {
		return 0, fmt.Errorf("%w: link rate %q: want a number with an optional unit such as 100mbit, 1gbit or 125mbps", ErrInvalid, s)
	}
	return int64(math.Round(v * mult)), nil
}

// FormatRate writes bit/s the way ParseRate reads it: 1gbit, 100mbit, 2500kbit.
func FormatRate(bits int64) string {
	switch {
	case bits == 0:
		return "unshaped"
	case bits%1e9 == 0:
		return fmt.Sprintf("%dgbit", bits/1e9)
	case bits%1e6 == 0:
		return fmt.Sprintf("%dmbit", bits/1e6)
	case bits%1e3 == 0:
		return fmt.Sprintf("%dkbit", bits/1e3)
	}
	return fmt.Sprintf("%dbit", bits)
}
