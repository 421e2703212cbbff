package coordinator

import (
	"time"

	"github.com/asfnet/asf/checkpoint"
)

// unitStats are the statistics of each committed unit of work (index = unit),
// from the metrics history at start and from each commit after: the epoch in
// progress is reported whole even when this coordinator ran only its end.
type unitStats map[int]StepStats

// replay applies one point of the history.
func (h unitStats) replay(c *Coordinator, p checkpoint.MetricPoint) {
	switch p.Kind {
	case "reset":
		clear(h)
	case "rollback":
		if u, ok := c.units.UnitOf(p.Step); ok {
			h.truncate(u)
		}
	case "step":
		if u, ok := c.units.UnitOf(p.Step); ok && u >= 1 && p.Samples > 0 {
			h[u-1] = StepStats{MSE: p.MSE, CE: p.CE, Correct: p.Correct, Samples: p.Samples}
		}
	}
}

// truncate forgets the units from u on (they will be done again).
func (h unitStats) truncate(u int) {
	for k := range h {
		if k >= u {
			delete(h, k)
		}
	}
}

// epochAt is the accumulator of the epoch in progress when unit u is next:
// the statistics of that epoch's units before u, added in order (the same sums
// an uninterrupted run has), timed from now.
func (c *Coordinator) epochAt(u int, now time.Time) epochAcc {
	a := epochAcc{epoch: u / c.units.PerEpoch, start: now}
	if missing := c.hist.addTo(&a, a.epoch*c.units.PerEpoch, u); missing > 0 {
		c.log.Warn("the metrics history lacks steps of the epoch in progress: its train loss and accuracy will cover only the rest",
			"epoch", a.epoch+1, "missing_units", missing)
	}
	return a
}

// addTo adds the statistics of units lo..hi-1 to a, in order, and returns how
// many of them the history lacks.
func (h unitStats) addTo(a *epochAcc, lo, hi int) (missing int) {
	for k := lo; k < hi; k++ {
		s, ok := h[k]
		if !ok {
			missing++
			continue
		}
		a.mse += s.MSE
		a.ce += s.CE
		a.correct += s.Correct
		a.samples += s.Samples
	}
	return missing
}

// report is the training part of the epoch's report: the mean loss,
// cross-entropy and accuracy over the samples added.
func (a *epochAcc) report() EpochReport {
	n := float64(max(1, a.samples))
	return EpochReport{Epoch: a.epoch, TrainLoss: a.mse / n, TrainCE: a.ce / n, TrainAcc: float64(a.correct) / n}
}
