package checkpoint

import "errors"

// Errors of opening a store.
var (
	// ErrLocked means another process (or another Store in this one) holds the
	// file's write lock and did not release it within Options.Timeout.
	ErrLocked = errors.New("checkpoint: store locked")
	// ErrNotStore means the file is not a checkpoint store: not a bbolt file at
	// all, or a bbolt file of another program.
	ErrNotStore = errors.New("checkpoint: not a checkpoint store")
	// ErrVersion means a store, checkpoint, metrics record or export was written in
	// a format version this build does not read; the message names both versions.
	ErrVersion = errors.New("checkpoint: unsupported format version")
	// ErrOptions means Options failed Validate.
	ErrOptions = errors.New("checkpoint: invalid options")
)

// Errors of looking things up.
var (
	// ErrJobNotFound means the store knows nothing about the job: no job record,
	// no checkpoint and no metrics.
	ErrJobNotFound = errors.New("checkpoint: job not found")
	// ErrNoCheckpoint means the job has no checkpoint, or none that verifies.
	ErrNoCheckpoint = errors.New("checkpoint: no valid checkpoint")
	// ErrNotFound means the requested checkpoint id does not exist for the job.
	ErrNotFound = errors.New("checkpoint: checkpoint not found")
)

// Errors of content.
var (
	// ErrInvalidState means a State handed to Save (or read from an import) breaks
	// a rule: empty job, a shape that does not match its data, duplicate tensor
	// names, negative counters, a config digest that does not match the config.
	ErrInvalidState = errors.New("checkpoint: invalid training state")
	// ErrCorrupt means stored bytes do not verify: checksum mismatch, missing or
	// short chunks, or an encoding that does not decode.
	ErrCorrupt = errors.New("checkpoint: corrupt checkpoint")
	// ErrDamaged means the store file's own structure (bbolt's pages) is damaged:
	// Inspect found an inconsistency, or bbolt panicked or faulted on the file's
	// bytes. The message names the file; Repair (or opening with
	// Options.Recover) salvages what verifies into a new store.
	ErrDamaged = errors.New("checkpoint: damaged store file")
	// ErrFormat means an input file (safetensors) breaks its format's rules.
	ErrFormat = errors.New("checkpoint: malformed file")
)
