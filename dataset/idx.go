package dataset

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// IDX magic numbers (docs/algorithm.md section 8): two zero bytes, the element type (0x08 =
// unsigned byte), the number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// deflateMaxRatio bounds how much DEFLATE can expand: at most 258 bytes per
// 2-bit-ish code, about 1032:1. A gzip file whose header promises more than this times
// its own size is rejected before anything is allocated.
const deflateMaxRatio = 1032

// maxPayload caps one file's payload (16 GiB) so that header products cannot overflow
// or ask for absurd allocations.
const maxPayload = int64(1) << 34

// initialChunk is the most a reader allocates before the data has actually arrived;
// the buffer then grows as the bytes come in.
const initialChunk = int64(1) << 26

// ReadIDX reads an IDX images file (magic 0x00000803: n, rows, cols, then n*rows*cols
// unsigned bytes) and the matching IDX labels file (magic 0x00000801: n, then n bytes),
// each gzip-compressed or raw (detected from the first bytes). Pixels are normalised
// to [0,1] (v/255). The result has Frames=1, C=1, H=rows, W=cols, Classes=10 and an
// empty Name (Load fills it in). Errors are *FileError values naming the file.
func ReadIDX(images, labels string) (*Set, error) {
	idims, pix, err := readIDXFile(images, idxImagesMagic)
	if err != nil {
		return nil, err
	}
	ldims, lab, err := readIDXFile(labels, idxLabelsMagic)
	if err != nil {
		return nil, err
	}
	n, rows, cols := idims[0], idims[1], idims[2]
	if ldims[0] != n {
		return nil, formatErr(labels, "label count", fmt.Sprintf("%d (the image count of %s)", n, images), ldims[0])
	}
	for i, y := range lab {
		if y >= 10 {
			return nil, formatErr(labels, fmt.Sprintf("label of sample %d", i), "a class in [0, 10)", y)
		}
	}
	lut := make([][256]float32, 1)
	for v := range lut[0] {
		lut[0][v] = float32(v) / 255
	}
	return &Set{C: 1, H: rows, W: cols, Frames: 1, Classes: 10, Pix: pix, Levels: lut, Y: lab}, nil
}

// idxHeader describes an IDX file without reading its payload.
type idxHeader struct {
	Magic   uint32
	Dims    []int
	Gzipped bool
}

// readIDXFile reads and checks one IDX file whose magic must be want; it returns the
// dimensions and the payload bytes.
func readIDXFile(path string, want uint32) (dims []int, payload []byte, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: %w", err)
	}
	r, gz, closeR, err := openMaybeGzip(path, f)
	if err != nil {
		return nil, nil, err
	}
	defer closeR()
	h, err := readIDXHeader(path, r, want)
	if err != nil {
		return nil, nil, err
	}
	headerLen := int64(4 + 4*len(h.Dims))
	size, err := idxPayloadSize(path, h)
	if err != nil {
		return nil, nil, err
	}
	what := idxPayloadDescription(h)
	// Check the header against the file size before allocating anything.
	if !gz && st.Size()-headerLen != size {
		return nil, nil, formatErr(path, "payload size", fmt.Sprintf("%d bytes (%s)", size, what), fmt.Sprintf("%d bytes after the %d-byte header", st.Size()-headerLen, headerLen))
	}
	if gz && size > deflateMaxRatio*st.Size() {
		return nil, nil, formatErr(path, "payload size", fmt.Sprintf("%d bytes (%s)", size, what), fmt.Sprintf("a %d-byte gzip file, which cannot hold more than %d bytes", st.Size(), deflateMaxRatio*st.Size()))
	}
	payload, err = readPayload(path, r, size, what)
	if err != nil {
		return nil, nil, err
	}
	return h.Dims, payload, nil
}

// openMaybeGzip wraps f in a gzip reader when the file starts with the gzip magic.
func openMaybeGzip(path string, f *os.File) (r io.Reader, gz bool, closeFn func(), err error) {
	br := bufio.NewReaderSize(f, 1<<16)
	magic, _ := br.Peek(2)
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, false, nil, formatErr(path, "gzip header", "a valid gzip stream", err)
		}
		return zr, true, func() { zr.Close() }, nil
	}
	return br, false, func() {}, nil
}

// readIDXHeader reads the magic and the dimensions of an IDX file.
func readIDXHeader(path string, r io.Reader, want uint32) (idxHeader, error) {
	var buf [4]byte
	if err := readHeaderBytes(path, r, buf[:], "magic number", fmt.Sprintf("0x%08x", want)); err != nil {
		return idxHeader{}, err
	}
	magic := binary.BigEndian.Uint32(buf[:])
	if magic != want {
		return idxHeader{}, formatErr(path, "magic number", fmt.Sprintf("0x%08x (%s)", want, idxKind(want)), fmt.Sprintf("0x%08x (%s)", magic, idxKind(magic)))
	}
	h := idxHeader{Magic: magic, Dims: make([]int, magic&0xff)}
	for i := range h.Dims {
		if err := readHeaderBytes(path, r, buf[:], fmt.Sprintf("dimension %d", i), "a 4-byte big-endian size"); err != nil {
			return idxHeader{}, err
		}
		d := binary.BigEndian.Uint32(buf[:])
		if d == 0 {
			return idxHeader{}, formatErr(path, fmt.Sprintf("dimension %d (%s)", i, idxDimName(len(h.Dims), i)), "> 0", 0)
		}
		h.Dims[i] = int(d)
	}
	return h, nil
}

// readHeaderBytes fills buf or reports a truncated header.
func readHeaderBytes(path string, r io.Reader, buf []byte, field, expected string) error {
	n, err := io.ReadFull(r, buf)
	if err == nil {
		return nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return formatErr(path, field+" (file truncated)", expected, fmt.Sprintf("end of file after %d of %d bytes", n, len(buf)))
	}
	return formatErr(path, field, expected, err)
}

// idxPayloadSize multiplies the dimensions, refusing overflow and absurd sizes.
func idxPayloadSize(path string, h idxHeader) (int64, error) {
	size := int64(1)
	for _, d := range h.Dims {
		if size > maxPayload/int64(d) {
			return 0, formatErr(path, "dimensions", fmt.Sprintf("at most %d payload bytes", maxPayload), fmt.Sprintf("%v", h.Dims))
		}
		size *= int64(d)
	}
	return size, nil
}

// idxKind names what a magic number means.
func idxKind(m uint32) string {
	switch m {
	case idxImagesMagic:
		return "IDX images, unsigned bytes, 3 dimensions"
	case idxLabelsMagic:
		return "IDX labels, unsigned bytes, 1 dimension"
	}
	if m>>16 != 0 {
		return "not an IDX file"
	}
	return fmt.Sprintf("IDX type 0x%02x with %d dimensions", (m>>8)&0xff, m&0xff)
}

// idxDimName names dimension i of an IDX file with nd dimensions.
func idxDimName(nd, i int) string {
	if nd == 3 {
		return [...]string{"image count", "rows", "columns"}[i]
	}
	if nd == 1 {
		return "label count"
	}
	return "size"
}

// idxPayloadDescription says in words what the header promises.
func idxPayloadDescription(h idxHeader) string {
	switch len(h.Dims) {
	case 3:
		return fmt.Sprintf("header says %d images of %dx%d", h.Dims[0], h.Dims[1], h.Dims[2])
	case 1:
		return fmt.Sprintf("header says %d labels", h.Dims[0])
	}
	return fmt.Sprintf("header says dimensions %v", h.Dims)
}

// readPayload reads exactly size bytes and checks that nothing follows. Memory grows
// with the bytes actually read, never ahead of them by more than initialChunk.
func readPayload(path string, r io.Reader, size int64, what string) ([]byte, error) {
	buf := make([]byte, 0, min(size, initialChunk))
	for int64(len(buf)) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(size-int64(len(buf)), int64(len(buf)))))
		}
		want := min(int64(cap(buf)), size)
		n, err := r.Read(buf[len(buf):want])
		buf = buf[:len(buf)+n]
		if (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)) && int64(len(buf)) < size {
			return nil, formatErr(path, "payload (file truncated)", fmt.Sprintf("%d bytes (%s)", size, what), fmt.Sprintf("%d bytes", len(buf)))
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, formatErr(path, "payload", fmt.Sprintf("%d readable bytes (%s)", size, what), fmt.Sprintf("a read error after %d bytes: %v", len(buf), err))
		}
	}
	var extra [1]byte
	n, err := io.ReadFull(r, extra[:])
	if n > 0 {
		rest, _ := io.Copy(io.Discard, r)
		return nil, formatErr(path, "trailing data", fmt.Sprintf("end of file after %d payload bytes (%s)", size, what), fmt.Sprintf("%d more bytes", int64(n)+rest))
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, formatErr(path, "payload", "a clean end of file", err)
	}
	return buf, nil
}
