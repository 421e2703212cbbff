package nir

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/hdf5"
	"github.com/asfnet/asf/internal/job"
)

// TestReadsNIRWrite has the reference nir.write rewrite each exported graph (as
// other NIR tools write: h5py's default format, gzip-compressed chunked arrays)
// and imports that file: the same network, bitwise.
func TestReadsNIRWrite(t *testing.T) {
	python(t)
	nets := testNets(t)
	dir := t.TempDir()
	var args []string
	for i, m := range nets {
		g, err := Export(m, ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a, b := filepath.Join(dir, fmt.Sprintf("a%d.nir", i)), filepath.Join(dir, fmt.Sprintf("b%d.nir", i))
		if err := g.WriteFile(a); err != nil {
			t.Fatal(err)
		}
		args = append(args, a, b)
	}
	runPython(t, `
import sys, nir, h5py
nir.version = "1.0.7"
for a, b in zip(sys.argv[1::2], sys.argv[2::2]):
    nir.write(b, nir.read(a))
    with h5py.File(b, "r") as f:
        assert f["node/nodes/input/shape"].compression == "gzip", "nir.write did not compress"
`, args...)
	for i, m := range nets {
		t.Run(m.Net.Spec.String(), func(t *testing.T) {
			g2, err := ReadFile(args[2*i+1])
			if err != nil {
				t.Fatal(err)
			}
			imp, err := Import(g2, DefaultImportOptions())
			if err != nil {
				t.Fatal(err)
			}
			checkSame(t, m, imp)
		})
	}
}

// TestImportErrors edits an exported graph into ones asf cannot represent: each
// error names the node and its type and what is wrong.
func TestImportErrors(t *testing.T) {
	m := testNets(t)[1] // 4C3-MP2-6C3-P2-8FC-3FC, LIF, subtract reset
	for _, c := range []struct {
		name string
		edit func(g *Graph)
		want string
		is   error
	}{
		{"stride per axis", func(g *Graph) { g.Nodes["conv1"].Params["stride"] = hdf5.Int64Array(1, 2) }, `node "conv1" (Conv2d): stride [1 2]: asf convolutions have the same stride on both axes`, ErrUnsupported},
		{"stride above kernel", func(g *Graph) { g.Nodes["conv1"].Params["stride"] = hdf5.Int64Array(4, 4) }, `node "conv1" (Conv2d): stride [4 4]: asf takes 1..3`, ErrUnsupported},
		{"dilation", func(g *Graph) { g.Nodes["conv1"].Params["dilation"] = hdf5.Int64Array(2, 2) }, `node "conv1" (Conv2d): dilation [2 2]`, ErrUnsupported},
		{"bias shape", func(g *Graph) {
			g.Nodes["conv3"].Params["bias"] = hdf5.Float32Array([]int{2}, []float32{1, 2})
		}, `node "conv3" (Conv2d): bias of shape [2] for 6 output channels`, ErrGraph},
		{"recurrent edge", func(g *Graph) { g.Edges = append(g.Edges, [2]string{"conv3_lif", "conv3"}) }, `node "conv3_lif" (LIF) feeds both "pool4" and "conv3"`, ErrUnsupported},
		{"cycle", func(g *Graph) {
			for i, e := range g.Edges {
				if e[0] == "conv3_lif" {
					g.Edges[i][1] = "conv1"
				}
			}
		}, "conv1", ErrUnsupported},
		{"unknown type", func(g *Graph) { g.Nodes["pool4_if"].Type = "CubaLIF" }, `node "pool4_if" (CubaLIF)`, ErrUnsupported},
		{"thresholds within a conv channel", func(g *Graph) { g.Nodes["conv3_lif"].Params["v_threshold"].F32[3] = 2 }, `node "conv3_lif" (LIF): the neurons of output channel 0 have different thresholds`, ErrUnsupported},
		{"per-neuron tau", func(g *Graph) { g.Nodes["fc5_lif"].Params["tau"].F32[1] = 3 }, `node "fc5_lif" (LIF): tau differs between neurons`, ErrUnsupported},
		{"per-neuron pooling threshold", func(g *Graph) { g.Nodes["pool4_if"].Params["v_threshold"].F32[1] = 3 }, `node "pool4_if" (IF): v_threshold differs between neurons`, ErrUnsupported},
		{"v_reset", func(g *Graph) {
			vr := g.Nodes["conv1_lif"].Params["v_reset"]
			for i := range vr.F32 {
				vr.F32[i] = -1
			}
		}, `node "conv1_lif" (LIF): v_reset[0] = -1`, ErrUnsupported},
		{"leaky pooling", func(g *Graph) { g.Nodes["pool4_if"].Type = "LIF" }, `node "pool4_if" (LIF): pooling neurons in asf never leak`, ErrUnsupported},
		{"two leaks", func(g *Graph) {
			tau := g.Nodes["conv3_lif"].Params["tau"]
			r := g.Nodes["conv3_lif"].Params["r"]
			for i := range tau.F32 {
				tau.F32[i], r.F32[i] = 4, 4
			}
		}, `node "conv3_lif" (LIF): leak 0.75`, ErrUnsupported},
		{"nested graph", func(g *Graph) { g.Nodes["sub"] = &Node{Type: "NIRGraph", Graph: &Graph{}} }, `node "sub" (NIRGraph): nested graphs`, ErrUnsupported},
		{"off the path", func(g *Graph) { g.Nodes["extra"] = &Node{Type: "Delay"} }, `node "extra" (Delay) is not on the path`, ErrUnsupported},
		{"weight shape", func(g *Graph) {
			w := g.Nodes["fc5"].Params["weight"]
			w.Shape = []int{w.Shape[1], w.Shape[0]}
		}, `node "fc5" (Linear): weight of shape`, ErrGraph},
		{"missing field", func(g *Graph) { delete(g.Nodes["conv1_lif"].Params, "tau") }, `node "conv1_lif" (LIF): no "tau"`, ErrGraph},
		{"kernel", func(g *Graph) { g.Nodes["pool4"].Params["kernel_size"] = hdf5.Int64Array(3, 3) }, `node "pool4" (SumPool2d): kernel_size [3 3]`, ErrUnsupported},
		{"max pool threshold", func(g *Graph) { g.Nodes["maxpool2_or"].Params["threshold"].F32[0] = 1.5 }, `node "maxpool2_or" (Threshold): threshold differs`, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			g, err := Export(m, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c.edit(g)
			b, err := g.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			g2, err := Unmarshal(b)
			if err == nil {
				_, err = Import(g2, DefaultImportOptions())
			}
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v; want %v mentioning %q", err, c.is, c.want)
			}
		})
	}
}

// TestUnmarshalErrors: files that are HDF5 but not NIR graphs.
func TestUnmarshalErrors(t *testing.T) {
	for _, c := range []struct {
		name  string
		build func(root *hdf5.Group)
		want  string
	}{
		{"no node", func(r *hdf5.Group) { r.AddDataset("version", hdf5.StringScalar("1")) }, `no group "node"`},
		{"no type", func(r *hdf5.Group) { r.AddGroup("node") }, `/node: node without a "type"`},
		{"edge to nowhere", func(r *hdf5.Group) {
			n, _ := r.AddGroup("node")
			n.AddDataset("type", hdf5.StringScalar("NIRGraph"))
			n.AddDataset("edges", &hdf5.Dataset{Kind: hdf5.String, Shape: []int{1, 2}, Strings: []string{"a", "b"}})
			nodes, _ := n.AddGroup("nodes")
			a, _ := nodes.AddGroup("a")
			a.AddDataset("type", hdf5.StringScalar("Input"))
		}, `names node "b", which the graph lacks`},
		{"numeric type", func(r *hdf5.Group) {
			n, _ := r.AddGroup("node")
			n.AddDataset("type", hdf5.Int64Scalar(3))
		}, `/node/type: want a scalar string`},
	} {
		root := hdf5.NewGroup()
		c.build(root)
		b, err := hdf5.Marshal(root)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Unmarshal(b)
		if !errors.Is(err, ErrGraph) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v; want ErrGraph mentioning %q", c.name, err, c.want)
		}
	}
}

// FuzzImport feeds arbitrary bytes to Unmarshal and Import: errors, never a panic.
func FuzzImport(f *testing.F) {
	for _, m := range testNets(f)[1:] {
		g, err := Export(m, ExportOptions{})
		if err != nil {
			f.Fatal(err)
		}
		b, err := g.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, p := range []string{"testdata/lif_norse.nir", "testdata/lif_rockpool.nir"} {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	// A graph whose pooling feeds the next layers without neurons (fused on import).
	cfg := engine.DefaultConfig()
	cfg.T = 4
	if net, err := engine.BuildNet("2C3b-P2-3C3-P2-4FC-2FC", engine.Shape{C: 1, H: 8, W: 8}, cfg); err == nil {
		g, _ := Export(engine.NewModel(net, 1), ExportOptions{})
		dropPoolNeurons(g, "pool2", "pool4")
		if _, err := Import(g, DefaultImportOptions()); err != nil {
			f.Fatalf("the fused-pooling seed does not import: %v", err)
		}
		if b, err := g.Marshal(); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Unmarshal(b)
		if err != nil {
			if !errors.Is(err, ErrGraph) && !errors.Is(err, hdf5.ErrFormat) && !errors.Is(err, hdf5.ErrUnsupported) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		opt := DefaultImportOptions()
		opt.DT = 1e-4
		opt.Base.T = 4
		if imp, err := Import(g, opt); err == nil && imp.Model.Net.NParams > 1<<22 {
			t.Skip("large network")
		}
	})
}

// TestRoundTripMNIST exports LeNet, imports the file and evaluates both on MNIST
// test images (Poisson input, T = 20): the same predictions and the same spike
// count in every layer.
func TestRoundTripMNIST(t *testing.T) {
	ctx := context.Background()
	if err := exec.CommandContext(ctx, "go", "mod", "download", dataset.MNISTModule).Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI: MNIST module not available: %v", err)
		}
		t.Skipf("MNIST module not available (%v); run go mod download %s", err, dataset.MNISTModule)
	}
	set, err := dataset.Load(ctx, "mnist", t.TempDir(), dataset.Test)
	if err != nil {
		t.Fatal(err)
	}
	m := testNets(t)[0]
	g, err := Export(m, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Import(g2, DefaultImportOptions())
	if err != nil {
		t.Fatal(err)
	}
	batch := job.MakeBatch(set, job.All(64))
	wa, wb := engine.NewWorkspace(m.Net), engine.NewWorkspace(imp.Model.Net)
	ra, rb := engine.NewEvalResult(m.Net), engine.NewEvalResult(imp.Model.Net)
	if err := wa.Evaluate(m, batch, 9, &ra); err != nil {
		t.Fatal(err)
	}
	if err := wb.Evaluate(imp.Model, batch, 9, &rb); err != nil {
		t.Fatal(err)
	}
	for l := range ra.Spikes {
		if ra.Spikes[l] != rb.Spikes[l] || ra.Spikes[l] == 0 && m.Net.Layers[l].Spiking {
			t.Fatalf("layer %d: %v spikes before, %v after the round trip", l, ra.Spikes[l], rb.Spikes[l])
		}
	}
	for i := range ra.Confusion {
		if !equalInts(ra.Confusion[i], rb.Confusion[i]) {
			t.Fatalf("predictions differ: %v vs %v", ra.Confusion, rb.Confusion)
		}
	}
	t.Logf("64 MNIST test images: %d correct both times; spikes per layer %v", ra.Correct, ra.Spikes)
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPerNeuronParameters imports a graph whose dense neurons have one threshold
// and gain each and whose conv neurons have one per channel (as other tools
// write them): the factors fold into the weights, and the engine's spike counts
// equal the reference simulation of the graph.
func TestPerNeuronParameters(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.T, cfg.Encoding, cfg.Frames = 10, engine.Events, 10
	net, err := engine.BuildNet("4C3b-P2-6FC-3FC", engine.Shape{C: 1, H: 6, W: 6}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := engine.NewModel(net, 3)
	dyadic(m, 5)
	g, err := Export(m, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Thresholds and gains by powers of two, so that folding them is exact.
	conv, fc := g.Nodes["conv1_if"], g.Nodes["fc3_if"]
	for i := range conv.Params["v_threshold"].F32 {
		c := i / 36
		conv.Params["v_threshold"].F32[i] = float32(int(1) << c)
		conv.Params["r"].F32[i] = float32(int(1)<<(c%2)) * 2
	}
	for i := range fc.Params["v_threshold"].F32 {
		fc.Params["v_threshold"].F32[i] = float32(uint(1) << (i % 3))
	}
	b, err := g.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	g, err = Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := Import(g, DefaultImportOptions())
	if err != nil {
		t.Fatal(err)
	}
	if len(imp.Notes) != 3 || !strings.Contains(imp.Notes[0], "per-neuron factors") || !strings.Contains(imp.Notes[2], "output") {
		t.Fatalf("notes %v", imp.Notes)
	}
	compareWithReference(t, imp.Model, g, 1, 4, 0)
}

// TestAvgPool2d imports average pooling as NIR's AvgPool2d (the mean of the
// window) followed by IF neurons of threshold VthPool, as some tools write it.
func TestAvgPool2d(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.T, cfg.Encoding, cfg.Frames = 10, engine.Events, 10
	net, err := engine.BuildNet("4C3-P2-6FC-3FC", engine.Shape{C: 1, H: 6, W: 6}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m := engine.NewModel(net, 3)
	dyadic(m, 6)
	g, err := Export(m, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	g.Nodes["pool2"].Type = "AvgPool2d"
	for i, v := range g.Nodes["pool2_if"].Params["v_threshold"].F32 {
		g.Nodes["pool2_if"].Params["v_threshold"].F32[i] = v / 4
	}
	imp, err := Import(g, DefaultImportOptions())
	if err != nil {
		t.Fatal(err)
	}
	if imp.Model.Net.Config.VthPool != cfg.VthPool || imp.Model.Net.Spec.String() != "4C3-P2-6FC-3FC" {
		t.Fatalf("imported %s with VthPool %v", imp.Model.Net.Spec, imp.Model.Net.Config.VthPool)
	}
	compareWithReference(t, imp.Model, g, 1, 3, 0)
}

// TestPoolingWithoutNeurons imports pooling that feeds the next layer directly
// (Conv -> IF -> SumPool2d -> Conv, and SumPool2d -> Flatten -> Linear, as Sinabs
// writes): the pooling is fused into that layer, and the engine's spike counts
// equal the reference simulation of the graph.
func TestPoolingWithoutNeurons(t *testing.T) {
	cfg := engine.DefaultConfig()
	cfg.T, cfg.Encoding, cfg.Frames = 10, engine.Events, 10
	for _, pool := range []string{"SumPool2d", "AvgPool2d"} {
		net, err := engine.BuildNet("4C3-P2-6C3-P2-8FC-3FC", engine.Shape{C: 1, H: 8, W: 8}, cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := engine.NewModel(net, 3)
		dyadic(m, 7)
		g, err := Export(m, ExportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// Drop the pooling neurons: pool2 -> conv3, pool4 -> flatten5.
		dropPoolNeurons(g, "pool2", "pool4")
		g.Nodes["pool2"].Type, g.Nodes["pool4"].Type = pool, pool
		imp, err := Import(g, DefaultImportOptions())
		if err != nil {
			t.Fatal(err)
		}
		if s := imp.Model.Net.Spec.String(); s != "4C3-6C6s2p2-8FC-3FC" {
			t.Fatalf("%s: imported %s", pool, s)
		}
		if l := imp.Layers[1]; l.Nodes[0] != "pool2" || l.Nodes[1] != "conv3" {
			t.Fatalf("%s: layer 2 from %v", pool, l.Nodes)
		}
		compareWithReference(t, imp.Model, g, 1, 3, 0, func(li int) string {
			nodes := imp.Layers[li].Nodes
			return nodes[len(nodes)-1]
		})
	}
	// Odd sizes cannot fuse into a convolution.
	net, _ := engine.BuildNet("4C3-P2-6C3-3FC", engine.Shape{C: 1, H: 7, W: 7}, cfg)
	g, _ := Export(engine.NewModel(net, 1), ExportOptions{})
	dropPoolNeurons(g, "pool2")
	if _, err := Import(g, DefaultImportOptions()); !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "odd-sized") {
		t.Fatalf("odd pooling fusion: %v", err)
	}
}

// dropPoolNeurons removes the neuron node "<pool>_if" after each named pooling
// node, so that the pooling feeds the next node directly.
func dropPoolNeurons(g *Graph, pools ...string) {
	for _, p := range pools {
		nn := p + "_if"
		delete(g.Nodes, nn)
		var edges [][2]string
		for _, e := range g.Edges {
			switch {
			case e[0] == p && e[1] == nn:
				continue
			case e[0] == nn:
				e[0] = p
			}
			edges = append(edges, e)
		}
		g.Edges = edges
	}
}
