package clustertest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A worker process whose compute hangs while its gossip and gRPC stay alive
// (the Hang fault) is found by the step deadline alone: the coordinator
// evicts it for missing the deadline (the gossip never reports it gone), the
// others redo the step, and once released it rejoins at a step boundary. The
// job ends with the uninterrupted run's weights.
func TestHungComputeMissesDeadline(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	ref, _, dir := reference(t)
	sched, err := ParseSchedule("3 w1 hang after=3ms; 8 w1 unhang")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunProcs(context.Background(), Procs{Job: SmallJob(), DataDir: dir, Dir: t.TempDir(), Workers: 2,
		Schedule: sched, StepDeadline: 1500 * time.Millisecond})
	if err != nil {
		t.Fatalf("%v\nchildren's log:\n%s", err, tail(rep.Logs, 60))
	}
	if rep.Digest != ref {
		t.Fatalf("digest %x, the uninterrupted run gives %x", rep.Digest[:8], ref[:8])
	}
	ring := InRing(rep.Rings, "w1")
	if !regexp.MustCompile(`^\+{3,}-+\++$`).MatchString(ring) {
		t.Fatalf("w1 in the ring per step: %s, want in, out after the hang, in again\n%s", ring, tail(rep.Logs, 80))
	}
	var byDeadline, byGossip bool
	for _, l := range strings.Split(rep.Logs, "\n") {
		if !strings.HasPrefix(l, "coordinator: ") || !strings.Contains(l, "worker=w1") {
			continue
		}
		byDeadline = byDeadline || strings.Contains(l, `msg="worker evicted"`) && strings.Contains(l, "no report within the step deadline")
		byGossip = byGossip || strings.Contains(l, "left or failed (gossip)") || strings.Contains(l, "does not answer its health check")
	}
	if !byDeadline || byGossip {
		t.Fatalf("w1 evicted by the step deadline: %v; reported gone by gossip or its health check: %v (want only the deadline)\n%s",
			byDeadline, byGossip, tail(rep.Logs, 80))
	}
}
