//go:build linux

package emucluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Where the kernel interfaces and the lock files are.
const (
	prefix    = "asfemu"
	lockDir   = "/run/asfemu"
	netnsDir  = "/run/netns"
	cpuRoot   = "/sys/fs/cgroup/cpu"
	acctRoot  = "/sys/fs/cgroup/cpuacct"
	cfsPeriod = 100000 // µs, the kernel's default period
)

// seq numbers the clusters of this process.
var seq atomic.Int64

// Cluster is a running emulated cluster. Its methods are safe for concurrent
// use; Close removes it.
type Cluster struct {
	cfg   Config
	run   string
	sw    string // the switch namespace
	nodes []Node
	log   *slog.Logger
	lock  *os.File

	mu     sync.Mutex
	procs  []*exec.Cmd
	closed bool
}

// Check reports, wrapping ErrUnsupported, why this host cannot create a
// cluster with cfg (nil: it can). Quotas need the cgroup v1 cpu controller.
func Check(cfg Config) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("%w: not root (network namespaces, tc and cgroups need root; run with sudo)", ErrUnsupported)
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: no %s command in PATH (install iproute2)", ErrUnsupported, tool)
		}
	}
	if cfg.WorkerCPUs > 0 || cfg.CoordCPUs > 0 {
		for _, f := range []string{filepath.Join(cpuRoot, "cpu.cfs_quota_us"), filepath.Join(acctRoot, "cpuacct.usage")} {
			if _, err := os.Stat(f); err != nil {
				return fmt.Errorf("%w: CPU quotas need the cgroup v1 cpu and cpuacct controllers: %v", ErrUnsupported, err)
			}
		}
	}
	return nil
}

// Create builds the cluster: it first removes what killed earlier runs left,
// then creates the namespaces, links, shaping and cgroups. On failure it
// removes what it created.
func Create(ctx context.Context, cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := Check(cfg); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if n, err := CleanStale(ctx, log); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("removed leftovers of killed runs", "runs", n)
	}
	run := fmt.Sprintf("%d-%d", os.Getpid(), seq.Add(1))
	c := &Cluster{cfg: cfg, run: run, sw: prefix + "-" + run + "-sw", log: log}
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return nil, fmt.Errorf("emucluster: lock directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(lockDir, run+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("emucluster: lock file: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		return nil, fmt.Errorf("emucluster: lock file %s: %w", lock.Name(), err)
	}
	c.lock = lock
	if err := c.build(ctx); err != nil {
		c.Close()
		return nil, err
	}
	log.Info("emulated cluster up", "run", run, "workers", cfg.Workers, "cpus", cfg.WorkerCPUs, "link", FormatRate(cfg.LinkBits))
	return c, nil
}

// build creates the switch and the nodes.
func (c *Cluster) build(ctx context.Context) error {
	if err := c.ip(ctx, "netns", "add", c.sw); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"-n", c.sw, "link", "set", "lo", "up"},
		{"-n", c.sw, "link", "add", "br0", "type", "bridge"},
		{"-n", c.sw, "link", "set", "br0", "up"},
	} {
		if err := c.ip(ctx, args...); err != nil {
			return err
		}
	}
	addr := c.cfg.Subnet.Masked().Addr()
	for i := 0; i <= c.cfg.Workers; i++ {
		addr = addr.Next()
		n := Node{Name: "coord", Addr: addr, Port: fmt.Sprintf("p%d", i), CPUs: c.cfg.CoordCPUs}
		if i > 0 {
			n.Name, n.CPUs = fmt.Sprintf("w%d", i-1), c.cfg.WorkerCPUs
		}
		n.NetNS = prefix + "-" + c.run + "-" + n.Name
		c.nodes = append(c.nodes, n)
		if err := c.addNode(ctx, &c.nodes[len(c.nodes)-1]); err != nil {
			return err
		}
	}
	return nil
}

// addNode creates one node's namespace, link, shaping and cgroups.
func (c *Cluster) addNode(ctx context.Context, n *Node) error {
	if err := c.ip(ctx, "netns", "add", n.NetNS); err != nil {
		return err
	}
	cidr := fmt.Sprintf("%s/%d", n.Addr, c.cfg.Subnet.Bits())
	for _, args := range [][]string{
		{"-n", c.sw, "link", "add", n.Port, "type", "veth", "peer", "name", "eth0", "netns", n.NetNS},
		{"-n", c.sw, "link", "set", n.Port, "master", "br0", "up"},
		{"-n", n.NetNS, "link", "set", "lo", "up"},
		{"-n", n.NetNS, "addr", "add", cidr, "dev", "eth0"},
		{"-n", n.NetNS, "link", "set", "eth0", "up"},
	} {
		if err := c.ip(ctx, args...); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(c.cfg.Sysctls)) {
		if err := c.ip(ctx, "netns", "exec", n.NetNS, "sysctl", "-q", "-w", k+"="+c.cfg.Sysctls[k]); err != nil {
			return err
		}
	}
	if c.cfg.LinkBits > 0 {
		for _, end := range []struct{ ns, dev string }{{n.NetNS, "eth0"}, {c.sw, n.Port}} {
			if err := c.tc(ctx, append([]string{"-n", end.ns, "qdisc", "add", "dev", end.dev, "root"}, tbf(c.cfg.LinkBits)...)...); err != nil {
				return err
			}
		}
	}
	if n.CPUs > 0 {
		n.CPUCgroup = filepath.Join(cpuRoot, n.NetNS)
		n.AcctCgroup = filepath.Join(acctRoot, n.NetNS)
		for _, d := range []string{n.CPUCgroup, n.AcctCgroup} {
			if err := os.Mkdir(d, 0o755); err != nil {
				return fmt.Errorf("emucluster: cgroup of node %s: %w", n.Name, err)
			}
		}
		quota := int64(math.Round(n.CPUs * cfsPeriod))
		if err := writeFile(filepath.Join(n.CPUCgroup, "cpu.cfs_period_us"), strconv.Itoa(cfsPeriod)); err != nil {
			return err
		}
		if err := writeFile(filepath.Join(n.CPUCgroup, "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
	}
	c.log.Debug("node created", "node", n.Name, "netns", n.NetNS, "addr", n.Addr, "cpus", n.CPUs)
	return nil
}

// tbf returns the tc arguments of a token bucket at rate bit/s. The bucket
// holds 2 ms at the rate, and at least 128 KiB: veth passes segmentation-offload
// frames of up to 64 KiB, which a smaller bucket would drop.
func tbf(rate int64) []string {
	burst := max(rate/8/500, 128<<10)
	return []string{"tbf", "rate", strconv.FormatInt(rate, 10) + "bit", "burst", strconv.FormatInt(burst, 10), "latency", "50ms"}
}

// Command returns a command that runs program with args in node: inside its
// network namespace, its cgroups joined before the program starts. Stop the
// command with its Process or by closing the cluster; the cluster keeps track
// of it once it is started with Start.
func (c *Cluster) Command(ctx context.Context, node, program string, args ...string) (*exec.Cmd, error) {
	n, ok := c.Node(node)
	if !ok {
		return nil, fmt.Errorf("%w: %q (have coord and w0..w%d)", ErrNoNode, node, c.cfg.Workers-1)
	}
	cpu, acct := "/dev/null", "/dev/null"
	if n.CPUCgroup != "" {
		cpu, acct = filepath.Join(n.CPUCgroup, "cgroup.procs"), filepath.Join(n.AcctCgroup, "cgroup.procs")
	}
	// The shell moves itself into the cgroups, then becomes ip, which enters
	// the namespace and becomes the program: one process all along.
	script := `echo $$ >"$1" && echo $$ >"$2" && shift 2 && exec ip netns exec "$@"`
	argv := append([]string{"-c", script, "sh", cpu, acct, n.NetNS, program}, args...)
	cmd := exec.CommandContext(ctx, "/bin/sh", argv...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// Start starts cmd (from Command) and records it, so that Close stops it.
func (c *Cluster) Start(cmd *exec.Cmd) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("emucluster: cluster %s is closed", c.run)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	c.procs = append(c.procs, cmd)
	return nil
}

// DialContext returns a dial function whose sockets are made inside node's
// namespace (the caller stays in its own).
func (c *Cluster) DialContext(node string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		n, ok := c.Node(node)
		if !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoNode, node)
		}
		return dialIn(ctx, filepath.Join(netnsDir, n.NetNS), network, addr)
	}
}

// dialIn dials from a thread inside the namespace at nsPath.
func dialIn(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if _, err := netip.ParseAddr(host); err != nil {
		// A name would be resolved in parallel goroutines, on other threads.
		return nil, fmt.Errorf("emucluster: dial %s: want a literal IP address", addr)
	}
	var conn net.Conn
	err = inNetNS(nsPath, func() (err error) {
		conn, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return conn, err
}

// Listen returns a listener whose socket is made inside node's namespace.
func (c *Cluster) Listen(node, network, addr string) (net.Listener, error) {
	n, ok := c.Node(node)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNoNode, node)
	}
	var l net.Listener
	err := inNetNS(filepath.Join(netnsDir, n.NetNS), func() (err error) {
		l, err = net.Listen(network, addr)
		return err
	})
	return l, err
}

// inNetNS runs f on a thread that entered the namespace at nsPath. A socket
// belongs to the namespace it was made in, whatever thread uses it later. If
// the thread cannot return to its own namespace it stays locked, and the
// runtime discards it when the goroutine ends.
func inNetNS(nsPath string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		unlock := true
		defer func() {
			if unlock {
				runtime.UnlockOSThread()
			}
		}()
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			ch <- err
			return
		}
		defer self.Close()
		target, err := os.Open(nsPath)
		if err != nil {
			ch <- err
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- fmt.Errorf("emucluster: enter %s: %w", nsPath, err)
			return
		}
		err = f()
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) != nil {
			unlock = false
		}
		ch <- err
	}()
	return <-ch
}

// Usage returns what node's cgroups and switch port have counted so far.
func (c *Cluster) Usage(ctx context.Context, node string) (Usage, error) {
	n, ok := c.Node(node)
	if !ok {
		return Usage{}, fmt.Errorf("%w: %q", ErrNoNode, node)
	}
	var u Usage
	if n.AcctCgroup != "" {
		b, err := os.ReadFile(filepath.Join(n.AcctCgroup, "cpuacct.usage"))
		if err != nil {
			return u, fmt.Errorf("emucluster: usage of %s: %w", n.Name, err)
		}
		ns, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil {
			return u, fmt.Errorf("emucluster: %s/cpuacct.usage: want nanoseconds, got %q", n.AcctCgroup, b)
		}
		u.CPU = time.Duration(ns)
		st, err := os.ReadFile(filepath.Join(n.CPUCgroup, "cpu.stat"))
		if err != nil {
			return u, fmt.Errorf("emucluster: usage of %s: %w", n.Name, err)
		}
		for line := range strings.Lines(string(st)) {
			k, v, _ := strings.Cut(strings.TrimSpace(line), " ")
			x, _ := strconv.ParseInt(v, 10, 64)
			switch k {
			case "nr_periods":
				u.Periods = x
			case "nr_throttled":
				u.ThrottledPeriods = x
			case "throttled_time":
				u.Throttled = time.Duration(x)
			}
		}
	}
	out, err := c.output(ctx, "ip", "-n", c.sw, "-s", "-j", "link", "show", "dev", n.Port)
	if err != nil {
		return u, err
	}
	var links []struct {
		Stats struct {
			RX struct{ Bytes int64 } `json:"rx"`
			TX struct{ Bytes int64 } `json:"tx"`
		} `json:"stats64"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return u, fmt.Errorf("emucluster: ip -s -j link show %s: want one link's statistics, got %q", n.Port, out)
	}
	// The switch port receives what the node sends.
	u.TxBytes, u.RxBytes = links[0].Stats.RX.Bytes, links[0].Stats.TX.Bytes
	return u, nil
}

// Shaping returns the qdiscs of node's two link ends, as tc shows them.
func (c *Cluster) Shaping(ctx context.Context, node string) (nodeEnd, switchEnd string, err error) {
	n, ok := c.Node(node)
	if !ok {
		return "", "", fmt.Errorf("%w: %q", ErrNoNode, node)
	}
	a, err := c.output(ctx, "tc", "-n", n.NetNS, "qdisc", "show", "dev", "eth0", "root")
	if err != nil {
		return "", "", err
	}
	b, err := c.output(ctx, "tc", "-n", c.sw, "qdisc", "show", "dev", n.Port, "root")
	return strings.TrimSpace(string(a)), strings.TrimSpace(string(b)), err
}

// Close stops the processes started in the cluster (SIGTERM, then SIGKILL
// after a few seconds) and removes the namespaces, links and cgroups. It
// returns the first failure but always tries everything.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	procs := c.procs
	c.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.Process.Pid, syscall.SIGTERM)
	}
	// removeRun kills (SIGKILL) whatever still runs; give the programs a few
	// seconds to finish cleanly first.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if len(runPids(context.Background(), c.run)) == 0 {
			break
		}
	}
	err := removeRun(context.Background(), c.run, c.log)
	if c.lock != nil {
		if e := os.Remove(c.lock.Name()); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
			err = e
		}
		c.lock.Close()
	}
	c.log.Info("emulated cluster removed", "run", c.run)
	return err
}

// CleanStale removes the namespaces and cgroups of runs whose creator is gone
// (its lock file is not held, or it has none) and returns how many runs it
// removed. Runs of live processes are left alone.
func CleanStale(ctx context.Context, log *slog.Logger) (int, error) {
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	runs := map[string]bool{}
	for _, dir := range []string{netnsDir, cpuRoot, acctRoot} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if r, ok := runOf(e.Name()); ok {
				runs[r] = true
			}
		}
	}
	locks, _ := filepath.Glob(filepath.Join(lockDir, "*.lock"))
	for _, l := range locks {
		runs[strings.TrimSuffix(filepath.Base(l), ".lock")] = true
	}
	removed := 0
	var first error
	for r := range runs {
		lf := filepath.Join(lockDir, r+".lock")
		f, err := os.OpenFile(lf, os.O_RDWR, 0)
		if err == nil {
			if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
				f.Close() // held: a live run
				continue
			}
		}
		log.Info("removing a killed run's leftovers", "run", r)
		if err := removeRun(ctx, r, log); err != nil && first == nil {
			first = err
		}
		if f != nil {
			os.Remove(lf)
			f.Close()
		}
		removed++
	}
	return removed, first
}

// runOf returns the run of a name asfemu-<pid>-<seq>-<node>.
func runOf(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return "", false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) != 3 {
		return "", false
	}
	for _, p := range parts[:2] {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return "", false
		}
	}
	return parts[0] + "-" + parts[1], true
}

// removeRun kills what runs in the run's namespaces and cgroups and removes
// them.
func removeRun(ctx context.Context, run string, log *slog.Logger) error {
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	for _, pid := range runPids(ctx, run) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	nss, cgs := runObjects(run)
	// Node namespaces first: deleting one destroys its veth pair.
	for _, ns := range nss {
		if !strings.HasSuffix(ns, "-sw") {
			keep(run1(ctx, log, "ip", "netns", "del", ns))
		}
	}
	for _, ns := range nss {
		if strings.HasSuffix(ns, "-sw") {
			keep(run1(ctx, log, "ip", "netns", "del", ns))
		}
	}
	for _, cg := range cgs {
		// A killed process leaves its cgroup a moment after the signal.
		var err error
		for range 50 {
			if err = os.Remove(cg); err == nil || errors.Is(err, os.ErrNotExist) {
				err = nil
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			keep(fmt.Errorf("emucluster: remove cgroup %s: %w", cg, err))
		}
	}
	return first
}

func (c *Cluster) ip(ctx context.Context, args ...string) error {
	return run1(ctx, c.log, "ip", args...)
}
func (c *Cluster) tc(ctx context.Context, args ...string) error {
	return run1(ctx, c.log, "tc", args...)
}

// run1 runs a command and turns its failure into an error naming it.
func run1(ctx context.Context, log *slog.Logger, name string, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(context.WithoutCancel(ctx), name, args...)
	cmd.Stderr = &stderr
	log.Debug("exec", "cmd", name+" "+strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("emucluster: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

func (c *Cluster) output(ctx context.Context, name string, args ...string) ([]byte, error) {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("emucluster: %s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

func writeFile(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("emucluster: write %s = %s: %w", path, v, err)
	}
	return nil
}

// runObjects returns the names of the run's namespaces and the paths of its
// cgroup directories.
func runObjects(run string) (nss, cgs []string) {
	pre := prefix + "-" + run + "-"
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), pre) {
			nss = append(nss, e.Name())
		}
	}
	for _, root := range []string{cpuRoot, acctRoot} {
		ents, _ := os.ReadDir(root)
		for _, e := range ents {
			if e.IsDir() && strings.HasPrefix(e.Name(), pre) {
				cgs = append(cgs, filepath.Join(root, e.Name()))
			}
		}
	}
	return nss, cgs
}

// runPids returns the processes in the run's namespaces and cgroups.
func runPids(ctx context.Context, run string) []int {
	nss, cgs := runObjects(run)
	var pids []int
	add := func(text string) {
		for f := range strings.FieldsSeq(text) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	for _, ns := range nss {
		out, _ := exec.CommandContext(ctx, "ip", "netns", "pids", ns).Output()
		add(string(out))
	}
	for _, cg := range cgs {
		b, _ := os.ReadFile(filepath.Join(cg, "cgroup.procs"))
		add(string(b))
	}
	return pids
}
