package worker

import (
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/script"
)

var rewriteCore = flag.Bool("rewrite-core", false, "rewrite testdata/core/*.txt with the decisions the core makes")

// TestCoreScripts runs the scenarios of testdata/core: each command is an
// event fed to the worker's core (or a base choice), followed by "----" and
// the decisions expected.
//
//	task compute|wait|rejoin|done [gN sN]   an instruction from the coordinator
//	finished                               the step in flight finished
//	lost                                   the coordinator cannot be reached
//	moved [same]                           the worker's address changed
//	base want=S:D [comm=S:D] [tent=S:D] [fresh=D]   where step S's state D comes from
func TestCoreScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "core", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runCoreScript(t, path) })
	}
}

func runCoreScript(t *testing.T, path string) {
	var c core
	script.Run(t, path, *rewriteCore, func(cmd string) ([]string, error) {
		out, err := coreExec(&c, cmd)
		return []string{out}, err
	})
}

func coreExec(c *core, cmd string) (string, error) {
	f := strings.Fields(cmd)
	switch f[0] {
	case "task":
		kinds := map[string]job.TaskKind{"compute": job.TaskCompute, "wait": job.TaskWait, "rejoin": job.TaskRejoin, "done": job.TaskDone}
		k, ok := kinds[f[1]]
		if !ok {
			return "", fmt.Errorf("instruction %q", f[1])
		}
		var key stepKey
		if len(f) == 4 {
			g, err1 := strconv.ParseUint(strings.TrimPrefix(f[2], "g"), 10, 64)
			s, err2 := strconv.Atoi(strings.TrimPrefix(f[3], "s"))
			if err1 != nil || err2 != nil {
				return "", fmt.Errorf("want gN sN, got %q %q", f[2], f[3])
			}
			key = stepKey{gen: g, step: s}
		}
		return c.instruction(k, key).String(), nil
	case "finished":
		return c.stepDone().String(), nil
	case "lost":
		return c.lost().String(), nil
	case "moved":
		return c.moved(len(f) > 1 && f[1] == "same").String(), nil
	case "base":
		args := map[string]string{}
		for _, a := range f[1:] {
			k, v, _ := strings.Cut(a, "=")
			args[k] = v
		}
		held := func(s string) (*job.Held, error) {
			if s == "" {
				return nil, nil
			}
			st, d, ok := strings.Cut(s, ":")
			n, err := strconv.Atoi(st)
			if !ok || err != nil {
				return nil, fmt.Errorf("held %q: want STEP:DIGEST", s)
			}
			return &job.Held{Step: n, Digest: digestOf(d)}, nil
		}
		want, err := held(args["want"])
		if err != nil || want == nil {
			return "", fmt.Errorf("want=STEP:DIGEST needed: %v", err)
		}
		comm, err := held(args["comm"])
		if err != nil {
			return "", err
		}
		tent, err := held(args["tent"])
		if err != nil {
			return "", err
		}
		return pickBase(comm, tent, digestOf(args["fresh"]), *want).String(), nil
	}
	return "", fmt.Errorf("unknown command %q", f[0])
}

func digestOf(s string) job.Digest {
	var d job.Digest
	copy(d[:], s)
	return d
}
