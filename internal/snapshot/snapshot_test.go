package snapshot

import (
	"bytes"
	"math"
	"testing"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
)

// TestRoundTrip captures a trained-looking state, passes it through the store's
// encoding and safetensors, and restores it bitwise.
func TestRoundTrip(t *testing.T) {
	j := job.Default()
	j.Spec = "3C3-P2-4C3-MP2-5FC-3FC"
	in := engine.Shape{C: 2, H: 8, W: 8}
	n, err := j.Net(in)
	if err != nil {
		t.Fatal(err)
	}
	m := engine.NewModel(n, 5)
	opt := engine.NewOptimizer(j.Optim, n.NParams)
	for i := range m.Params {
		opt.M[i] = float32(i) * 0.5
		opt.V[i] = float32(math.Sqrt(float64(i)))
	}
	opt.Step = 17
	m.Scales[0] = 0.123456789
	pos := Position{Epoch: 2, Step: 40, StepInEpoch: 3}
	st := Capture(j, m, opt, pos, checkpoint.Summary{TrainAcc: 0.5})
	enc, err := checkpoint.EncodeState(st)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := checkpoint.DecodeState(enc)
	if err != nil {
		t.Fatal(err)
	}
	j2, m2, opt2, err := Restore(dec, in)
	if err != nil {
		t.Fatal(err)
	}
	if j2.Digest() != j.Digest() {
		t.Fatalf("job changed:\n%s\n%s", j2.JSON(), j.JSON())
	}
	if m2.Digest() != m.Digest() {
		t.Fatal("model digest changed")
	}
	if opt2.Step != opt.Step {
		t.Fatalf("optimizer step %d, want %d", opt2.Step, opt.Step)
	}
	for i := range opt.M {
		if math.Float32bits(opt.M[i]) != math.Float32bits(opt2.M[i]) || math.Float32bits(opt.V[i]) != math.Float32bits(opt2.V[i]) {
			t.Fatalf("moment %d differs", i)
		}
	}
	// The weights-only safetensors export restores the model too.
	var buf bytes.Buffer
	if err := checkpoint.ExportSafetensors(st, &buf); err != nil {
		t.Fatal(err)
	}
	imp, err := checkpoint.ImportSafetensors(&buf)
	if err != nil {
		t.Fatal(err)
	}
	_, m3, _, err := Restore(imp, in)
	if err != nil {
		t.Fatal(err)
	}
	if m3.Digest() != m.Digest() {
		t.Fatal("model digest changed through safetensors")
	}
	// A state for another input shape is refused with a clear error.
	if _, _, _, err := Restore(dec, engine.Shape{C: 1, H: 8, W: 8}); err == nil {
		t.Fatal("restored a state into a network with another input shape")
	}
}
