// Package coordinator is the cluster's control plane: it owns the job, turns
// membership into generations (ordered rings of workers), hands out one step
// at a time, checks that the replicas agree, and commits the training state to
// the checkpoint store.
//
// The decisions live in Machine, a pure state machine fed with events (a
// worker joined, left the gossip, failed a health probe or disconnected; a
// report arrived; the clock ticked; the coordinator's own process paused; a
// checkpoint was saved; a worker was told the job is over) that emits
// decisions (a new generation, a commit, a checkpoint to save, an eviction, a
// rollback, a worker to probe, when to stop serving) and keeps every worker's
// current instruction and address. Coordinator is the I/O around it: the gRPC
// services (Coordinator, WorkerState, health), the gossip membership
// (internal/cluster), the checkpoint store and the test evaluation. It feeds
// the machine from one event loop, carries out its decisions in order, and
// derives the status from it once per turn. The scripts in
// testdata/machine/*.txt drive the machine through each rule.
//
// # The state
//
// S_k is the training state (weights, optimizer moments, ASF scales) after k
// steps; its digest is the SHA-256 of the weights and scales. Global step k is
// step k mod E of epoch k div E (E steps per epoch, the last one possibly
// partial): it uses the samples plan.StepSamples(perm(seed, epoch), k mod E),
// cut into micro-batches of m samples. Every worker holds at most two states:
// its committed state and a tentative one (the result of the last step it
// computed).
//
// # One training step (generation g, step k)
//
//  1. The coordinator publishes to each ring member the task (g, k, ring,
//     rank, digest of S_k, and a sync source if the member does not hold S_k).
//     Workers receive it by long-polling NextTask.
//  2. A worker gets S_k: its committed state, or its tentative state (a task
//     for step k is the proof that the step before was committed: the
//     tentative state becomes the committed one), a fresh model for k = 0, or
//     a copy streamed from the named source (a peer, or the coordinator's
//     checkpoint) and checked against the digest.
//  3. It computes its micro-batches j (j mod W = rank) with the engine, sums
//     them in fixed point, and all-reduces the sum with its ring neighbours
//     under (job, g, k).
//  4. It applies the sum to a copy of S_k (the optimizer step and, in scale
//     epochs, the scale update): the tentative S_{k+1}. It reports the digest,
//     the statistics, the micro-batches it computed and its timings.
//  5. When every ring member has reported success with the same digest, the
//     coordinator commits step k: it records who computed what (the ledger)
//     and queues the step's metrics for the store's history. The point is
//     written off the event loop while the next step runs, and the next commit
//     waits for it: a crash loses at most the newest step's point (a restarted
//     coordinator then counts one step fewer as recomputed).
//     Replicas that disagree stop the job (ErrDiverged): computation is
//     deterministic, so that is a bug.
//  6. Every CheckpointEvery steps, at each epoch end and at the end, it pulls
//     S_{k+1} from a ring member (WorkerState.GetState), verifies its digest,
//     and saves it. Ordering rule: the checkpoint is committed to the store
//     before step k+1 is issued. At an epoch end the pulled state is also
//     evaluated on the test set, off the event loop.
//  7. It issues step k+1: in the same generation if the ring is unchanged,
//     else in a new one (step boundaries are where joiners enter).
//
// # A generation change
//
//  1. A ring member fails: gossip declares it dead, its task poll breaks off,
//     it misses the step deadline, it does not answer a health probe after a
//     failed step, or it reports a failure. The coordinator abandons step k of
//     generation g. (After a bare failure report it waits RetryDelay, doubling
//     up to MaxRetryDelay, while it probes the ring; a departure re-forms at
//     once.)
//  2. It forms generation g+1 from the ready members (sorted by id) and
//     publishes step k again. Workers cancel the step in flight: the reduction
//     of generation g is aborted (a peer refuses an older generation), and
//     tentative states are dropped when the task for step k arrives.
//  3. Everyone recomputes step k from S_k. Computation is deterministic, so
//     the redo gives bitwise the same S_{k+1}; nothing is applied twice and
//     nothing is lost. If no live node holds S_k any more, the coordinator
//     rolls back to its newest checkpoint and serves it to the ring.
//
// # Coordinator restart
//
// A coordinator started on the same store continues the job: it reloads the
// job, the newest checkpoint that verifies and the metrics history (the ledger
// and the highest step committed), then waits Settle for workers to register.
// Workers that lost the coordinator finish the step in flight, keep their
// states and register again with them. If registered workers hold a state
// newer than the checkpoint and agree on it, the coordinator adopts it and
// nothing is recomputed; otherwise it continues from the checkpoint and counts
// the steps committed a second time (Result.Recomputed). Generation numbers
// continue above any the workers report.
//
// # Membership and failure detection
//
// Every node is a memberlist member (internal/cluster); with
// cluster.DefaultMembershipConfig a crashed worker is declared dead about 1.5
// to 2.5 s after it stops answering. Two faster signals usually come first: a
// live worker always holds a NextTask long poll, so a killed process's
// connection drop is seen at once; and after a failed step the coordinator
// health-checks the ring and evicts members that do not answer. A stopped
// (SIGSTOP) worker is evicted by the gossip or, at the latest, by the step
// deadline. An evicted worker that comes back is told to register again, and
// enters the ring at the next step boundary after syncing the state.
//
// # Sync modes
//
// SyncGradient (the default) sums every worker's micro-batch results every
// step, which makes the result bitwise independent of the number of workers.
//
// SyncWeights is local SGD: the unit of work (the machine's "step", the held
// states, the ledger rows) becomes a round of LocalSteps training steps (the
// last round of an epoch may be shorter). In a round each worker trains on its
// own micro-batches j (j mod W = rank) of each of the round's steps with its
// own optimizer, then the state (weights, Adam moments, ASF scales) is
// quantised with fixed power-of-two scales into int64, all-reduced through the
// ring and divided by W. So every replica ends a round with the same state,
// which is what the round's digest checks and what checkpoints and joiners
// get; between rounds each worker has its own. The result depends on W (not
// on which worker has which rank): deterministic for a fixed number of
// workers. A restarted coordinator must use the same mode and LocalSteps.
package coordinator
