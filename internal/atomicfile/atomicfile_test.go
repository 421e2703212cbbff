package atomicfile

import (
	"errors"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// tree is a directory's contents: file name to content, "<dir>" for a
// directory.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range ents {
		if e.IsDir() {
			out[e.Name()] = "<dir>"
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

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
	if got := tree(t, dir); len(got) != 1 {
		t.Fatalf("left behind: %v", slices.Sorted(maps.Keys(got)))
	}
	// A failing writer: its error, naming the file; the old content and no
	// temporary file.
	boom := errors.New("boom")
	if _, err := Write(p, 0o644, func(w io.Writer) error {
		io.WriteString(w, "partial")
		return boom
	}); !errors.Is(err, boom) || !strings.Contains(err.Error(), p) {
		t.Fatalf("err %v", err)
	}
	if got := tree(t, dir); !maps.Equal(got, map[string]string{"out.bin": "second!"}) {
		t.Fatalf("after a failed write: %v", got)
	}
}

// Every failure leaves the directory as it was: the old file whole, no
// temporary file, no aside link.
func TestFailureLeavesTheOldFile(t *testing.T) {
	boom := errors.New("boom")
	partial := func(f *os.File) error {
		if _, err := io.WriteString(f, "partial"); err != nil {
			return err
		}
		return boom
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string) // beside "target" (content "old")
		path  string                         // relative to the directory; "" = target
		opts  Options
		fill  func(f *os.File) error
		want  error  // errors.Is
		text  string // in the error
	}{
		{name: "fill fails after writing", opts: Options{Perm: 0o644}, fill: partial, want: boom},
		{name: "fill fails, with an aside", opts: Options{Perm: 0o644, Aside: "aside"}, fill: partial, want: boom},
		{name: "fill writes by name, then fails", opts: Options{Perm: 0o644},
			fill: func(f *os.File) error {
				if err := os.WriteFile(f.Name(), []byte("by name"), 0o600); err != nil {
					return err
				}
				return boom
			}, want: boom},
		{name: "the aside exists", opts: Options{Perm: 0o644, Aside: "aside"},
			setup: func(t *testing.T, dir string) { writeT(t, filepath.Join(dir, "aside"), "older") },
			fill:  func(f *os.File) error { _, err := io.WriteString(f, "new"); return err }, want: fs.ErrExist, text: "keeping the old file"},
		{name: "the aside's directory is missing", opts: Options{Perm: 0o644, Aside: "no/such/aside"},
			fill: func(f *os.File) error { _, err := io.WriteString(f, "new"); return err }, want: fs.ErrNotExist, text: "keeping the old file"},
		{name: "the rename fails after the aside link", opts: Options{Perm: 0o644, Aside: "aside"},
			fill: func(f *os.File) error {
				_, err := io.WriteString(f, "new")
				if err == nil {
					err = os.Remove(f.Name()) // breaks fill's contract, so that the rename fails
				}
				return err
			}, want: fs.ErrNotExist},
		{name: "the target is a directory", path: "sub",
			setup: func(t *testing.T, dir string) {
				if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
					t.Fatal(err)
				}
				writeT(t, filepath.Join(dir, "sub", "x"), "x")
			}, opts: Options{Perm: 0o644}, fill: func(f *os.File) error { _, err := io.WriteString(f, "new"); return err }, text: "write"},
		{name: "no mode", opts: Options{}, fill: func(*os.File) error { t.Error("fill called with bad options"); return nil }, want: ErrOptions, text: "Perm"},
		{name: "the directory is missing", path: "no/such/file", opts: Options{Perm: 0o644},
			fill: func(*os.File) error { t.Error("fill called without a temporary file"); return nil }, want: fs.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeT(t, filepath.Join(dir, "target"), "old")
			if tc.setup != nil {
				tc.setup(t, dir)
			}
			before := tree(t, dir)
			path := filepath.Join(dir, "target")
			if tc.path != "" {
				path = filepath.Join(dir, tc.path)
			}
			o := tc.opts
			if o.Aside != "" {
				o.Aside = filepath.Join(dir, o.Aside)
			}
			err := Replace(path, o, tc.fill)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.text) {
				t.Fatalf("Replace: %v, want an error (%v) with %q", err, tc.want, tc.text)
			}
			if tc.want != boom && !errors.Is(err, ErrOptions) && !strings.Contains(err.Error(), path) {
				t.Errorf("Replace's own error %q does not name %s", err, path)
			}
			if after := tree(t, dir); !maps.Equal(after, before) {
				t.Fatalf("the failed write changed the directory:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// Writing by name (as a database does) is fsynced and put in place like
// writing through f; with an aside, the old file is kept there.
func TestReplace(t *testing.T) {
	for _, tc := range []struct {
		name      string
		old       bool
		aside     bool
		wantAside bool
	}{
		{"new file", false, false, false},
		{"over the old file", true, false, false},
		{"keeping the old file aside", true, true, true},
		{"aside asked, no old file", false, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path, aside := filepath.Join(dir, "store.db"), filepath.Join(dir, "store.db.damaged")
			if tc.old {
				writeT(t, path, "old")
			}
			o := Options{Perm: 0o640}
			if tc.aside {
				o.Aside = aside
			}
			if err := Replace(path, o, func(f *os.File) error {
				return os.WriteFile(f.Name(), []byte("salvaged"), 0o600)
			}); err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"store.db": "salvaged"}
			if tc.wantAside {
				want["store.db.damaged"] = "old"
			}
			if got := tree(t, dir); !maps.Equal(got, want) {
				t.Fatalf("directory %v, want %v", got, want)
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
				t.Fatalf("mode %v, %v; want 0640", st.Mode(), err)
			}
		})
	}
}

func writeT(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
