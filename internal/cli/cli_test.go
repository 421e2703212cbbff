package cli

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/spf13/pflag"
)

func TestEnvName(t *testing.T) {
	if got := EnvName("data-dir"); got != "ASF_DATA_DIR" {
		t.Fatal(got)
	}
}

func TestApplyEnv(t *testing.T) {
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	a := fs.String("some-flag", "a", "")
	b := fs.Int("other", 1, "")
	if err := fs.Parse([]string{"--other", "5"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ASF_SOME_FLAG", "from-env")
	t.Setenv("ASF_OTHER", "7")
	if err := ApplyEnv(fs, nil); err != nil {
		t.Fatal(err)
	}
	if *a != "from-env" || *b != 5 {
		t.Fatalf("got %q %d: the environment sets unset flags only", *a, *b)
	}
	t.Setenv("ASF_OTHER", "x")
	fs2 := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs2.Int("other", 1, "")
	if err := ApplyEnv(fs2, nil); err == nil || !strings.Contains(err.Error(), "ASF_OTHER") {
		t.Errorf("bad environment value: %v", err)
	}
}

// An alias sets its flag's value and counts as its flag given, with a
// warning, from the command line and from the environment; the new name wins
// over an old environment variable; both names at once are an error.
func TestAlias(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		changed bool
		warn    string
		err     string
	}{
		{"new name", []string{"--store", "a.db"}, nil, "a.db", true, "", ""},
		{"old name", []string{"--db", "b.db"}, nil, "b.db", true, "flag --db is deprecated, use --store instead", ""},
		{"old env", nil, map[string]string{"ASF_DB": "c.db"}, "c.db", true, "environment ASF_DB is deprecated, use ASF_STORE instead", ""},
		{"new env beats old env", nil, map[string]string{"ASF_DB": "c.db", "ASF_STORE": "d.db"}, "d.db", true, "", ""},
		{"flag beats env", []string{"--db", "e.db"}, map[string]string{"ASF_STORE": "f.db"}, "e.db", true, "deprecated", ""},
		{"neither", nil, nil, "", false, "", ""},
		{"both", []string{"--db", "a", "--store", "b"}, nil, "", false, "", "--db and --store both given"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"ASF_DB", "ASF_STORE"} {
				if v, ok := tc.env[k]; ok {
					t.Setenv(k, v)
				} else {
					t.Setenv(k, "")
					os.Unsetenv(k)
				}
			}
			fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
			var store string
			fs.StringVar(&store, "store", "", "")
			Alias(fs, "db", "store")
			if err := fs.Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			var warn bytes.Buffer
			err := ApplyEnv(fs, &warn)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if store != tc.want || fs.Changed("store") != tc.changed || Changed(fs, "store") != tc.changed {
				t.Errorf("store %q changed %v, want %q %v", store, fs.Changed("store"), tc.want, tc.changed)
			}
			if tc.warn == "" && warn.Len() > 0 || !strings.Contains(warn.String(), tc.warn) {
				t.Errorf("warning %q, want %q", warn.String(), tc.warn)
			}
		})
	}
}

// asf train and asf-coordinator resolve the same flags to the same job: the
// cifar10 gain follows the data set in both, with or without a job id.
func TestSameJob(t *testing.T) {
	for _, args := range [][]string{
		{"--dataset", "cifar10"},
		{"--dataset", "cifar10", "--job-id", "c"},
		{"--dataset", "cifar10", "--id", "c", "--spec", "8C3-P2-10FC", "-T", "4"},
		{"--dataset", "nmnist"},
		{"--epochs", "2", "--gain", "0.25"},
		{"--recipe", "paper-cifar10dvs", "--split", "fixed", "--pool", "4"},
		{"--dataset", "cifar10dvs"},
		{"--recipe", "paper-mnist-if", "--crop-pad", "2", "--flip"},
	} {
		train := pflag.NewFlagSet("train", pflag.ContinueOnError)
		var jf JobFlags
		jf.Register(train)
		if err := train.Parse(args); err != nil {
			t.Fatal(err)
		}
		want, err := jf.Resolve(train)
		if err != nil {
			t.Fatal(err)
		}
		cmd, config := newCoordinator()
		if err := cmd.Flags().Parse(append(args, "--log-level", "error")); err != nil {
			t.Fatal(err)
		}
		c, err := config(cmd)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if c.Job.Digest() != want.Digest() {
			t.Errorf("%v: asf-coordinator job %s\nasf train job %s", args, c.Job.JSON(), want.JSON())
		}
		if args[0] == "--dataset" && args[1] == "cifar10" && c.Job.Neuron.Gain != job.GainFor("cifar10") {
			t.Errorf("%v: gain %v, want the cifar10 gain", args, c.Job.Neuron.Gain)
		}
	}
}

func TestNewLogger(t *testing.T) {
	if _, err := NewLogger(os.Stderr, "loud", "text"); err == nil {
		t.Error("bad level accepted")
	}
	if _, err := NewLogger(os.Stderr, "info", "xml"); err == nil {
		t.Error("bad format accepted")
	}
	if _, err := NewLogger(os.Stderr, "debug", "json"); err != nil {
		t.Error(err)
	}
}

// The augmentation and data flags go over a recipe's values.
func TestAugmentAndDataFlags(t *testing.T) {
	resolve := func(args ...string) job.Job {
		t.Helper()
		fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
		var jf JobFlags
		jf.Register(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		j, err := jf.Resolve(fs)
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	if j := resolve("--recipe", "paper-mnist-if", "--crop-pad", "2", "--flip"); j.Augment.CropPad != 2 || !j.Augment.Flip {
		t.Errorf("augment %+v", j.Augment)
	}
	if j := resolve("--recipe", "paper-cifar10-vgg7", "--flip=false"); j.Augment.CropPad != 4 || j.Augment.Flip {
		t.Errorf("--flip=false over the VGG7 recipe: augment %+v", j.Augment)
	}
	// An event data set named by flag feeds its frames, at most T of them.
	for _, tc := range []struct {
		args   []string
		frames int
	}{{[]string{"--dataset", "cifar10dvs"}, 20}, {[]string{"--dataset", "cifar10dvs", "-T", "100"}, 100},
		{[]string{"--dataset", "dvs-gesture"}, 20}, {[]string{"--dataset", "nmnist"}, 10}} {
		if j := resolve(tc.args...); j.Neuron.Encoding != engine.Events || j.Neuron.Frames != tc.frames {
			t.Errorf("%v: encoding %v, %d frames; want events, %d", tc.args, j.Neuron.Encoding, j.Neuron.Frames, tc.frames)
		}
	}
	j := resolve("--recipe", "paper-cifar10dvs", "--split", "fixed", "--pool", "4")
	if j.Data.Split != "fixed" || j.Data.Pool != 4 || j.Data.SplitSeed != 44 {
		t.Errorf("data %+v", j.Data)
	}
}
