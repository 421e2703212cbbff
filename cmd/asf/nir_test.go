package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asfnet/asf/checkpoint"
	"github.com/asfnet/asf/engine"
	"github.com/asfnet/asf/internal/job"
	"github.com/asfnet/asf/internal/snapshot"
	"github.com/asfnet/asf/nir"
)

// TestExportImportCLI exports a safetensors file to NIR, imports it back and
// checks the weights are bitwise the same; then shows it with model summary.
func TestExportImportCLI(t *testing.T) {
	dir := t.TempDir()
	w, j := writeWeights(t, dir, "synthetic")
	out := filepath.Join(dir, "m.nir")
	res, err := runCmd(t, newExportCmd, "--nir", out, "--input", "1x16x16", w)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	if !strings.Contains(res, "NIR nodes") {
		t.Fatalf("export output: %s", res)
	}
	back := filepath.Join(dir, "back.safetensors")
	res, err = runCmd(t, newImportCmd, "--nir", out, "-o", back)
	if err != nil {
		t.Fatalf("%v\n%s", err, res)
	}
	for _, want := range []string{"4C3", "conv1 (Conv2d) + conv1_if (IF)", "pool2 (SumPool2d) + pool2_if (IF)", "fc3 (Linear) + fc3_out (I)", "job syn"} {
		if !strings.Contains(res, want) {
			t.Fatalf("import output lacks %q:\n%s", want, res)
		}
	}
	a, _, err := readWeights(w)
	if err != nil {
		t.Fatal(err)
	}
	b, j2, err := readWeights(back)
	if err != nil {
		t.Fatal(err)
	}
	if j2.Digest() != j.Digest() {
		t.Fatalf("job changed:\n%s\n%s", j2.JSON(), j.JSON())
	}
	if !sameTensors(a.Weights, b.Weights) {
		t.Fatal("weights changed through NIR")
	}
	_, m, _, err := snapshot.Restore(b, engine.Shape{C: 1, H: 16, W: 16})
	if err != nil || m.Net.Spec.String() != j.Spec {
		t.Fatalf("restore: %v", err)
	}
	sum, err := runData(t, "model", "summary", out)
	if err != nil || !strings.Contains(sum, "as an asf network: 4C3-P2-10FC on 1x16x16") || !strings.Contains(sum, "conv1_if  IF") {
		t.Fatalf("model summary: %v\n%s", err, sum)
	}
}

func TestImportCLIErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.nir")
	if err := os.WriteFile(bad, []byte("not hdf5 at all, just text"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--nir", filepath.Join(dir, "none.nir"), "-o", filepath.Join(dir, "o.safetensors")}, "no such file"},
		{[]string{"--nir", bad, "-o", filepath.Join(dir, "o.safetensors")}, "no HDF5 signature"},
		{[]string{"--nir", "../../nir/testdata/lif_norse.nir", "-o", filepath.Join(dir, "o.safetensors")}, "--dt"},
		{[]string{"-o", "x"}, "--nir FILE.nir"},
	} {
		res, err := runCmd(t, newImportCmd, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("import %v: %v\n%s; want an error mentioning %q", c.args, err, res, c.want)
		}
	}
	// The Norse fixture imports with a time step and evaluates on synthetic data.
	o := filepath.Join(dir, "norse.safetensors")
	res, err := runCmd(t, newImportCmd, "--nir", "../../nir/testdata/lif_norse.nir", "--dt", "1e-4", "--dataset", "synthetic", "-o", o)
	if err != nil || !strings.Contains(res, "appended an identity readout") {
		t.Fatalf("norse import: %v\n%s", err, res)
	}
	if _, err := runCmd(t, newExportCmd, "--nir", filepath.Join(dir, "x.nir"), filepath.Join(dir, "missing.safetensors")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("export of a missing file: %v", err)
	}
}

func sameTensors(a, b []checkpoint.Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Name != b[i].Name || len(a[i].Data) != len(b[i].Data) {
			return false
		}
		for k := range a[i].Data {
			if math.Float32bits(a[i].Data[k]) != math.Float32bits(b[i].Data[k]) {
				return false
			}
		}
	}
	return true
}

// TestExportFromStore exports the newest checkpoint of a job, and one by id.
func TestExportFromStore(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "asf.db")
	s, err := checkpoint.Open(db, nil)
	if err != nil {
		t.Fatal(err)
	}
	j := job.Default()
	j.ID, j.Dataset, j.Spec, j.Neuron.T = "syn", "synthetic", "4C3s2-P2-3FCb", 6
	n, err := j.Net(engine.Shape{C: 1, H: 16, W: 16})
	if err != nil {
		t.Fatal(err)
	}
	var digests [][32]byte
	for step := 1; step <= 2; step++ {
		m := engine.NewModel(n, uint64(step))
		for i := range m.Bias(2) {
			m.Bias(2)[i] = float32(step*i) / 4
		}
		digests = append(digests, m.Digest())
		if _, err := s.Save(snapshot.Capture(j, m, nil, snapshot.Position{Step: step}, checkpoint.Summary{})); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	for _, c := range []struct {
		args []string
		want [32]byte
	}{{[]string{"syn"}, digests[1]}, {[]string{"syn", "1"}, digests[0]}} {
		out := filepath.Join(dir, "m.nir")
		res, err := runCmd(t, newExportCmd, append([]string{"--nir", out, "--db", db, "--input", "1x16x16"}, c.args...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, res)
		}
		g, err := nir.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if g.Nodes["fc3"] == nil || g.Nodes["fc3"].Type != "Affine" {
			t.Fatalf("fc3 with a bias should be an Affine node: %+v", g.Nodes["fc3"])
		}
		imp, err := nir.Import(g, nir.DefaultImportOptions())
		if err != nil {
			t.Fatal(err)
		}
		m := imp.Model.Clone()
		for i := range m.Scales {
			m.Scales[i] = 1
		}
		if m.Digest() != c.want {
			t.Fatalf("export %v: the weights differ from the checkpoint's", c.args)
		}
	}
	if _, err := runCmd(t, newExportCmd, "--nir", filepath.Join(dir, "x.nir"), "--db", db, "nojob"); err == nil {
		t.Fatal("exported a job that is not in the store")
	}
}
