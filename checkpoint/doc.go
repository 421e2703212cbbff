// Package checkpoint is the coordinator's crash-safe store of training state: one
// bbolt file (default <data-dir>/asf.db) holding the jobs (their configuration),
// each job's checkpoints (weights, optimizer state, ASF scales, counters, seed,
// configuration digest, metrics summary) and each job's metrics history. It also
// exports a checkpoint to safetensors plus a JSON model description, and imports
// safetensors back.
//
// The caller's loop (the coordinator, docs/architecture.md "One training step", step 6):
//
//  1. At start, Open the store (nil options: 2 s lock wait, keep the last 3 and the
//     best 1). A second process opening the same file fails with ErrLocked after
//     the timeout instead of waiting for ever.
//  2. PutJob(id, config) when a job is created; on restart, Job(id) gives it back
//     and Latest(id) the newest checkpoint that verifies (corrupt newer ones are
//     logged and skipped). ErrJobNotFound or ErrNoCheckpoint: start from scratch.
//  3. Every K steps and at each epoch end, pull the state from a worker and Save
//     it. Save returns after the transaction is on disk: commit the checkpoint
//     before acknowledging the step it records. Retention runs in that same
//     transaction, so the file never holds fewer than the newest checkpoints.
//  4. AppendMetrics after each step or epoch (or, with Update, in the same
//     transaction as the Save, so both or neither are recorded).
//  5. BackupTo at any time makes a consistent copy while training goes on.
//
// Guarantees. Each Save is one bbolt transaction: a crash (kill -9, power loss on
// a file system that honours fsync) leaves either the old set of checkpoints or
// the new one. Every checkpoint carries the sha256 of its encoded bytes; loading
// verifies it, so a bit flipped on disk is caught, reported, and the previous
// checkpoint used. Decoding checks every length against the bytes present and
// never panics; unknown format versions fail with ErrVersion naming both
// versions. A file that is not a store (another program's bbolt file, an image, a
// text file) fails Open with ErrNotStore and is left untouched.
//
// No byte of the file can crash the process. Index records, metric points and
// job records end with a crc32c, so a damaged record is dropped, not believed.
// Every call into bbolt runs with debug.SetPanicOnFault and a recover: bbolt's
// panics on inconsistent pages and memory faults on its map become ErrDamaged
// naming the file. Inspect checks a file page by page without bbolt (it never
// panics); Repair sets a damaged file aside (a hard link, never deleted) and
// replaces it, in one rename, with a store holding every record that
// verifies, taken from the tree of the meta page in use and of the previous
// one; Salvage writes that store elsewhere. Options.Recover makes Open run
// Repair first: the coordinator opens its store so. docs/reliability.md has
// the corruption sweep.
//
// Layout of an encoded state: see EncodeState. Large states are split into
// values of at most 1 MiB, written in the same transaction as the index record
// that holds their size, count and checksum.
package checkpoint
