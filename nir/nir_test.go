package nir

import (
	"errors"
	"strings"
	"testing"

	"github.com/asfnet/asf/engine"
)

// TestRoundTrip exports each test network, encodes and decodes the file, imports
// it and gets the same spec, neuron settings and bitwise the same weights.
func TestRoundTrip(t *testing.T) {
	for _, m := range testNets(t) {
		t.Run(m.Net.Spec.String(), func(t *testing.T) {
			g, err := Export(m, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			b, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			g2, err := Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			imp, err := Import(g2, DefaultImportOptions())
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, m, imp)
		})
	}
}

func checkSame(t *testing.T, m *engine.Model, imp *Imported) {
	t.Helper()
	got := imp.Model
	if got.Net.Spec.String() != m.Net.Spec.String() || got.Net.Input != m.Net.Input || got.Net.Config != m.Net.Config {
		t.Fatalf("imported %s on %v with %+v; want %s on %v with %+v", got.Net.Spec, got.Net.Input, got.Net.Config, m.Net.Spec, m.Net.Input, m.Net.Config)
	}
	// Scales are training state, not part of the graph; compare weights only.
	c := got.Clone()
	copy(c.Scales, m.Scales)
	if c.Digest() != m.Digest() {
		t.Fatal("imported weights differ from the exported ones")
	}
	if len(imp.Notes) != 0 {
		t.Fatalf("an asf export imported with notes: %v", imp.Notes)
	}
}

// TestFixtures imports the NIR files written by Norse and Rockpool.
func TestFixtures(t *testing.T) {
	for _, c := range []struct {
		file  string
		leak  float32
		ratio float64 // what a unit input adds to the membrane, over the threshold
	}{
		// Norse: Affine w=1, LIF tau 2.5 ms, r 1, threshold 0.1; with dt 0.1 ms the
		// leak is 1 - dt/tau = 0.96 and a unit input adds r*dt/tau*w = 0.04.
		{"testdata/lif_norse.nir", 0.96, 1 * 0.04 / 0.1},
		// Rockpool: Linear w=0.04, LIF r=24.019737: adds 0.04*24.019737*0.04.
		{"testdata/lif_rockpool.nir", 0.96, 0.04 * 24.019737 * 0.04 / 0.1},
	} {
		t.Run(c.file, func(t *testing.T) {
			g, err := ReadFile(c.file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Import(g, DefaultImportOptions()); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "--dt") {
				t.Fatalf("import without dt: %v; want an error asking for the time step", err)
			}
			opt := DefaultImportOptions()
			opt.DT = 1e-4
			imp, err := Import(g, opt)
			if err != nil {
				t.Fatal(err)
			}
			n := imp.Model.Net
			if n.Spec.String() != "1FC-1FC" || n.Input != (engine.Shape{C: 1, H: 1, W: 1}) {
				t.Fatalf("imported %s on %v", n.Spec, n.Input)
			}
			if d := n.Config.Leak - c.leak; d > 1e-6 || d < -1e-6 {
				t.Fatalf("leak %v, want %v", n.Config.Leak, c.leak)
			}
			w := imp.Model.Weights(0)[0]
			if got := float64(w) / float64(n.Config.VthConv); rel(got, c.ratio) > 1e-5 {
				t.Fatalf("weight %v with threshold %v: ratio %v, want %v", w, n.Config.VthConv, got, c.ratio)
			}
			if len(imp.Notes) == 0 {
				t.Fatal("no note about the appended readout")
			}
		})
	}
}

func rel(a, b float64) float64 {
	d := a - b
	if d < 0 {
		d = -d
	}
	if b < 0 {
		b = -b
	}
	return d / max(b, 1e-30)
}

func TestImportOptionsValidate(t *testing.T) {
	o := DefaultImportOptions()
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.DT = -1
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "DT = -1") {
		t.Fatalf("negative dt: %v", err)
	}
	o = DefaultImportOptions()
	o.Base.T = 0
	g, _ := Export(testNets(t)[2], ExportOptions{})
	if _, err := Import(g, o); err == nil || !strings.Contains(err.Error(), "Base") {
		t.Fatalf("bad base: %v", err)
	}
}
