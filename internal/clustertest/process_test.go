package clustertest

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The five properties with real processes: the test binary re-executed as
// coordinator and workers, faults applied with signals. Each run must end
// with the weights of the uninterrupted single-process run, every sample of
// every epoch used exactly once, and the expected ring membership per step.
func TestProcessFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes; skipped in -short mode")
	}
	ref, _, dir := reference(t)
	j := SmallJob()
	for _, tc := range []struct {
		name     string
		workers  int
		schedule string
		deadline time.Duration
		node     string // whose ring membership per step is checked
		rings    string // regexp over InRing(rings, node): '+' in the ring, '-' out
		recomp   bool   // steps must be recomputed
	}{
		// Property 1 with three processes.
		{"determinism", 3, "", 0, "w2", `^\+{20}$`, false},
		// Property 2: w1 is killed during step 4 (or just after it), which the
		// others redo.
		{"kill", 3, "4 w1 kill after=3ms", 0, "w1", `^\+{4,5}-{15,16}$`, false},
		// Property 3: w2 joins once 3 steps are done and enters at a boundary.
		{"join", 2, "3 w2 join", 0, "w2", `^-{4,}\++$`, false},
		// Property 4: the coordinator is killed during step 7 and restarted;
		// steps committed by the first one are known from its history ('?').
		// The new one starts once a worker is back (MinWorkers 1, after the
		// settle time): on a slow machine the other joins some steps later.
		{"restart-coordinator", 2, "7 coordinator restart-coordinator after=3ms", 0, "w0", `^[+?]{7,9}-*\++$`, false},
		// Property 5: w1 is stopped during step 3, evicted, continued once 8
		// steps are done, and rejoins at a step boundary.
		{"stop-cont", 2, "3 w1 stop after=3ms; 8 w1 cont", 1500 * time.Millisecond, "w1", `^\+{3,4}-{5,}\++$`, false},
		// Property 4, the hard case: the coordinator and the only worker die
		// together, a new worker starts: the job continues from the last
		// checkpoint (step 5) and recomputes the steps after it.
		{"restart-all", 1, "7 coordinator restart-coordinator; 7 w0 kill; 7 w1 join", 0, "w1", `^[+?]{5}\+{15}$`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := ParseSchedule(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rep, err := RunProcs(context.Background(), Procs{Job: j, DataDir: dir, Dir: t.TempDir(), Workers: tc.workers,
				Schedule: sched, StepDeadline: tc.deadline})
			if err != nil {
				t.Fatalf("%v\nchildren's log:\n%s", err, tail(rep.Logs, 60))
			}
			ring := InRing(rep.Rings, tc.node)
			t.Logf("%s: %v, generation %d, %d retries, %d recomputed, death to next commit %v, %s in ring %s",
				tc.schedule, time.Since(start).Round(time.Millisecond), rep.Generation, rep.Retries, rep.Recomputed,
				rep.DeathToCommit, tc.node, ring)
			if len(rep.Applied) != len(sched) {
				t.Fatalf("applied %v of %v\n%s", rep.Applied, sched, tail(rep.Logs, 60))
			}
			if rep.Digest != ref {
				t.Fatalf("digest %x, the uninterrupted run gives %x\n%s", rep.Digest[:8], ref[:8], tail(rep.Logs, 60))
			}
			if rep.Accounting != "ok" {
				t.Fatalf("accounting: %s", rep.Accounting)
			}
			if tc.recomp != (rep.Recomputed > 0) {
				t.Fatalf("%d steps recomputed; want recomputed steps: %v", rep.Recomputed, tc.recomp)
			}
			if !regexp.MustCompile(tc.rings).MatchString(ring) {
				t.Fatalf("%s in the ring per step: %s, want %s\n%s", tc.node, ring, tc.rings, tail(rep.Logs, 60))
			}
		})
	}
}

func tail(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
