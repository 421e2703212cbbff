// Package cluster holds what the coordinator and the workers share: gossip
// membership over hashicorp/memberlist (node metadata with role, gRPC address
// and version), the chunked transfer of training state over the WorkerState
// service, and the gRPC edge of the domain types of package job (wire.go):
// the one place where a Task, a Report, a Welcome or held states are
// converted to and from their asfpb messages.
//
// # Membership
//
// Every node (the coordinator and each worker) runs one memberlist member. Its
// metadata (JSON, well below memberlist's 512-byte limit) carries the node's
// role, its stable id, the address of its gRPC server and its build version;
// workers find the coordinator's gRPC address in it. Node names are the id
// plus a per-process nonce, so that a restarted process never collides with
// the dead entry of its predecessor.
//
// DefaultMembershipConfig is tuned for a LAN or loopback: a member probes one
// other member every ProbeInterval (500 ms) and waits ProbeTimeout (250 ms) for
// the ack, then asks others to probe indirectly for the rest of the interval;
// a member that fails is suspected, and with SuspicionMult 2 the suspicion
// expires after SuspicionMult*ProbeInterval = 1 s (for fewer than 10 members).
// A crashed or stopped node is therefore declared dead, and the coordinator
// told, about 1.5 to 2.5 s after it stops answering (FailureDetectionTime
// gives the bound for a configuration). A graceful Leave is seen at once.
package cluster
