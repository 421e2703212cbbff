package job_test

import (
	"fmt"

	"github.com/asfnet/asf/internal/job"
)

// Units in weights mode: epochs of 10 training steps in units of 4 local
// steps are units of 4, 4 and 2 steps; unit 4 is the second unit of the
// second epoch, and 14 training steps are done before it.
func ExampleNewUnits() {
	u := job.NewUnits(10, 4, 2)
	fmt.Println("units per epoch:", u.PerEpoch, "of the job:", u.Total)
	for unit := range u.Total {
		epoch, first, n := u.Unit(unit)
		fmt.Printf("unit %d: epoch %d, steps %d..%d, %d steps done before it\n", unit, epoch, first, first+n-1, u.Steps(unit))
	}
	back, ok := u.UnitOf(14)
	fmt.Println("14 steps done: unit", back, ok)
	_, ok = u.UnitOf(15)
	fmt.Println("15 steps done ends a unit:", ok)
	// Output:
	// units per epoch: 3 of the job: 6
	// unit 0: epoch 0, steps 0..3, 0 steps done before it
	// unit 1: epoch 0, steps 4..7, 4 steps done before it
	// unit 2: epoch 0, steps 8..9, 8 steps done before it
	// unit 3: epoch 1, steps 0..3, 10 steps done before it
	// unit 4: epoch 1, steps 4..7, 14 steps done before it
	// unit 5: epoch 1, steps 8..9, 18 steps done before it
	// 14 steps done: unit 4 true
	// 15 steps done ends a unit: false
}
