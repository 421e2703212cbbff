package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// CIFAR10DVSClasses are the class folder names of CIFAR10-DVS, in label order.
var CIFAR10DVSClasses = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// Defaults of the cifar10dvs data set (the reference dvs_cifar10_ASF.py).
const (
	// DefaultCIFAR10DVSFrames is the number of frames when LoadOptions.Frames is 0:
	// the reference bins each recording into T = 100 frames.
	DefaultCIFAR10DVSFrames = 100
	// DefaultCIFAR10DVSPool is the pooling factor when LoadOptions.Pool is 0: the
	// reference averages 3x3 blocks (x9) of the 128x128 frames, giving 42x42.
	DefaultCIFAR10DVSPool = 3
)

// Splits of cifar10dvs, which has no official one.
const (
	// SplitRandom holds out a seeded random tenth of each class as the test set
	// (100 of 1000 recordings, as the reference).
	SplitRandom = "random"
	// SplitFixed holds out the recordings numbered 0..n/10-1 of each class (0-99),
	// the split most later work uses.
	SplitFixed = "fixed"
)

// AEDAT 2.0 event layout of the original CIFAR10-DVS release (jAER DVS128 format,
// as tonic's and SpikingJelly's readers decode it): after the '#' header lines,
// events of 8 bytes, a big-endian u32 address then a big-endian u32 time stamp in
// microseconds. In the address, bit 0 is the polarity (0 = ON, 1 = OFF), bits 1-7
// the sensor x and bits 8-14 the sensor y; higher bits are ignored, as those readers
// do. The sensor image is upright with row 127-x and column 127-y (SpikingJelly's
// orientation).
const aedat2EventSize = 8

// ReadAEDAT2 reads the events of one CIFAR10-DVS recording (AEDAT 2.0, see above).
// The file must hold a whole number of 8-byte events after its header, and at least
// one.
func ReadAEDAT2(file string) ([]Event, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	return parseAEDAT2(file, data)
}

func parseAEDAT2(file string, data []byte) ([]Event, error) {
	off, err := skipHeader(file, data, "")
	if err != nil {
		return nil, err
	}
	body := data[off:]
	if len(body) == 0 || len(body)%aedat2EventSize != 0 {
		return nil, formatErr(file, fmt.Sprintf("events after the header (byte offset %d)", off),
			fmt.Sprintf("a positive multiple of %d bytes (u32 address + u32 time stamp)", aedat2EventSize),
			fmt.Sprintf("%d bytes (%d whole events and %d bytes over)", len(body), len(body)/aedat2EventSize, len(body)%aedat2EventSize))
	}
	evs := make([]Event, len(body)/aedat2EventSize)
	for k := range evs {
		b := body[k*aedat2EventSize:]
		addr, t := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
		sx, sy := (addr>>1)&0x7f, (addr>>8)&0x7f
		evs[k] = Event{X: uint16(127 - sy), Y: uint16(127 - sx), On: addr&1 == 0, T: int64(t)}
	}
	return evs, nil
}

// CIFAR10DVSFile is one recording of the release: its path, class and number.
type CIFAR10DVSFile struct {
	Path  string
	Label uint8
	Index int // i of cifar10_<class>_<i>.aedat
}

// CIFAR10DVSFiles lists the recordings under root/<class>/cifar10_<class>_<i>.aedat
// (the layout of the release's per-class archives), in label order, then by number.
// Every class folder must be present and hold the numbers 0..n-1 without a gap; other
// files are ignored.
func CIFAR10DVSFiles(root string) ([]CIFAR10DVSFile, error) {
	var out []CIFAR10DVSFile
	for label, class := range CIFAR10DVSClasses {
		d := filepath.Join(root, class)
		entries, err := os.ReadDir(d)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("dataset: cifar10dvs: %w: want %s/<class>/cifar10_<class>_<i>.aedat for the classes %s (extract the release's per-class zip files there)",
					err, root, strings.Join(CIFAR10DVSClasses, ", "))
			}
			return nil, fmt.Errorf("dataset: cifar10dvs: %w", err)
		}
		prefix := "cifar10_" + class + "_"
		var files []CIFAR10DVSFile
		for _, e := range entries {
			name := e.Name()
			if e.IsDir() || !strings.HasSuffix(name, ".aedat") {
				continue
			}
			num := strings.TrimSuffix(strings.TrimPrefix(name, prefix), ".aedat")
			i, err := strconv.Atoi(num)
			if !strings.HasPrefix(name, prefix) || err != nil || i < 0 || strconv.Itoa(i) != num {
				return nil, formatErr(filepath.Join(d, name), "file name", fmt.Sprintf("%s<i>.aedat with a number i", prefix), strconv.Quote(name))
			}
			files = append(files, CIFAR10DVSFile{Path: filepath.Join(d, name), Label: uint8(label), Index: i})
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("dataset: cifar10dvs: %w: no %s<i>.aedat files in %s", fs.ErrNotExist, prefix, d)
		}
		sort.Slice(files, func(a, b int) bool { return files[a].Index < files[b].Index })
		for k, f := range files {
			if f.Index != k {
				return nil, formatErr(d, "recording numbers", fmt.Sprintf("%s0.aedat .. %s%d.aedat without a gap", prefix, prefix, len(files)-1),
					fmt.Sprintf("%s%d.aedat missing", prefix, k))
			}
		}
		out = append(out, files...)
	}
	return out, nil
}

// CIFAR10DVSSplit returns the files of split: per class of n recordings, n/10 of
// them are the test set, the others the training set. SplitFixed tests on numbers
// 0..n/10-1; SplitRandom (or "") tests on the first n/10 numbers of Perm(seed, 0, n),
// which picks the same numbers in every class of equal size, as the reference does.
// The files keep their order (label, then number).
func CIFAR10DVSSplit(files []CIFAR10DVSFile, split Split, kind string, seed uint64) ([]CIFAR10DVSFile, error) {
	count := map[uint8]int{}
	for _, f := range files {
		count[f.Label]++
	}
	test := map[uint8]map[int]bool{}
	for label, n := range count {
		held := map[int]bool{}
		switch kind {
		case SplitFixed:
			for i := range n / 10 {
				held[i] = true
			}
		case SplitRandom, "":
			for _, i := range Perm(seed, 0, n)[:n/10] {
				held[i] = true
			}
		default:
			return nil, fmt.Errorf("%w: cifar10dvs split %q: want %q or %q", ErrConfig, kind, SplitRandom, SplitFixed)
		}
		test[label] = held
	}
	var out []CIFAR10DVSFile
	for _, f := range files {
		if test[f.Label][f.Index] == (split == Test) {
			out = append(out, f)
		}
	}
	return out, nil
}

// ReadCIFAR10DVS reads the recordings files and bins each into `frames` frames of
// 2 x side x side event counts, side = 128/pool (42 for the reference pool 3), with
// binFrames: channel 0 OFF, 1 ON; the frames cut the recording's time span into equal
// parts; pooling sums pool x pool blocks (the reference's 3x3 average times 9) and
// drops the last 128%pool rows and columns. The result has Frames=frames, C=2,
// H=W=side, Classes=10 and an empty Name.
//
// Memory: the reference setting (100 frames of 2x42x42) takes 1.4 MB per recording,
// 12.7 GB for the 9000 training recordings.
func ReadCIFAR10DVS(files []CIFAR10DVSFile, frames, pool int) (*Set, error) {
	return readEventFiles("cifar10dvs", len(files), frames, pool, 10, func(i int) (uint8, []Event, error) {
		f := files[i]
		if f.Label >= 10 {
			return 0, nil, formatErr(f.Path, "label", "a class in [0, 10)", f.Label)
		}
		evs, err := ReadAEDAT2(f.Path)
		return f.Label, evs, err
	})
}

// readEventFiles builds a Set of n samples of binned DVS128 events; sample i comes
// from read(i).
func readEventFiles(name string, n, frames, pool, classes int, read func(i int) (uint8, []Event, error)) (*Set, error) {
	if n == 0 {
		return nil, fmt.Errorf("%w: %s: no samples", ErrConfig, name)
	}
	if frames <= 0 {
		return nil, fmt.Errorf("%w: %s: frames = %d, want > 0", ErrConfig, name, frames)
	}
	if pool < 1 || pool > dvsSide {
		return nil, fmt.Errorf("%w: %s: pool = %d, want 1..%d", ErrConfig, name, pool, dvsSide)
	}
	side := pooledSide(dvsSide, pool)
	sampleSize := frames * 2 * side * side
	if int64(sampleSize)*int64(n) > maxPayload {
		return nil, fmt.Errorf("%w: %s: %d samples x %d frames of 2x%dx%d needs %d values, more than the limit %d", ErrConfig, name, n, frames, side, side, int64(sampleSize)*int64(n), maxPayload)
	}
	s := &Set{C: 2, H: side, W: side, Frames: frames, Classes: classes,
		X: make([]float32, n*sampleSize), Y: make([]uint8, n)}
	for i := range n {
		label, evs, err := read(i)
		if err != nil {
			return nil, err
		}
		s.Y[i] = label
		binFrames(s.X[i*sampleSize:(i+1)*sampleSize], evs, frames, dvsSide, pool)
	}
	return s, nil
}

func loadCIFAR10DVS(dir string, split Split, opts *LoadOptions) (*Set, error) {
	root := filepath.Join(dir, "cifar10dvs")
	files, err := CIFAR10DVSFiles(root)
	if err != nil {
		return nil, err
	}
	files, err = CIFAR10DVSSplit(files, split, opts.Split, opts.SplitSeed)
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("dataset: cifar10dvs %s: %w: the split leaves no recording in %s (each class needs at least 10 for a test tenth)", split, fs.ErrNotExist, root)
	}
	return ReadCIFAR10DVS(files, orDefault(opts.Frames, DefaultCIFAR10DVSFrames), orDefault(opts.Pool, DefaultCIFAR10DVSPool))
}

// orDefault returns v, or def when v is 0.
func orDefault(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
