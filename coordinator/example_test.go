package coordinator_test

import (
	"fmt"
	"time"

	"github.com/asfnet/asf/coordinator"
)

// The machine is driven by events that carry their own time; its decisions are
// drained with Outputs and its instructions read with Task. Two workers join a
// job of one epoch of two steps, compute step 0 and agree on its result.
func ExampleMachine() {
	now := time.Unix(0, 0)
	cfg := coordinator.MachineConfig{TotalSteps: 2, StepsPerEpoch: 2, StartWorkers: 2, MinWorkers: 1,
		StepDeadline: time.Minute, RetryDelay: time.Second, MaxRetryDelay: 4 * time.Second}
	fresh := coordinator.Digest{0xF}
	m, err := coordinator.NewMachine(cfg, coordinator.Start{Fresh: fresh}, now)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, id := range []string{"w1", "w2"} {
		m.Join(now, coordinator.JoinInfo{ID: id, Incarnation: id + "-1", Session: "s1", Ready: true})
	}
	for _, o := range m.Outputs() {
		fmt.Println(o)
	}
	t := m.Task("w2")
	fmt.Println("w2:", t.Kind, "generation", t.Generation, "step", t.Step, "rank", t.Rank)

	after := coordinator.Digest{0xA}
	for _, id := range []string{"w1", "w2"} {
		m.Report(now, coordinator.Report{ID: id, Generation: t.Generation, Step: 0, OK: true, Digest: after})
	}
	for _, o := range m.Outputs() {
		fmt.Println(o)
	}
	fmt.Println("committed state:", m.State())
	// Output:
	// generation 1 ring [w1 w2] step 0 (start)
	// w2: compute generation 1 step 0 rank 1
	// commit step 0 generation 1 digest 0a000000
	// committed state: step 1 (0a000000)
}
