package inproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/asfnet/asf/coordinator"
)

// RestartCoordinator stops the coordinator (its loop ends, it leaves the gossip
// and closes the store) and starts a new one on the same gRPC and gossip
// addresses and the same store, which continues the job. It must not be called
// from the coordinator's own hooks (call it from another goroutine). Run keeps
// driving the new coordinator.
func (c *Cluster) RestartCoordinator() error {
	c.cmu.Lock()
	if c.restarting != nil {
		c.cmu.Unlock()
		return errors.New("inproc: a coordinator restart is already in progress")
	}
	ready := make(chan struct{})
	c.restarting = ready
	old, cancel, done := c.C, c.ccancel, c.cdone
	c.cmu.Unlock()
	cancel()
	<-done
	cfg := c.ccfg
	cfg.Listen = old.Addr()
	_, port, _ := net.SplitHostPort(old.GossipAddr())
	cfg.Gossip.BindPort, _ = strconv.Atoi(port)
	cfg.Fresh = false
	var co *coordinator.Coordinator
	var err error
	for range 50 { // the old sockets may take a moment to be released
		if co, err = coordinator.New(c.ctx, cfg); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		c.cmu.Lock()
		c.restartErr = fmt.Errorf("inproc: restarting the coordinator: %w", err)
		c.restarting = nil
		c.cmu.Unlock()
		close(ready)
		return c.restartErr
	}
	c.cmu.Lock()
	c.C = co
	c.cctx, c.ccancel = context.WithCancel(c.ctx)
	c.cdone = make(chan struct{})
	c.restarting = nil
	c.restarts++
	c.cmu.Unlock()
	close(ready)
	return nil
}

// Coordinator returns the current coordinator.
func (c *Cluster) Coordinator() *coordinator.Coordinator {
	c.cmu.Lock()
	defer c.cmu.Unlock()
	return c.C
}
