package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Safetensors export and import (https://github.com/huggingface/safetensors):
//
//	uint64 N (little-endian) | N bytes of JSON header | data
//
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin,
// end)} (offsets relative to the start of data) and may hold "__metadata__", a map
// of strings to strings. The header is padded with spaces to a multiple of 8
// bytes. Tensors are stored back to back, in the order of the state, with no gaps.
//
// The metadata written here:
//
//	format "asf", format_version "1", job, spec, seed, epoch, step,
//	step_in_epoch, scales (a JSON array of numbers), config (the job's JSON),
//	config_sha256 (hex), train_loss, train_acc, test_acc (if measured),
//	samples_per_sec, time (RFC 3339), and with the optimizer also optimizer (a JSON
//	object: name, step, lr, and the slot tensors' names, which are stored with the
//	prefix "optimizer/").
const (
	// SafetensorsFormat is the version of the metadata this build writes and reads.
	SafetensorsFormat = 1
	// MaxSafetensorsHeader bounds the JSON header ImportSafetensors accepts
	// (the reference implementation's limit).
	MaxSafetensorsHeader = 100 << 20
	optimizerPrefix      = "optimizer/"
)

// SafetensorsOptions choose what ExportSafetensorsOpts writes.
type SafetensorsOptions struct {
	// Optimizer adds the optimizer's slots (as "optimizer/<slot>") and its name,
	// step and learning rate, so that an import resumes training bitwise. Other
	// frameworks loading the weights then have to skip those tensors.
	Optimizer bool
}

type stEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

type stOptimizer struct {
	Name  string   `json:"name"`
	Step  int64    `json:"step"`
	LR    float64  `json:"lr"`
	Slots []string `json:"slots"`
}

// ExportSafetensors writes st's weights and metadata (not the optimizer) as a
// safetensors file to w.
func ExportSafetensors(st *State, w io.Writer) error {
	return ExportSafetensorsOpts(st, w, SafetensorsOptions{})
}

// ExportSafetensorsOpts writes st as a safetensors file to w, with the optimizer
// state if opts.Optimizer.
func ExportSafetensorsOpts(st *State, w io.Writer, opts SafetensorsOptions) error {
	if err := st.Validate(); err != nil {
		return err
	}
	for i, s := range st.Scales {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return fmt.Errorf("%w: job %q: scale %d is %v; a safetensors header holds finite numbers only", ErrInvalidState, st.Job, i, s)
		}
	}
	for _, t := range st.Weights {
		if strings.HasPrefix(t.Name, optimizerPrefix) {
			return fmt.Errorf("%w: job %q: weight %q uses the prefix %q reserved for optimizer slots", ErrInvalidState, st.Job, t.Name, optimizerPrefix)
		}
	}
	tensors := slices.Clone(st.Weights)
	meta := map[string]string{
		"format":          "asf",
		"format_version":  strconv.Itoa(SafetensorsFormat),
		"job":             st.Job,
		"spec":            st.Spec,
		"seed":            strconv.FormatUint(st.Seed, 10),
		"epoch":           strconv.Itoa(st.Epoch),
		"step":            strconv.Itoa(st.Step),
		"step_in_epoch":   strconv.Itoa(st.StepInEpoch),
		"config":          string(st.Config),
		"config_sha256":   hex.EncodeToString(digestOf(st)),
		"train_loss":      formatFloat(st.Metrics.TrainLoss),
		"train_acc":       formatFloat(st.Metrics.TrainAcc),
		"samples_per_sec": formatFloat(st.Metrics.SamplesPerSec),
	}
	scales, err := json.Marshal(nonNil(st.Scales))
	if err != nil {
		return fmt.Errorf("checkpoint: export: scales: %w", err)
	}
	meta["scales"] = string(scales)
	if st.Metrics.HasTest {
		meta["test_acc"] = formatFloat(st.Metrics.TestAcc)
	}
	if !st.Metrics.Time.IsZero() {
		ts, err := st.Metrics.Time.MarshalText()
		if err == nil {
			meta["time"] = string(ts)
		}
	}
	if opts.Optimizer {
		o := stOptimizer{Name: st.Optimizer.Name, Step: st.Optimizer.Step, LR: st.Optimizer.LR, Slots: []string{}}
		for _, t := range st.Optimizer.Slots {
			o.Slots = append(o.Slots, t.Name)
			t.Name = optimizerPrefix + t.Name
			tensors = append(tensors, t)
		}
		if math.IsNaN(o.LR) || math.IsInf(o.LR, 0) {
			return fmt.Errorf("%w: job %q: learning rate %v is not finite", ErrInvalidState, st.Job, o.LR)
		}
		b, err := json.Marshal(o)
		if err != nil {
			return fmt.Errorf("checkpoint: export: optimizer: %w", err)
		}
		meta["optimizer"] = string(b)
	}

	// The header, as an ordered JSON object: metadata first, then the tensors in
	// data order.
	var hdr bytes.Buffer
	hdr.WriteString(`{"__metadata__":`)
	mb, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("checkpoint: export: metadata: %w", err)
	}
	hdr.Write(mb)
	var off int64
	for _, t := range tensors {
		name, _ := json.Marshal(t.Name)
		n := int64(4 * len(t.Data))
		e, _ := json.Marshal(stEntry{DType: "F32", Shape: nonNil(t.Shape), Offsets: [2]int64{off, off + n}})
		hdr.WriteByte(',')
		hdr.Write(name)
		hdr.WriteByte(':')
		hdr.Write(e)
		off += n
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	bw.Write(lenBuf[:])
	bw.Write(hdr.Bytes())
	buf := make([]byte, 0, 1<<20)
	for _, t := range tensors {
		for i := 0; i < len(t.Data); i += 1 << 18 {
			buf = appendFloat32s(buf[:0], t.Data[i:min(len(t.Data), i+1<<18)])
			if _, err := bw.Write(buf); err != nil {
				return fmt.Errorf("checkpoint: export: %w", err)
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("checkpoint: export: %w", err)
	}
	return nil
}

func digestOf(st *State) []byte {
	if st.ConfigDigest != ([32]byte{}) {
		return st.ConfigDigest[:]
	}
	d := sha256.Sum256(st.Config)
	return d[:]
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// ImportSafetensors reads a safetensors file and returns the state it holds. It
// checks everything before it believes it: the header length (at most
// MaxSafetensorsHeader and within the input), the header's JSON (an object, no
// duplicate names), each tensor's dtype (F32 only), shape and offsets (in range,
// matching the shape, back to back with no gap or overlap, covering the data to
// its end), and the asf metadata when present. A file written by another program
// imports as weights with whatever metadata it has; Job is left empty for the
// caller to set. Errors wrap ErrFormat (or ErrVersion).
func ImportSafetensors(r io.Reader) (*State, error) {
	var lenBuf [8]byte
	if _, err := io.ReadFull(r, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("%w: safetensors: reading the 8-byte header length: %v", ErrFormat, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n < 2 || n > MaxSafetensorsHeader {
		return nil, fmt.Errorf("%w: safetensors: header length %d, want 2 to %d bytes", ErrFormat, n, MaxSafetensorsHeader)
	}
	hdr := make([]byte, 0, min(n, 1<<20))
	hdr, err := readN(r, hdr, int64(n))
	if err != nil {
		return nil, fmt.Errorf("%w: safetensors: header of %d bytes: %v", ErrFormat, n, err)
	}
	if hdr[0] != '{' {
		return nil, fmt.Errorf("%w: safetensors: header starts with %q, want '{'", ErrFormat, hdr[0])
	}
	meta, entries, err := parseHeader(hdr)
	if err != nil {
		return nil, err
	}
	// Check offsets: sorted by begin, contiguous from 0.
	order := make([]int, len(entries))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return compareInt64(entries[a].Offsets[0], entries[b].Offsets[0])
	})
	var end int64
	for _, i := range order {
		e := &entries[i]
		if e.Offsets[0] != end {
			what := "leaves a gap after"
			if e.Offsets[0] < end {
				what = "overlaps"
			}
			return nil, fmt.Errorf("%w: safetensors: tensor %q begins at byte %d, which %s the data before it (ends at %d)", ErrFormat, e.name, e.Offsets[0], what, end)
		}
		end = e.Offsets[1]
	}

	st := &State{}
	byName := map[string]*Tensor{}
	for _, i := range order {
		e := &entries[i]
		size := e.Offsets[1] - e.Offsets[0]
		data, err := readN(r, nil, size)
		if err != nil {
			return nil, fmt.Errorf("%w: safetensors: data of tensor %q (bytes %d to %d): %v", ErrFormat, e.name, e.Offsets[0], e.Offsets[1], err)
		}
		t := Tensor{Name: e.name, Shape: e.Shape, Data: make([]float32, len(data)/4)}
		readFloat32s(t.Data, data)
		byName[e.name] = &t
	}
	var extra [1]byte
	if k, _ := io.ReadFull(r, extra[:]); k != 0 {
		return nil, fmt.Errorf("%w: safetensors: data goes on past byte %d, where the last tensor ends", ErrFormat, end)
	}
	// Tensors in header order (which the export writes in state order).
	var slotNames = map[string]bool{}
	for _, e := range entries {
		t := *byName[e.name]
		if rest, ok := strings.CutPrefix(t.Name, optimizerPrefix); ok {
			t.Name = rest
			st.Optimizer.Slots = append(st.Optimizer.Slots, t)
			slotNames[rest] = true
			continue
		}
		st.Weights = append(st.Weights, t)
	}
	if err := applyMetadata(st, meta, slotNames); err != nil {
		return nil, err
	}
	return st, nil
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readN reads exactly n bytes from r, appending to buf, growing as data arrives
// so that a header claiming more than the input holds costs no more memory than
// the input.
func readN(r io.Reader, buf []byte, n int64) ([]byte, error) {
	for n > 0 {
		step := min(n, 1<<20)
		off := len(buf)
		buf = slices.Grow(buf, int(step))[:off+int(step)]
		k, err := io.ReadFull(r, buf[off:])
		if err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				return nil, fmt.Errorf("input ends %d bytes short", n-int64(k))
			}
			return nil, err
		}
		n -= step
	}
	return buf, nil
}

type headerEntry struct {
	name string
	stEntry
}

// parseHeader decodes the JSON header token by token, so that duplicate names
// and unknown fields are caught.
func parseHeader(hdr []byte) (map[string]string, []headerEntry, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: safetensors header: %s", ErrFormat, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(hdr))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, bad("not a JSON object (%v)", err)
	}
	var meta map[string]string
	var entries []headerEntry
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, bad("%v", err)
		}
		name, _ := tok.(string)
		if seen[name] {
			return nil, nil, bad("name %q appears twice", name)
		}
		seen[name] = true
		if name == "__metadata__" {
			if err := dec.Decode(&meta); err != nil {
				return nil, nil, bad("__metadata__ must map strings to strings: %v", err)
			}
			continue
		}
		if name == "" {
			return nil, nil, bad("a tensor has an empty name")
		}
		var raw map[string]json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, bad("tensor %q: %v", name, err)
		}
		for k := range raw {
			if k != "dtype" && k != "shape" && k != "data_offsets" {
				return nil, nil, bad("tensor %q: unknown field %q", name, k)
			}
		}
		e := headerEntry{name: name}
		if err := json.Unmarshal(raw["dtype"], &e.DType); err != nil {
			return nil, nil, bad("tensor %q: dtype: %v", name, err)
		}
		if e.DType != "F32" {
			return nil, nil, bad("tensor %q has dtype %q; only F32 is supported", name, e.DType)
		}
		var shape []int64
		if err := json.Unmarshal(raw["shape"], &shape); err != nil || raw["shape"] == nil {
			return nil, nil, bad("tensor %q: shape must be an array of integers (%v)", name, err)
		}
		if len(shape) > maxDims {
			return nil, nil, bad("tensor %q has rank %d, at most %d supported", name, len(shape), maxDims)
		}
		e.Shape = make([]int, len(shape))
		for i, d := range shape {
			if d < 0 || d > math.MaxInt32 {
				return nil, nil, bad("tensor %q: dimension %d is %d", name, i, d)
			}
			e.Shape[i] = int(d)
		}
		var offs []int64
		if err := json.Unmarshal(raw["data_offsets"], &offs); err != nil || len(offs) != 2 {
			return nil, nil, bad("tensor %q: data_offsets must be [begin, end] (%v)", name, err)
		}
		if offs[0] < 0 || offs[1] < offs[0] {
			return nil, nil, bad("tensor %q: data_offsets [%d, %d] are not a range", name, offs[0], offs[1])
		}
		e.Offsets = [2]int64{offs[0], offs[1]}
		elems := shapeElements(e.Shape)
		if elems < 0 || elems > math.MaxInt64/4 || int64(elems)*4 != offs[1]-offs[0] {
			return nil, nil, bad("tensor %q: shape %v of F32 needs %d bytes, data_offsets [%d, %d] give %d", name, e.Shape, int64(elems)*4, offs[0], offs[1], offs[1]-offs[0])
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil {
		return nil, nil, bad("%v", err)
	}
	// Only space padding may follow the object.
	if len(bytes.Trim(hdr[dec.InputOffset():], " ")) != 0 {
		return nil, nil, bad("bytes after the JSON object other than space padding")
	}
	return meta, entries, nil
}

// applyMetadata fills st from an asf export's metadata; metadata without
// "format": "asf" is ignored (a file of another program).
func applyMetadata(st *State, meta map[string]string, slots map[string]bool) error {
	if meta["format"] != "asf" {
		if len(slots) > 0 {
			return fmt.Errorf("%w: safetensors: tensors named %q... but no asf metadata to describe the optimizer", ErrFormat, optimizerPrefix)
		}
		st.Spec = meta["spec"]
		return nil
	}
	bad := func(key string, err error) error {
		return fmt.Errorf("%w: safetensors metadata %q = %q: %v", ErrFormat, key, meta[key], err)
	}
	if v := meta["format_version"]; v != strconv.Itoa(SafetensorsFormat) {
		return fmt.Errorf("%w: safetensors metadata format_version %q found, this build reads %d", ErrVersion, v, SafetensorsFormat)
	}
	st.Job = meta["job"]
	st.Spec = meta["spec"]
	if c := meta["config"]; c != "" {
		st.Config = []byte(c)
	}
	var err error
	intField := func(key string) int {
		if err != nil {
			return 0
		}
		v, e := strconv.Atoi(meta[key])
		if e == nil && v < 0 {
			e = errors.New("negative")
		}
		if e != nil {
			err = bad(key, e)
		}
		return v
	}
	floatField := func(key string) float64 {
		if err != nil {
			return 0
		}
		v, e := strconv.ParseFloat(meta[key], 64)
		if e != nil {
			err = bad(key, e)
		}
		return v
	}
	st.Epoch = intField("epoch")
	st.Step = intField("step")
	st.StepInEpoch = intField("step_in_epoch")
	st.Metrics.TrainLoss = floatField("train_loss")
	st.Metrics.TrainAcc = floatField("train_acc")
	st.Metrics.SamplesPerSec = floatField("samples_per_sec")
	if _, ok := meta["test_acc"]; ok {
		st.Metrics.HasTest = true
		st.Metrics.TestAcc = floatField("test_acc")
	}
	if err != nil {
		return err
	}
	if st.Seed, err = strconv.ParseUint(meta["seed"], 10, 64); err != nil {
		return bad("seed", err)
	}
	if err := json.Unmarshal([]byte(meta["scales"]), &st.Scales); err != nil {
		return bad("scales", err)
	}
	if len(st.Scales) == 0 {
		st.Scales = nil
	}
	if ts, ok := meta["time"]; ok {
		if err := st.Metrics.Time.UnmarshalText([]byte(ts)); err != nil {
			return bad("time", err)
		}
	}
	d, err := hex.DecodeString(meta["config_sha256"])
	if err != nil || len(d) != 32 {
		return bad("config_sha256", fmt.Errorf("want 64 hex digits"))
	}
	copy(st.ConfigDigest[:], d)
	if st.ConfigDigest != sha256.Sum256(st.Config) {
		return fmt.Errorf("%w: safetensors metadata: config_sha256 %x does not match the config (%x)", ErrFormat, d[:8], sha256.Sum256(st.Config))
	}
	if o, ok := meta["optimizer"]; ok {
		var opt stOptimizer
		if err := json.Unmarshal([]byte(o), &opt); err != nil {
			return bad("optimizer", err)
		}
		if len(opt.Slots) != len(slots) {
			return fmt.Errorf("%w: safetensors metadata: optimizer lists %d slots, the file holds %d", ErrFormat, len(opt.Slots), len(slots))
		}
		for _, s := range opt.Slots {
			if !slots[s] {
				return fmt.Errorf("%w: safetensors metadata: optimizer slot %q has no tensor %q", ErrFormat, s, optimizerPrefix+s)
			}
		}
		st.Optimizer.Name, st.Optimizer.Step, st.Optimizer.LR = opt.Name, opt.Step, opt.LR
	} else if len(slots) > 0 {
		return fmt.Errorf("%w: safetensors: tensors named %q... but no optimizer metadata", ErrFormat, optimizerPrefix)
	}
	if st.Job != "" {
		if err := st.Validate(); err != nil {
			return fmt.Errorf("%w: safetensors: %w", ErrFormat, err)
		}
	}
	return nil
}
