package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLoadDamagedCopyNamesTheRemedy: a damaged copy of a fetched data set gives a
// format error that says how to get a good copy.
func TestLoadDamagedCopyNamesTheRemedy(t *testing.T) {
	dir := t.TempDir()
	d := filepath.Join(dir, "mnist")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte"} {
		if err := os.WriteFile(filepath.Join(d, f), []byte{0, 0, 8, 3, 0, 0}, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadWith(context.Background(), "mnist", dir, Train, &LoadOptions{NoFetch: true})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "asf data fetch mnist") {
		t.Fatalf("Load of a truncated copy: %v; want ErrFormat naming `asf data fetch mnist`", err)
	}
}
