// Package e2e is the end-to-end test of the compose cluster (deploy/compose.yaml):
// it builds the images, starts a coordinator and workers in containers on an
// MNIST subset, disturbs them from a fault schedule (docker kill, docker
// network disconnect and connect, a coordinator killed and started again),
// and checks that the job completes with the weight digest of the same job
// run in one process and that no container panicked. The test runs when
// `docker info` works and says why it skips otherwise.
//
// This file holds the fault schedule; the test is in e2e_test.go.
package e2e

import (
	"strconv"

	"github.com/asfnet/asf/internal/faults"
)

// ErrSchedule reports a schedule that does not parse.
var ErrSchedule = faults.ErrSchedule

// Action is what a schedule entry does to a node.
type Action = faults.Action

// The actions.
const (
	// Kill is `docker kill` (SIGKILL) of a worker container; it stays down.
	Kill Action = "kill"
	// Disconnect is `docker network disconnect` of a worker for Duration, then
	// `docker network connect`; the entry completes at the reconnection.
	Disconnect Action = "disconnect"
	// Restart is `docker kill` of the coordinator container, then `docker
	// start`: a crash and a restart on the same store volume.
	Restart Action = "restart"
	// InRing is no fault: the entry completes once the node is in the
	// coordinator's ring (after a disconnection, it proves the node came back).
	InRing Action = "in-ring"
)

// Fault is one entry of a schedule (package faults): Action on Node once the
// coordinator has committed Step steps, or (After, written "+N") Step steps
// after the previous entry completed.
type Fault = faults.Fault

// Schedule is a list of faults, applied in order: an entry is not started
// before the one before it has completed.
type Schedule = faults.Schedule

// language is the e2e runner's part of the fault language: workers are
// w1, w2, ... in compose's numbering.
var language = faults.Language{
	Rules: []faults.Rule{
		{Action: Kill, Target: faults.Worker},
		{Action: Disconnect, Target: faults.Worker, Duration: true},
		{Action: Restart, Target: faults.CoordinatorOnly},
		{Action: InRing, Target: faults.Worker},
	},
	IsWorker: isWorkerName,
	Workers:  "w1, w2, ...",
}

// ParseSchedule reads "STEP NODE ACTION [DURATION]; ..." (package faults)
// where STEP is a committed step count or +N (N steps after the previous
// entry completed), NODE is w1, w2, ... or coordinator, and ACTION is kill,
// disconnect (with a duration), restart (coordinator only) or in-ring.
// Example:
//
//	5 w2 disconnect 20s; +0 w2 in-ring; +5 w1 kill; +10 coordinator restart
func ParseSchedule(s string) (Schedule, error) { return language.Parse(s) }

// WorkerIndex returns n for a node named wn (1-based), or 0.
func WorkerIndex(node string) int {
	if !isWorkerName(node) {
		return 0
	}
	n, _ := strconv.Atoi(node[1:])
	return n
}

func isWorkerName(s string) bool {
	if len(s) < 2 || s[0] != 'w' || s[1] == '0' {
		return false
	}
	for _, c := range s[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
