package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"math"
	"time"
	"unsafe"
)

// The binary encodings. All integers and floats are little-endian; strings and
// byte strings are a uint32 length followed by the bytes; a tensor list is a
// uint32 count, then per tensor its name, a uint32 rank, rank uint64 dimensions,
// and product(dimensions) float32 values.
//
// State (StateFormat 1):
//
//	magic "ASFSTATE" | uint32 version | job | spec | config | digest [32]
//	| uint64 seed | int64 epoch, step, stepInEpoch | weights
//	| optimizer name | int64 optimizer step | float64 lr | slots
//	| uint32 n, n float64 scales | summary
//
// Summary: float64 trainLoss, trainAcc, testAcc | uint8 hasTest
// | float64 samplesPerSec | time (length-prefixed time.MarshalBinary).
const (
	// StateFormat is the version of the state encoding this build writes and reads.
	StateFormat uint32 = 1
	stateMagic         = "ASFSTATE"

	infoMagic          = "ASFINDEX"
	infoFormat  uint32 = 2 // 2 adds the trailing crc32c; 1 is still read
	pointMagic         = "ASFPOINT"
	pointFormat uint32 = 3 // 2 adds the trailing crc32c, 3 the sums; 1 and 2 are still read
	jobMagic           = "ASFJOB\x00\x01"
)

// crcTable is the Castagnoli table of the crc32c that ends each index record,
// metric point and job record (format 2): it catches any single flipped byte,
// so that a damaged record is dropped instead of believed.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// sealCRC appends the crc32c of b to b.
func sealCRC(b []byte) []byte {
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

// openCRC checks and strips the crc32c that ends b.
func openCRC(b []byte, what string) ([]byte, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %s: %d bytes, too short for its crc32c", ErrCorrupt, what, len(b))
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if got := crc32.Checksum(body, crcTable); got != sum {
		return nil, fmt.Errorf("%w: %s: crc32c mismatch: recorded %08x, bytes give %08x", ErrCorrupt, what, sum, got)
	}
	return body, nil
}

// encodeJob is a job record: magic, the crc32c of the configuration, the
// configuration (JSON).
func encodeJob(config []byte) []byte {
	b := append([]byte(jobMagic), binary.LittleEndian.AppendUint32(nil, crc32.Checksum(config, crcTable))...)
	return append(b, config...)
}

// decodeJob returns the configuration of a job record, checking its crc32c. A
// record written before the crc (plain JSON) is accepted if it is valid JSON.
func decodeJob(b []byte, job string) ([]byte, error) {
	what := fmt.Sprintf("job record %q", job)
	if !bytes.HasPrefix(b, []byte(jobMagic)) {
		if json.Valid(b) {
			return b, nil
		}
		return nil, fmt.Errorf("%w: %s: neither a record (magic %q) nor JSON", ErrCorrupt, what, jobMagic)
	}
	b = b[len(jobMagic):]
	if len(b) < 4 {
		return nil, fmt.Errorf("%w: %s: truncated", ErrCorrupt, what)
	}
	config := b[4:]
	if sum, got := binary.LittleEndian.Uint32(b), crc32.Checksum(config, crcTable); sum != got {
		return nil, fmt.Errorf("%w: %s: crc32c mismatch: recorded %08x, bytes give %08x", ErrCorrupt, what, sum, got)
	}
	if !json.Valid(config) {
		return nil, fmt.Errorf("%w: %s: the configuration is not valid JSON", ErrCorrupt, what)
	}
	return config, nil
}

// EncodeState returns the binary encoding of st (after Validate), with
// ConfigDigest filled in if it was zero. The store
// checksums and saves exactly these bytes; DecodeState reverses it.
func EncodeState(st *State) ([]byte, error) {
	if err := st.Validate(); err != nil {
		return nil, err
	}
	return encodeState(st), nil
}

func encodeState(st *State) []byte {
	n := 512 + len(st.Job) + len(st.Spec) + len(st.Config) + 8*len(st.Scales)
	for _, ts := range [][]Tensor{st.Weights, st.Optimizer.Slots} {
		for _, t := range ts {
			n += 16 + len(t.Name) + 8*len(t.Shape) + 4*len(t.Data)
		}
	}
	e := encoder{b: make([]byte, 0, n)}
	e.raw([]byte(stateMagic))
	e.u32(StateFormat)
	e.str(st.Job)
	e.str(st.Spec)
	e.bytes(st.Config)
	digest := st.ConfigDigest
	if digest == ([32]byte{}) {
		digest = sha256.Sum256(st.Config)
	}
	e.raw(digest[:])
	e.u64(st.Seed)
	e.i64(int64(st.Epoch))
	e.i64(int64(st.Step))
	e.i64(int64(st.StepInEpoch))
	e.tensors(st.Weights)
	e.str(st.Optimizer.Name)
	e.i64(st.Optimizer.Step)
	e.f64(st.Optimizer.LR)
	e.tensors(st.Optimizer.Slots)
	e.u32(uint32(len(st.Scales)))
	for _, s := range st.Scales {
		e.f64(s)
	}
	e.summary(st.Metrics)
	return e.b
}

// DecodeState decodes an encoding made by EncodeState. It checks every length
// against the bytes that remain before it allocates, so garbage gives an error
// (ErrCorrupt, or ErrVersion for another format version), never a panic or a huge
// allocation.
func DecodeState(b []byte) (*State, error) {
	d := decoder{b: b, what: "state"}
	if err := d.header(stateMagic, StateFormat); err != nil {
		return nil, err
	}
	st := &State{}
	st.Job = d.str("job")
	st.Spec = d.str("spec")
	st.Config = d.bytes("config")
	copy(st.ConfigDigest[:], d.raw("config digest", 32))
	st.Seed = d.u64("seed")
	st.Epoch = d.count("epoch")
	st.Step = d.count("step")
	st.StepInEpoch = d.count("step in epoch")
	st.Weights = d.tensors("weights")
	st.Optimizer.Name = d.str("optimizer name")
	st.Optimizer.Step = int64(d.count("optimizer step"))
	st.Optimizer.LR = d.f64("learning rate")
	st.Optimizer.Slots = d.tensors("optimizer slots")
	if n := d.length("scales", 8); n > 0 {
		st.Scales = make([]float64, n)
		for i := range st.Scales {
			st.Scales[i] = d.f64("scale")
		}
	}
	st.Metrics = d.summary()
	if err := d.finish(); err != nil {
		return nil, err
	}
	if st.ConfigDigest != sha256.Sum256(st.Config) {
		return nil, fmt.Errorf("%w: state: config digest %x is not the sha256 of the config", ErrCorrupt, st.ConfigDigest[:8])
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("%w: decoded state breaks a rule: %w", ErrCorrupt, err)
	}
	return st, nil
}

func encodeInfo(in *Info) []byte {
	e := encoder{}
	e.raw([]byte(infoMagic))
	e.u32(infoFormat)
	e.u32(in.Format)
	e.str(in.Spec)
	e.i64(int64(in.Epoch))
	e.i64(int64(in.Step))
	e.i64(int64(in.StepInEpoch))
	e.time(in.Saved)
	e.u64(uint64(in.Size))
	e.u32(uint32(in.Chunks))
	e.raw(in.Checksum[:])
	e.summary(in.Metrics)
	return sealCRC(e.b)
}

// decodeInfo decodes an index record; id and job come from its key and bucket.
func decodeInfo(b []byte, job string, id uint64) (Info, error) {
	d := decoder{b: b, what: fmt.Sprintf("index record of checkpoint %d", id)}
	in := Info{ID: id, Job: job}
	v, err := d.header2(infoMagic, infoFormat)
	if err != nil {
		return in, err
	}
	if v >= 2 {
		if d.b, err = openCRC(b, d.what); err != nil {
			return in, err
		}
	}
	in.Format = d.u32("state format")
	in.Spec = d.str("spec")
	in.Epoch = d.count("epoch")
	in.Step = d.count("step")
	in.StepInEpoch = d.count("step in epoch")
	in.Saved = d.time("saved")
	in.Size = int64(d.count("size"))
	in.Chunks = int(d.u32("chunks"))
	copy(in.Checksum[:], d.raw("checksum", 32))
	in.Metrics = d.summary()
	return in, d.finish()
}

func encodePoint(p *MetricPoint) []byte {
	e := encoder{}
	e.raw([]byte(pointMagic))
	e.u32(pointFormat)
	e.str(p.Kind)
	e.i64(int64(p.Epoch))
	e.i64(int64(p.Step))
	e.time(p.Time)
	e.f64(p.Loss)
	e.f64(p.Acc)
	e.f64(p.TestAcc)
	e.bool(p.HasTest)
	e.f64(p.SamplesPerSec)
	e.f64(p.LR)
	e.i64(int64(p.Workers))
	e.u64(p.Generation)
	e.f64(p.MSE)
	e.f64(p.CE)
	e.i64(int64(p.Correct))
	e.i64(int64(p.Samples))
	return sealCRC(e.b)
}

func decodePoint(b []byte, job string) (MetricPoint, error) {
	d := decoder{b: b, what: "metric point"}
	p := MetricPoint{Job: job}
	v, err := d.header2(pointMagic, pointFormat)
	if err != nil {
		return p, err
	}
	if v >= 2 {
		if d.b, err = openCRC(b, d.what); err != nil {
			return p, err
		}
	}
	p.Kind = d.str("kind")
	p.Epoch = d.count("epoch")
	p.Step = d.count("step")
	p.Time = d.time("time")
	p.Loss = d.f64("loss")
	p.Acc = d.f64("acc")
	p.TestAcc = d.f64("test acc")
	p.HasTest = d.bool("has test")
	p.SamplesPerSec = d.f64("samples/s")
	p.LR = d.f64("lr")
	p.Workers = d.count("workers")
	p.Generation = d.u64("generation")
	if v >= 3 {
		p.MSE = d.f64("mse")
		p.CE = d.f64("ce")
		p.Correct = d.count("correct")
		p.Samples = d.count("samples")
	}
	return p, d.finish()
}

type encoder struct{ b []byte }

func (e *encoder) raw(p []byte) { e.b = append(e.b, p...) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) i64(v int64)  { e.u64(uint64(v)) }
func (e *encoder) f64(v float64) {
	e.u64(math.Float64bits(v))
}
func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}
func (e *encoder) str(s string) { e.u32(uint32(len(s))); e.b = append(e.b, s...) }
func (e *encoder) bytes(p []byte) {
	e.u32(uint32(len(p)))
	e.b = append(e.b, p...)
}

func (e *encoder) time(t time.Time) {
	p, err := t.MarshalBinary()
	if err != nil {
		// Only a zone offset that is not a whole minute fails; keep the instant in UTC.
		p, _ = t.UTC().MarshalBinary()
	}
	e.bytes(p)
}

func (e *encoder) summary(s Summary) {
	e.f64(s.TrainLoss)
	e.f64(s.TrainAcc)
	e.f64(s.TestAcc)
	e.bool(s.HasTest)
	e.f64(s.SamplesPerSec)
	e.time(s.Time)
}

func (e *encoder) tensors(ts []Tensor) {
	e.u32(uint32(len(ts)))
	for _, t := range ts {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(uint64(d))
		}
		e.b = appendFloat32s(e.b, t.Data)
	}
}

// nativeLE reports whether this machine stores float32 little-endian, so that
// tensor data can be copied as bytes.
var nativeLE = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// appendFloat32s appends the little-endian bits of v to b.
func appendFloat32s(b []byte, v []float32) []byte {
	if len(v) == 0 {
		return b
	}
	if nativeLE {
		return append(b, unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), 4*len(v))...)
	}
	off := len(b)
	b = append(b, make([]byte, 4*len(v))...)
	out := b[off:]
	for i, x := range v {
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
	}
	return b
}

// readFloat32s fills dst from the little-endian bytes p (len(p) == 4*len(dst)).
func readFloat32s(dst []float32, p []byte) {
	if len(dst) == 0 {
		return
	}
	if nativeLE {
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&dst[0])), 4*len(dst)), p)
		return
	}
	for k := range dst {
		dst[k] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*k:]))
	}
}

// decoder reads an encoding; the first problem sticks in err and later reads
// return zero values.
type decoder struct {
	b    []byte
	off  int
	what string
	err  error
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s: %s at byte %d: %s", ErrCorrupt, d.what, field, d.off, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) header(magic string, version uint32) error {
	if len(d.b) < len(magic)+4 || string(d.b[:len(magic)]) != magic {
		n := min(len(d.b), len(magic))
		return fmt.Errorf("%w: %s: want magic %q, found %q (%d bytes in all)", ErrCorrupt, d.what, magic, d.b[:n], len(d.b))
	}
	d.off = len(magic)
	if v := d.u32("version"); v != version {
		return fmt.Errorf("%w: %s format version %d found, this build reads version %d", ErrVersion, d.what, v, version)
	}
	return nil
}

// header2 is header for an encoding whose versions 1 to version are all read;
// it returns the version found.
func (d *decoder) header2(magic string, version uint32) (uint32, error) {
	if len(d.b) < len(magic)+4 || string(d.b[:len(magic)]) != magic {
		n := min(len(d.b), len(magic))
		return 0, fmt.Errorf("%w: %s: want magic %q, found %q (%d bytes in all)", ErrCorrupt, d.what, magic, d.b[:n], len(d.b))
	}
	d.off = len(magic)
	v := d.u32("version")
	if v < 1 || v > version {
		return 0, fmt.Errorf("%w: %s format version %d found, this build reads versions 1 to %d", ErrVersion, d.what, v, version)
	}
	return v, nil
}

func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.b) {
		d.fail("end", "%d bytes left over after the last field", len(d.b)-d.off)
	}
	return d.err
}

func (d *decoder) raw(field string, n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > len(d.b)-d.off {
		d.fail(field, "needs %d bytes, %d remain", n, len(d.b)-d.off)
		return nil
	}
	p := d.b[d.off : d.off+n]
	d.off += n
	return p
}

func (d *decoder) u32(field string) uint32 {
	if p := d.raw(field, 4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (d *decoder) u64(field string) uint64 {
	if p := d.raw(field, 8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

func (d *decoder) f64(field string) float64 { return math.Float64frombits(d.u64(field)) }

func (d *decoder) bool(field string) bool {
	p := d.raw(field, 1)
	if p == nil {
		return false
	}
	if p[0] > 1 {
		d.fail(field, "boolean byte is %d, want 0 or 1", p[0])
	}
	return p[0] == 1
}

// count reads an int64 that must be a non-negative int.
func (d *decoder) count(field string) int {
	v := int64(d.u64(field))
	if v < 0 || uint64(v) > math.MaxInt {
		d.fail(field, "value %d is out of range", v)
		return 0
	}
	return int(v)
}

// length reads a uint32 element count and checks that that many elements of at
// least minSize bytes each can fit in what remains.
func (d *decoder) length(field string, minSize int) int {
	n := int(d.u32(field))
	if d.err == nil && n > (len(d.b)-d.off)/minSize {
		d.fail(field, "count %d cannot fit in the %d bytes that remain", n, len(d.b)-d.off)
		return 0
	}
	return n
}

func (d *decoder) bytes(field string) []byte {
	n := int(d.u32(field))
	p := d.raw(field, n)
	if len(p) == 0 {
		return nil
	}
	return append([]byte(nil), p...)
}

func (d *decoder) str(field string) string { return string(d.raw(field, int(d.u32(field)))) }

func (d *decoder) time(field string) time.Time {
	p := d.raw(field, int(d.u32(field)))
	if d.err != nil {
		return time.Time{}
	}
	var t time.Time
	if err := t.UnmarshalBinary(p); err != nil {
		d.fail(field, "%v", err)
	}
	return t
}

func (d *decoder) summary() Summary {
	var s Summary
	s.TrainLoss = d.f64("train loss")
	s.TrainAcc = d.f64("train acc")
	s.TestAcc = d.f64("test acc")
	s.HasTest = d.bool("has test")
	s.SamplesPerSec = d.f64("samples/s")
	s.Time = d.time("time")
	return s
}

func (d *decoder) tensors(field string) []Tensor {
	// A tensor takes at least 12 bytes: name length, rank, and no data only if
	// a dimension is 0.
	n := d.length(field+" count", 8)
	if n == 0 {
		return nil
	}
	ts := make([]Tensor, n)
	for i := range ts {
		t := &ts[i]
		t.Name = d.str(fmt.Sprintf("%s[%d] name", field, i))
		rank := int(d.u32(fmt.Sprintf("%s %q rank", field, t.Name)))
		if d.err != nil {
			return nil
		}
		if rank > maxDims {
			d.fail(field, "tensor %q has rank %d, at most %d allowed", t.Name, rank, maxDims)
			return nil
		}
		t.Shape = make([]int, rank)
		for j := range t.Shape {
			v := d.u64(fmt.Sprintf("%s %q dimension %d", field, t.Name, j))
			if v > math.MaxInt32 {
				d.fail(field, "tensor %q dimension %d is %d, too large", t.Name, j, v)
				return nil
			}
			t.Shape[j] = int(v)
		}
		elems := t.Elements()
		if d.err != nil {
			return nil
		}
		if elems < 0 || elems > (len(d.b)-d.off)/4 {
			d.fail(field, "tensor %q of shape %v needs %d float32 values, %d bytes remain", t.Name, t.Shape, elems, len(d.b)-d.off)
			return nil
		}
		p := d.raw(field, 4*elems)
		t.Data = make([]float32, elems)
		readFloat32s(t.Data, p)
	}
	return ts
}
