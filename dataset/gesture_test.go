package dataset

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/dataset/datatest"
)

func TestParseAEDAT3(t *testing.T) {
	data := datatest.AEDAT3(
		[]datatest.AEDAT3Event{{X: 5, Y: 7, On: true, Valid: true, T: 10}, {X: 1, Y: 1, Valid: false, T: 11}},
		[]datatest.AEDAT3Event{{X: 127, Y: 0, On: false, Valid: true, T: 1<<31 + 5}},
	)
	// The address layout as published: x in bits 17-31, y in bits 2-16, polarity
	// bit 1, valid bit 0, little-endian.
	hdr := bytes.Index(data, []byte("#!END-HEADER\r\n")) + len("#!END-HEADER\r\n")
	first := hdr + 28 + 2*8 + 28 // after the special packet and the first packet header
	if got := binary.LittleEndian.Uint32(data[first:]); got != 5<<17|7<<2|2|1 {
		t.Fatalf("test encoder: address %#x", got)
	}
	evs, err := parseAEDAT3("t.aedat", data)
	if err != nil {
		t.Fatal(err)
	}
	want := []Event{{X: 5, Y: 7, On: true, T: 10}, {X: 127, Y: 0, On: false, T: 1<<31 + 5}}
	if !slices.Equal(evs, want) {
		t.Fatalf("events %+v, want %+v (the invalid one and the special packet skipped, overflow applied)", evs, want)
	}
}

func TestParseAEDAT3BadInput(t *testing.T) {
	good := datatest.AEDAT3([]datatest.AEDAT3Event{{X: 5, Y: 7, Valid: true, T: 10}})
	hdr := bytes.Index(good, []byte("#!END-HEADER\r\n")) + len("#!END-HEADER\r\n")
	poke := func(off int, v uint32) []byte {
		b := slices.Clone(good)
		binary.LittleEndian.PutUint32(b[off:], v)
		return b
	}
	pol := hdr + 28 + 16 // the polarity packet's header
	tests := []struct {
		name      string
		data      []byte
		fragments []string
	}{
		{"no end of header", []byte("#!AER-DAT3.1\r\n#Format: RAW\r\n"), []string{"#!END-HEADER"}},
		{"truncated packet header", good[:hdr+10], []string{"packet 0 header", "28 bytes"}},
		{"events past the end", good[:len(good)-1], []string{"packet 1", "capacity 1"}},
		{"zero event size", poke(pol+4, 0), []string{"event size 0"}},
		{"short polarity events", append(poke(pol+4, 4), make([]byte, 0)...), []string{"at least 8 bytes"}},
		{"x outside the sensor", poke(pol+28, 200<<17|1), []string{"x=200"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := writeFile(t, filepath.Join(t.TempDir(), "user01_lab.aedat"), tc.data)
			_, err := ReadAEDAT3(f)
			wantFileError(t, err, f, ErrFormat, tc.fragments...)
		})
	}
}

func TestLoadGesture(t *testing.T) {
	dir := t.TempDir()
	if err := datatest.Gesture(dir, 4, 2); err != nil {
		t.Fatal(err)
	}
	train, err := LoadWith(context.Background(), "dvs-gesture", dir, Train, &LoadOptions{Frames: 5})
	if err != nil {
		t.Fatal(err)
	}
	if train.Name != "dvs-gesture" || train.Len() != 12 || train.Frames != 5 || train.C != 2 || train.H != 32 || train.Classes != 11 {
		t.Fatalf("train: N=%d frames=%d C=%d H=%d classes=%d", train.Len(), train.Frames, train.C, train.H, train.Classes)
	}
	if err := train.Check(); err != nil {
		t.Fatal(err)
	}
	// Trial u, gesture k: class (u+k) % 11, 10 valid events in its window at row
	// (class+1)*10 (pooled by 4: row (class+1)*10/4), columns i*12/4; the frames cut the
	// events' span (360 ms) in five, two events each.
	for i := range train.Len() {
		u, k := i/3, i%3
		c := (u + k) % 11
		if int(train.Y[i]) != c {
			t.Fatalf("sample %d: label %d, want %d", i, train.Y[i], c)
		}
		x := train.Sample(i)
		sum := float32(0)
		for _, v := range x {
			sum += v
		}
		if sum != 10 {
			t.Fatalf("sample %d: %v events, want the 10 valid ones of its window", i, sum)
		}
		for f := range 5 {
			for j := 2 * f; j < 2*f+2; j++ {
				ch := 1 - j%2 // even i: ON
				if v := x[((f*2+ch)*32+(c+1)*10/4)*32+j*12/4]; v != 1 {
					t.Fatalf("sample %d event %d: frame %d channel %d = %v, want 1", i, j, f, ch, v)
				}
			}
		}
	}
	test, err := LoadWith(context.Background(), "dvs-gesture", dir, Test, &LoadOptions{Frames: 2, Pool: 1})
	if err != nil || test.Len() != 6 || test.H != 128 {
		t.Fatalf("test split: %v", err)
	}
	// asf data info finds it too.
	infos, err := Inspect(context.Background(), "dvs-gesture", dir, &LoadOptions{Frames: 2})
	if err != nil || len(infos) != 2 || infos[0].N != 12 || infos[1].N != 6 || infos[0].Dataset != "dvs-gesture" {
		t.Fatalf("Inspect: %+v, %v", infos, err)
	}
}

func TestLoadGestureErrors(t *testing.T) {
	setup := func(t *testing.T) string {
		dir := t.TempDir()
		if err := datatest.Gesture(dir, 2, 1); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	root := func(dir string) string { return filepath.Join(dir, "dvs-gesture", "DvsGesture") }
	load := func(dir string) error {
		_, err := LoadWith(context.Background(), "dvs-gesture", dir, Train, &LoadOptions{Frames: 2})
		return err
	}
	t.Run("missing", func(t *testing.T) {
		if err := load(t.TempDir()); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "trials_to_train.txt") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad labels line", func(t *testing.T) {
		dir := setup(t)
		f := filepath.Join(root(dir), "user02_lab_labels.csv")
		os.WriteFile(f, []byte("class,startTime_usec,endTime_usec\n3,100,200\n12,300,400\n"), 0o644)
		wantFileError(t, load(dir), f, ErrFormat, "line 3", "class 1..11", `"12,300,400"`)
	})
	t.Run("start after end", func(t *testing.T) {
		dir := setup(t)
		f := filepath.Join(root(dir), "user01_lab_labels.csv")
		os.WriteFile(f, []byte("class,startTime_usec,endTime_usec\n3,500,200\n"), 0o644)
		wantFileError(t, load(dir), f, ErrFormat, "line 2")
	})
	t.Run("no gestures", func(t *testing.T) {
		dir := setup(t)
		f := filepath.Join(root(dir), "user01_lab_labels.csv")
		os.WriteFile(f, []byte("class,startTime_usec,endTime_usec\n"), 0o644)
		wantFileError(t, load(dir), f, ErrFormat, "at least one gesture")
	})
	t.Run("missing trial", func(t *testing.T) {
		dir := setup(t)
		os.Remove(filepath.Join(root(dir), "user02_lab.aedat"))
		if err := load(dir); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "line 2") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("bad list entry", func(t *testing.T) {
		dir := setup(t)
		f := filepath.Join(root(dir), "trials_to_train.txt")
		os.WriteFile(f, []byte("user01_lab.aedat\n../etc/passwd\n"), 0o644)
		wantFileError(t, load(dir), f, ErrFormat, "line 2")
	})
	t.Run("bad trial file", func(t *testing.T) {
		dir := setup(t)
		f := filepath.Join(root(dir), "user01_lab.aedat")
		data, _ := os.ReadFile(f)
		os.WriteFile(f, data[:len(data)-3], 0o644)
		wantFileError(t, load(dir), f, ErrFormat, "packet")
	})
}

// FuzzParseAEDAT3: any bytes give events inside the sensor or a format *FileError.
func FuzzParseAEDAT3(f *testing.F) {
	f.Add(datatest.AEDAT3([]datatest.AEDAT3Event{{X: 5, Y: 7, Valid: true, T: 10}}))
	f.Add([]byte("#!END-HEADER\r\n"))
	f.Add(append([]byte("#!END-HEADER\n"), make([]byte, 28)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		evs, err := parseAEDAT3("fuzz.aedat", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not a format *FileError", err)
			}
			return
		}
		for _, e := range evs {
			if e.X >= 128 || e.Y >= 128 {
				t.Fatalf("event %+v outside the sensor", e)
			}
		}
		binFrames(make([]float32, 2*2*32*32), evs, 2, dvsSide, 4)
	})
}

// FuzzParseGestureLabels: any labels file gives gestures with valid classes and
// windows, or a format *FileError.
func FuzzParseGestureLabels(f *testing.F) {
	f.Add([]byte("class,startTime_usec,endTime_usec\r\n1,80048239,85092709\r\n11,9,10\r\n"))
	f.Add([]byte("class\n0,1,2\n"))
	f.Add([]byte("h\n1,2\n"))
	f.Add(append([]byte("h\n"), bytes.Repeat([]byte("1"), 70000)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		gs, err := parseGestureLabels("l.csv", "t.aedat", data)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not a format *FileError", err)
			}
			return
		}
		for _, g := range gs {
			if g.Label >= GestureClasses || g.Start < 0 || g.Start >= g.End || g.Trial != "t.aedat" {
				t.Fatalf("gesture %+v", g)
			}
		}
	})
}
