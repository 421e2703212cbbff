package dataset

import (
	"bytes"
	"fmt"
)

// Event is one event of a dynamic vision sensor: the pixel (X, Y) in image
// orientation (row Y, column X), the polarity (On: brightness rose) and the time
// stamp in microseconds.
type Event struct {
	X, Y uint16
	On   bool
	T    int64
}

// dvsSide is the side of the DVS128 sensor of CIFAR10-DVS and DVS128 Gesture.
const dvsSide = 128

// pooledSide is the side of frames of a side x side sensor pooled by pool: the
// pixels of the last side%pool rows and columns are dropped, as a pooling layer of
// stride pool without padding does.
func pooledSide(side, pool int) int { return side / pool }

// binFrames adds events into out (frames x 2 x side/pool x side/pool, channel 0 OFF,
// channel 1 ON). The time span [t0, t1] of the events (earliest and latest stamp) is
// cut into `frames` equal parts: an event at time t goes to frame
// floor((t - t0) * frames / (t1 - t0 + 1)), so every event lands in exactly one.
// The frames are sum-pooled by pool: an event at (x, y) counts at (x/pool, y/pool),
// i.e. each value is the pool x pool average times pool*pool; events in the dropped
// last rows and columns are not counted. Every event must be inside the sensor.
func binFrames(out []float32, evs []Event, frames, side, pool int) {
	if len(evs) == 0 {
		return
	}
	t0, t1 := evs[0].T, evs[0].T
	for _, e := range evs {
		t0, t1 = min(t0, e.T), max(t1, e.T)
	}
	span := t1 - t0 + 1
	ps := pooledSide(side, pool)
	for _, e := range evs {
		x, y := int(e.X)/pool, int(e.Y)/pool
		if x >= ps || y >= ps {
			continue
		}
		f := int((e.T - t0) * int64(frames) / span)
		c := 0
		if e.On {
			c = 1
		}
		out[((f*2+c)*ps+y)*ps+x]++
	}
}

// skipHeader returns the offset of the first byte after the ASCII header of an AEDAT
// file: the lines that start with '#'. end, when not empty, is the line that closes
// the header (AEDAT 3.1: "#!END-HEADER"); the header then must contain it. Lines end
// with "\n" (jAER writes "\r\n").
func skipHeader(file string, data []byte, end string) (int, error) {
	off := 0
	for off < len(data) && data[off] == '#' {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			return 0, formatErr(file, fmt.Sprintf("header line at byte offset %d", off), "a line ending with a newline", fmt.Sprintf("%d bytes without one up to the end of the file", len(data)-off))
		}
		line := bytes.TrimRight(data[off:off+nl], "\r")
		off += nl + 1
		if end != "" && string(line) == end {
			return off, nil
		}
	}
	if end != "" {
		return 0, formatErr(file, "header", fmt.Sprintf("'#' lines closed by %q", end), fmt.Sprintf("no such line before byte offset %d", off))
	}
	return off, nil
}
