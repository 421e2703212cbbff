package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/cli"
	"github.com/spf13/pflag"
)

func resolveArgs(t *testing.T, args ...string) (engine.Config, error) {
	t.Helper()
	var f cli.JobFlags
	fs := pflag.NewFlagSet("train", pflag.ContinueOnError)
	f.Register(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	j, err := f.Resolve(fs)
	return j.Neuron, err
}

// --method, --surrogate, --surrogate-slope and --reset-grad reach the job's
// neuron settings (and with them the workers), over a job file too.
func TestMethodFlags(t *testing.T) {
	c, err := resolveArgs(t)
	if err != nil || c.Method != engine.ASF {
		t.Fatalf("default: %v, %v", c.Method, err)
	}
	c, err = resolveArgs(t, "--method", "bptt", "--surrogate", "fast-sigmoid", "--surrogate-slope", "10", "--reset-grad")
	if err != nil {
		t.Fatal(err)
	}
	if c.Method != engine.BPTT || c.Surrogate != engine.FastSigmoid || c.SurrogateSlope != 10 || !c.ResetGrad {
		t.Fatalf("flags not applied: %+v", c)
	}
	file := filepath.Join(t.TempDir(), "job.json")
	if err := os.WriteFile(file, []byte(`{"neuron":{"t":20,"leak":1,"reset":"zero","vth":1,"vth_pool":0.75,"encoding":"poisson","gain":0.5,"method":"bptt","surrogate":"sigmoid"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err = resolveArgs(t, "--job", file)
	if err != nil || c.Method != engine.BPTT || c.Surrogate != engine.Sigmoid {
		t.Fatalf("job file: %+v, %v", c, err)
	}
	c, err = resolveArgs(t, "--job", file, "--method", "asf", "--surrogate", "atan")
	if err != nil || c.Method != engine.ASF {
		t.Fatalf("flags over the job file: %+v, %v", c, err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--method", "rtrl"}, "--method"},
		{[]string{"--method", "bptt", "--surrogate", "relu"}, "--surrogate"},
		{[]string{"--surrogate", "sigmoid"}, "BPTT settings"},
		{[]string{"--method", "bptt", "--surrogate-slope", "-2"}, "SurrogateSlope"},
	} {
		if _, err := resolveArgs(t, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.args, err, tc.want)
		}
	}
}

// `asf train --method bptt` trains from the CLI, alone and on the embedded
// cluster, to bitwise the same weights, and not to ASF-BP's.
func TestTrainBPTTCLI(t *testing.T) {
	old := globals
	t.Cleanup(func() { globals = old })
	globals.dataDir = t.TempDir()
	globals.log.Level, globals.log.Format = "warn", "text"
	args := []string{"--dataset", "synthetic", "--spec", "4C3-P2-10FC", "-T", "4", "--epochs", "1", "--batch", "32",
		"--micro-batch", "8", "--train-size", "96", "--test-size", "32", "--http", ""}
	digest := func(extra ...string) string {
		out, err := runWith(t, newTrainCmd, append(extra, args...)...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", extra, err, out)
		}
		m := digestLine.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("%v: no digest in\n%s", extra, out)
		}
		return m[1]
	}
	alone := digest("--method", "bptt", "--workers", "0", "--id", "cli-bptt-0")
	cluster := digest("--method", "bptt", "--workers", "2", "--id", "cli-bptt-2")
	asf := digest("--workers", "0", "--id", "cli-asf-0")
	if alone != cluster {
		t.Fatalf("bptt: engine alone %s, cluster of 2 %s", alone, cluster)
	}
	if alone == asf {
		t.Fatal("--method bptt trains the same weights as asf")
	}
}
