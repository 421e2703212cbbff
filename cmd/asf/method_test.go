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
