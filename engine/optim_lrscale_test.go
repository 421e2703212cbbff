package engine

import "testing"

func TestLRAtStep(t *testing.T) {
	c := DefaultTrainConfig()
	base := c.LRAt(0)
	for _, tc := range []struct {
		name   string
		scale  float64
		warmup int
		step   int64
		want   float64
	}{
		{"off", 0, 0, 5, base},
		{"one", 1, 0, 5, base},
		{"scaled, no warm-up", 4, 0, 0, 4 * base},
		{"warm-up start", 4, 10, 0, base},
		{"warm-up middle", 4, 10, 5, 2.5 * base},
		{"after warm-up", 4, 10, 10, 4 * base},
		{"long after", 4, 10, 1000, 4 * base},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := c
			c.LRScale, c.WarmupSteps = tc.scale, tc.warmup
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if got := c.LRAtStep(0, tc.step); got != tc.want {
				t.Fatalf("LRAtStep(0, %d) = %g, want %g", tc.step, got, tc.want)
			}
		})
	}
	bad := c
	bad.LRScale = -1
	if bad.Validate() == nil {
		t.Error("LRScale -1 validated")
	}
	bad = c
	bad.WarmupSteps = -1
	if bad.Validate() == nil {
		t.Error("WarmupSteps -1 validated")
	}
}
