package clustertest

import (
	"context"
	"regexp"
	"testing"
	"time"
)

// The coordinator itself is stopped (SIGSTOP) during step 8 for longer than
// the step deadline, then continued: it must not blame the workers for its own
// pause. The workers are held from just before it stops until just after it
// continues, so that the step is in flight across the pause and its reports
// come only after the coordinator woke up, with the deadline long passed by its
// clock. Both stay in every ring, no step is redone, and the job ends with the
// uninterrupted run's weights.
func TestCoordinatorPause(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	ref, _, dir := reference(t)
	sched, err := ParseSchedule("7 w0 stop; 7 w1 stop; 7 coordinator stop after=3ms; 7 coordinator cont after=4s; 7 w0 cont after=100ms; 7 w1 cont")
	if err != nil {
		t.Fatal(err)
	}
	rep, err := RunProcs(context.Background(), Procs{Job: SmallJob(), DataDir: dir, Dir: t.TempDir(), Workers: 2,
		Schedule: sched, StepDeadline: 2 * time.Second})
	if err != nil {
		t.Fatalf("%v\nchildren's log:\n%s", err, tail(rep.Logs, 60))
	}
	if rep.Digest != ref {
		t.Fatalf("digest %x, the uninterrupted run gives %x", rep.Digest[:8], ref[:8])
	}
	for _, w := range []string{"w0", "w1"} {
		if ring := InRing(rep.Rings, w); !regexp.MustCompile(`^\+{20}$`).MatchString(ring) {
			t.Fatalf("%s in the ring per step: %s, want every step (generation %d, %d retries)\n%s", w, ring, rep.Generation, rep.Retries, tail(rep.Logs, 80))
		}
	}
	if rep.Generation != 1 || rep.Retries != 0 {
		t.Fatalf("generation %d, %d step attempts redone: the pause of the coordinator was blamed on the workers\n%s", rep.Generation, rep.Retries, tail(rep.Logs, 80))
	}
}
