package dataset

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"
)

func TestReadIDX(t *testing.T) {
	img, lab := testImages(5, 3, 4)
	for _, gz := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "gzip"}[gz], func(t *testing.T) {
			dir := t.TempDir()
			i, l := img, lab
			if gz {
				i, l = gzipBytes(t, img), gzipBytes(t, lab)
			}
			s, err := ReadIDX(writeFile(t, filepath.Join(dir, "i"), i), writeFile(t, filepath.Join(dir, "l"), l))
			if err != nil {
				t.Fatal(err)
			}
			if s.Len() != 5 || s.C != 1 || s.H != 3 || s.W != 4 || s.Frames != 1 || s.Classes != 10 {
				t.Fatalf("shape: got N=%d C=%d H=%d W=%d Frames=%d Classes=%d, want 5 1 3 4 1 10", s.Len(), s.C, s.H, s.W, s.Frames, s.Classes)
			}
			if err := s.Check(); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				if s.Y[i] != uint8(i%10) {
					t.Errorf("Y[%d] = %d, want %d", i, s.Y[i], i%10)
				}
				for p, v := range s.Sample(i) {
					if want := float32((i*7+p)%256) / 255; v != want {
						t.Fatalf("sample %d pixel %d = %v, want %v", i, p, v, want)
					}
				}
			}
		})
	}
}

func TestReadIDXBadInput(t *testing.T) {
	img, lab := testImages(4, 2, 2) // 16 pixel bytes, 4 labels
	badLab := append([]byte(nil), lab...)
	badLab[len(badLab)-1] = 10
	cases := []struct {
		name       string
		images     []byte
		labels     []byte
		badFile    string // "images" or "labels"
		fragments  []string
		gzipImages bool
	}{
		{"empty images", nil, lab, "images", []string{"magic number", "end of file after 0 of 4 bytes"}, false},
		{"truncated header", img[:9], lab, "images", []string{"dimension 1", "end of file after 1 of 4 bytes"}, false},
		{"truncated payload", img[:len(img)-3], lab, "images", []string{"payload size", "16 bytes", "13 bytes"}, false},
		{"truncated gzip payload", img[:len(img)-3], lab, "images", []string{"file truncated", "16 bytes", "13 bytes"}, true},
		{"trailing data", append(append([]byte(nil), img...), 1, 2), lab, "images", []string{"payload size", "18 bytes"}, false},
		{"trailing gzip data", append(append([]byte(nil), img...), 1, 2), lab, "images", []string{"trailing data", "2 more bytes"}, true},
		{"labels magic in images", lab, lab, "images", []string{"0x00000803", "found 0x00000801"}, false},
		{"images magic in labels", img, img, "labels", []string{"0x00000801", "found 0x00000803"}, false},
		{"not IDX", []byte("hello, world, not an idx file"), lab, "images", []string{"not an IDX file"}, false},
		{"4-dimensional images", idxBytes(0x00000804, []uint32{1, 1, 1, 1}, []byte{0}), lab, "images", []string{"0x00000803", "4 dimensions"}, false},
		{"zero rows", idxBytes(idxImagesMagic, []uint32{4, 0, 2}, nil), lab, "images", []string{"rows", "> 0"}, false},
		{"count mismatch", img, idxBytes(idxLabelsMagic, []uint32{3}, []byte{0, 1, 2}), "labels", []string{"label count", "expected 4", "found 3"}, false},
		{"label out of range", img, badLab, "labels", []string{"label of sample 3", "found 10"}, false},
		{"hostile header", idxBytes(idxImagesMagic, []uint32{0xffffffff, 0xffffffff, 0xffffffff}, nil), lab, "images", []string{"dimensions", "at most"}, false},
		{"huge count raw", idxBytes(idxImagesMagic, []uint32{1 << 20, 28, 28}, make([]byte, 100)), lab, "images", []string{"payload size", "822083584 bytes", "found 100 bytes"}, false},
		{"huge count gzip", idxBytes(idxImagesMagic, []uint32{1 << 20, 28, 28}, make([]byte, 100)), lab, "images", []string{"cannot hold more than"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			imgData := c.images
			if c.gzipImages {
				imgData = gzipBytes(t, imgData)
			}
			ip := writeFile(t, filepath.Join(dir, "train-images-idx3-ubyte"), imgData)
			lp := writeFile(t, filepath.Join(dir, "train-labels-idx1-ubyte"), c.labels)
			s, err := ReadIDX(ip, lp)
			if s != nil {
				t.Errorf("got a Set alongside the error")
			}
			want := ip
			if c.badFile == "labels" {
				want = lp
			}
			wantFileError(t, err, want, ErrFormat, c.fragments...)
		})
	}
}

func TestReadIDXCorruptGzip(t *testing.T) {
	img, lab := testImages(4, 2, 2)
	z := gzipBytes(t, img)
	z[len(z)-6] ^= 0xff // damage the CRC-32 in the gzip trailer
	dir := t.TempDir()
	ip := writeFile(t, filepath.Join(dir, "i.gz"), z)
	lp := writeFile(t, filepath.Join(dir, "l"), lab)
	_, err := ReadIDX(ip, lp)
	wantFileError(t, err, ip, ErrFormat, "checksum")
}

func TestReadIDXMissingFile(t *testing.T) {
	_, err := ReadIDX(filepath.Join(t.TempDir(), "nope"), "also-nope")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("error %v does not wrap fs.ErrNotExist", err)
	}
}

// FuzzReadIDX writes the fuzz input as an images and a labels file, optionally
// gzip-compressed, and checks that ReadIDX returns a consistent Set or an error,
// never a panic.
func FuzzReadIDX(f *testing.F) {
	img, lab := testImages(3, 2, 2)
	f.Add(img, lab, false)
	f.Add(img, lab, true)
	f.Add(img[:10], lab, false)
	f.Add(idxBytes(idxImagesMagic, []uint32{0xffffffff, 28, 28}, nil), lab, true)
	f.Add(lab, img, false)
	f.Add([]byte{0x1f, 0x8b, 8, 0}, lab, false)
	f.Fuzz(func(t *testing.T, images, labels []byte, gz bool) {
		dir := t.TempDir()
		if gz {
			images = gzipBytes(t, images)
		}
		ip := writeFile(t, filepath.Join(dir, "images"), images)
		lp := writeFile(t, filepath.Join(dir, "labels"), labels)
		s, err := ReadIDX(ip, lp)
		if err != nil {
			var fe *FileError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v is not a *FileError wrapping ErrFormat", err)
			}
			return
		}
		if err := s.Check(); err != nil {
			t.Fatalf("ReadIDX returned an inconsistent set: %v", err)
		}
		s.Values(func(_ int, x []float32) {
			for _, v := range x {
				if v < 0 || v > 1 {
					t.Fatalf("pixel %v outside [0,1]", v)
				}
			}
		})
	})
}
