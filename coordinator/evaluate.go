package coordinator

import (
	"time"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// The test evaluation of epoch-end checkpoints, off the event loop.

// evaluator runs the test evaluations one after another, off the event loop.
func (c *Coordinator) evaluator() {
	defer c.bg.Done()
	var wss []*engine.Workspace
	for j := range c.evalQ {
		if wss == nil {
			wss = job.Workspaces(c.prep.Net, c.cfg.EvalThreads)
		}
		if h := c.cfg.Hooks.BeforeEvaluate; h != nil {
			h(j.epoch)
		}
		t0 := time.Now()
		res, err := job.Evaluate(j.model, c.prep.Test, c.job.Seed, wss)
		dur := time.Since(t0)
		if err == nil {
			// The checkpoint was saved before its evaluation: record the
			// accuracy in it, for `asf checkpoint ls` and the "best by test
			// accuracy" retention.
			if serr := c.store.SetTestAccuracy(c.job.ID, j.id, res.Accuracy()); serr != nil {
				c.log.Warn("recording the test accuracy in the checkpoint", "id", j.id, "err", serr)
			}
		}
		c.send(evEval{epoch: j.epoch, res: res, dur: dur, err: err})
	}
}
