package scaling

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestPrintPointsCPUBound checks the cpu bound column: CPU(1) / (W x CPU(W))
// for runs with a quota, "-" without one.
func TestPrintPointsCPUBound(t *testing.T) {
	point := func(w int, cpus float64, sps float64, cpu time.Duration) Point {
		c := DefaultRunConfig()
		c.Workers, c.CPUs = w, cpus
		return Point{Config: c, SamplesPerSec: sps, StepTime: time.Second, CPU: cpu, Digest: "abcdef0123", Load: [2]float64{1, 1}}
	}
	for _, tc := range []struct {
		name   string
		points []Point
		want   []string // the E(W) and cpu bound fields of each row
	}{
		{"quota", []Point{point(1, 0.45, 100, 300*time.Millisecond), point(4, 0.45, 320, 100*time.Millisecond)},
			[]string{"1.000 1.000", "0.800 0.750"}},
		{"no quota", []Point{point(1, 0, 100, 300*time.Millisecond), point(2, 0, 180, 160*time.Millisecond)},
			[]string{"1.000 -", "0.900 -"}},
		{"no W=1 run", []Point{point(2, 0.45, 180, 160*time.Millisecond)}, []string{"- -"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := PrintPoints(&b, tc.points, nil, nil); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			if len(lines) != 1+len(tc.want) {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), 1+len(tc.want), b.String())
			}
			head := strings.Fields(lines[0])
			if head[6] != "E(W)" || head[7] != "cpu" || head[8] != "bound" {
				t.Fatalf("header %q: want E(W) then cpu bound after samples/s", lines[0])
			}
			for i, want := range tc.want {
				f := strings.Fields(lines[1+i])
				if got := f[6] + " " + f[7]; got != want {
					t.Errorf("row %d: E(W), cpu bound = %q, want %q\n%s", i, got, want, b.String())
				}
			}
		})
	}
}
