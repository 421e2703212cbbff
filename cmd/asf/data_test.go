package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/asfnet/asf/dataset"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// runData runs the asf root command with args and returns stdout and the error. The
// flags of the root and of the data commands are reset afterwards, since cobra keeps
// flag values between Execute calls.
func runData(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	rootCmd.SetArgs(args)
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	t.Cleanup(func() {
		reset := func(f *pflag.Flag) { f.Value.Set(f.DefValue); f.Changed = false }
		rootCmd.PersistentFlags().VisitAll(reset)
		for _, c := range append([]*cobra.Command{dataCmd}, dataCmd.Commands()...) {
			c.Flags().VisitAll(reset)
		}
		rootCmd.SetArgs(nil)
		rootCmd.SetOut(nil)
		rootCmd.SetErr(nil)
	})
	err := rootCmd.Execute()
	return out.String(), err
}

// writeIDX writes a gzip IDX images file of n 28x28 images and a raw labels file
// (labels i % 10) into dir under the standard train names.
func writeIDX(t *testing.T, dir string, n int) (images, labels []byte) {
	t.Helper()
	var img bytes.Buffer
	binary.Write(&img, binary.BigEndian, []uint32{0x803, uint32(n), 28, 28})
	img.Write(bytes.Repeat([]byte{128}, n*28*28))
	var lab bytes.Buffer
	binary.Write(&lab, binary.BigEndian, []uint32{0x801, uint32(n)})
	for i := range n {
		lab.WriteByte(byte(i % 10))
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(img.Bytes())
	zw.Close()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{"train-images-idx3-ubyte.gz": z.Bytes(), "train-labels-idx1-ubyte": lab.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return img.Bytes(), lab.Bytes()
}

func TestDataInfo(t *testing.T) {
	dataDir := t.TempDir()
	writeIDX(t, filepath.Join(dataDir, "mnist"), 13)
	out, err := runData(t, "--data-dir", dataDir, "data", "info", "mnist")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mnist train", "samples", "13", "1x28x28", "0:2 1:2 2:2 3:1", "train-images-idx3-ubyte.gz", "sha256", "content sha256", "no (not a known file)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	// The data directory also comes from ASF_DATA_DIR, and --json gives the numbers.
	t.Setenv("ASF_DATA_DIR", dataDir)
	out, err = runData(t, "data", "info", "mnist", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var infos []dataset.SplitInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("--json output is not JSON: %v\n%s", err, out)
	}
	if len(infos) != 1 || infos[0].N != 13 || infos[0].Histogram[0] != 2 || len(infos[0].Files) != 2 {
		t.Fatalf("--json: %+v", infos)
	}
}

func TestDataInfoSynthetic(t *testing.T) {
	out, err := runData(t, "data", "info", "synthetic", "--synthetic-n", "40")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"synthetic train", "synthetic test", "40", "20", "1x16x16", "0:4 1:4"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestDataFetch(t *testing.T) {
	src, dataDir := t.TempDir(), t.TempDir()
	img, lab := writeIDX(t, src, 11)
	// The same small files serve as the test split.
	for from, to := range map[string]string{"train-images-idx3-ubyte.gz": "t10k-images-idx3-ubyte.gz", "train-labels-idx1-ubyte": "t10k-labels-idx1-ubyte"} {
		b, err := os.ReadFile(filepath.Join(src, from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(src, to), b, 0o644)
	}
	saved := dataset.KnownFiles
	t.Cleanup(func() { dataset.KnownFiles = saved })
	dataset.KnownFiles = nil
	for _, base := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		content := lab
		if strings.Contains(base, "images") {
			content = img
		}
		dataset.KnownFiles = append(dataset.KnownFiles, dataset.KnownFile{Dataset: "fashion-mnist", Base: base, ContentSHA256: sha256Hex(content)})
	}
	out, err := runData(t, "--data-dir", dataDir, "data", "fetch", "fashion-mnist", "--from", src)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fashion-mnist -> " + filepath.Join(dataDir, "fashion-mnist"), "copied", "verified: uncompressed content SHA-256", "train 11 images of 1x28x28", "test  11 images"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	out, err = runData(t, "--data-dir", dataDir, "data", "fetch", "fashion-mnist", "--from", src)
	if err != nil || strings.Contains(out, "copied") || !strings.Contains(out, "already in place") {
		t.Fatalf("second fetch: %v\n%s", err, out)
	}

	// A fresh data directory needs the source; a missing one says how to get the files.
	_, err = runData(t, "--data-dir", t.TempDir(), "data", "fetch", "fashion-mnist", "--from", filepath.Join(src, "missing"))
	if !errors.Is(err, dataset.ErrSourceMissing) || !strings.Contains(err.Error(), "apt-get install -y dataset-fashion-mnist") {
		t.Fatalf("missing --from folder: %v", err)
	}
	if _, err := runData(t, "data", "fetch", "cifar10"); !errors.Is(err, dataset.ErrUnknown) {
		t.Fatalf("fetch cifar10: %v, want ErrUnknown", err)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
