package dataset

import (
	"errors"
	"slices"
	"testing"
)

func TestAugmentApply(t *testing.T) {
	// One frame, 2 channels of 3x4: value = 100*c + 10*y + x.
	const c, h, w = 2, 3, 4
	src := make([]float32, c*h*w)
	for ch := range c {
		for y := range h {
			for x := range w {
				src[(ch*h+y)*w+x] = float32(100*ch + 10*y + x)
			}
		}
	}
	at := func(img []float32, ch, y, x int) float32 { return img[(ch*h+y)*w+x] }
	fill := []float32{-1, -2}
	tests := []struct {
		name string
		a    Augment
		p    Placement
		want func(ch, y, x int) float32
	}{
		{"identity", Augment{CropPad: 2}, Placement{DY: 2, DX: 2}, func(ch, y, x int) float32 { return at(src, ch, y, x) }},
		{"shift down-right", Augment{CropPad: 2}, Placement{DY: 1, DX: 0}, func(ch, y, x int) float32 {
			// output (y, x) = input (y-1, x-2)
			if y-1 < 0 || x-2 < 0 {
				return fill[ch]
			}
			return at(src, ch, y-1, x-2)
		}},
		{"shift up-left", Augment{CropPad: 1}, Placement{DY: 2, DX: 2}, func(ch, y, x int) float32 {
			if y+1 >= h || x+1 >= w {
				return fill[ch]
			}
			return at(src, ch, y+1, x+1)
		}},
		{"flip only", Augment{Flip: true}, Placement{Flip: true}, func(ch, y, x int) float32 { return at(src, ch, y, w-1-x) }},
		{"crop then flip", Augment{CropPad: 1, Flip: true}, Placement{DY: 1, DX: 0, Flip: true}, func(ch, y, x int) float32 {
			// crop: C(y, x) = in(y, x-1); flip: F(y, x) = C(y, w-1-x) = in(y, w-2-x)
			if sx := w - 2 - x; sx >= 0 {
				return at(src, ch, y, sx)
			}
			return fill[ch]
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.a.Apply(nil, src, 1, c, h, w, fill, tc.p)
			for ch := range c {
				for y := range h {
					for x := range w {
						if g, want := at(got, ch, y, x), tc.want(ch, y, x); g != want {
							t.Fatalf("out[c=%d y=%d x=%d] = %v, want %v", ch, y, x, g, want)
						}
					}
				}
			}
		})
	}
	// nil fill pads with 0; dst is reused when large enough.
	buf := make([]float32, len(src))
	got := Augment{CropPad: 1}.Apply(buf, src, 1, c, h, w, nil, Placement{})
	if &got[0] != &buf[0] || got[0] != 0 || got[w+1] != src[0] {
		t.Fatalf("nil fill / reuse: got %v", got[:w+2])
	}
}

func TestAugmentDraw(t *testing.T) {
	a := Augment{CropPad: 4, Flip: true}
	// Pure function of (seed, epoch, index).
	if a.Draw(7, 3, 11) != a.Draw(7, 3, 11) {
		t.Fatal("Draw is not deterministic")
	}
	seen := map[[2]int]int{}
	flips := 0
	const n = 20000
	for i := range n {
		p := a.Draw(7, 3, i)
		if p.DY < 0 || p.DY > 8 || p.DX < 0 || p.DX > 8 {
			t.Fatalf("sample %d: placement %+v outside [0, 8]", i, p)
		}
		seen[[2]int{p.DY, p.DX}]++
		if p.Flip {
			flips++
		}
	}
	if len(seen) != 81 {
		t.Fatalf("%d distinct crop offsets, want all 81", len(seen))
	}
	if flips < n*45/100 || flips > n*55/100 {
		t.Fatalf("%d flips in %d samples, want about half", flips, n)
	}
	// Other epochs and seeds give other placements.
	differ := func(f func(i int) Placement) int {
		d := 0
		for i := range 200 {
			if f(i) != a.Draw(7, 3, i) {
				d++
			}
		}
		return d
	}
	if d := differ(func(i int) Placement { return a.Draw(7, 4, i) }); d < 150 {
		t.Fatalf("epoch 4 equals epoch 3 on %d of 200 samples", 200-d)
	}
	if d := differ(func(i int) Placement { return a.Draw(8, 3, i) }); d < 150 {
		t.Fatalf("seed 8 equals seed 7 on %d of 200 samples", 200-d)
	}
	// Disabled parts stay at the identity.
	if p := (Augment{}).Draw(1, 2, 3); p != (Placement{}) {
		t.Fatalf("zero Augment drew %+v", p)
	}
	if p := (Augment{CropPad: 2}).Draw(1, 2, 3); p.Flip {
		t.Fatalf("flip drawn without Flip: %+v", p)
	}
}

func TestAugmentValidate(t *testing.T) {
	for _, tc := range []struct {
		a  Augment
		ok bool
	}{{Augment{}, true}, {Augment{CropPad: 4, Flip: true}, true}, {Augment{CropPad: -1}, false}, {Augment{CropPad: 65}, false}} {
		err := tc.a.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrConfig)) {
			t.Errorf("%+v: Validate() = %v, want ok=%v", tc.a, err, tc.ok)
		}
	}
	if (Augment{}).Enabled() || !(Augment{Flip: true}).Enabled() || !(Augment{CropPad: 1}).Enabled() {
		t.Fatal("Enabled")
	}
}

func TestCIFARZero(t *testing.T) {
	dir := t.TempDir()
	rec := make([]byte, cifarRecord)
	f := writeFile(t, dir+"/b.bin", rec)
	s, err := ReadCIFAR10(f)
	if err != nil {
		t.Fatal(err)
	}
	// A black pixel (byte 0) normalises to Zero[c].
	x := s.Sample(0)
	if !slices.Equal(s.Zero, []float32{x[0], x[cifarPlane], x[2*cifarPlane]}) {
		t.Fatalf("Zero = %v, want the values of black pixels %v", s.Zero, []float32{x[0], x[cifarPlane], x[2*cifarPlane]})
	}
	if sub := s.Subset([]int{0}); !slices.Equal(sub.Zero, s.Zero) {
		t.Fatal("Subset drops Zero")
	}
}
