package nir

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/hdf5"
)

// python returns the Debian python3 with numpy and h5py and the PYTHONPATH of the
// reference NIR package in testdata/nirpy (BSD-3, unchanged), skipping outside CI
// when they are missing and failing in CI.
func python(t *testing.T) (string, []string) {
	t.Helper()
	py := "/usr/bin/python3"
	abs, err := filepath.Abs("testdata/nirpy")
	if err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PYTHONPATH="+abs)
	cmd := exec.Command(py, "-c", "import h5py, numpy, nir")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := "the NIR reference reader needs the Debian packages python3-numpy and python3-h5py: " + strings.TrimSpace(string(out))
		if os.Getenv("CI") != "" {
			t.Fatal("CI: " + msg)
		}
		t.Skip(msg)
	}
	return py, env
}

func runPython(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	py, env := python(t)
	cmd := exec.Command(py, append([]string{"-c", script}, args...)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("python: %v\n%s", err, msg)
	}
	return out
}

// dumpScript reads a file with nir.read (type checking on) and prints every node's
// type, its array fields (dtype, shape, bytes in hex), its inferred input and
// output types, the edges and the graph metadata, as JSON.
const dumpScript = `
import sys, json, numpy as np, nir
def arr(v):
    v = np.asarray(v)
    return [v.dtype.str, list(v.shape), v.tobytes().hex()]
def typ(t):
    return {k: (None if v is None else np.asarray(v).tolist()) for k, v in (t or {}).items()}
def dump(path):
    g = nir.read(path)
    out = {"edges": sorted([list(e) for e in g.edges]), "nodes": {}, "metadata": {}}
    for name, n in g.nodes.items():
        d = {"type": type(n).__name__, "fields": {}, "in": typ(n.input_type), "out": typ(n.output_type)}
        for k, v in vars(n).items():
            if k in ("input_type", "output_type", "metadata"):
                continue
            d["fields"][k] = arr(v)
        d["metadata"] = sorted(getattr(n, "metadata", {}) or {})
        out["nodes"][name] = d
    for k, v in (g.metadata or {}).items():
        out["metadata"][k] = v.decode() if isinstance(v, bytes) else np.asarray(v).tolist()
    return out
print(json.dumps([dump(p) for p in sys.argv[1:]]))
`

type pyNode struct {
	Type     string
	Fields   map[string][]any
	In, Out  map[string]any
	Metadata []string
}

type pyGraph struct {
	Edges    [][2]string
	Nodes    map[string]pyNode
	Metadata map[string]any
}

// nirRead reads the files with nir.read in one Python process.
func nirRead(t *testing.T, paths ...string) []pyGraph {
	t.Helper()
	var g []pyGraph
	if err := json.Unmarshal(runPython(t, dumpScript, paths...), &g); err != nil {
		t.Fatal(err)
	}
	if len(g) != len(paths) {
		t.Fatalf("nir.read gave %d graphs for %d files", len(g), len(paths))
	}
	return g
}

// dtypeBytes is what numpy reports for a dataset: dtype string and raw bytes.
func dtypeBytes(d *hdf5.Dataset) (string, string) {
	var b []byte
	switch d.Kind {
	case hdf5.Float32:
		for _, v := range d.F32 {
			u := math.Float32bits(v)
			b = append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
		}
		return "<f4", hex.EncodeToString(b)
	case hdf5.Float64:
		for _, v := range d.F64 {
			u := math.Float64bits(v)
			for i := range 8 {
				b = append(b, byte(u>>(8*i)))
			}
		}
		return "<f8", hex.EncodeToString(b)
	case hdf5.Int:
		for _, v := range d.Ints {
			for i := range 8 {
				b = append(b, byte(uint64(v)>>(8*i)))
			}
		}
		return "<i8", hex.EncodeToString(b)
	}
	return "string", strings.Join(d.Strings, ",")
}

// testNets are networks covering every layer kind, neuron model and reset.
func testNets(t testing.TB) []*engine.Model {
	cfgs := []struct {
		spec string
		in   engine.Shape
		edit func(*engine.Config)
	}{
		{engine.LeNetSpec, engine.Shape{C: 1, H: 28, W: 28}, func(c *engine.Config) { c.T = 20 }},
		{"4C3-MP2-6C3-P2-8FC-3FC", engine.Shape{C: 2, H: 9, W: 9}, func(c *engine.Config) {
			c.T, c.Leak, c.Reset, c.VthConv, c.VthPool = 12, 0.5, engine.ResetSubtract, 1.5, 0.5
		}},
		{"5FC-4FC-3FC", engine.Shape{C: 1, H: 3, W: 4}, func(c *engine.Config) { c.T, c.Encoding, c.Leak = 7, engine.Direct, 0.75 }},
		{"3C5-P2-2FC", engine.Shape{C: 2, H: 7, W: 6}, func(c *engine.Config) { c.T, c.Encoding, c.Frames = 6, engine.Events, 6 }},
		{"4C3s2p1-3C4p0-5C3s3p2-P2-3FC", engine.Shape{C: 1, H: 17, W: 15}, func(c *engine.Config) { c.T = 8 }},
		{"4C3b-P2-5FCb-3FCb", engine.Shape{C: 1, H: 6, W: 6}, func(c *engine.Config) { c.T = 10; c.Leak = 0.5 }},
	}
	var out []*engine.Model
	for i, c := range cfgs {
		cfg := engine.DefaultConfig()
		c.edit(&cfg)
		n, err := engine.BuildNet(c.spec, c.in, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := engine.NewModel(n, uint64(i+1))
		for li := range n.Layers {
			for k := range m.Bias(li) {
				m.Bias(li)[k] = float32(k%4-1) / 8 // nonzero biases, exact in binary
			}
		}
		out = append(out, m)
	}
	return out
}

// TestReadByReference writes every test network and reads it back with the NIR
// project's own reader (nir.read, type checking on): the graph, the types flowing
// along the edges and every parameter equal ours bitwise.
func TestReadByReference(t *testing.T) {
	python(t)
	nets := testNets(t)
	graphs := make([]*Graph, len(nets))
	paths := make([]string, len(nets))
	dir := t.TempDir()
	for i, m := range nets {
		g, err := Export(m, ExportOptions{Job: `{"id":"x"}`})
		if err != nil {
			t.Fatal(err)
		}
		paths[i] = filepath.Join(dir, fmt.Sprintf("m%d.nir", i))
		if err := g.WriteFile(paths[i]); err != nil {
			t.Fatal(err)
		}
		graphs[i] = g
	}
	pys := nirRead(t, paths...)
	for i, m := range nets {
		g, py := graphs[i], pys[i]
		t.Run(m.Net.Spec.String(), func(t *testing.T) {
			if !slices.Equal(py.Edges, sortedEdges(g.Edges)) {
				t.Fatalf("edges %v, want %v", py.Edges, sortedEdges(g.Edges))
			}
			if len(py.Nodes) != len(g.Nodes) {
				t.Fatalf("nir.read has %d nodes, we wrote %d", len(py.Nodes), len(g.Nodes))
			}
			for name, n := range g.Nodes {
				pn, ok := py.Nodes[name]
				if !ok || pn.Type != n.Type {
					t.Fatalf("node %s: nir.read gives %+v, we wrote type %s", name, pn, n.Type)
				}
				for field, d := range n.Params {
					key := field
					switch {
					case n.Type == "Input" && field == "shape":
						continue // checked through the types below
					case n.Type == "Output" && field == "shape":
						continue
					case n.Type == "Flatten" && field == "input_type":
						continue
					}
					f, ok := pn.Fields[key]
					if !ok {
						t.Fatalf("node %s: nir.read has no field %s (fields %v)", name, key, pn.Fields)
					}
					dt, hx := dtypeBytes(d)
					if f[0] != dt || fmt.Sprint(f[1]) != fmt.Sprint(anyInts(d.Shape)) || f[2] != hx {
						t.Fatalf("node %s field %s: nir.read gives %v %v (%d hex chars), we wrote %s %v", name, field, f[0], f[1], len(f[2].(string)), dt, d.Shape)
					}
				}
				if n.Metadata != nil && len(pn.Metadata) != len(n.Metadata) {
					t.Fatalf("node %s: metadata %v, we wrote %v", name, pn.Metadata, n.Metadata)
				}
			}
			// The shapes nir.read infers along the chain are asf's activations.
			net := m.Net
			for _, l := range net.Layers {
				pn := py.Nodes[l.Name()]
				want := []int{l.Out.C, l.Out.H, l.Out.W}
				if l.Kind == engine.FC {
					want = []int{l.Out.C}
				}
				if fmt.Sprint(pn.Out["output"]) != fmt.Sprint(anyInts(want)) {
					t.Fatalf("layer %s: nir.read infers output type %v, asf has %v", l.Name(), pn.Out["output"], want)
				}
			}
			if py.Metadata[MetaSpec] != net.Spec.String() || py.Metadata[MetaT] != float64(net.Config.T) {
				t.Fatalf("graph metadata %v", py.Metadata)
			}
		})
	}
}

func anyInts(v []int) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

func sortedEdges(e [][2]string) [][2]string {
	out := slices.Clone(e)
	slices.SortFunc(out, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return out
}
