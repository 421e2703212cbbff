package checkpoint

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// lenetShapes are the weight shapes of 20C5-P2-50C5-P2-200FC-10FC on 1x28x28.
var lenetShapes = []struct {
	name  string
	shape []int
}{
	{"conv1.weight", []int{20, 1, 5, 5}},
	{"conv2.weight", []int{50, 20, 5, 5}},
	{"fc1.weight", []int{200, 2450}},
	{"fc2.weight", []int{10, 200}},
}

// specialFloats are float32 bit patterns a checkpoint must keep exactly.
var specialFloats = []uint32{
	0x80000000, // -0
	0x00000000, // +0
	0x7fc00001, // quiet NaN with payload
	0xffa00005, // negative signalling NaN with payload
	0x7f800000, // +Inf
	0xff800000, // -Inf
	0x00000001, // smallest subnormal
	0x7f7fffff, // largest finite
}

// makeState builds a LeNet-shaped state with values from seed, scaled by
// `scale` extra elements in the first FC layer (to make large states).
func makeState(job string, seed uint64, step int, fcIn int) *State {
	r := rand.New(rand.NewPCG(seed, uint64(step)))
	cfg := []byte(fmt.Sprintf(`{"spec":"20C5-P2-50C5-P2-200FC-10FC","lr":0.00085,"threshold":1,"leak":1,"timesteps":100,"seed":%d}`, seed))
	st := &State{
		Job:         job,
		Spec:        "20C5-P2-50C5-P2-200FC-10FC",
		Config:      cfg,
		Seed:        seed,
		Epoch:       step / 100,
		Step:        step,
		StepInEpoch: step % 100,
		Optimizer:   Optimizer{Name: "adam", Step: int64(step), LR: 0.00085},
		Scales:      []float64{1, 0.93, math.Float64frombits(0x3ff0000000000001), 0.5},
		Metrics: Summary{
			TrainLoss: 0.25 + r.Float64(), TrainAcc: 0.9, TestAcc: 0.5 + r.Float64()/2, HasTest: true,
			SamplesPerSec: 1234.5, Time: time.Date(2026, 11, 26, 17, 0, step%60, 123456789, time.FixedZone("X", 3600)),
		},
	}
	for _, ls := range lenetShapes {
		shape := slices.Clone(ls.shape)
		if ls.name == "fc1.weight" && fcIn > 0 {
			shape[1] = fcIn
		}
		t := Tensor{Name: ls.name, Shape: shape, Data: make([]float32, shapeElements(shape))}
		for i := range t.Data {
			t.Data[i] = float32(r.NormFloat64())
		}
		st.Weights = append(st.Weights, t)
		for _, slot := range []string{".m", ".v"} {
			s := Tensor{Name: ls.name + slot, Shape: slices.Clone(shape), Data: make([]float32, len(t.Data))}
			for i := range s.Data {
				s.Data[i] = float32(r.Float64() * 1e-3)
			}
			st.Optimizer.Slots = append(st.Optimizer.Slots, s)
		}
	}
	// Special values in the first tensor's data, and a scalar tensor.
	for i, b := range specialFloats {
		st.Weights[0].Data[i] = math.Float32frombits(b)
	}
	st.Weights = append(st.Weights, Tensor{Name: "scalar", Shape: []int{}, Data: []float32{math.Float32frombits(0x7fc0beef)}})
	st.ConfigDigest = sha256.Sum256(st.Config)
	return st
}

// diffState returns the first difference between two states, comparing floats
// by their bits; nil and empty slices count as equal.
func diffState(a, b *State) error {
	switch {
	case a.Job != b.Job:
		return fmt.Errorf("Job %q != %q", a.Job, b.Job)
	case a.Spec != b.Spec:
		return fmt.Errorf("Spec %q != %q", a.Spec, b.Spec)
	case string(a.Config) != string(b.Config):
		return fmt.Errorf("Config %q != %q", a.Config, b.Config)
	case a.ConfigDigest != b.ConfigDigest:
		return fmt.Errorf("ConfigDigest %x != %x", a.ConfigDigest, b.ConfigDigest)
	case a.Seed != b.Seed || a.Epoch != b.Epoch || a.Step != b.Step || a.StepInEpoch != b.StepInEpoch:
		return fmt.Errorf("counters %d/%d/%d/%d != %d/%d/%d/%d", a.Seed, a.Epoch, a.Step, a.StepInEpoch, b.Seed, b.Epoch, b.Step, b.StepInEpoch)
	case a.Optimizer.Name != b.Optimizer.Name || a.Optimizer.Step != b.Optimizer.Step ||
		math.Float64bits(a.Optimizer.LR) != math.Float64bits(b.Optimizer.LR):
		return fmt.Errorf("optimizer %v %v %v != %v %v %v", a.Optimizer.Name, a.Optimizer.Step, a.Optimizer.LR, b.Optimizer.Name, b.Optimizer.Step, b.Optimizer.LR)
	}
	if err := diffTensors("weights", a.Weights, b.Weights); err != nil {
		return err
	}
	if err := diffTensors("slots", a.Optimizer.Slots, b.Optimizer.Slots); err != nil {
		return err
	}
	if len(a.Scales) != len(b.Scales) {
		return fmt.Errorf("%d scales != %d", len(a.Scales), len(b.Scales))
	}
	for i := range a.Scales {
		if math.Float64bits(a.Scales[i]) != math.Float64bits(b.Scales[i]) {
			return fmt.Errorf("scale %d: %x != %x", i, math.Float64bits(a.Scales[i]), math.Float64bits(b.Scales[i]))
		}
	}
	return diffSummary(a.Metrics, b.Metrics)
}

func diffSummary(a, b Summary) error {
	for _, p := range [][2]float64{{a.TrainLoss, b.TrainLoss}, {a.TrainAcc, b.TrainAcc}, {a.TestAcc, b.TestAcc}, {a.SamplesPerSec, b.SamplesPerSec}} {
		if math.Float64bits(p[0]) != math.Float64bits(p[1]) {
			return fmt.Errorf("metrics %+v != %+v", a, b)
		}
	}
	_, oa := a.Time.Zone()
	_, ob := b.Time.Zone()
	if a.HasTest != b.HasTest || !a.Time.Equal(b.Time) || oa != ob {
		return fmt.Errorf("metrics %+v != %+v", a, b)
	}
	return nil
}

func diffTensors(what string, a, b []Tensor) error {
	if len(a) != len(b) {
		return fmt.Errorf("%s: %d tensors != %d", what, len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || !slices.Equal(a[i].Shape, b[i].Shape) || len(a[i].Data) != len(b[i].Data) {
			return fmt.Errorf("%s[%d]: %q %v (%d) != %q %v (%d)", what, i, a[i].Name, a[i].Shape, len(a[i].Data), b[i].Name, b[i].Shape, len(b[i].Data))
		}
		for k := range a[i].Data {
			if math.Float32bits(a[i].Data[k]) != math.Float32bits(b[i].Data[k]) {
				return fmt.Errorf("%s %q[%d]: bits %08x != %08x", what, a[i].Name, k, math.Float32bits(a[i].Data[k]), math.Float32bits(b[i].Data[k]))
			}
		}
	}
	return nil
}

// openT opens a store at path with small retention-friendly defaults and closes
// it at the end of the test.
func openT(t *testing.T, path string, mod func(*Options)) *Store {
	t.Helper()
	o := DefaultOptions()
	if mod != nil {
		mod(&o)
	}
	s, err := Open(path, &o)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
