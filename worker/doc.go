// Package worker is the cluster's data plane: a worker joins the cluster,
// receives the job and the live state, computes its micro-batches of each step
// with the engine, all-reduces them with its ring neighbours, applies the step
// and reports to the coordinator. See package coordinator for the protocol.
//
// The worker's loop:
//
//  1. Join the gossip through Config.Join, find the coordinator (Config.
//     Coordinator, or the gossip metadata), and register (Join RPC). The first
//     registration returns the job: load its data, build the network,
//     register again as ready.
//  2. Long-poll NextTask, always keeping one poll outstanding; a newer
//     instruction replaces one not yet acted on.
//  3. On a compute task (generation g, step k): cancel the step in flight if
//     it is another one; get the base state (the committed state; the
//     tentative state, which the task commits; a fresh model at step 0; or a
//     copy fetched from the task's sync source and checked against the
//     digest), compute the micro-batches j = rank, rank+W, ..., all-reduce in
//     fixed point, apply the step to a copy, keep it as the tentative state,
//     and report. In gradient mode (Config.ComputeAhead, the default) the
//     worker then starts computing the next step's micro-batches on the
//     tentative state while the coordinator gathers the reports; the next
//     task takes that result when it asks for the same computation (base
//     state, place in the job, ring size and rank) and drops it otherwise
//     (ahead.go). The result is bitwise the same either way.
//  4. On wait: cancel the step in flight (the coordinator abandoned it). On
//     rejoin: register again, keeping the states. On done: keep the final
//     state and return.
//  5. If the coordinator cannot be reached (LostAfter failed polls), finish
//     the step in flight, keep both states, and register again (with backoff)
//     once a coordinator answers: a restarted coordinator may adopt them.
//  6. If its address was auto-detected and changes (Config.ReresolveEvery,
//     readvertise.go): abandon the step in flight, leave the gossip, start a
//     new member advertising the new address, and register again with the
//     new gRPC address (to the coordinator, a restart of the same worker).
//
// The decisions of all six (when to say that the gossip cannot be joined and
// when to give up; what the coordinator's answer to a registration asks for:
// load the job, join its gossip, serve, or end; when to register again and
// after which pause; which instruction starts, cancels or ends what; where a
// step's state comes from) are a pure core (core.go) that Run and the serve
// loop feed with events and whose decisions they carry out; the scenarios in
// testdata/core/*.txt test it without a network. The messages of the wire
// become the domain types of package job (Task, Welcome, Report, Held) where
// they are received and sent (internal/cluster's conversions), so the rest of
// the worker never sees a proto.
//
// Every worker serves WorkerState (the states it holds, for peers that join
// or re-sync and for the coordinator's checkpoints), AllReducePeer and the
// gRPC health service on one gRPC server.
package worker
