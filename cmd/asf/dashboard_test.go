package main

import (
	"regexp"
	"strings"
	"testing"
)

// `asf train` with an embedded cluster prints where its dashboard is;
// --http "" serves nothing.
func TestTrainDashboardLine(t *testing.T) {
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir = t.TempDir()
	globals.log.Level, globals.log.Format = "warn", "text"
	args := []string{"--dataset", "synthetic", "--spec", "4C3-P2-10FC", "-T", "4", "--epochs", "1", "--batch", "32",
		"--micro-batch", "8", "--train-size", "64", "--test-size", "16", "--workers", "2", "--no-test"}
	line := regexp.MustCompile(`(?m)^dashboard http://127\.0\.0\.1:[0-9]+/ \(metrics http://127\.0\.0\.1:[0-9]+/metrics\)$`)
	for _, tc := range []struct {
		name, http string
		want       bool
	}{
		{"a free port", "127.0.0.1:0", true},
		{"off", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := runWith(t, newTrainCmd, append([]string{"--http", tc.http, "--id", "dash-" + strings.ReplaceAll(tc.name, " ", "-")}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if got := line.MatchString(out); got != tc.want || !digestLine.MatchString(out) {
				t.Fatalf("--http %q: dashboard line %v, want %v; output:\n%s", tc.http, got, tc.want, out)
			}
		})
	}
}
