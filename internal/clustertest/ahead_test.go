package clustertest

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
)

// Workers that compute the next step ahead, before its instruction comes,
// train bitwise what the engine alone trains, and take what they computed
// ahead in the steady state; without compute ahead the same job gives the
// same weights and nothing is computed ahead.
func TestComputeAhead(t *testing.T) {
	ref, _, dir := reference(t)
	j := SmallJob()
	for _, tc := range []struct {
		workers int
		ahead   bool
	}{{1, true}, {2, true}, {3, true}, {2, false}} {
		t.Run(fmt.Sprintf("workers=%d/ahead=%v", tc.workers, tc.ahead), func(t *testing.T) {
			rep, err := RunInProc(context.Background(), InProc{Job: j, DataDir: dir, StorePath: t.TempDir() + "/asf.db",
				Workers: tc.workers, NoComputeAhead: !tc.ahead, Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			res := rep.Result
			if res.Final.Digest != ref {
				t.Fatalf("digest %s, the engine alone gives %s", hex.EncodeToString(res.Final.Digest[:]), hex.EncodeToString(ref[:]))
			}
			var taken, dropped, steps int64
			for id, s := range rep.Stats {
				t.Logf("%s: %d steps, %d computed ahead and taken, %d dropped", id, s.Steps, s.AheadTaken, s.AheadDropped)
				taken, dropped, steps = taken+s.AheadTaken, dropped+s.AheadDropped, steps+s.Steps
			}
			switch {
			case !tc.ahead && taken+dropped != 0:
				t.Fatalf("compute ahead is off, yet %d steps were computed ahead", taken+dropped)
			case tc.ahead && taken == 0:
				t.Fatalf("no step of %d took a compute done ahead (%d dropped)", steps, dropped)
			case tc.ahead && taken+dropped > steps:
				t.Fatalf("%d computes ahead for %d steps", taken+dropped, steps)
			}
		})
	}
}
