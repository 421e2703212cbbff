package dataset

import (
	"fmt"
	"os"
)

// CIFAR-10 binary layout (docs/algorithm.md section 8): records of 1 label byte then 1024 R,
// 1024 G and 1024 B bytes, each a 32x32 row-major plane.
const (
	cifarSide   = 32
	cifarPlane  = cifarSide * cifarSide
	cifarRecord = 1 + 3*cifarPlane // 3073
)

// CIFAR10Mean and CIFAR10Std are the per-channel (R, G, B) normalisation constants of
// the reference VGG7 code (docs/algorithm.md section 6): x = (v/255 - mean) / std.
var (
	CIFAR10Mean = [3]float32{0.4914, 0.4822, 0.4465}
	CIFAR10Std  = [3]float32{0.557, 0.549, 0.5534}
)

// ReadCIFAR10 reads CIFAR-10 binary batch files (data_batch_1.bin ... test_batch.bin),
// concatenated in the order given. Each file must be a positive multiple of 3073 bytes
// and every label below 10. Pixels are normalised per channel with CIFAR10Mean and
// CIFAR10Std. The result has Frames=1, C=3, H=W=32, Classes=10, an empty Name and
// Zero set to the normalised black pixel (-mean/std per channel).
func ReadCIFAR10(files ...string) (*Set, error) {
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: ReadCIFAR10: no files given", ErrConfig)
	}
	// Check every size first so a bad file costs no allocation.
	total := int64(0)
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if err := checkCIFARSize(f, st.Size()); err != nil {
			return nil, err
		}
		total += st.Size() / cifarRecord
	}
	lut := make([][256]float32, 3)
	for c := range lut {
		for v := range lut[c] {
			lut[c][v] = (float32(v)/255 - CIFAR10Mean[c]) / CIFAR10Std[c]
		}
	}
	s := &Set{C: 3, H: cifarSide, W: cifarSide, Frames: 1, Classes: 10,
		Pix: make([]uint8, 0, total*3*cifarPlane), Levels: lut, Y: make([]uint8, 0, total),
		Zero: []float32{lut[0][0], lut[1][0], lut[2][0]}}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		if err := checkCIFARSize(f, int64(len(data))); err != nil { // the file changed since Stat
			return nil, err
		}
		for r := 0; r < len(data)/cifarRecord; r++ {
			rec := data[r*cifarRecord : (r+1)*cifarRecord]
			if rec[0] >= 10 {
				return nil, formatErr(f, fmt.Sprintf("label of record %d (byte offset %d)", r, r*cifarRecord), "a class in [0, 10)", rec[0])
			}
			s.Y = append(s.Y, rec[0])
			s.Pix = append(s.Pix, rec[1:]...)
		}
	}
	return s, nil
}

func checkCIFARSize(f string, size int64) error {
	if size == 0 || size%cifarRecord != 0 {
		return formatErr(f, "file size", fmt.Sprintf("a positive multiple of %d bytes (records of 1 label byte + 3072 pixel bytes)", cifarRecord),
			fmt.Sprintf("%d bytes (%d whole records and %d bytes over)", size, size/cifarRecord, size%cifarRecord))
	}
	return nil
}
