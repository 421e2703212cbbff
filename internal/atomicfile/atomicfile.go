// Package atomicfile is the one way asf replaces a file, so that a crash or an
// error never leaves a half-written one. Replace (and Write and WriteFile on
// top of it) gives one guarantee:
//
//  1. the content goes to a new temporary file in the target's directory (so
//     the rename below cannot cross file systems);
//  2. the file gets its mode and is fsynced;
//  3. with Options.Aside, the old file is hard-linked there first, so that the
//     target's name never goes missing;
//  4. the temporary file is renamed over the target, and the directory fsynced
//     (the rename is durable only then);
//  5. on any error before the rename completes, the temporary file (and an
//     aside link made for it) is removed and the target is left as it was.
//
// A reader of the target sees the old file or the whole new one, never a part.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrOptions reports an Options field with a bad value.
var ErrOptions = errors.New("atomicfile: invalid options")

// Options say how Replace puts the new file in place.
type Options struct {
	// Perm is the new file's mode; it must not be 0 (a file nobody may read
	// is a mistake, not a choice).
	Perm os.FileMode
	// Aside, if not empty, is where the old file is kept when there is one: a
	// hard link to it is made there before the rename (on the same file
	// system as the target; an existing file at Aside is an error, never
	// overwritten). Empty: the old file is dropped.
	Aside string
}

// Validate reports the first bad field.
func (o Options) Validate() error {
	if o.Perm == 0 {
		return fmt.Errorf("%w: Perm is 0, want a file mode such as 0o644", ErrOptions)
	}
	return nil
}

// Replace writes path anew through fill and puts it in place atomically (see
// the package doc). fill gets the temporary file, open for reading and
// writing; it may write through f or have another library write the file at
// f.Name() in place (a database, a verifier reading back what was written),
// but must not remove or rename it. An error of fill is returned as it is and
// nothing is put in place; Replace's own errors name path.
func Replace(path string, o Options, fill func(f *os.File) error) error {
	if err := o.Validate(); err != nil {
		return err
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ours := func(err error) error { return fmt.Errorf("write %s: %w", path, err) }
	err = fill(f)
	if err == nil {
		if err = f.Chmod(o.Perm); err == nil {
			err = f.Sync()
		}
		if err != nil {
			err = ours(err)
		}
	}
	if cerr := f.Close(); err == nil && cerr != nil {
		err = ours(cerr)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	linked := false
	if o.Aside != "" {
		if _, err := os.Lstat(path); err == nil {
			if err := os.Link(path, o.Aside); err != nil {
				_ = os.Remove(tmp)
				return fmt.Errorf("write %s: keeping the old file at %s: %w", path, o.Aside, err)
			}
			linked = true
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		if linked {
			_ = os.Remove(o.Aside) // the old file is still at path
		}
		return ours(err)
	}
	// The rename is durable once the directory is: a failure here cannot
	// undo it, so it is not reported.
	syncDir(dir)
	if linked && filepath.Dir(o.Aside) != dir {
		syncDir(filepath.Dir(o.Aside))
	}
	return nil
}

// Write writes path with mode perm from write, atomically, and returns the
// number of bytes written. On any error the target is untouched and the
// temporary file removed; the error names path.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (int64, error) {
	var n int64
	err := Replace(path, Options{Perm: perm}, func(f *os.File) error {
		cw := &countingWriter{w: f}
		err := write(cw)
		n = cw.n
		if err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// WriteFile writes data to path with mode perm, atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	_, err := Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return err
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
