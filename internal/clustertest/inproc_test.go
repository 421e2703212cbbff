package clustertest

import (
	"context"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asfnet/asf/coordinator"
	"github.com/asfnet/asf/internal/local"
)

var (
	refOnce sync.Once
	refDig  [32]byte
	refErr  error
	refN    int
	refDir  string
)

// reference trains SmallJob with the engine alone (once per test binary).
func reference(t testing.TB) ([32]byte, int, string) {
	t.Helper()
	refOnce.Do(func() {
		refDir, refErr = os.MkdirTemp("", "clustertest-data-")
		if refErr != nil {
			return
		}
		var res *local.Result
		res, refErr = local.Run(context.Background(), SmallJob(), local.Options{DataDir: refDir, Threads: 2, NoTest: true})
		if refErr == nil {
			refDig, refN = res.Model.Digest(), res.Train.Len()
		}
	})
	if refErr != nil {
		t.Fatal(refErr)
	}
	return refDig, refN, refDir
}

func TestMain(m *testing.M) {
	if role := os.Getenv(roleEnv); role != "" {
		os.Exit(ChildMain(role))
	}
	code := m.Run()
	if refDir != "" {
		os.RemoveAll(refDir)
	}
	os.Exit(code)
}

func rings(rep *Report) [][]string {
	var out [][]string
	for _, r := range rep.Result.Ledger {
		out = append(out, r.Workers)
	}
	return out
}

// testLogger returns a logger to stderr when ASF_TEST_LOG is set (a level:
// debug, info, ...), else nil (discard).
func testLogger(t testing.TB) *slog.Logger {
	lv := os.Getenv("ASF_TEST_LOG")
	if lv == "" {
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(lv)); err != nil {
		t.Fatalf("ASF_TEST_LOG=%q: %v", lv, err)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

// checkGoroutines waits for the goroutines started by a test to end.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines left running (%d before the test):\n%s", runtime.NumGoroutine(), before, buf[:n])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Property 1: the final weights are bitwise the same with 1, 2 and 3 workers,
// and equal to the engine alone.
func TestDeterminismAcrossWorkerCounts(t *testing.T) {
	ref, n, dir := reference(t)
	j := SmallJob()
	for _, w := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("workers=%d", w), func(t *testing.T) {
			before := runtime.NumGoroutine()
			start := time.Now()
			rep, err := RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db", Workers: w})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Result
			t.Logf("%d workers: %v, %d generations, final %x", w, time.Since(start).Round(time.Millisecond), res.Generation, res.Final.Digest[:8])
			if res.Final.Digest != ref {
				t.Fatalf("digest %s, the engine alone gives %s", hex.EncodeToString(res.Final.Digest[:]), hex.EncodeToString(ref[:]))
			}
			if err := CheckAccounting(res, j, n); err != nil {
				t.Fatal(err)
			}
			if res.State == nil || res.State.Step != res.Steps {
				t.Fatalf("final checkpoint %+v, want the state after step %d", res.State, res.Steps)
			}
			checkGoroutines(t, before)
		})
	}
}

// The in-process fault scenarios: each must end with the reference weights and
// an exact accounting of every sample.
func TestInProcFaults(t *testing.T) {
	ref, n, dir := reference(t)
	j := SmallJob()
	for _, tc := range []struct {
		name     string
		workers  int
		schedule string
		deadline time.Duration
		check    func(t *testing.T, rep *Report)
	}{
		// Property 2: a worker dies mid-step; the others go on.
		{"kill", 3, "4 w1 kill after=2ms", 0, func(t *testing.T, rep *Report) {
			if len(rep.DeathToCommit) == 0 {
				t.Fatal("no step committed after the kill")
			}
			t.Logf("death to next commit: %v", rep.DeathToCommit[0])
			// w1 computed steps 0-3 (and step 4 if it finished before the kill),
			// none after.
			if r := InRing(rings(rep), "w1"); !regexp.MustCompile(`^\+{4,5}-+$`).MatchString(r) {
				t.Errorf("w1 in the ring per step: %s", r)
			}
		}},
		// Property 3: a worker joins mid-run and syncs from a peer.
		{"join", 1, "3 w1 join", 0, func(t *testing.T, rep *Report) {
			if o := rep.Outcomes["w1"]; o == nil || o.Synced == 0 || o.Steps == 0 {
				t.Fatalf("the joiner's outcome %+v: want steps computed after a sync", o)
			}
		}},
		// Property 5: a stalled worker is evicted at the step deadline, and
		// rejoins when it resumes.
		{"stall", 2, "3 w1 stop; 7 w1 cont", 1500 * time.Millisecond, func(t *testing.T, rep *Report) {
			o := rep.Outcomes["w1"]
			if o == nil || o.Synced == 0 {
				t.Fatalf("the stalled worker's outcome %+v: want a sync after its return", o)
			}
		}},
		// Property 4 (in process): the coordinator restarts; the workers keep
		// their state and it adopts it.
		{"restart", 2, "6 coordinator restart-coordinator", 0, func(t *testing.T, rep *Report) {
			t.Logf("recomputed %d steps", rep.Result.Recomputed)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sched, err := ParseSchedule(tc.schedule)
			if err != nil {
				t.Fatal(err)
			}
			before := runtime.NumGoroutine()
			start := time.Now()
			rep, err := RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db",
				Workers: tc.workers, Schedule: sched, StepDeadline: tc.deadline, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Result
			var taken, dropped int64
			for _, s := range rep.Stats {
				taken, dropped = taken+s.AheadTaken, dropped+s.AheadDropped
			}
			t.Logf("%v: %v, %d generations, %d retries, %d recomputed; computed ahead: %d taken, %d dropped", tc.schedule,
				time.Since(start).Round(time.Millisecond), res.Generation, res.Retries, res.Recomputed, taken, dropped)
			if len(rep.Applied) != len(sched) {
				t.Fatalf("applied %v of %v", rep.Applied, sched)
			}
			if res.Final.Digest != ref {
				t.Fatalf("digest %x, the uninterrupted run gives %x", res.Final.Digest[:8], ref[:8])
			}
			if err := CheckAccounting(res, j, n); err != nil {
				t.Fatal(err)
			}
			tc.check(t, rep)
			checkGoroutines(t, before)
		})
	}
}

func TestParseSchedule(t *testing.T) {
	s, err := ParseSchedule("5 w1 kill; 9 w3 join after=10ms;12 coordinator restart-coordinator")
	if err != nil {
		t.Fatal(err)
	}
	want := Schedule{{Step: 5, Node: "w1", Action: Kill}, {Step: 9, Node: "w3", Action: Join, Delay: 10 * time.Millisecond},
		{Step: 12, Node: "coordinator", Action: RestartCoordinator}}
	if fmt.Sprint(s) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", s, want)
	}
	for _, bad := range []string{"x w1 kill", "5 w1 explode", "5 w1", "5 w1 kill 10ms", "-1 w1 kill"} {
		if _, err := ParseSchedule(bad); err == nil || !strings.Contains(err.Error(), "bad schedule") {
			t.Errorf("%q: got %v, want ErrSchedule", bad, err)
		}
	}
}

// Weights mode (local SGD): deterministic for a fixed number of workers, every
// sample of every epoch used once, and it learns. A worker's death changes the
// ring size, so the run ends with other weights, but it ends.
func TestWeightsMode(t *testing.T) {
	_, n, dir := reference(t)
	j := SmallJob()
	j.Epochs = 3
	run := func(workers, minWorkers int, schedule string) *Report {
		t.Helper()
		sched, err := ParseSchedule(schedule)
		if err != nil {
			t.Fatal(err)
		}
		before := runtime.NumGoroutine()
		rep, err := RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db",
			Workers: workers, Schedule: sched, Logger: testLogger(t), Tweak: func(c *coordinator.Config) {
				c.SyncMode, c.LocalSteps, c.NoTest, c.MinWorkers = coordinator.SyncWeights, 3, false, minWorkers
			}})
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckAccounting(rep.Result, j, n); err != nil {
			t.Fatal(err)
		}
		checkGoroutines(t, before)
		return rep
	}
	a, b := run(2, 2, ""), run(2, 2, "")
	if a.Result.Final.Digest != b.Result.Final.Digest {
		t.Fatalf("two runs with 2 workers: %x and %x", a.Result.Final.Digest[:8], b.Result.Final.Digest[:8])
	}
	if got := a.Result.Steps; got != 3*4 {
		t.Fatalf("%d units, want 4 per epoch (10 steps in units of 3) for 3 epochs", got)
	}
	last := a.Result.Epochs[len(a.Result.Epochs)-1]
	t.Logf("2 workers, local steps 3: train accuracy %.3f, test accuracy %.3f", last.TrainAcc, last.TestAcc)
	if !last.HasTest || last.TestAcc < 0.9 {
		t.Fatalf("test accuracy %.3f after %d epochs of local SGD, want >= 0.9", last.TestAcc, j.Epochs)
	}
	// A coordinator restart that keeps the ring size (the restarted
	// coordinator waits for MinWorkers = 2) gives the same weights.
	if r := run(2, 2, "4 coordinator restart-coordinator"); r.Result.Final.Digest != a.Result.Final.Digest {
		t.Fatalf("after a coordinator restart: %x, uninterrupted %x", r.Result.Final.Digest[:8], a.Result.Final.Digest[:8])
	}
	one := run(1, 1, "")
	if one.Result.Final.Digest == a.Result.Final.Digest {
		t.Fatal("1 and 2 workers gave the same weights in weights mode: nothing was averaged")
	}
	k := run(3, 2, "5 w1 kill after=2ms")
	if r := InRing(rings(k), "w1"); !regexp.MustCompile(`^\+{5,6}-+$`).MatchString(r) {
		t.Fatalf("w1 in the ring per unit: %s", r)
	}
}
