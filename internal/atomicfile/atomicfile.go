// Package atomicfile writes files so that a crash or an error never leaves a
// half-written one: the content goes to a temporary file beside the target,
// which is synced, renamed over the target, and the directory synced. A reader
// sees the old file or the whole new one.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Write writes path with mode perm from write, atomically, and returns the
// number of bytes written. On any error the target is untouched and the
// temporary file removed; the error names path.
func Write(path string, perm os.FileMode, write func(io.Writer) error) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	cw := &countingWriter{w: f}
	err = write(cw)
	if err == nil {
		err = f.Chmod(perm)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		// The rename is durable once the directory is: a failure here cannot
		// undo it, so it is not reported.
		_ = d.Sync()
		_ = d.Close()
	}
	return cw.n, nil
}

// WriteFile writes data to path with mode perm, atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	_, err := Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
	return err
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
