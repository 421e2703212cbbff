package main

import (
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// `asf bench engine --method asf,bptt` measures both methods at each T and prints
// the backward's growth with T and BPTT over ASF-BP.
func TestBenchEngineMethods(t *testing.T) {
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir = t.TempDir()
	t.Cleanup(func() {
		for _, c := range benchCmd.Commands() {
			c.Flags().VisitAll(func(f *pflag.Flag) { f.Value.Set(f.DefValue); f.Changed = false })
		}
	})
	out, err := runData(t, "bench", "engine", "--dataset", "synthetic", "--spec", "4C3-P2-10FC", "--T", "4,8",
		"--method", "asf,bptt", "--batch", "16", "--micro-batch", "8", "--steps", "1", "--rounds", "2", "--threads", "1")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Log(out)
	for _, re := range []string{
		`(?m)^\s+4\s+asf\s`, `(?m)^\s+4\s+bptt\s`, `(?m)^\s+8\s+asf\s`, `(?m)^\s+8\s+bptt\s`,
		`(?m)^asf: backward T=8 / T=4 = `, `(?m)^bptt: backward T=8 / T=4 = `, `(?m)^T=8: bptt/asf backward `,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in\n%s", re, out)
		}
	}
	if _, err := runData(t, "bench", "engine", "--dataset", "synthetic", "--method", "rtrl"); err == nil || !strings.Contains(err.Error(), "--method") {
		t.Errorf("--method rtrl: %v", err)
	}
}
