package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrJoin means no member answered through the configured join addresses
// within Config.JoinWait; the message says what was found at each.
var ErrJoin = errors.New("worker: cannot join the cluster")

// joinGossip joins the cluster's gossip through the configured addresses,
// retrying until one answers, ctx ends (nil is returned: Run sees ctx) or the
// core gives up (after Config.JoinWait: ErrJoin, saying what each address
// is). When to say what, and how long to wait, the core decides.
func (w *Worker) joinGossip(ctx context.Context, c *core) error {
	c.gossipBegin(time.Now())
	for {
		if ip := w.takeMove(); ip != "" {
			w.movedTo = ip // readvertise joins from the new address
			return nil
		}
		var problems []string
		for _, addr := range w.cfg.Join {
			err := w.ml.Join([]string{addr})
			if err == nil {
				if d := c.gossipJoined(time.Now()); d.Joined {
					w.log.Info("joined the gossip", "via", addr, "after", d.Waited.Round(time.Millisecond))
				}
				return nil
			}
			problems = append(problems, joinProblem(addr, err))
		}
		what := strings.Join(problems, "; ")
		d := c.gossipFailed(time.Now(), what)
		if d.GiveUp {
			w.log.Error("giving up joining the cluster", "problem", what, "waited", d.Waited.Round(time.Second))
			return fmt.Errorf("%w via %s within %v: %s", ErrJoin, strings.Join(w.cfg.Join, ", "), w.cfg.JoinWait, what)
		}
		if d.Warn {
			left := "for ever"
			if d.Left > 0 {
				left = d.Left.Round(time.Second).String() + " more"
			}
			w.log.Warn("cannot join the cluster's gossip; retrying", "problem", what, "waited", d.Waited.Round(time.Second), "retrying", left)
		}
		if !w.pause(ctx, d.Delay) {
			return nil
		}
	}
}

// joinProblem says in words why joining the gossip through addr failed, from
// memberlist's error (which does not wrap the network error, so its text is
// read).
func joinProblem(addr string, err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "connection refused"):
		return fmt.Sprintf("nothing listening at %s", addr)
	case strings.Contains(msg, "no such host"), strings.Contains(msg, "missing port"), strings.Contains(msg, "invalid port"):
		return fmt.Sprintf("%s is not an address that resolves (%s)", addr, lastLine(msg))
	case strings.Contains(msg, "msgType"), strings.Contains(msg, "EOF"), strings.Contains(msg, "connection reset"),
		strings.Contains(msg, "unknown message"), strings.Contains(msg, "Remote node"):
		return fmt.Sprintf("%s is not an asf gossip endpoint: something answers there, but not memberlist (the coordinator's gossip port is 7946; 7070 is its gRPC and 8080 its HTTP port)", addr)
	case strings.Contains(msg, "decrypt"), strings.Contains(msg, "encrypt"), strings.Contains(msg, "label"):
		return fmt.Sprintf("%s speaks gossip with another key or cluster label (%s)", addr, lastLine(msg))
	case strings.Contains(msg, "i/o timeout"), strings.Contains(msg, "deadline exceeded"):
		return fmt.Sprintf("no answer from %s (a firewall, or a host that is down)", addr)
	}
	return fmt.Sprintf("%s: %s", addr, lastLine(msg))
}

// lastLine is the innermost part of a nested error text.
func lastLine(msg string) string {
	msg = strings.TrimSpace(msg)
	if i := strings.LastIndex(msg, ": "); i >= 0 && i+2 < len(msg) {
		return msg[i+2:]
	}
	return msg
}
