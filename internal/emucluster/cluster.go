package emucluster

import (
	"net/http"
	"net/netip"
	"time"
)

// Node is one emulated machine.
type Node struct {
	// Name is coord or w<i>.
	Name string
	// NetNS is the name of its network namespace (ip netns list).
	NetNS string
	// Addr is its address on eth0.
	Addr netip.Addr
	// Port is the name of its veth end on the switch's bridge.
	Port string
	// CPUs is its quota in cores (0: none).
	CPUs float64
	// CPUCgroup and AcctCgroup are its cgroup v1 directories (cpu, cpuacct).
	CPUCgroup, AcctCgroup string
}

// Usage is what a node's cgroups and switch port counted.
type Usage struct {
	// CPU is the CPU time its processes used (cpuacct.usage).
	CPU time.Duration
	// Throttled is how often and how long the quota stopped it (cpu.stat).
	Periods, ThrottledPeriods int64
	Throttled                 time.Duration
	// TxBytes and RxBytes are the bytes the node sent and received on its
	// link, as counted by its switch port (Ethernet frames, all traffic).
	TxBytes, RxBytes int64
}

// HTTPClient returns an HTTP client whose connections are made inside node's
// namespace, for its (or its neighbours') HTTP endpoints.
func (c *Cluster) HTTPClient(node string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       c.DialContext(node),
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

// Nodes returns the coordinator node followed by the workers.
func (c *Cluster) Nodes() []Node {
	out := make([]Node, len(c.nodes))
	copy(out, c.nodes)
	return out
}

// Node returns the node of that name.
func (c *Cluster) Node(name string) (Node, bool) {
	for _, n := range c.nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// Run is the identifier of this cluster's run (the middle of its names).
func (c *Cluster) Run() string { return c.run }

// Config returns the configuration the cluster was created with.
func (c *Cluster) Config() Config { return c.cfg }
