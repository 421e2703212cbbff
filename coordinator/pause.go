package coordinator

import (
	"sync/atomic"
	"time"
)

// A coordinator that did not run for a while (SIGSTOP then SIGCONT, a
// suspended VM, a starved host) must not blame the workers for the time it
// lost: on waking, the step it issued looks overdue, the polls the workers
// held open have broken off, and the gossip may report members it could not
// hear. A watchdog goroutine, independent of the event loop (whose hooks may
// block it), notes the wall-clock jumps of its own ticker; the loop then
// tells the machine (Paused), which restarts the step deadline and, for a
// grace period, has a member that seems gone probed instead of evicting it at
// once.
const (
	watchEvery = 100 * time.Millisecond
	// pauseGap is the jump of the watchdog's clock that counts as a pause of
	// the process: ten of its ticks.
	pauseGap = time.Second
	// pauseGrace is how long after a pause a disconnect or a gossip failure
	// is checked before it evicts: the workers' broken polls and the gossip's
	// suspicions of the pause settle within it.
	pauseGrace = 10 * time.Second
)

// watchdog notes how long the process went without running.
type watchdog struct {
	alive  atomic.Int64 // UnixNano of the watchdog's last tick
	paused atomic.Int64 // nanoseconds of pauses seen and not yet taken
}

// watch runs the watchdog until quit is closed.
func (w *watchdog) watch(quit <-chan struct{}) {
	t := time.NewTicker(watchEvery)
	defer t.Stop()
	last := time.Now()
	w.alive.Store(last.UnixNano())
	for {
		select {
		case <-quit:
			return
		case now := <-t.C:
			if gap := now.Sub(last); gap > pauseGap {
				w.paused.Add(int64(gap - watchEvery))
			}
			last = now
			w.alive.Store(now.UnixNano())
		}
	}
}

// take returns the pause the loop has not taken into account yet: what the
// watchdog saw, or, when it has not run for more than pauseGap (the loop woke
// first), the time since its last tick.
func (w *watchdog) take(now time.Time) time.Duration {
	d := time.Duration(w.paused.Swap(0))
	if since := now.Sub(time.Unix(0, w.alive.Load())); since > pauseGap {
		d = max(d, since-watchEvery)
		w.alive.Store(now.UnixNano()) // counted once
	}
	return d
}

// checkPause takes a pause of the process into account before the loop acts
// on anything: the machine restarts its deadline and, for pauseGrace, probes
// a member that seems gone instead of evicting it.
func (c *Coordinator) checkPause(now time.Time) {
	d := c.watch.take(now)
	if d <= 0 {
		return
	}
	c.log.Warn("the coordinator did not run for a while (stopped, suspended or starved): the step deadline restarts and, for a while, workers that seem gone are checked before they are evicted",
		"paused", d.Round(time.Millisecond), "grace", pauseGrace)
	c.m.Paused(now, d)
}
