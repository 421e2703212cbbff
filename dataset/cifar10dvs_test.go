package dataset

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/dataset/datatest"
)

// aedat2 encodes events given as raw sensor (x, y, polarity bit, t).
func aedat2(evs ...[4]uint32) []byte {
	var e []datatest.AEDAT2Event
	for _, v := range evs {
		e = append(e, datatest.AEDAT2Event{X: v[0], Y: v[1], PolBit: v[2], T: v[3]})
	}
	return datatest.AEDAT2(e)
}

func TestParseAEDAT2(t *testing.T) {
	data := aedat2([4]uint32{0, 0, 0, 10}, [4]uint32{127, 5, 1, 20}, [4]uint32{3, 127, 0, 4000000000})
	// The address layout as published: bit 0 polarity, bits 1-7 x, bits 8-14 y,
	// big-endian, then the big-endian time stamp.
	off := bytes.LastIndexByte(data[:len(data)-24], '\n') + 1
	if got := binary.BigEndian.Uint32(data[off+8:]); got != 1|127<<1|5<<8 {
		t.Fatalf("test encoder: address %#x", got)
	}
	evs, err := parseAEDAT2("f.aedat", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{
		{X: 127, Y: 127, On: true, T: 10},       // sensor (0, 0), polarity bit 0 = ON
		{X: 122, Y: 0, On: false, T: 20},        // sensor (127, 5) -> row 127-127, column 127-5
		{X: 0, Y: 124, On: true, T: 4000000000}, // u32 time stamps are unsigned
	}
	if !slices.Equal(evs, want) {
		t.Fatalf("events %+v, want %+v", evs, want)
	}
	// A file without header lines is all events; high address bits are ignored.
	var raw bytes.Buffer
	binary.Write(&raw, binary.BigEndian, []uint32{0xffff8000 | 2<<1 | 9<<8, 7})
	evs, err = parseAEDAT2("g.aedat", raw.Bytes())
	if err != nil || len(evs) != 1 || evs[0] != (Event{X: 127 - 9, Y: 127 - 2, On: true, T: 7}) {
		t.Fatalf("headerless: %+v, %v", evs, err)
	}
}

func TestParseAEDAT2BadInput(t *testing.T) {
	good := aedat2([4]uint32{1, 2, 0, 3}, [4]uint32{4, 5, 1, 6})
	hdr := bytes.LastIndexByte(good, '\n') + 1
	tests := []struct {
		name      string
		data      []byte
		fragments []string
	}{
		{"truncated event", good[:len(good)-3], []string{fmt.Sprintf("byte offset %d", hdr), "multiple of 8", "1 whole events and 5 bytes over"}},
		{"header only", good[:hdr], []string{"0 bytes"}},
		{"empty file", nil, []string{"0 bytes"}},
		{"unterminated header", []byte("#!AER-DAT2.0\r\n# no newline"), []string{"header line at byte offset 14", "newline"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, filepath.Join(t.TempDir(), "cifar10_cat_0.aedat"), tc.data)
			_, err := ReadAEDAT2(f)
			wantFileError(t, err, f, ErrFormat, tc.fragments...)
		})
	}
	if _, err := ReadAEDAT2(filepath.Join(t.TempDir(), "missing.aedat")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}

// Binning into frames over the recording's span and the reference pooling: 3x3 sums
// (the average times 9) on 42x42, the last two rows and columns dropped.
func TestReadCIFAR10DVS(t *testing.T) {
	dir := t.TempDir()
	// Image position (row, col) = (127 - sensor x, 127 - sensor y).
	sensor := func(row, col, on int, t uint32) [4]uint32 {
		return [4]uint32{uint32(127 - row), uint32(127 - col), uint32(1 - on), t}
	}
	a := writeFile(t, filepath.Join(dir, "a.aedat"), aedat2(
		sensor(0, 0, 1, 100),   // frame 0, ON, pooled (0, 0)
		sensor(2, 2, 1, 101),   // same pooled pixel: count 2
		sensor(3, 0, 0, 150),   // frame 1 of 2 (span 100..199), OFF, pooled (1, 0)
		sensor(126, 5, 1, 160), // row 126: dropped by the 3x3 pooling (42*3 = 126)
		sensor(125, 125, 0, 199),
	))
	b := writeFile(t, filepath.Join(dir, "b.aedat"), aedat2(sensor(64, 10, 1, 5)))
	s, err := ReadCIFAR10DVS([]CIFAR10DVSFile{{Path: a, Label: 3}, {Path: b, Label: 9}}, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || s.Frames != 2 || s.C != 2 || s.H != 42 || s.W != 42 || s.Classes != 10 || !slices.Equal(s.Y, []uint8{3, 9}) {
		t.Fatalf("shape N=%d Frames=%d C=%d H=%d W=%d Y=%v", s.Len(), s.Frames, s.C, s.H, s.W, s.Y)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	at := func(i, f, c, y, x int) float32 { return s.Sample(i)[((f*2+c)*42+y)*42+x] }
	want := map[[5]int]float32{{0, 0, 1, 0, 0}: 2, {0, 1, 0, 1, 0}: 1, {0, 1, 0, 41, 41}: 1, {1, 0, 1, 21, 3}: 1}
	sum := float32(0)
	for i := range 2 {
		for _, v := range s.Sample(i) {
			sum += v
		}
	}
	if sum != 5 {
		t.Errorf("total count %v, want 5 (one event dropped with the last rows)", sum)
	}
	for k, v := range want {
		if got := at(k[0], k[1], k[2], k[3], k[4]); got != v {
			t.Errorf("sample %d frame %d channel %d (%d, %d) = %v, want %v", k[0], k[1], k[2], k[3], k[4], got, v)
		}
	}
	// Without pooling: 128x128, every event counted.
	s1, err := ReadCIFAR10DVS([]CIFAR10DVSFile{{Path: a, Label: 3}}, 1, 1)
	if err != nil || s1.H != 128 || s1.Sample(0)[(1*128+126)*128+5] != 1 {
		t.Fatalf("pool 1: H=%d, %v", s1.H, err)
	}
	if _, err := ReadCIFAR10DVS([]CIFAR10DVSFile{{Path: a, Label: 10}}, 1, 1); err == nil {
		t.Fatal("label 10 accepted")
	}
	for _, bad := range [][2]int{{0, 3}, {2, 0}, {2, 129}} {
		if _, err := ReadCIFAR10DVS([]CIFAR10DVSFile{{Path: a}}, bad[0], bad[1]); !errors.Is(err, ErrConfig) {
			t.Errorf("frames %d pool %d: %v, want ErrConfig", bad[0], bad[1], err)
		}
	}
}

func TestCIFAR10DVSFilesAndSplit(t *testing.T) {
	if !slices.Equal(datatest.CIFAR10DVSClasses, CIFAR10DVSClasses) {
		t.Fatalf("datatest writes the classes %v, the reader wants %v", datatest.CIFAR10DVSClasses, CIFAR10DVSClasses)
	}
	dir := t.TempDir()
	if err := datatest.CIFAR10DVS(dir, 20); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "cifar10dvs")
	files, err := CIFAR10DVSFiles(root)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 200 || files[0].Label != 0 || files[0].Index != 0 || files[199].Label != 9 || files[199].Index != 19 ||
		filepath.Base(files[21].Path) != "cifar10_automobile_1.aedat" {
		t.Fatalf("files: %d, first %+v, last %+v", len(files), files[0], files[len(files)-1])
	}
	split := func(sp Split, kind string, seed uint64) map[[2]int]bool {
		t.Helper()
		out, err := CIFAR10DVSSplit(files, sp, kind, seed)
		if err != nil {
			t.Fatal(err)
		}
		m := map[[2]int]bool{}
		for _, f := range out {
			m[[2]int{int(f.Label), f.Index}] = true
		}
		return m
	}
	for _, kind := range []string{SplitFixed, SplitRandom, ""} {
		train, test := split(Train, kind, 44), split(Test, kind, 44)
		if len(test) != 20 || len(train) != 180 {
			t.Fatalf("%q: %d test, %d train, want a tenth (2 per class) held out", kind, len(test), len(train))
		}
		for k := range test {
			if train[k] {
				t.Fatalf("%q: recording %v in both splits", kind, k)
			}
			// The same numbers are held out in every class.
			for c := range 10 {
				if !test[[2]int{c, k[1]}] {
					t.Fatalf("%q: number %d held out in class %d but not in class %d", kind, k[1], k[0], c)
				}
			}
		}
	}
	fixed := split(Test, SplitFixed, 0)
	if !fixed[[2]int{0, 0}] || !fixed[[2]int{5, 1}] || fixed[[2]int{0, 2}] {
		t.Fatalf("fixed split holds out %v, want numbers 0 and 1", fixed)
	}
	if r1, r2 := split(Test, SplitRandom, 44), split(Test, SplitRandom, 44); !mapsEqual(r1, r2) {
		t.Fatal("random split not deterministic")
	}
	differs := 0
	for seed := range uint64(8) {
		if !mapsEqual(split(Test, SplitRandom, seed), split(Test, SplitRandom, 44)) {
			differs++
		}
	}
	if differs < 5 {
		t.Fatalf("only %d of 8 other seeds give another random split", differs)
	}
	if _, err := CIFAR10DVSSplit(files, Test, "sideways", 0); !errors.Is(err, ErrConfig) {
		t.Fatalf("unknown split kind: %v", err)
	}

	// Load reads the split, binned and pooled as asked.
	test, err := LoadWith(context.Background(), "cifar10dvs", dir, Test, &LoadOptions{Frames: 4, Split: SplitFixed})
	if err != nil {
		t.Fatal(err)
	}
	if test.Name != "cifar10dvs" || test.Len() != 20 || test.Frames != 4 || test.H != 42 || !slices.Equal(test.Histogram(), []int{2, 2, 2, 2, 2, 2, 2, 2, 2, 2}) {
		t.Fatalf("test split: %s N=%d frames=%d H=%d histogram %v", test.Name, test.Len(), test.Frames, test.H, test.Histogram())
	}
	train, err := LoadWith(context.Background(), "cifar10dvs", dir, Train, &LoadOptions{Frames: 2, Pool: 4})
	if err != nil || train.Len() != 180 || train.H != 32 {
		t.Fatalf("train split pooled by 4: %v", err)
	}
}

func mapsEqual(a, b map[[2]int]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func TestCIFAR10DVSFilesErrors(t *testing.T) {
	mk := func(t *testing.T, perClass int) string {
		dir := t.TempDir()
		if err := datatest.CIFAR10DVS(dir, perClass); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "cifar10dvs")
	}
	t.Run("missing root", func(t *testing.T) {
		_, err := CIFAR10DVSFiles(filepath.Join(t.TempDir(), "cifar10dvs"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "airplane") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("missing class", func(t *testing.T) {
		root := mk(t, 2)
		os.RemoveAll(filepath.Join(root, "frog"))
		if _, err := CIFAR10DVSFiles(root); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "frog") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad name", func(t *testing.T) {
		root := mk(t, 2)
		bad := writeFile(t, filepath.Join(root, "cat", "cifar10_dog_7.aedat"), aedat2([4]uint32{1, 1, 1, 1}))
		_, err := CIFAR10DVSFiles(root)
		wantFileError(t, err, bad, ErrFormat, "cifar10_cat_<i>.aedat")
	})
	t.Run("gap", func(t *testing.T) {
		root := mk(t, 3)
		os.Remove(filepath.Join(root, "ship", "cifar10_ship_1.aedat"))
		_, err := CIFAR10DVSFiles(root)
		wantFileError(t, err, filepath.Join(root, "ship"), ErrFormat, "cifar10_ship_1.aedat missing")
	})
	t.Run("bad recording", func(t *testing.T) {
		dir := t.TempDir()
		if err := datatest.CIFAR10DVS(dir, 10); err != nil {
			t.Fatal(err)
		}
		bad := filepath.Join(dir, "cifar10dvs", "deer", "cifar10_deer_5.aedat")
		if err := os.WriteFile(bad, append(aedat2([4]uint32{1, 1, 1, 1}), 0, 0), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadWith(context.Background(), "cifar10dvs", dir, Train, &LoadOptions{Frames: 2, Split: SplitFixed})
		wantFileError(t, err, bad, ErrFormat, "2 bytes over")
	})
	t.Run("too few for a test tenth", func(t *testing.T) {
		dir := t.TempDir()
		if err := datatest.CIFAR10DVS(dir, 5); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadWith(context.Background(), "cifar10dvs", dir, Test, nil); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestCheckLoadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts LoadOptions
		ok   bool
	}{
		{"mnist", LoadOptions{}, true},
		{"cifar10dvs", LoadOptions{Frames: 100, Split: SplitRandom, SplitSeed: 44, Pool: 3}, true},
		{"cifar10dvs", LoadOptions{Split: SplitFixed}, true},
		{"cifar10dvs", LoadOptions{Split: SplitFixed, SplitSeed: 1}, true}, // the seed is unused: a recipe's seed may stay when --split fixed overrides it
		{"cifar10dvs", LoadOptions{Split: "odd"}, false},
		{"cifar10dvs", LoadOptions{Pool: -1}, false},
		{"cifar10dvs", LoadOptions{Frames: -1}, false},
		{"mnist", LoadOptions{Split: SplitFixed}, false},
		{"nmnist", LoadOptions{Pool: 2}, false},
		{"cifar10", LoadOptions{SplitSeed: 2}, false},
		{"imagenet", LoadOptions{}, false},
	} {
		err := CheckLoadOptions(tc.name, &tc.opts)
		if (err == nil) != tc.ok {
			t.Errorf("%s %+v: %v, want ok=%v", tc.name, tc.opts, err, tc.ok)
		}
	}
}

// FuzzParseAEDAT2: any bytes give events or a *FileError, never a panic, and the
// events are inside the sensor.
func FuzzParseAEDAT2(f *testing.F) {
	f.Add(aedat2([4]uint32{1, 2, 0, 3}, [4]uint32{127, 127, 1, 9}))
	f.Add([]byte("#!AER-DAT2.0\r\n"))
	f.Add([]byte("#x"))
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := parseAEDAT2("fuzz.aedat", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not a format *FileError", err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatal("no events and no error")
		}
		out := make([]float32, 3*2*42*42)
		for _, e := range evs {
			if e.X >= 128 || e.Y >= 128 {
				t.Fatalf("event %+v outside the sensor", e)
			}
		}
		binFrames(out, evs, 3, dvsSide, 3)
	})
}
