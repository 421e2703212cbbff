// Package script runs scenario files for the pure state machines (the
// coordinator's Machine, the worker's core), in the style of etcd-raft's
// datadriven tests: a file is a sequence of blocks
//
//	# comments
//	COMMAND ARGS...
//	----
//	EXPECTED OUTPUT LINE
//	...
//	(blank line)
//
// Each command is handed to the test's exec function; its output lines must
// equal the expected ones. With rewrite set, the file is written back with
// the outputs the machine gave (to review as a diff), comments kept.
package script

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// Run runs the scenario file path through exec.
func Run(t *testing.T, path string, rewrite bool, exec func(cmd string) ([]string, error)) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var rewritten strings.Builder
	line := 0
	for {
		var cmd string
		for sc.Scan() {
			line++
			l := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(l, "#") {
				fmt.Fprintf(&rewritten, "%s\n", l)
				continue
			}
			if l != "" {
				cmd = l
				break
			}
		}
		if cmd == "" {
			break
		}
		cmdLine := line
		if !sc.Scan() || strings.TrimSpace(sc.Text()) != "----" {
			t.Fatalf("%s:%d: want ---- after the command", path, cmdLine)
		}
		line++
		var want []string
		for sc.Scan() {
			line++
			l := strings.TrimSpace(sc.Text())
			if l == "" {
				break
			}
			want = append(want, l)
		}
		got, err := exec(cmd)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, cmdLine, cmd, err)
		}
		fmt.Fprintf(&rewritten, "%s\n----\n", cmd)
		for _, g := range got {
			fmt.Fprintf(&rewritten, "%s\n", g)
		}
		rewritten.WriteString("\n")
		if !rewrite && !slices.Equal(got, want) {
			t.Errorf("%s:%d: %s\n got:\n\t%s\nwant:\n\t%s", path, cmdLine, cmd, strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
		}
	}
	if rewrite && !t.Failed() {
		if err := os.WriteFile(path, []byte(rewritten.String()), 0o644); err != nil {
			t.Error(err)
		}
	}
}
