package dataset

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Defaults of the dvs-gesture data set.
const (
	// DefaultGestureFrames is the number of frames when LoadOptions.Frames is 0.
	DefaultGestureFrames = 20
	// DefaultGesturePool is the pooling factor when LoadOptions.Pool is 0: 4 turns
	// the 128x128 sensor into frames of 2x32x32.
	DefaultGesturePool = 4
	// GestureClasses is the number of gestures (labels 0..10 are the release's 1..11).
	GestureClasses = 11
)

// AEDAT 3.1 layout (iniVation's format, as DVS128 Gesture is released and as
// SpikingJelly's reader decodes it): '#' header lines up to "#!END-HEADER", then
// packets, each a 28-byte little-endian header (u16 type, u16 source, u32 event
// size, u32 time-stamp offset, u32 time-stamp overflow, u32 capacity, u32 number,
// u32 valid) followed by capacity x size bytes of events. Polarity events (type 1,
// at least 8 bytes) are a little-endian u32 address (bit 0 valid, bit 1 polarity,
// 1 = ON, bits 2-16 y, bits 17-31 x) then a little-endian u32 time stamp, extended by
// overflow<<31. Invalid events and other packet types are skipped.
const (
	aedat3HeaderEnd    = "#!END-HEADER"
	aedat3PacketHeader = 28
	aedat3Polarity     = 1
)

// ReadAEDAT3 reads the polarity events of an AEDAT 3.1 file on a 128x128 sensor.
func ReadAEDAT3(file string) ([]Event, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return parseAEDAT3(file, data)
}

func parseAEDAT3(file string, data []byte) ([]Event, error) {
	off, err := skipHeader(file, data, aedat3HeaderEnd)
	if err != nil {
		return nil, err
	}
	var evs []Event
	for p := 0; off < len(data); p++ {
		if len(data)-off < aedat3PacketHeader {
			return nil, formatErr(file, fmt.Sprintf("packet %d header (byte offset %d)", p, off), fmt.Sprintf("%d bytes", aedat3PacketHeader), fmt.Sprintf("%d bytes up to the end of the file", len(data)-off))
		}
		h := data[off : off+aedat3PacketHeader]
		typ := binary.LittleEndian.Uint16(h)
		size := int64(binary.LittleEndian.Uint32(h[4:]))
		overflow := int64(binary.LittleEndian.Uint32(h[12:]))
		capacity := int64(binary.LittleEndian.Uint32(h[16:]))
		body := int64(off) + aedat3PacketHeader
		if size == 0 || capacity > (int64(len(data))-body)/size { // no capacity*size: it can overflow
			return nil, formatErr(file, fmt.Sprintf("packet %d (byte offset %d)", p, off),
				"a non-zero event size and capacity x size bytes of events inside the file",
				fmt.Sprintf("event size %d, capacity %d, %d bytes left", size, capacity, int64(len(data))-body))
		}
		if typ == aedat3Polarity {
			if size < 8 {
				return nil, formatErr(file, fmt.Sprintf("packet %d (byte offset %d) event size", p, off), "at least 8 bytes for polarity events", size)
			}
			for k := range capacity {
				e := data[body+k*size:]
				addr, ts := binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])
				if addr&1 == 0 {
					continue
				}
				x, y := addr>>17&0x7fff, addr>>2&0x7fff
				if x >= dvsSide || y >= dvsSide {
					return nil, formatErr(file, fmt.Sprintf("packet %d event %d (byte offset %d)", p, k, body+k*size),
						fmt.Sprintf("x and y in [0, %d)", dvsSide), fmt.Sprintf("x=%d y=%d", x, y))
				}
				evs = append(evs, Event{X: uint16(x), Y: uint16(y), On: addr>>1&1 == 1, T: int64(ts) | overflow<<31})
			}
		}
		off = int(body + capacity*size)
	}
	return evs, nil
}

// GestureSample is one labelled gesture of a trial: the events of the trial file
// with Start <= t < End.
type GestureSample struct {
	Trial      string // path of the trial's .aedat file
	Label      uint8  // 0..10 (the labels file's class minus 1)
	Start, End int64  // microseconds
}

// ReadGestureLabels reads a trial's _labels.csv: a header line, then lines
// "class,startTime_usec,endTime_usec" with class 1..11 and start < end.
func ReadGestureLabels(file, trial string) ([]GestureSample, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return parseGestureLabels(file, trial, data)
}

func parseGestureLabels(file, trial string, data []byte) ([]GestureSample, error) {
	var err error
	sc := bufio.NewScanner(bytes.NewReader(data))
	var out []GestureSample
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if line == 1 || text == "" {
			continue // the header line names the columns
		}
		f := strings.Split(text, ",")
		var v [3]int64
		bad := len(f) != 3
		for i := 0; !bad && i < 3; i++ {
			v[i], err = strconv.ParseInt(strings.TrimSpace(f[i]), 10, 64)
			bad = err != nil
		}
		if bad || v[0] < 1 || v[0] > GestureClasses || v[1] < 0 || v[1] >= v[2] {
			return nil, formatErr(file, fmt.Sprintf("line %d", line), fmt.Sprintf("class,startTime_usec,endTime_usec with class 1..%d and start < end", GestureClasses), strconv.Quote(text))
		}
		out = append(out, GestureSample{Trial: trial, Label: uint8(v[0] - 1), Start: v[1], End: v[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, formatErr(file, "text", "lines of class,startTime_usec,endTime_usec", err.Error())
	}
	if len(out) == 0 {
		return nil, formatErr(file, "labels", "at least one gesture line after the header", "none")
	}
	return out, nil
}

// GestureDir returns the folder holding the release under dir: dir/dvs-gesture or
// dir/dvs-gesture/DvsGesture (the archive's top folder), the first holding
// trials_to_train.txt.
func GestureDir(dir string) (string, error) {
	d1 := filepath.Join(dir, "dvs-gesture")
	for _, d := range []string{d1, filepath.Join(d1, "DvsGesture")} {
		if _, err := os.Stat(filepath.Join(d, "trials_to_train.txt")); err == nil {
			return d, nil
		}
	}
	return "", fmt.Errorf("dataset: dvs-gesture: %w: want trials_to_train.txt, trials_to_test.txt and the user*.aedat / user*_labels.csv trials in %s or %s/DvsGesture (extract DvsGesture.tar.gz there)", fs.ErrNotExist, d1, d1)
}

// GestureSamples lists the gestures of split: the trials named in
// trials_to_{train,test}.txt under root, in list order, and each trial's gestures
// in the order of its labels file (<trial>_labels.csv beside <trial>.aedat).
func GestureSamples(root string, split Split) ([]GestureSample, error) {
	list := filepath.Join(root, "trials_to_"+split.String()+".txt")
	data, err := os.ReadFile(list)
	if err != nil {
		return nil, fmt.Errorf("dataset: dvs-gesture: %w", err)
	}
	var out []GestureSample
	for i, line := range strings.Split(string(data), "\n") {
		name := strings.TrimSpace(line)
		if name == "" {
			continue
		}
		if !strings.HasSuffix(name, ".aedat") || strings.ContainsAny(name, "/\\") {
			return nil, formatErr(list, fmt.Sprintf("line %d", i+1), "a trial file name like user01_fluorescent.aedat", strconv.Quote(name))
		}
		trial := filepath.Join(root, name)
		if _, err := os.Stat(trial); err != nil {
			return nil, fmt.Errorf("dataset: dvs-gesture: %s line %d names %s: %w", list, i+1, name, err)
		}
		s, err := ReadGestureLabels(strings.TrimSuffix(trial, ".aedat")+"_labels.csv", trial)
		if err != nil {
			return nil, err
		}
		out = append(out, s...)
	}
	if len(out) == 0 {
		return nil, formatErr(list, "trials", "at least one trial file name", "none")
	}
	return out, nil
}

// ReadGestures reads the gestures samples and bins each into `frames` frames of
// 2 x side x side event counts, side = 128/pool, as ReadCIFAR10DVS does (the frames
// cut the span of the gesture's events into equal parts). Each trial file is read
// once. The result has Frames=frames, C=2, H=W=side, Classes=11 and an empty Name.
func ReadGestures(samples []GestureSample, frames, pool int) (*Set, error) {
	var (
		cur  string
		evs  []Event
		keep []Event
	)
	return readEventFiles("dvs-gesture", len(samples), frames, pool, GestureClasses, func(i int) (uint8, []Event, error) {
		g := samples[i]
		if g.Label >= GestureClasses {
			return 0, nil, formatErr(g.Trial, "label", fmt.Sprintf("a class in [0, %d)", GestureClasses), g.Label)
		}
		if g.Trial != cur {
			var err error
			if evs, err = ReadAEDAT3(g.Trial); err != nil {
				return 0, nil, err
			}
			cur = g.Trial
		}
		keep = keep[:0]
		for _, e := range evs {
			if e.T >= g.Start && e.T < g.End {
				keep = append(keep, e)
			}
		}
		return g.Label, keep, nil
	})
}

func loadGesture(dir string, split Split, opts *LoadOptions) (*Set, error) {
	root, err := GestureDir(dir)
	if err != nil {
		return nil, err
	}
	samples, err := GestureSamples(root, split)
	if err != nil {
		return nil, err
	}
	return ReadGestures(samples, orDefault(opts.Frames, DefaultGestureFrames), orDefault(opts.Pool, DefaultGesturePool))
}
