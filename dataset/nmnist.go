package dataset

import (
	"fmt"
	"os"
)

// N-MNIST event layout (docs/algorithm.md section 8): 5 bytes per event: x, y, then the polarity
// in bit 7 of byte 2 and a 23-bit microsecond timestamp ((b2&0x7f)<<16 | b3<<8 | b4),
// on a 34x34 sensor.
const (
	nmnistSide      = 34
	nmnistEventSize = 5
)

// ReadNMNIST reads one N-MNIST event file per sample (labels[i] is the class of
// files[i]) and bins each file's events into `frames` frames of 2x34x34 counts.
// Channel 0 counts OFF events (polarity bit 0), channel 1 ON events (polarity bit 1).
// The time span of a file is [t0, t1], its earliest and latest timestamp; an event at
// time t goes to frame floor((t - t0) * frames / (t1 - t0 + 1)), so the frames cut the
// span into equal parts and every event lands in exactly one. Values are raw event
// counts (no further normalisation). The result has Frames=frames, C=2, H=W=34,
// Classes=10 and an empty Name.
//
// Every file must hold at least one event, a whole number of 5-byte events, and only
// coordinates below 34; every label must be below 10.
func ReadNMNIST(files []string, labels []uint8, frames int) (*Set, error) {
	if len(files) != len(labels) {
		return nil, fmt.Errorf("%w: ReadNMNIST: %d files but %d labels", ErrConfig, len(files), len(labels))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: ReadNMNIST: no files given", ErrConfig)
	}
	if frames <= 0 {
		return nil, fmt.Errorf("%w: ReadNMNIST: frames = %d, want > 0", ErrConfig, frames)
	}
	for i, f := range files {
		if labels[i] >= 10 {
			return nil, formatErr(f, "label", "a class in [0, 10)", labels[i])
		}
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if err := checkEventSize(f, st.Size()); err != nil {
			return nil, err
		}
	}
	const frameSize = 2 * nmnistSide * nmnistSide
	sampleSize := frames * frameSize
	if int64(sampleSize)*int64(len(files)) > maxPayload {
		return nil, fmt.Errorf("%w: ReadNMNIST: %d files x %d frames needs %d values, more than the limit %d", ErrConfig, len(files), frames, int64(sampleSize)*int64(len(files)), maxPayload)
	}
	s := &Set{C: 2, H: nmnistSide, W: nmnistSide, Frames: frames, Classes: 10,
		X: make([]float32, len(files)*sampleSize), Y: append([]uint8(nil), labels...)}
	for i, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if err := checkEventSize(f, int64(len(data))); err != nil { // the file changed since Stat
			return nil, err
		}
		if err := binEvents(f, data, frames, s.X[i*sampleSize:(i+1)*sampleSize]); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// event decodes event k of data.
func event(data []byte, k int) (x, y, pol int, t int64) {
	b := data[k*nmnistEventSize : (k+1)*nmnistEventSize]
	return int(b[0]), int(b[1]), int(b[2] >> 7), int64(b[2]&0x7f)<<16 | int64(b[3])<<8 | int64(b[4])
}

// binEvents adds the events of data into out (frames x 2 x 34 x 34).
func binEvents(file string, data []byte, frames int, out []float32) error {
	n := len(data) / nmnistEventSize
	t0, t1 := int64(1<<23), int64(-1)
	for k := range n {
		x, y, _, t := event(data, k)
		if x >= nmnistSide || y >= nmnistSide {
			return formatErr(file, fmt.Sprintf("event %d (byte offset %d)", k, k*nmnistEventSize), fmt.Sprintf("x and y in [0, %d)", nmnistSide), fmt.Sprintf("x=%d y=%d", x, y))
		}
		t0, t1 = min(t0, t), max(t1, t)
	}
	span := t1 - t0 + 1
	for k := range n {
		x, y, p, t := event(data, k)
		f := int((t - t0) * int64(frames) / span)
		out[((f*2+p)*nmnistSide+y)*nmnistSide+x]++
	}
	return nil
}

func checkEventSize(f string, size int64) error {
	if size == 0 || size%nmnistEventSize != 0 {
		return formatErr(f, "file size", fmt.Sprintf("a positive multiple of %d bytes (events of 5 bytes)", nmnistEventSize),
			fmt.Sprintf("%d bytes (%d whole events and %d bytes over)", size, size/nmnistEventSize, size%nmnistEventSize))
	}
	return nil
}
