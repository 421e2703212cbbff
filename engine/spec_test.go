package engine

import (
	"errors"
	"strings"
	"testing"
)

func TestParseSpecAndShapes(t *testing.T) {
	tests := []struct {
		spec    string
		in      Shape
		shapes  []Shape
		nParams int
	}{
		{LeNetSpec, Shape{1, 28, 28}, []Shape{{20, 28, 28}, {20, 14, 14}, {50, 14, 14}, {50, 7, 7}, {200, 1, 1}, {10, 1, 1}},
			20*25 + 50*20*25 + 200*2450 + 10*200},
		{VGG7Spec, Shape{3, 32, 32}, []Shape{{64, 32, 32}, {64, 32, 32}, {64, 16, 16}, {128, 16, 16}, {128, 16, 16}, {128, 16, 16}, {128, 8, 8}, {1024, 1, 1}, {10, 1, 1}},
			64*27 + 64*64*9 + 128*64*9 + 128*128*9*2 + 1024*128*64 + 10*1024},
		{"64fc-10fc", Shape{1, 16, 16}, []Shape{{64, 1, 1}, {10, 1, 1}}, 64*256 + 640},
		{"4C3-P2-5FC", Shape{2, 5, 5}, []Shape{{4, 5, 5}, {4, 2, 2}, {5, 1, 1}}, 4*2*9 + 5*16},
		// Stride and padding: out = (in + 2p - k)/s + 1.
		{"4C3s2p1-6C4p0-5C3s3-5FC", Shape{2, 9, 8}, []Shape{{4, 5, 4}, {6, 2, 1}, {5, 1, 1}, {5, 1, 1}}, 4*2*9 + 6*4*16 + 5*6*9 + 5*5},
		{"3C5p2-3C5s2", Shape{1, 7, 7}, nil, 0},
	}
	for _, tc := range tests {
		if tc.shapes == nil {
			// Canonical form only: a padding equal to K/2 is the default.
			s, err := ParseSpec(tc.spec + "-2FC")
			if err != nil || s.String() != "3C5-3C5s2-2FC" {
				t.Errorf("%s: canonical %q, %v", tc.spec, s.String(), err)
			}
			continue
		}
		n, err := BuildNet(tc.spec, tc.in, DefaultConfig())
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		if len(n.Layers) != len(tc.shapes) {
			t.Fatalf("%s: %d layers, want %d", tc.spec, len(n.Layers), len(tc.shapes))
		}
		for i, l := range n.Layers {
			if l.Out != tc.shapes[i] {
				t.Errorf("%s layer %d (%s): out %v, want %v", tc.spec, i, l.Text, l.Out, tc.shapes[i])
			}
		}
		if n.NParams != tc.nParams {
			t.Errorf("%s: %d params, want %d", tc.spec, n.NParams, tc.nParams)
		}
		if !n.Layers[len(n.Layers)-1].Output || n.Layers[len(n.Layers)-1].Spiking {
			t.Errorf("%s: last layer must be the non-spiking output", tc.spec)
		}
		if got := n.Spec.String(); !strings.EqualFold(got, strings.Replace(tc.spec, "s2p1", "s2", 1)) {
			t.Errorf("canonical %q, want %q", got, tc.spec)
		}
	}
}

func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		spec, want string
	}{
		{"", "empty spec"},
		{"20C5-P2-50X5-10FC", `token 3 "50X5" at offset 8`},
		{"20C5--10FC", "token 2"},
		{"20C5-P3-10FC", "only 2x2 average pooling"},
		{"20C4-10FC", "must be odd"},
		{"20C5-P2", "must be fully connected"},
		{"0FC-10FC", "not a positive integer"},
		{"99999999FC", "larger than"},
		{"C5-10FC", "channel count"},
		{"MP3-10FC", "only 2x2 max pooling"},
		{"20C3s4-10FC", "stride \"4\": want an integer in 1..3"},
		{"20C3p3-10FC", "padding \"3\": want an integer in 0..2"},
		{"20C3s2s2-10FC", "each at most once"},
		{"20C3x-10FC", `"X" after the kernel size`},
		{"20C3p-10FC", `padding ""`},
	}
	for _, tc := range tests {
		_, err := ParseSpec(tc.spec)
		if err == nil || !errors.Is(err, ErrSpec) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q) = %v; want ErrSpec containing %q", tc.spec, err, tc.want)
		}
	}
	buildErrs := []struct {
		spec string
		in   Shape
		want string
	}{
		{"10FC-4C3-10FC", Shape{1, 8, 8}, "comes after a fully connected layer"},
		{"P2-P2-P2-10FC", Shape{1, 4, 4}, "need at least 2x2"},
		{"4C5p0-10FC", Shape{1, 4, 4}, "does not fit"},
	}
	for _, tc := range buildErrs {
		_, err := BuildNet(tc.spec, tc.in, DefaultConfig())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("BuildNet(%q) = %v; want error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	bad := []func(*Config){
		func(c *Config) { c.T = 0 },
		func(c *Config) { c.Leak = 0 },
		func(c *Config) { c.Leak = 1.5 },
		func(c *Config) { c.VthConv = 0 },
		func(c *Config) { c.VthPool = -1 },
		func(c *Config) { c.Gain = 0 },
	}
	for i, f := range bad {
		c := DefaultConfig()
		f(&c)
		if c.Validate() == nil {
			t.Errorf("case %d: Validate accepted %+v", i, c)
		}
	}
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := DefaultTrainConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}
