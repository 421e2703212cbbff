// Package allreduce sums a flat buffer across the workers of a ring: the way asf
// workers combine their gradients every training step.
//
// # Algorithm
//
// AllReduce runs the bandwidth-optimal ring algorithm over W peers: the buffer is
// cut into W segments; in W-1 reduce-scatter rounds each peer adds the segment it
// receives from its left neighbour to its own copy and passes the partial sum on,
// so that after them each peer holds one fully summed segment; in W-1 all-gather
// rounds the summed segments travel once more round the ring. Each peer sends and
// receives 2(W-1)/W of the buffer in all. Segments are cut into chunks
// (Config.ChunkBytes, 1 MiB by default, below gRPC's 4 MiB message limit), and a
// chunk is forwarded as soon as it has been added or copied, so that sending,
// receiving and summing overlap. Buffers of any length work: empty, shorter than
// W, not a multiple of W. A ring of one returns at once.
//
// # Determinism
//
// The Int64 codec (the default; AllReduceInt64) sums fixed-point int64 values
// exactly: the result is bitwise the same whatever the ring order and however the
// contributions were grouped onto peers. A sum that leaves the int64 range fails
// with ErrOverflow; nothing wraps around. Quantize, Mean and ScaleFor convert
// between real values and fixed point; averaging divides once, after the sum. The
// Float32 codec needs no quantisation and carries half the bytes per element,
// but its sums depend on the ring order (every peer still gets the same bits
// within one reduction).
//
// # The caller's loop
//
// A worker process:
//
//  1. Creates one PeerServer and registers it on its gRPC server with
//     RegisterPeerServer (server options: DefaultGRPCTuning().ServerOptions()).
//  2. On each new generation (from the coordinator: job, generation number, the
//     ordered ring), closes the previous GRPCTransport and creates one with
//     NewGRPCTransport(server, rightNeighbourAddress, credentials...). The
//     connection is made once and reused by every step of the generation.
//  3. Each step, computes its contribution (already quantised and summed locally
//     for Int64), then calls AllReduceInt64(ctx, transport, cfg, buf) with cfg's
//     Job, Generation, Step, Rank and Size set; buf becomes the ring's sum.
//  4. On success, applies the step. On error, applies nothing and waits for the
//     coordinator's next generation, then redoes the step from the same pre-step
//     state (a neighbour may have succeeded where this peer failed: the
//     coordinator re-syncs such a replica before the redo).
//
// Tests and single-process runs use NewMemNetwork instead of gRPC.
//
// # Messages and failures
//
// Every message carries (job, generation, step, phase, round, chunk, sender) and
// each stream opens with a hello that states the ring size, element count, codec
// and chunk size; a peer checks every message against what the ring expects next
// and aborts the reduction on any difference: ErrForeign (another job), ErrStale
// (an older generation or step), ErrMismatch (anything else, including a wrong
// payload length). The PeerServer refuses streams of another job or of an older
// reduction, and holds a stream of a newer one until the local reduction begins.
//
// When a peer fails, every other peer returns an error: a broken or refused
// link is seen at once on both sides and the abort travels round the ring in
// both directions; a peer that stalls (alive but silent) is caught by each
// peer's watchdog after Config.StallTimeout without progress (ErrStalled and
// ErrAborted). Cancelling the context aborts at once with the context's error.
// Nothing outlives a call: the goroutines and streams of a reduction are gone
// when AllReduce returns.
//
// # Transport over gRPC
//
// The service is asf.v1.AllReducePeer (api/asfpb/allreduce.proto): one
// client-streaming Exchange RPC per reduction, from each peer to its right
// neighbour, answered once the receiver has consumed the stream or failed with a
// status carrying a google.rpc.ErrorInfo (domain "asf.allreduce", reason STALE,
// FOREIGN, MISMATCH or ABORTED). GRPCTransport encodes chunks with its own gRPC
// codec (content-subtype "asf-allreduce"), which writes standard protobuf but
// avoids copying payloads on send and copies them once on receive, into pooled
// buffers. DefaultGRPCTuning sets 8 MiB stream and 16 MiB connection windows and
// 256 KiB socket buffers.
//
// # Speed
//
// `asf bench allreduce` measures the ring over gRPC on loopback against raw TCP
// timed in the same run, and reports the ring's bus bandwidth (busbw) beside
// the raw streams'. Measured figures live in docs/results.md, not here: they
// depend on the machine.
package allreduce
