package job

import (
	"fmt"
	"time"
)

// TaskKind is what the coordinator wants a worker to do.
type TaskKind int

// Task kinds (the values of asfpb.TaskKind).
const (
	TaskWait    TaskKind = iota + 1 // nothing now (a step in flight was abandoned)
	TaskCompute                     // compute a step in a ring
	TaskDone                        // the job is over
	TaskRejoin                      // not a member: join again
)

func (k TaskKind) String() string {
	switch k {
	case TaskWait:
		return "wait"
	case TaskCompute:
		return "compute"
	case TaskDone:
		return "done"
	case TaskRejoin:
		return "rejoin"
	}
	return fmt.Sprintf("task(%d)", int(k))
}

// Task is a coordinator's instruction as it travels to one worker: the
// coordinator builds it from its machine's decision (the ring's addresses,
// the unit's place in the job) and the worker acts on it. It crosses the wire
// as asfpb.Task, converted only there (cluster.TaskToPB, cluster.TaskFromPB).
type Task struct {
	Kind        TaskKind
	Job         string // the job's id
	Generation  uint64
	Step        int // the unit to compute: the units completed before it (for done: those of the final state)
	Epoch       int // the unit's epoch
	StepInEpoch int // its first training step in the epoch
	LocalSteps  int // its training steps (weights mode; 0 or 1 in gradient mode)
	Ring        []Peer
	Rank        int
	Base        Digest        // the state the step starts from (for done: the final state)
	HasBase     bool          // Base is set
	Sync        *Peer         // where to fetch the base state if the worker lacks it (ID "": the coordinator)
	Stall       time.Duration // how long a reduction may go without progress (0: allreduce's default)
	Reason      string        // for wait, done and rejoin
}

// Peer is a node of the cluster: its id and the address of its gRPC server.
type Peer struct{ ID, Addr string }

// SyncMode says how replicas are kept equal.
type SyncMode string

// Sync modes.
const (
	// SyncGradient sums the micro-batch results of every worker every step: the
	// result is bitwise independent of the number of workers.
	SyncGradient SyncMode = "gradient"
	// SyncWeights is local SGD: each worker takes LocalSteps steps on its own
	// micro-batches with its own optimizer, then the weights are averaged
	// through the ring. Deterministic for a fixed number of workers.
	SyncWeights SyncMode = "weights"
)

// Welcome is the coordinator's answer to a worker's registration. It crosses
// the wire as asfpb.JoinResponse (cluster.WelcomeToPB, cluster.WelcomeFromPB).
type Welcome struct {
	JobID           string
	Job             []byte   // the job's JSON (Job.JSON)
	Finished        bool     // the job is over: nothing to do
	Mode            SyncMode // how the replicas are kept equal
	LocalSteps      int      // weights mode: training steps per unit
	Generation      uint64   // the coordinator's current generation
	CoordinatorNode string   // the coordinator's gossip node name
	GossipAddr      string   // and its gossip address
}
