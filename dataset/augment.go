package dataset

import "fmt"

// domainAugment keeps the augmentation stream apart from the permutation and the
// synthetic data.
const domainAugment = 0x6175676d2d763031 // "augm-v01"

// Augment is the training-time augmentation of image samples: a random crop of the
// original size from the image padded by CropPad on every side, then a horizontal
// flip with probability 1/2 (the reference VGG7 recipe: crop 32, padding 4, flip).
// The zero value does nothing. The choice for a sample is a pure function of (seed,
// epoch, sample index) (Draw), so a sample is augmented the same way whichever worker
// or thread trains it, and any worker count gives bitwise the same run.
type Augment struct {
	CropPad int  `json:"crop_pad,omitempty"` // padding of the random crop on each side; 0 = no crop
	Flip    bool `json:"flip,omitempty"`     // flip left-right with probability 1/2
}

// Enabled reports whether a does anything.
func (a Augment) Enabled() bool { return a.CropPad > 0 || a.Flip }

// Validate checks the fields; errors name the field and wrap ErrConfig.
func (a Augment) Validate() error {
	if a.CropPad < 0 || a.CropPad > 64 {
		return fmt.Errorf("%w: Augment.CropPad = %d, want 0..64 pixels", ErrConfig, a.CropPad)
	}
	return nil
}

// Placement is how one sample is augmented: the crop keeps the window whose top-left
// corner is (DY, DX) in the padded image, i.e. output pixel (y, x) is input pixel
// (y+DY-CropPad, x+DX-CropPad), and Flip mirrors the result left-right.
type Placement struct {
	DY, DX int
	Flip   bool
}

// Draw returns the placement of sample index in the given epoch of a job with
// seed seed: DY and DX uniform in [0, 2*CropPad], Flip with probability 1/2, all
// drawn from the SplitMix64 stream keyed by (seed ^ mix64(epoch), index) in the
// augmentation domain.
func (a Augment) Draw(seed uint64, epoch, index int) Placement {
	s := newStream(domainAugment, seed^mix64(uint64(epoch)), uint64(index))
	var p Placement
	if a.CropPad > 0 {
		k := uint64(2*a.CropPad + 1)
		p.DY, p.DX = int(s.bounded(k)), int(s.bounded(k))
	} else {
		p.DY, p.DX = a.CropPad, a.CropPad // the identity window
	}
	if a.Flip {
		p.Flip = s.next()>>63 == 1
	}
	return p
}

// Apply writes into dst (len(src), reused when large enough, and returned) the
// sample src of shape frames x c x h x w augmented by placement p. Pixels the crop
// takes from the padding get fill[channel] (the normalised value of a black pixel:
// Set.Zero), or 0 when fill is nil. It panics if len(src) != frames*c*h*w.
func (a Augment) Apply(dst, src []float32, frames, c, h, w int, fill []float32, p Placement) []float32 {
	if len(src) != frames*c*h*w {
		panic(fmt.Sprintf("dataset: Augment.Apply: %d values for shape %dx%dx%dx%d", len(src), frames, c, h, w))
	}
	if cap(dst) < len(src) {
		dst = make([]float32, len(src))
	}
	dst = dst[:len(src)]
	oy, ox := p.DY-a.CropPad, p.DX-a.CropPad
	for f := range frames {
		for ch := range c {
			var v0 float32
			if fill != nil {
				v0 = fill[ch]
			}
			plane := (f*c + ch) * h * w
			for y := range h {
				sy := y + oy
				row := dst[plane+y*w : plane+(y+1)*w]
				if sy < 0 || sy >= h {
					for x := range row {
						row[x] = v0
					}
					continue
				}
				srow := src[plane+sy*w : plane+(sy+1)*w]
				for x := range row {
					sx := x + ox
					if p.Flip {
						sx = w - 1 - x + ox
					}
					if sx < 0 || sx >= w {
						row[x] = v0
					} else {
						row[x] = srow[sx]
					}
				}
			}
		}
	}
	return dst
}
