package checkpoint

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readSafetensors splits a safetensors file into its header (parsed loosely, as
// a reader in another language would) and data.
func readSafetensors(t *testing.T, b []byte) (map[string]json.RawMessage, []byte, int) {
	t.Helper()
	if len(b) < 8 {
		t.Fatalf("file of %d bytes", len(b))
	}
	n := int(binary.LittleEndian.Uint64(b))
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("header: %v", err)
	}
	return hdr, b[8+n:], n
}

func TestExportSafetensorsBytes(t *testing.T) {
	st := makeState("job-x", 5, 1234, 0)
	var buf bytes.Buffer
	if err := ExportSafetensors(st, &buf); err != nil {
		t.Fatal(err)
	}
	hdr, data, n := readSafetensors(t, buf.Bytes())
	if n%8 != 0 || buf.Bytes()[8] != '{' {
		t.Fatalf("header length %d not a multiple of 8, or does not start with '{'", n)
	}
	var total int
	for _, w := range st.Weights {
		var e struct {
			DType   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(hdr[w.Name], &e); err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		if e.DType != "F32" || !slices.Equal(e.Shape, nonNil(w.Shape)) {
			t.Fatalf("%s: dtype %s shape %v, want F32 %v", w.Name, e.DType, e.Shape, w.Shape)
		}
		want := make([]byte, 0, 4*len(w.Data))
		for _, x := range w.Data {
			want = binary.LittleEndian.AppendUint32(want, mathFloat32bits(x))
		}
		if !bytes.Equal(data[e.Offsets[0]:e.Offsets[1]], want) {
			t.Fatalf("%s: data bytes differ from the weights", w.Name)
		}
		total += len(want)
	}
	if len(hdr) != len(st.Weights)+1 || total != len(data) {
		t.Fatalf("%d header entries, %d data bytes; want %d and %d (weights only, no optimizer)", len(hdr), len(data), len(st.Weights)+1, total)
	}
	var meta map[string]string
	if err := json.Unmarshal(hdr["__metadata__"], &meta); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"format": "asf", "format_version": "1", "spec": st.Spec, "epoch": "12", "step": "1234",
		"step_in_epoch": "34", "seed": "5", "scales": "[1,0.93,1.0000000000000002,0.5]", "job": "job-x"} {
		if meta[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, meta[k], v)
		}
	}
	if _, ok := meta["optimizer"]; ok {
		t.Error("optimizer metadata without the option")
	}
}

func mathFloat32bits(x float32) uint32 {
	return binary.LittleEndian.Uint32(appendFloat32s(nil, []float32{x}))
}

func TestExportSafetensorsPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 is not installed; the header is checked in Go by TestExportSafetensorsBytes")
	}
	st := makeState("job-py", 5, 10, 0)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := ExportSafetensorsOpts(st, f, SafetensorsOptions{Optimizer: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	script := `import json,struct,sys,hashlib
f=open(sys.argv[1],'rb'); n=struct.unpack('<Q',f.read(8))[0]; h=json.loads(f.read(n).decode('utf-8')); d=f.read()
out={'__len__':len(d)}
for k,v in h.items():
    if k=='__metadata__': out[k]=v; continue
    a,b=v['data_offsets']; out[k]={'dtype':v['dtype'],'shape':v['shape'],'sha256':hashlib.sha256(d[a:b]).hexdigest()}
print(json.dumps(out))`
	outb, err := exec.Command(py, "-c", script, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, outb)
	}
	var out map[string]json.RawMessage
	if err := json.Unmarshal(outb, &out); err != nil {
		t.Fatalf("python3 output %q: %v", outb, err)
	}
	type entry struct {
		DType  string `json:"dtype"`
		Shape  []int  `json:"shape"`
		SHA256 string `json:"sha256"`
	}
	tensors := append(slices.Clone(st.Weights), st.Optimizer.Slots...)
	for i, w := range tensors {
		name := w.Name
		if i >= len(st.Weights) {
			name = "optimizer/" + name
		}
		var e entry
		if err := json.Unmarshal(out[name], &e); err != nil {
			t.Fatalf("python3 has no tensor %q: %v", name, err)
		}
		sum := sha256.Sum256(appendFloat32s(nil, w.Data))
		if e.DType != "F32" || !slices.Equal(e.Shape, nonNil(w.Shape)) || e.SHA256 != hex.EncodeToString(sum[:]) {
			t.Fatalf("python3 reads %q as %+v; want F32 %v sha256 %x", name, e, w.Shape, sum)
		}
	}
	if len(out) != len(tensors)+2 {
		t.Fatalf("python3 reads %d entries, want %d tensors + metadata + length", len(out)-2, len(tensors))
	}
	var meta map[string]string
	if err := json.Unmarshal(out["__metadata__"], &meta); err != nil || meta["spec"] != st.Spec || meta["format"] != "asf" {
		t.Fatalf("python3 metadata %v (%v)", meta, err)
	}
}

func TestSafetensorsRoundTrip(t *testing.T) {
	st := makeState("job-rt", 8, 77, 100)
	for _, withOpt := range []bool{true, false} {
		var buf bytes.Buffer
		if err := ExportSafetensorsOpts(st, &buf, SafetensorsOptions{Optimizer: withOpt}); err != nil {
			t.Fatal(err)
		}
		got, err := ImportSafetensors(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatal(err)
		}
		want := *st
		if !withOpt {
			want.Optimizer = Optimizer{}
		}
		if err := diffState(&want, got); err != nil {
			t.Fatalf("optimizer %v: %v", withOpt, err)
		}
	}
	// A file of another program: weights only, no metadata.
	foreign := buildSafetensors(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, appendFloat32s(nil, []float32{1, float32(math.Copysign(0, -1))}))
	got, err := ImportSafetensors(bytes.NewReader(foreign))
	if err != nil {
		t.Fatal(err)
	}
	if got.Job != "" || len(got.Weights) != 1 || got.Weights[0].Data[1] != 0 || mathFloat32bits(got.Weights[0].Data[1]) != 0x80000000 {
		t.Fatalf("foreign import = %+v", got)
	}
}

// buildSafetensors assembles a file from a header (padded to 8) and data.
func buildSafetensors(header string, data []byte) []byte {
	for len(header)%8 != 0 {
		header += " "
	}
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestImportSafetensorsBadInput(t *testing.T) {
	d8 := make([]byte, 8)
	w := func(s string) string { return `{"w":` + s + `}` }
	good := `{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`
	var valid bytes.Buffer
	if err := ExportSafetensors(&State{Job: "j", Weights: []Tensor{{Name: "a", Shape: []int{1}, Data: []float32{1}}}}, &valid); err != nil {
		t.Fatal(err)
	}
	withMeta := func(edit func(map[string]string)) []byte {
		hdr, data, _ := readSafetensors(t, valid.Bytes())
		var meta map[string]string
		json.Unmarshal(hdr["__metadata__"], &meta)
		edit(meta)
		hdr["__metadata__"], _ = json.Marshal(meta)
		h, _ := json.Marshal(hdr)
		return buildSafetensors(string(h), data)
	}
	for _, tc := range []struct {
		name string
		file []byte
		want error
		msg  string
	}{
		{"empty", nil, ErrFormat, "8-byte header length"},
		{"short length", []byte{1, 2, 3}, ErrFormat, "8-byte header length"},
		{"zero header", make([]byte, 8), ErrFormat, "header length 0"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), ErrFormat, "header length 1099511627776"},
		{"header past end", append(binary.LittleEndian.AppendUint64(nil, 4096), "{}"...), ErrFormat, "short"},
		{"not an object", buildSafetensors(`[1,2]`, nil), ErrFormat, "want '{'"},
		{"bad json", buildSafetensors(`{"w":`, nil), ErrFormat, "safetensors header"},
		{"png", append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, 100)...), ErrFormat, "header length"},
		{"f16", buildSafetensors(w(`{"dtype":"F16","shape":[4],"data_offsets":[0,8]}`), d8), ErrFormat, `dtype "F16"`},
		{"negative dim", buildSafetensors(w(`{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}`), d8), ErrFormat, "dimension 0 is -2"},
		{"shape mismatch", buildSafetensors(w(`{"dtype":"F32","shape":[3],"data_offsets":[0,8]}`), d8), ErrFormat, "needs 12 bytes"},
		{"offsets reversed", buildSafetensors(w(`{"dtype":"F32","shape":[2],"data_offsets":[8,0]}`), d8), ErrFormat, "not a range"},
		{"offsets past end", buildSafetensors(w(`{"dtype":"F32","shape":[4],"data_offsets":[0,16]}`), d8), ErrFormat, "8 bytes short"},
		{"gap", buildSafetensors(w(`{"dtype":"F32","shape":[1],"data_offsets":[4,8]}`), d8), ErrFormat, "gap"},
		{"overlap", buildSafetensors(`{"a":`+good+`,"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, d8), ErrFormat, "overlaps"},
		{"trailing data", buildSafetensors(w(good), make([]byte, 12)), ErrFormat, "goes on past byte 8"},
		{"duplicate", buildSafetensors(`{"w":`+good+`,"w":`+good+`}`, d8), ErrFormat, `"w" appears twice`},
		{"unknown field", buildSafetensors(w(`{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}`), d8), ErrFormat, `unknown field "x"`},
		{"metadata not strings", buildSafetensors(`{"__metadata__":{"a":1},"w":`+good+`}`, d8), ErrFormat, "strings to strings"},
		{"junk after object", buildSafetensors(`{"w":`+good+`}xx`, d8), ErrFormat, "other than space padding"},
		{"format version 2", withMeta(func(m map[string]string) { m["format_version"] = "2" }), ErrVersion, `format_version "2" found, this build reads 1`},
		{"config digest", withMeta(func(m map[string]string) { m["config"] = `{"x":1}` }), ErrFormat, "does not match the config"},
		{"bad epoch", withMeta(func(m map[string]string) { m["epoch"] = "-3" }), ErrFormat, `"epoch"`},
		{"slot without metadata", buildSafetensors(`{"optimizer/w":`+good+`}`, d8), ErrFormat, "no asf metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ImportSafetensors(bytes.NewReader(tc.file))
			if err == nil {
				t.Fatalf("imported %+v", st)
			}
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("err = %v, want %v mentioning %q", err, tc.want, tc.msg)
			}
		})
	}
}

func FuzzImportSafetensors(f *testing.F) {
	var buf bytes.Buffer
	st := makeState("fz", 1, 1, 1)
	st.Weights = st.Weights[3:]
	st.Optimizer.Slots = st.Optimizer.Slots[6:]
	if err := ExportSafetensorsOpts(st, &buf, SafetensorsOptions{Optimizer: true}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(buildSafetensors(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(buildSafetensors(`{}`, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := ImportSafetensors(bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, ts := range [][]Tensor{st.Weights, st.Optimizer.Slots} {
			for _, x := range ts {
				if x.Elements() != len(x.Data) {
					t.Fatalf("tensor %q shape %v holds %d values", x.Name, x.Shape, len(x.Data))
				}
			}
		}
	})
}

func TestExportModelJSON(t *testing.T) {
	st := makeState("job-m", 5, 10, 0)
	st.Config = []byte(`{"spec":"x","lr":1e-3,"timesteps":100,"threshold":1,"model":{"leak":1},"neuron":{"t":20,"vth_pool":0.75}}`)
	st.ConfigDigest = sha256.Sum256(st.Config)
	var buf bytes.Buffer
	if err := ExportModelJSON(st, &buf); err != nil {
		t.Fatal(err)
	}
	var m ModelJSON
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	wantLayers := []ModelLayer{
		{Token: "20C5", Op: "conv", Out: 20, Kernel: 5, Stride: 1, Padding: 2, Weight: "conv1.weight", Spiking: true},
		{Token: "P2", Op: "avgpool", Kernel: 2, Stride: 2, Spiking: true},
		{Token: "50C5", Op: "conv", Out: 50, Kernel: 5, Stride: 1, Padding: 2, Weight: "conv2.weight", Spiking: true},
		{Token: "P2", Op: "avgpool", Kernel: 2, Stride: 2, Spiking: true},
		{Token: "200FC", Op: "fc", Out: 200, Weight: "fc1.weight", Spiking: true},
		{Token: "10FC", Op: "fc", Out: 10, Weight: "fc2.weight", Output: true},
	}
	if !slices.Equal(m.Layers, wantLayers) {
		t.Fatalf("layers\n%+v\nwant\n%+v", m.Layers, wantLayers)
	}
	if m.Format != "asf-model" || m.Spec != st.Spec || len(m.Tensors) != len(st.Weights) || m.Tensors[2].Params != 200*2450 ||
		!slices.Equal(m.Scales, st.Scales) || m.Neuron["threshold"] != 1.0 || m.Neuron["model.leak"] != 1.0 || m.Neuron["timesteps"] != 100.0 ||
		m.Neuron["neuron.t"] != 20.0 || m.Neuron["neuron.vth_pool"] != 0.75 || len(m.Neuron) != 5 {
		t.Fatalf("model JSON %+v", m)
	}
	if !json.Valid(m.Config) {
		t.Fatal("config not embedded")
	}
}
