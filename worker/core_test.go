package worker

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/script"
)

var rewriteCore = flag.Bool("rewrite-core", false, "rewrite testdata/core/*.txt with the decisions the core makes")

// TestCoreScripts runs the scenarios of testdata/core: each command is an
// event fed to the worker's core (or a base choice), followed by "----" and
// the decisions expected.
//
//	config [joinwait=D] [retry=MIN-MAX]     the core's rules (default: joinwait=0, retry=1s-8s)
//	gossip begin|joined T                   joining the gossip begins, or succeeds, at time T (e.g. 5s)
//	gossip fail T PROBLEM...                an attempt through every join address failed at T
//	welcome [job=J] [mode=M] [local=N] [finished] [gossip=ADDR] [member]
//	                                        the answer to a registration (mode gradient by default;
//	                                        member: the coordinator's node is a gossip member already)
//	loaded [err TEXT...]                    the job was loaded (or not)
//	ended lost|rejoin|moved|done|failed|canceled|invalid|refused
//	                                        a registration or the serve loop ended
//	task compute|wait|rejoin|done [gN sN]   an instruction from the coordinator
//	finished                                the step in flight finished
//	lost                                    the coordinator cannot be reached
//	moved [same]                            the worker's address changed
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

// scriptCore is the core of a script before its config command.
var scriptCore = coreConfig{RetryMin: time.Second, RetryMax: 8 * time.Second}

func runCoreScript(t *testing.T, path string) {
	c := newCore(scriptCore)
	script.Run(t, path, *rewriteCore, func(cmd string) ([]string, error) {
		out, err := coreExec(&c, cmd)
		return []string{out}, err
	})
}

// epoch is time 0s of a script.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func coreExec(cp **core, cmd string) (string, error) {
	c := *cp
	f := strings.Fields(cmd)
	args := map[string]string{}
	for _, a := range f[1:] {
		k, v, _ := strings.Cut(a, "=")
		args[k] = v
	}
	switch f[0] {
	case "config":
		cfg := scriptCore
		if v, ok := args["joinwait"]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return "", fmt.Errorf("joinwait: %v", err)
			}
			cfg.JoinWait = d
		}
		if v, ok := args["retry"]; ok {
			lo, hi, _ := strings.Cut(v, "-")
			a, err1 := time.ParseDuration(lo)
			b, err2 := time.ParseDuration(hi)
			if err1 != nil || err2 != nil {
				return "", fmt.Errorf("retry=%s: want MIN-MAX durations", v)
			}
			cfg.RetryMin, cfg.RetryMax = a, b
		}
		*cp = newCore(cfg)
		return "ok", nil
	case "gossip":
		if len(f) < 3 {
			return "", fmt.Errorf("want gossip begin|joined|fail T")
		}
		d, err := time.ParseDuration(f[2])
		if err != nil {
			return "", fmt.Errorf("time %q: %v", f[2], err)
		}
		now := epoch.Add(d)
		switch f[1] {
		case "begin":
			c.gossipBegin(now)
			return "ok", nil
		case "joined":
			return c.gossipJoined(now).String(), nil
		case "fail":
			return c.gossipFailed(now, strings.Join(f[3:], " ")).String(), nil
		}
		return "", fmt.Errorf("gossip %q", f[1])
	case "welcome":
		a := job.Welcome{JobID: "j", Job: []byte(args["job"]), Mode: job.SyncGradient, GossipAddr: args["gossip"]}
		_, a.Finished = args["finished"]
		_, member := args["member"]
		if m, ok := args["mode"]; ok {
			a.Mode = job.SyncMode(m)
		}
		if v, ok := args["local"]; ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				return "", fmt.Errorf("local=%s: %v", v, err)
			}
			a.LocalSteps = n
		}
		return c.welcome(a, member).String(), nil
	case "loaded":
		var err error
		if len(f) > 1 && f[1] == "err" {
			err = errors.New(strings.Join(f[2:], " "))
		}
		return c.loaded(err).String(), nil
	case "ended":
		for e, name := range endNames {
			if len(f) == 2 && f[1] == name {
				return c.ended(end(e)).String(), nil
			}
		}
		return "", fmt.Errorf("ended: want one of %v", endNames)
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
