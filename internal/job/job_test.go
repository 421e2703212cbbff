package job

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDefaultValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestParse(t *testing.T) {
	j, err := Parse([]byte(`{"dataset": "synthetic", "epochs": 3, "neuron": {"t": 7, "encoding": "direct"}}`), Default())
	if err != nil {
		t.Fatal(err)
	}
	if j.Dataset != "synthetic" || j.Epochs != 3 || j.Neuron.T != 7 || j.Neuron.Encoding.String() != "direct" {
		t.Fatalf("parsed %+v", j)
	}
	if j.Batch != Default().Batch || j.Neuron.VthPool != Default().Neuron.VthPool {
		t.Fatal("fields absent from the file lost their defaults")
	}
	// The JSON encoding round-trips, so the digest is stable.
	k, err := Parse(j.JSON(), Default())
	if err != nil || k.Digest() != j.Digest() {
		t.Fatalf("round trip: %v", err)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"epoch": 3}`, "unknown field"},
		{`{"dataset": "imagenet"}`, "dataset"},
		{`{"spec": "20C5-P3-10FC"}`, "spec"},
		{`{"batch": 60, "micro_batch": 8}`, "not a multiple"},
		{`{"neuron": {"t": 0}}`, "Config.T"},
		{`{"neuron": {"encoding": "morse"}}`, "encoding"},
		{`{"optim": {"optimizer": "lbfgs"}}`, "want adam or sgd"},
		{`{"id": "a/b"}`, "id"},
		{`{"augment": {"crop_pad": -1}}`, "augment"},
		{`{"augment": {"crop_pad": 4, "aspect": 1}}`, "unknown field"},
		{`{"dataset": "nmnist", "neuron": {"encoding": "events", "frames": 10}, "augment": {"flip": true}}`, "not to the event data set nmnist"},
		{`{"data": {"split": "fixed"}}`, "data: dataset: invalid configuration: mnist has its own split"},
		{`{"dataset": "cifar10dvs", "data": {"split": "sideways"}}`, "split \"sideways\""},
		{`{"dataset": "cifar10", "data": {"pool": 3}}`, "cifar10dvs and dvs-gesture only"},
		{`{"dataset": "cifar10dvs", "data": {"pool": 129}}`, "pool = 129"},
		{`[1, 2]`, "cannot unmarshal"},
		{`{"epochs": 1`, "unexpected EOF"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.in), Default())
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s) = %v; want ErrInvalid mentioning %q", tc.in, err, tc.want)
		}
	}
}

// The augment and data fields are left out of the JSON when unset, so jobs written
// before they existed keep their encoding and digest; set, they round-trip.
func TestAugmentAndDataFields(t *testing.T) {
	if js := string(Default().JSON()); strings.Contains(js, "augment") || strings.Contains(js, `"data"`) {
		t.Fatalf("default job JSON mentions the new fields:\n%s", js)
	}
	in := `{"dataset": "cifar10dvs", "neuron": {"encoding": "events", "frames": 10}, "data": {"split": "random", "split_seed": 44, "pool": 3}}`
	j, err := Parse([]byte(in), Default())
	if err != nil {
		t.Fatal(err)
	}
	if j.Data != (Data{Split: "random", SplitSeed: 44, Pool: 3}) {
		t.Fatalf("data %+v", j.Data)
	}
	o := j.LoadOptions()
	if o.Frames != 10 || o.Split != "random" || o.SplitSeed != 44 || o.Pool != 3 {
		t.Fatalf("LoadOptions %+v", o)
	}
	c, err := Parse([]byte(`{"dataset": "cifar10", "augment": {"crop_pad": 4, "flip": true}}`), Default())
	if err != nil || c.Augment.CropPad != 4 || !c.Augment.Flip {
		t.Fatalf("augment: %+v, %v", c.Augment, err)
	}
	for _, x := range []Job{j, c} {
		k, err := Parse(x.JSON(), Default())
		if err != nil || k.Digest() != x.Digest() {
			t.Fatalf("round trip of %s: %v", x.JSON(), err)
		}
	}
}

// FuzzParse: a job file never panics the parser, and a job that parses is valid
// and survives a JSON round trip with the same digest.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"dataset": "synthetic", "epochs": 3}`))
	f.Add(Default().JSON())
	f.Add([]byte(`{"neuron": {"t": -1}}`))
	f.Add([]byte(`{"optim": {"milestones": [5, 1]}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := Parse(data, Default())
		if err != nil {
			return
		}
		if err := j.Validate(); err != nil {
			t.Fatalf("parsed job is invalid: %v", err)
		}
		k, err := Parse(j.JSON(), Default())
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if k.Digest() != j.Digest() {
			t.Fatal("digest changed in a round trip")
		}
	})
}

// TestTrainConfigScaleUpdates: as the reference (`hz < epochs`), the scales are
// updated only in jobs with more epochs than the update period.
func TestTrainConfigScaleUpdates(t *testing.T) {
	for _, tc := range []struct{ epochs, every, want int }{
		{1, 5, 0}, {5, 5, 0}, {6, 5, 5}, {125, 5, 5}, {3, 0, 0}, {3, 1, 1},
	} {
		j := Default()
		j.Epochs, j.Optim.ScaleEvery = tc.epochs, tc.every
		if got := j.TrainConfig().ScaleEvery; got != tc.want {
			t.Errorf("epochs %d, scale_every %d: trains with scale_every %d, want %d", tc.epochs, tc.every, got, tc.want)
		}
		if j.Optim.ScaleEvery != tc.every {
			t.Errorf("TrainConfig changed the job's own Optim")
		}
	}
}

// Job.LR is the rate the optimizer applies at a step: the warm-up of the
// linear scaling rule, then the milestone schedule.
func TestJobLR(t *testing.T) {
	j := Default()
	j.Epochs = 4
	j.Optim.LR, j.Optim.Milestones, j.Optim.Gamma = 0.01, []int{2}, 0.5
	j.Optim.LRScale, j.Optim.WarmupSteps = 4, 10
	cases := []struct {
		epoch, step int
		want        float64
	}{
		{0, 0, 0.01},       // warm-up starts at the unscaled rate
		{0, 5, 0.01 * 2.5}, // halfway: 1 + 3*5/10
		{0, 10, 0.04},      // warm-up done: LR x LRScale
		{1, 500, 0.04},
		{2, 1000, 0.04 * 0.5}, // the milestone
	}
	for _, c := range cases {
		if got := j.LR(c.epoch, c.step); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("LR(epoch %d, step %d) = %v, want %v", c.epoch, c.step, got, c.want)
		}
	}
}
