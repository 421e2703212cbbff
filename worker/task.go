package worker

import "github.com/asfnet/asf/internal/job"

// order is a coordinator instruction as the poll received it: the domain
// task, converted from the wire there (cluster.TaskFromPB), and the error of
// a base digest that did not decode, which fails the step (fatally) or the
// job's end.
type order struct {
	job.Task
	BaseErr error
}

// haveKey is the instruction a worker has, as it tells the coordinator.
type haveKey struct {
	kind job.TaskKind
	gen  uint64
	step int
}

func keyOf(t job.Task) haveKey { return haveKey{kind: t.Kind, gen: t.Generation, step: t.Step} }
