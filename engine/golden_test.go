package engine_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/f32"
)

// goldenStepsEnv, when set to n, makes TestGoldenDigest stop each job after
// n steps and check only the digests pinned up to there (the emulated arm64
// run of the CI matrix uses it to stay short).
const goldenStepsEnv = "ASF_GOLDEN_STEPS"

// goldenJob is a fixed small training job and the model digests (SHA-256 of
// the weights and scales, engine.Model.Digest) pinned after some of its
// steps.
type goldenJob struct {
	name    string
	spec    string
	cfg     func(*engine.Config)
	train   func(*engine.TrainConfig)
	epoch   int // epoch of every step (0 is a scale epoch of the default recipe)
	batch   int
	micro   int
	steps   int
	digests map[int]string // after step k (1-based)
}

var goldenJobs = []goldenJob{{
	// The paper's MNIST network and recipe (Adam, scale updates) at T=20,
	// Poisson input spikes.
	name:  "lenet-adam",
	spec:  engine.LeNetSpec,
	cfg:   func(c *engine.Config) { c.T = 20 },
	train: func(*engine.TrainConfig) {},
	epoch: 0, batch: 16, micro: 4, steps: 20,
	digests: map[int]string{
		5:  "4c689d52e8e9b9bd21777c5be3d541e2e2f77c33445e1fcee4da6966fb9b7f0a",
		20: "4bed2011c82e808d4095900340a511c07669ad35e3162ab7a5157bc8f446f0d7",
	},
}, {
	// The analog input as a current into an average pool (the dense-input
	// path of the pool), SGD with momentum, no scale updates.
	name:  "direct-pool-sgd",
	spec:  "P2-12C5-P2-10FC",
	cfg:   func(c *engine.Config) { c.T = 8; c.Encoding = engine.Direct },
	train: func(t *engine.TrainConfig) { t.Optimizer = "sgd"; t.LR = 0.05 },
	epoch: 1, batch: 16, micro: 8, steps: 10,
	digests: map[int]string{
		3:  "4057510c4291217a845bc44b0a738c9229d488ae29af1edeeb8206d3b5b9e190",
		10: "51dab274507b64f490b54ea1d1b65419f84e44c2008c5f1478925f7f4442ccfe",
	},
}, {
	// BPTT (atan surrogate) through conv, pooling neurons and FC layers whose
	// input channel and row counts leave partial groups of four in the
	// backward's multi-row dot products. The digests were pinned with the
	// backward that computed one f32.Dot per input element and kernel row.
	name:  "conv-bptt",
	spec:  "6C5-P2-10C3-P2-30FC-10FC",
	cfg:   func(c *engine.Config) { c.T = 10; c.Method = engine.BPTT },
	train: func(*engine.TrainConfig) {},
	epoch: 1, batch: 16, micro: 4, steps: 6,
	digests: map[int]string{
		2: "b50723c0459003940027760e5455a4ff4c71af5028ab99c88da53dc673a59b56",
		6: "557f036a06797ba9c4769fd4fa70ae296dfbb8826934f2527fcd01dd0328fdc7",
	},
}, {
	// BPTT on the paper's MNIST network, the backward the BPTT benchmarks
	// measure (LIF, subtract reset, fast sigmoid). Pinned with the same
	// one-Dot-per-element backward as conv-bptt.
	name: "lenet-bptt",
	spec: engine.LeNetSpec,
	cfg: func(c *engine.Config) {
		c.T, c.Method, c.Surrogate = 5, engine.BPTT, engine.FastSigmoid
		c.Leak, c.Reset = 0.9, engine.ResetSubtract
	},
	train: func(*engine.TrainConfig) {},
	epoch: 1, batch: 8, micro: 4, steps: 3,
	digests: map[int]string{
		1: "b5cfb481d23268d16138a4c5b89163f9a891000189a6d1de064366eeff0be306",
		3: "e02b29a8f2c99507590e117494216fffde9aeb4e513ca65fc0484e85f0fd3ad0",
	},
}}

// goldenData returns the MNIST training set, or skips (fails under CI) when
// it cannot be had.
func goldenData(t *testing.T) *dataset.Set {
	t.Helper()
	dir := os.Getenv("ASF_DATA_DIR")
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			cache = os.TempDir()
		}
		dir = filepath.Join(cache, "asf-bench-data")
	}
	s, err := dataset.Load(context.Background(), "mnist", dir, dataset.Train)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("MNIST: %v (.ci/run puts it in the module cache)", err)
		}
		t.Skipf("MNIST not available (%v): the golden digests are of real MNIST training", err)
	}
	return s
}

// TestGoldenDigest trains the golden jobs and compares the model digests
// with the ones written above. They are the same in every build: amd64 with
// the AVX-512, AVX2 or Go kernels, GOAMD64=v1 or v3, the purego tag, and
// arm64 (.ci/matrix runs them all). A different digest means this build
// computes other bits than the others: see docs/determinism.md.
func TestGoldenDigest(t *testing.T) {
	train := goldenData(t)
	limit := 0
	if v := os.Getenv(goldenStepsEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("%s=%q: want a positive number of steps", goldenStepsEnv, v)
		}
		limit = n
	}
	t.Logf("kernels %s", f32.Kernels())
	for _, job := range goldenJobs {
		t.Run(job.name, func(t *testing.T) {
			cfg := engine.DefaultConfig()
			job.cfg(&cfg)
			n, err := engine.BuildNet(job.spec, engine.Shape{C: train.C, H: train.H, W: train.W}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			tc := engine.DefaultTrainConfig()
			job.train(&tc)
			m := engine.NewModel(n, 7)
			opt := engine.NewOptimizer(tc, n.NParams)
			wss := []*engine.Workspace{engine.NewWorkspace(n), engine.NewWorkspace(n)}
			acc := make([]int64, n.ResultLen())
			steps := job.steps
			if limit > 0 {
				steps = min(steps, limit)
			}
			checked := 0
			for step := 1; step <= steps; step++ {
				var mbs []engine.Batch
				for i := (step - 1) * job.batch; i < step*job.batch; i += job.micro {
					var b engine.Batch
					for k := i; k < i+job.micro; k++ {
						b.X = append(b.X, train.Sample(k))
						b.Y = append(b.Y, int(train.Y[k]))
						b.Index = append(b.Index, k)
					}
					mbs = append(mbs, b)
				}
				clear(acc)
				if err := engine.RunMicroBatches(m, mbs, 7, job.epoch, wss, acc); err != nil {
					t.Fatal(err)
				}
				if _, err := opt.Apply(m, acc, job.epoch); err != nil {
					t.Fatal(err)
				}
				want, pinned := job.digests[step]
				if !pinned {
					continue
				}
				d := m.Digest()
				if got := hex.EncodeToString(d[:]); got != want {
					t.Errorf("step %d: digest %s, pinned %s (kernels %s)", step, got, want, f32.Kernels())
				}
				checked++
			}
			if checked == 0 {
				t.Fatalf("no digest pinned within the first %d steps", steps)
			}
		})
	}
}
