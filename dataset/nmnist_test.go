package dataset

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
)

func TestReadNMNIST(t *testing.T) {
	dir := t.TempDir()
	// File a: span [100, 199] (100 us) in 4 frames of 25 us.
	a := writeFile(t, filepath.Join(dir, "a.bin"), bytes.Join([][]byte{
		ev(0, 0, 1, 100), // frame 0, ON, (y=0,x=0)
		ev(0, 0, 1, 124), // frame 0 again: count 2
		ev(5, 3, 0, 125), // frame 1, OFF, (y=3,x=5)
		ev(33, 33, 1, 199),
		ev(2, 1, 0, 175), // frame 3 (75*4/100 = 3)
	}, nil))
	// File b: a single event: span of 1 us, everything in frame 0.
	b := writeFile(t, filepath.Join(dir, "b.bin"), ev(7, 8, 0, 0x7fffff))
	s, err := ReadNMNIST([]string{a, b}, []uint8{3, 9}, 4)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 || s.Frames != 4 || s.C != 2 || s.H != 34 || s.W != 34 || s.Classes != 10 {
		t.Fatalf("shape: got N=%d Frames=%d C=%d H=%d W=%d", s.Len(), s.Frames, s.C, s.H, s.W)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	at := func(sample, frame, c, y, x int) float32 {
		return s.Sample(sample)[((frame*2+c)*34+y)*34+x]
	}
	want := map[[5]int]float32{
		{0, 0, 1, 0, 0}:   2,
		{0, 1, 0, 3, 5}:   1,
		{0, 3, 1, 33, 33}: 1,
		{0, 3, 0, 1, 2}:   1,
		{1, 0, 0, 8, 7}:   1,
	}
	total := 0
	for i := range 2 {
		for _, v := range s.Sample(i) {
			total += int(v)
		}
	}
	if total != 6 {
		t.Errorf("sum of all counts = %d, want 6 events", total)
	}
	for k, v := range want {
		if got := at(k[0], k[1], k[2], k[3], k[4]); got != v {
			t.Errorf("sample %d frame %d channel %d (y=%d, x=%d) = %v, want %v", k[0], k[1], k[2], k[3], k[4], got, v)
		}
	}
	if s.Y[0] != 3 || s.Y[1] != 9 {
		t.Errorf("labels %v, want [3 9]", s.Y)
	}
}

func TestReadNMNISTBadInput(t *testing.T) {
	good := ev(1, 1, 1, 10)
	cases := []struct {
		name      string
		data      []byte
		label     uint8
		fragments []string
	}{
		{"empty", nil, 0, []string{"file size", "multiple of 5", "0 bytes"}},
		{"partial event", append(append([]byte(nil), good...), 1, 2, 3), 0, []string{"8 bytes (1 whole events and 3 bytes over)"}},
		{"x outside sensor", append(append([]byte(nil), good...), ev(34, 0, 0, 11)...), 0, []string{"event 1 (byte offset 5)", "x=34 y=0"}},
		{"y outside sensor", ev(0, 200, 0, 11), 0, []string{"event 0", "x=0 y=200"}},
		{"label out of range", good, 10, []string{"label", "found 10"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			g := writeFile(t, filepath.Join(dir, "good.bin"), good)
			bad := writeFile(t, filepath.Join(dir, "bad.bin"), c.data)
			s, err := ReadNMNIST([]string{g, bad}, []uint8{1, c.label}, 3)
			if s != nil {
				t.Errorf("got a Set alongside the error")
			}
			wantFileError(t, err, bad, ErrFormat, c.fragments...)
		})
	}
	g := writeFile(t, filepath.Join(t.TempDir(), "g.bin"), good)
	for name, call := range map[string]func() error{
		"no files":        func() error { _, err := ReadNMNIST(nil, nil, 3); return err },
		"labels mismatch": func() error { _, err := ReadNMNIST([]string{g}, []uint8{1, 2}, 3); return err },
		"zero frames":     func() error { _, err := ReadNMNIST([]string{g}, []uint8{1}, 0); return err },
		"negative frames": func() error { _, err := ReadNMNIST([]string{g}, []uint8{1}, -1); return err },
	} {
		if err := call(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: error %v, want ErrConfig", name, err)
		}
	}
}

// FuzzReadNMNIST writes the fuzz input as one event file and bins it into a fuzzed
// number of frames.
func FuzzReadNMNIST(f *testing.F) {
	f.Add(bytes.Join([][]byte{ev(0, 0, 1, 5), ev(33, 2, 0, 9)}, nil), uint8(3), uint8(4))
	f.Add(ev(1, 1, 1, 0x7fffff), uint8(0), uint8(1))
	f.Add([]byte{1, 2, 3}, uint8(0), uint8(2))
	f.Add(ev(40, 1, 1, 0), uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, label, frames uint8) {
		p := writeFile(t, filepath.Join(t.TempDir(), "e.bin"), data)
		s, err := ReadNMNIST([]string{p}, []uint8{label}, int(frames%16))
		if err != nil {
			var fe *FileError
			if !errors.Is(err, ErrConfig) && (!errors.As(err, &fe) || !errors.Is(err, ErrFormat)) {
				t.Fatalf("error %v is neither ErrConfig nor a *FileError wrapping ErrFormat", err)
			}
			return
		}
		if err := s.Check(); err != nil {
			t.Fatalf("inconsistent set: %v", err)
		}
		sum := 0
		for _, v := range s.X {
			sum += int(v)
		}
		if sum != len(data)/5 {
			t.Fatalf("counts sum to %d, want %d events", sum, len(data)/5)
		}
	})
}
