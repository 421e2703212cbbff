package coordinator

import (
	"errors"
	"fmt"
	"slices"

	"github.com/asfnet/asf/dataset"
)

// ErrLedger reports a ledger that does not account for every micro-batch of
// every committed step exactly once.
var ErrLedger = errors.New("coordinator: ledger inconsistent")

// LedgerRow records who computed what in one committed step.
type LedgerRow struct {
	Step       int      // global step (0-based)
	Generation uint64   // the generation that committed it
	Workers    []string // the ring, in rank order
	Micro      [][]int  // per ring position: the micro-batches of the step it reported computing
	Adopted    bool     // the state after this step was adopted from workers after a restart: who computed what is unknown
	Restored   bool     // the row was rebuilt from the metrics history after a restart: who computed what is unknown
	Recomputed bool     // the step had been committed before a rollback
}

// Ledger is the record of every committed step, indexed by step.
type Ledger []LedgerRow

// Verify checks that row i records step i, and that in every row with details
// the micro-batches the ring members reported computing are exactly
// 0..numMicro(step)-1, each once.
func (l Ledger) Verify(numMicro func(step int) int) error {
	for i, r := range l {
		if r.Step != i {
			return fmt.Errorf("%w: row %d records step %d", ErrLedger, i, r.Step)
		}
		if r.Adopted || r.Restored {
			continue
		}
		n := numMicro(r.Step)
		seen := make([]int, n)
		for w, mbs := range r.Micro {
			for _, j := range mbs {
				if j < 0 || j >= n {
					return fmt.Errorf("%w: step %d: %s reported micro-batch %d of %d", ErrLedger, r.Step, r.Workers[w], j, n)
				}
				seen[j]++
			}
		}
		for j, c := range seen {
			if c != 1 {
				return fmt.Errorf("%w: step %d: micro-batch %d computed %d times", ErrLedger, r.Step, j, c)
			}
		}
	}
	return nil
}

// SampleUse returns, for epoch e of a job with the given plan and seed run in
// units of h training steps (1 in gradient mode), how often the committed
// units of the ledger used each training sample: every count is 1 when the
// epoch is complete and accounted for exactly once. Rows without details
// count their whole unit.
func (l Ledger) SampleUse(plan dataset.Plan, seed uint64, e, h int) []int {
	use := make([]int, plan.N)
	perm := dataset.Perm(seed, e, plan.N)
	spe := (plan.Steps() + h - 1) / h
	for _, r := range l {
		if r.Step/spe != e {
			continue
		}
		mbs := UnitMicroBatches(plan, perm, r.Step%spe, h)
		var done []int
		if r.Adopted || r.Restored {
			for j := range mbs {
				done = append(done, j)
			}
		} else {
			for _, w := range r.Micro {
				done = append(done, w...)
			}
		}
		for _, j := range done {
			if j >= 0 && j < len(mbs) {
				for _, s := range mbs[j] {
					use[s]++
				}
			}
		}
	}
	return use
}

// UnitMicroBatches returns the micro-batches of unit u of an epoch (its h
// steps from step u*h on, the last unit possibly shorter), numbered in order:
// a unit's micro-batch j is what a report's micro_batches names.
func UnitMicroBatches(plan dataset.Plan, perm []int, u, h int) [][]int {
	var mbs [][]int
	for s := u * h; s < min((u+1)*h, plan.Steps()); s++ {
		mbs = append(mbs, plan.MicroBatches(perm, s)...)
	}
	return mbs
}

// clone returns a deep copy of r.
func (r LedgerRow) clone() LedgerRow {
	c := r
	c.Workers = slices.Clone(r.Workers)
	c.Micro = make([][]int, len(r.Micro))
	for i := range r.Micro {
		c.Micro[i] = slices.Clone(r.Micro[i])
	}
	return c
}
