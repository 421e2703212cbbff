package dataset

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
)

func TestReadCIFAR10(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, filepath.Join(dir, "data_batch_1.bin"), cifarRecords(3))
	b := writeFile(t, filepath.Join(dir, "data_batch_2.bin"), cifarRecords(2))
	s, err := ReadCIFAR10(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 5 || s.C != 3 || s.H != 32 || s.W != 32 || s.Frames != 1 || s.Classes != 10 {
		t.Fatalf("shape: got N=%d C=%d H=%d W=%d Frames=%d, want 5 3 32 32 1", s.Len(), s.C, s.H, s.W, s.Frames)
	}
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	wantY := []uint8{0, 1, 2, 0, 1}
	for n := range 5 {
		i := n % 3 // record index within its file
		if n >= 3 {
			i = n - 3
		}
		if s.Y[n] != wantY[n] {
			t.Errorf("Y[%d] = %d, want %d", n, s.Y[n], wantY[n])
		}
		x := s.Sample(n)
		for _, j := range []int{0, 1023, 1024, 2047, 2048, 3071} {
			c := j / 1024
			want := (float32((i+j)%256)/255 - CIFAR10Mean[c]) / CIFAR10Std[c]
			if math.Abs(float64(x[j]-want)) > 1e-6 {
				t.Errorf("sample %d value %d (channel %d) = %v, want %v", n, j, c, x[j], want)
			}
		}
	}
}

func TestReadCIFAR10BadInput(t *testing.T) {
	badLabel := cifarRecords(2)
	badLabel[cifarRecord] = 11
	cases := []struct {
		name      string
		data      []byte
		fragments []string
	}{
		{"empty", nil, []string{"file size", "multiple of 3073", "found 0 bytes"}},
		{"truncated", cifarRecords(2)[:2*cifarRecord-1], []string{"multiple of 3073", "6145 bytes (1 whole records and 3072 bytes over)"}},
		{"trailing byte", append(cifarRecords(1), 0), []string{"3074 bytes (1 whole records and 1 bytes over)"}},
		{"label out of range", badLabel, []string{"label of record 1 (byte offset 3073)", "found 11"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			good := writeFile(t, filepath.Join(dir, "good.bin"), cifarRecords(1))
			bad := writeFile(t, filepath.Join(dir, "bad.bin"), c.data)
			s, err := ReadCIFAR10(good, bad)
			if s != nil {
				t.Errorf("got a Set alongside the error")
			}
			wantFileError(t, err, bad, ErrFormat, c.fragments...)
		})
	}
	if _, err := ReadCIFAR10(); !errors.Is(err, ErrConfig) {
		t.Errorf("ReadCIFAR10() error %v, want ErrConfig", err)
	}
}

// FuzzReadCIFAR10 writes the fuzz input as one batch file.
func FuzzReadCIFAR10(f *testing.F) {
	f.Add(cifarRecords(1))
	f.Add(cifarRecords(2)[:cifarRecord+5])
	f.Add([]byte{})
	bad := cifarRecords(1)
	bad[0] = 200
	f.Add(bad)
	f.Fuzz(func(t *testing.T, data []byte) {
		p := writeFile(t, filepath.Join(t.TempDir(), "b.bin"), data)
		s, err := ReadCIFAR10(p)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not a *FileError wrapping ErrFormat", err)
			}
			return
		}
		if err := s.Check(); err != nil {
			t.Fatalf("inconsistent set: %v", err)
		}
		if s.Len() != len(data)/cifarRecord {
			t.Fatalf("got %d samples from %d bytes", s.Len(), len(data))
		}
	})
}
