// Package emucluster emulates a cluster of machines on one Linux host, so that
// the real asf-coordinator and asf-worker binaries can be measured as if each
// ran on its own computer.
//
// Every node (the coordinator and each worker) gets
//
//   - its own network namespace, with one interface eth0 and an address from
//     198.18.0.0/15 (the range RFC 2544 reserves for benchmarks, so it can
//     never be a real host);
//   - a veth pair from eth0 to a bridge that lives in a namespace of its own
//     (the "switch"), so nothing is added to the host's own namespace;
//   - a shaped link: a tbf qdisc at the link rate on both ends of the veth pair
//     (the node's upload on eth0, its download on the switch port), which makes
//     each link full duplex at the given rate like a switched Ethernet port;
//   - a CPU quota: a cgroup v1 cpu directory with cpu.cfs_quota_us set to the
//     node's share of cpu.cfs_period_us, and a cpuacct directory that counts
//     the CPU time the node used.
//
// Processes are started in a node with Cluster.Command, which joins the
// cgroups before it execs `ip netns exec <ns> <program>`, so every thread the
// program starts is accounted from its first instruction. The process that
// builds a cluster can reach the nodes with Cluster.DialContext (a socket made
// inside the node's namespace) or Cluster.HTTPClient.
//
// Everything created is named asfemu-<run>-..., where run identifies the
// creating process, and recorded by a lock file /run/asfemu/<run>.lock that the
// creator holds (flock) for the cluster's lifetime. Close removes it all;
// Create first removes what earlier runs left behind when they were killed
// (their lock is no longer held), so a SIGKILL costs nothing but a later
// cleanup. Creating a cluster needs root, the ip and tc commands (iproute2) and
// the cgroup v1 cpu and cpuacct controllers; Check says which is missing.
package emucluster
