package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "out.bin")
	if err := WriteFile(p, []byte("first"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Write(p, 0o600, func(w io.Writer) error {
		_, err := io.WriteString(w, "second!")
		return err
	})
	if err != nil || n != 7 {
		t.Fatalf("n %d err %v", n, err)
	}
	got, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(got) != "second!" || st.Mode().Perm() != 0o600 {
		t.Fatalf("%q %v", got, st.Mode())
	}
	// A failing writer leaves the old content and no temporary file.
	boom := errors.New("boom")
	if _, err := Write(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	}); !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err %v", err)
	}
	if got, _ := os.ReadFile(p); string(got) != "second!" {
		t.Fatalf("the failed write changed the file: %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	if err := WriteFile(filepath.Join(dir, "no", "such", "dir"), nil, 0o644); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
}
