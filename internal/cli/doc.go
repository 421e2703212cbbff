// Package cli is the command-line convention of the three asf binaries (asf,
// asf-coordinator and asf-worker), declared once so that one flag name means
// one thing everywhere:
//
//   - --job-file is a JSON job file, --job-id the name of a job in the
//     checkpoint store, --worker-id a worker's identity, --store the bbolt
//     file (default <data-dir>/asf.db), --data-dir the directory of the data
//     sets and the store;
//   - every flag can also be set from the environment as ASF_<FLAG> (upper
//     case, dashes as underscores); a flag on the command line wins;
//   - logs go to stderr (--log-level, --log-format text|json), results to
//     stdout;
//   - the security flags (--tls-*, --gossip-key*, --cluster-label,
//     --join-token*) and the job flags are the same set wherever they appear.
//
// Old names stay as deprecated aliases that print a warning (--job for the job
// file in asf train and asf-coordinator and for the job id in asf plot curves
// and asf checkpoint import, --id for the job id and for the worker id, --db
// for the store), so scripts keep working while they move to the new names.
//
// The daemons' commands (Coordinator, Worker) live here too, so that their
// mains only execute them.
package cli
