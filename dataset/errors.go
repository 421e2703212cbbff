package dataset

import (
	"errors"
	"fmt"
)

// Sentinel errors. Every error the package returns wraps one of these (test with
// errors.Is); errors about a file's contents are also a *FileError (errors.As) that
// names the file, what was expected and what was found.
var (
	// ErrFormat: a file's contents are not what its format requires (bad magic,
	// bad dimensions, truncated or trailing data, counts that disagree, labels out
	// of range, events outside the sensor).
	ErrFormat = errors.New("dataset: malformed data file")
	// ErrChecksum: a file's SHA-256 digest is not the known one.
	ErrChecksum = errors.New("dataset: checksum mismatch")
	// ErrSourceMissing: Fetch found no source for the data set's files; the error
	// says how to get them.
	ErrSourceMissing = errors.New("dataset: data source not available")
	// ErrUnknown: a data set name the package does not know.
	ErrUnknown = errors.New("dataset: unknown data set")
	// ErrConfig: an invalid configuration or option value.
	ErrConfig = errors.New("dataset: invalid configuration")
)

// FileError reports a problem with one file: which file, which part of it (Field),
// what the format expects and what the file holds. It unwraps to ErrFormat or
// ErrChecksum.
type FileError struct {
	File     string // path of the file
	Field    string // the part of the file at fault, e.g. "magic", "image count", "event 17"
	Expected string // what the format requires
	Found    string // what the file holds
	Err      error  // the sentinel: ErrFormat or ErrChecksum
}

// Error returns "dataset: FILE: FIELD: expected E, found F".
func (e *FileError) Error() string {
	return fmt.Sprintf("dataset: %s: %s: expected %s, found %s", e.File, e.Field, e.Expected, e.Found)
}

// Unwrap returns the sentinel error.
func (e *FileError) Unwrap() error { return e.Err }

// formatErr builds a *FileError wrapping ErrFormat.
func formatErr(file, field string, expected, found any) error {
	return &FileError{File: file, Field: field, Expected: fmt.Sprint(expected), Found: fmt.Sprint(found), Err: ErrFormat}
}
