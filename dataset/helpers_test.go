package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// idxBytes encodes an IDX file with the given magic and dimensions followed by payload.
func idxBytes(magic uint32, dims []uint32, payload []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.BigEndian, magic)
	for _, d := range dims {
		binary.Write(&b, binary.BigEndian, d)
	}
	b.Write(payload)
	return b.Bytes()
}

func gzipBytes(t testing.TB, data []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func writeFile(t testing.TB, path string, data []byte) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// testImages returns n images of rows x cols with pixel values (i*7 + p) % 256 and
// labels i % 10.
func testImages(n, rows, cols int) (images, labels []byte) {
	images = idxBytes(idxImagesMagic, []uint32{uint32(n), uint32(rows), uint32(cols)}, nil)
	for i := range n {
		for p := range rows * cols {
			images = append(images, byte((i*7+p)%256))
		}
	}
	lab := make([]byte, n)
	for i := range lab {
		lab[i] = byte(i % 10)
	}
	return images, idxBytes(idxLabelsMagic, []uint32{uint32(n)}, lab)
}

// cifarRecords returns n CIFAR-10 records: label i % 10, pixel byte (i + j) % 256.
func cifarRecords(n int) []byte {
	var b []byte
	for i := range n {
		b = append(b, byte(i%10))
		for j := range 3 * cifarPlane {
			b = append(b, byte((i+j)%256))
		}
	}
	return b
}

// ev encodes one N-MNIST event.
func ev(x, y, pol int, t uint32) []byte {
	return []byte{byte(x), byte(y), byte(pol<<7) | byte(t>>16&0x7f), byte(t >> 8), byte(t)}
}

// wantFileError checks that err is a *FileError naming file whose message contains
// every fragment, and that it wraps sentinel.
func wantFileError(t *testing.T, err error, file string, sentinel error, fragments ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a *FileError about %s", file)
	}
	var fe *FileError
	if !errors.As(err, &fe) {
		t.Fatalf("error %q (%T) is not a *FileError", err, err)
	}
	if fe.File != file {
		t.Errorf("FileError.File = %q, want %q (error: %v)", fe.File, file, err)
	}
	if fe.Expected == "" || fe.Found == "" {
		t.Errorf("FileError %q lacks Expected or Found", err)
	}
	if !errors.Is(err, sentinel) {
		t.Errorf("error %q does not wrap %v", err, sentinel)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error %q does not contain %q", err, f)
		}
	}
}
