//go:build linux

package emucluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// needHost skips the test outside CI when this host cannot create a cluster,
// and fails it in CI.
func needHost(t *testing.T, cfg Config) {
	t.Helper()
	if err := Check(cfg); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true but %v", err)
		}
		t.Skipf("skipped: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
	}{
		{"default", func(*Config) {}, ""},
		{"no workers", func(c *Config) { c.Workers = 0 }, "Workers"},
		{"negative cpus", func(c *Config) { c.WorkerCPUs = -1 }, "WorkerCPUs"},
		{"tiny cpus", func(c *Config) { c.WorkerCPUs = 0.001 }, "WorkerCPUs"},
		{"coord cpus", func(c *Config) { c.CoordCPUs = 2000 }, "CoordCPUs"},
		{"slow link", func(c *Config) { c.LinkBits = 100 }, "LinkBits"},
		{"outside the benchmark range", func(c *Config) { c.Subnet = netip.MustParsePrefix("10.0.0.0/24") }, "Subnet"},
		{"wider than the range", func(c *Config) { c.Subnet = netip.MustParsePrefix("198.16.0.0/14") }, "Subnet"},
		{"too small", func(c *Config) { c.Subnet = netip.MustParsePrefix("198.18.0.0/30"); c.Workers = 2 }, "Subnet"},
		{"host sysctl", func(c *Config) { c.Sysctls = map[string]string{"kernel.panic": "1"} }, "Sysctls"},
		{"sysctl path", func(c *Config) { c.Sysctls = map[string]string{"net/../kernel/panic": "1"} }, "Sysctls"},
		{"net sysctl", func(c *Config) { c.Sysctls = map[string]string{"net.ipv4.tcp_slow_start_after_idle": "0"} }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.edit(&c)
			err := c.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("Validate() = %v, want ErrInvalid naming %s", err, tc.field)
			}
		})
	}
}

func TestParseRate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		bad  bool
	}{
		{"1gbit", 1e9, false}, {"100Mbit", 1e8, false}, {"2.5gbit", 25e8, false},
		{"125mbps", 1e9, false}, {"8000", 8000, false}, {"0", 0, false},
		{"fast", 0, true}, {"-1gbit", 0, true}, {"1 parsec", 0, true},
	} {
		got, err := ParseRate(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d (error %v)", tc.in, got, err, tc.want, tc.bad)
		}
		if !tc.bad && tc.want > 0 {
			if back, _ := ParseRate(FormatRate(got)); back != got {
				t.Errorf("ParseRate(FormatRate(%d)) = %d", got, back)
			}
		}
	}
}

// TestClusterSmoke creates a two-worker cluster with quotas and shaped links,
// checks that the namespaces, addresses, qdiscs and cgroups exist and work (a
// process lands in its node's cgroup and namespace, TCP crosses the switch
// and is counted), and that Close removes all of it. It asserts no speed.
func TestClusterSmoke(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.WorkerCPUs, cfg.LinkBits = 2, 0.45, 100e6
	cfg.Sysctls = map[string]string{"net.ipv4.tcp_slow_start_after_idle": "0"}
	needHost(t, cfg)
	ctx := context.Background()
	c, err := Create(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			c.Close()
		}
	}()
	nodes := c.Nodes()
	if len(nodes) != 3 || nodes[0].Name != "coord" || nodes[2].Name != "w1" {
		t.Fatalf("nodes %+v, want coord, w0, w1", nodes)
	}
	for _, n := range nodes {
		if _, err := os.Stat(filepath.Join(netnsDir, n.NetNS)); err != nil {
			t.Errorf("namespace of %s: %v", n.Name, err)
		}
		if !Benchmark.Contains(n.Addr) {
			t.Errorf("%s has address %s outside %s", n.Name, n.Addr, Benchmark)
		}
		a, b, err := c.Shaping(ctx, n.Name)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []string{a, b} {
			if !strings.Contains(q, "tbf") || !strings.Contains(q, "rate 100Mbit") {
				t.Errorf("%s: qdisc %q, want tbf at 100Mbit", n.Name, q)
			}
		}
	}
	w0 := nodes[1]
	quota, err := os.ReadFile(filepath.Join(w0.CPUCgroup, "cpu.cfs_quota_us"))
	if err != nil || strings.TrimSpace(string(quota)) != "45000" {
		t.Fatalf("w0 quota %q (%v), want 45000 µs per 100000", quota, err)
	}
	if nodes[0].CPUCgroup != "" {
		t.Errorf("the coordinator has a cgroup %s without a quota", nodes[0].CPUCgroup)
	}

	// A process started in w0 is in w0's cgroup and namespace from the start,
	// with the namespace's settings.
	cmd, err := c.Command(ctx, "w0", "/bin/sh", "-c", "cat /proc/self/cgroup; readlink /proc/self/ns/net; echo idle=$(cat /proc/sys/net/ipv4/tcp_slow_start_after_idle)")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := c.Start(cmd); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	fi, err := os.Stat(filepath.Join(netnsDir, w0.NetNS))
	if err != nil {
		t.Fatal(err)
	}
	ino := fi.Sys()
	if !strings.Contains(out.String(), "cpu:/"+w0.NetNS) || !strings.Contains(out.String(), "cpuacct:/"+w0.NetNS) {
		t.Errorf("the process's cgroups are\n%s\nwant cpu and cpuacct %s", out.String(), w0.NetNS)
	}
	if want := "net:[" + strconv.FormatUint(inode(ino), 10) + "]"; !strings.Contains(out.String(), want) {
		t.Errorf("the process's namespace is\n%s\nwant %s", out.String(), want)
	}
	if !strings.Contains(out.String(), "idle=0") {
		t.Errorf("the namespace's tcp_slow_start_after_idle:\n%s\nwant idle=0 (Config.Sysctls)", out.String())
	}

	// TCP from w1 to w0 crosses the switch and both ports count it.
	l, err := c.Listen("w0", "tcp", netip.AddrPortFrom(w0.Addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	const n = 1 << 20
	got := make(chan int64, 1)
	go func() {
		conn, err := l.Accept()
		if err != nil {
			got <- -1
			return
		}
		defer conn.Close()
		m, _ := io.Copy(io.Discard, conn)
		got <- m
	}()
	before, err := c.Usage(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := c.DialContext("w1")(dctx, "tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Write(make([]byte, n)); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	if m := <-got; m != n {
		t.Fatalf("w0 received %d bytes, want %d", m, n)
	}
	after, err := c.Usage(ctx, "w1")
	if err != nil {
		t.Fatal(err)
	}
	if sent := after.TxBytes - before.TxBytes; sent < n {
		t.Errorf("w1's switch port counted %d bytes sent, want at least %d", sent, n)
	}
	if _, err := (&net.Dialer{Timeout: time.Second}).Dial("tcp", l.Addr().String()); err == nil {
		t.Errorf("the host's own namespace reached %s: the nodes are not isolated", l.Addr())
	}
	l.Close()

	// A long-running process is stopped by Close, and nothing is left.
	sleeper, err := c.Command(ctx, "w1", "/bin/sleep", "600")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(sleeper); err != nil {
		t.Fatal(err)
	}
	go sleeper.Wait()
	run := c.Run()
	closed = true
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, run)
}

// TestCleanStale leaves a cluster behind as a killed run would (its lock
// released, nothing removed) and checks that CleanStale removes it while a
// live cluster stays.
func TestCleanStale(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Workers, cfg.WorkerCPUs = 1, 0.2
	needHost(t, cfg)
	ctx := context.Background()
	live, err := Create(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	dead, err := Create(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	dead.lock.Close() // the process died: its lock is released, its cluster stays
	n, err := CleanStale(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n < 1 {
		t.Fatalf("CleanStale removed %d runs, want the dead one", n)
	}
	assertGone(t, dead.Run())
	if nss, cgs := runObjects(live.Run()); len(nss) != 3 || len(cgs) != 2 {
		t.Fatalf("the live run has namespaces %v and cgroups %v left, want 3 and 2", nss, cgs)
	}
}

// assertGone fails if anything of run exists.
func assertGone(t *testing.T, run string) {
	t.Helper()
	nss, cgs := runObjects(run)
	if len(nss)+len(cgs) > 0 {
		t.Errorf("run %s left namespaces %v and cgroups %v", run, nss, cgs)
	}
	if _, err := os.Stat(filepath.Join(lockDir, run+".lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("run %s left its lock file (%v)", run, err)
	}
}

// inode returns the inode number of a stat result.
func inode(sys any) uint64 {
	if st, ok := sys.(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}
