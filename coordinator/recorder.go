package coordinator

import (
	"fmt"

	"github.com/asfnet/asf/checkpoint"
)

// The metrics history: points written to the store off the event loop.

// record queues a point of the metrics history. Points are written in order,
// in batches, off the event loop: a step does not wait for a disk sync.
func (c *Coordinator) record(p checkpoint.MetricPoint) {
	c.queued++
	c.metricsQ <- p
}

// flushMetrics waits until every queued point is on disk (or failed).
func (c *Coordinator) flushMetrics() {
	c.wmu.Lock()
	for c.written < c.queued {
		c.wcond.Wait()
	}
	c.wmu.Unlock()
}

// recorder writes the queued metrics points until the queue is closed.
func (c *Coordinator) recorder() {
	defer c.bg.Done()
	for p := range c.metricsQ {
		batch := []checkpoint.MetricPoint{p}
	more:
		for {
			select {
			case q, ok := <-c.metricsQ:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		err := c.store.AppendMetrics(batch...)
		c.wmu.Lock()
		c.written += len(batch)
		c.wcond.Broadcast()
		c.wmu.Unlock()
		if err != nil { // after the count: the loop may be waiting for it
			c.log.Error("recording the metrics history", "err", err)
			c.send(evFatal{err: fmt.Errorf("coordinator: the metrics history: %w", err)})
		}
	}
}
