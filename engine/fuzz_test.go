package engine

import (
	"errors"
	"testing"
)

// FuzzParseSpec: any string either parses into a spec that builds (or fails to
// build with ErrSpec) for a small input, or fails with ErrSpec; never a panic.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{LeNetSpec, VGG7Spec, "10FC", "4C3-MP2-3FC", "", "-", "20C5--10FC", "P2-10fc", "99999C99999-1FC", "1C1-P2-P2-P2-P2-1FC", "MP2-MP2-1FC"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		spec, err := ParseSpec(s)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("ParseSpec(%q): error %v does not wrap ErrSpec", s, err)
			}
			return
		}
		// Keep the built network small: skip specs whose layers are huge.
		for _, tok := range spec.Tokens {
			if tok.N > 64 || tok.K > 7 {
				return
			}
		}
		cfg := DefaultConfig()
		cfg.T = 2
		n, err := NewNet(spec, Shape{C: 1, H: 8, W: 8}, cfg)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("NewNet(%q): error %v does not wrap ErrSpec", s, err)
			}
			return
		}
		if n.Classes() != spec.Tokens[len(spec.Tokens)-1].N {
			t.Fatalf("%q: %d classes", s, n.Classes())
		}
		// A sample runs through without panicking.
		m := NewModel(n, 1)
		ws := NewWorkspace(n)
		if _, err := ws.Predict(m, make([]float32, n.SampleSize()), 1, 0); err != nil {
			t.Fatal(err)
		}
	})
}
