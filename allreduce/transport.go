package allreduce

import (
	"context"
	"fmt"
)

// Phase says which part of a reduction a Message belongs to.
type Phase uint8

// The phases of a reduction, in the order their messages travel on a link.
const (
	// PhaseHello is the first message on every link: the sender's Hello.
	PhaseHello Phase = 1
	// PhaseReduceScatter carries partial sums (rounds 0 .. Size-2).
	PhaseReduceScatter Phase = 2
	// PhaseAllGather carries final sums (rounds Size-1 .. 2*Size-3).
	PhaseAllGather Phase = 3
)

// String names the phase.
func (p Phase) String() string {
	switch p {
	case PhaseHello:
		return "hello"
	case PhaseReduceScatter:
		return "reduce-scatter"
	case PhaseAllGather:
		return "all-gather"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// Session identifies one reduction: a step of a generation of a job, as seen by
// the peer of the given rank in a ring of Size peers.
type Session struct {
	Job        string
	Generation uint64
	Step       uint64
	Rank       int
	Size       int
}

// String formats the session for errors and logs.
func (s Session) String() string {
	return fmt.Sprintf("job %q generation %d step %d rank %d/%d", s.Job, s.Generation, s.Step, s.Rank, s.Size)
}

// Header is the address of a Message within the reductions of a cluster.
type Header struct {
	Job        string
	Generation uint64
	Step       uint64
	Phase      Phase
	// Round is the ring round, 0 .. 2*Size-3, counted across both data phases.
	Round uint32
	// Chunk is the index of the chunk within the segment sent in this round.
	Chunk uint32
	// Sender is the rank of the sending peer.
	Sender uint32
}

// Hello is what every peer of a ring must agree on; it is the payload of the
// PhaseHello message.
type Hello struct {
	Size          uint32
	Elements      uint64
	Codec         string
	ChunkElements uint64
}

// Message is one unit on a link. Ownership of Payload passes with the message:
// after Send the sender must not touch it; after Recv the receiver may reuse it.
type Message struct {
	Header
	// Hello is set in PhaseHello messages only.
	Hello *Hello
	// Payload holds the encoded elements of a data message.
	Payload []byte
}

// Transport connects one peer to its ring neighbours: it sends to the right
// neighbour and receives from the left one. A Transport serves many reductions in
// turn (successive steps, retries); GRPCTransport and MemNetwork implement it.
type Transport interface {
	// Open starts the links of one reduction. The links live until Close or until
	// ctx ends, which aborts them. Open does not wait for the neighbours.
	Open(ctx context.Context, s Session) (Link, error)
}

// Link is one reduction's pair of links. Send is called from one goroutine and
// Recv from another; Close after both have stopped.
type Link interface {
	// Send sends m to the right neighbour. It may block for flow control.
	Send(m *Message) error
	// Recv returns the next message from the left neighbour, waiting for the
	// neighbour to connect if needed.
	Recv() (*Message, error)
	// Close ends the reduction's links. With a nil cause, it tells the left
	// neighbour that its stream was consumed in full and waits until the right
	// neighbour says the same of ours (or fails). With a non-nil cause, it aborts
	// both links, passing the cause to the neighbours, and returns at once.
	Close(cause error) error
}

// pooledLink is implemented by links that recycle payload buffers: the ring
// takes the payloads of its own chunks from alloc, and gives back with free the
// payloads it received and does not forward.
type pooledLink interface {
	alloc(n int) []byte
	free(b []byte)
}
