// Package engine is the numerics of asf: spiking networks in the paper's notation,
// IF/LIF neurons simulated over a window of T steps, and their training with
// ASF-BP (Accumulated Spiking Flow back-propagation, Wu et al., AAAI 2021), exactly
// as docs/algorithm.md describes it.
//
// It is a pure, deterministic step function: model and samples in, fixed-point
// gradients and statistics out. No network, no files, no clocks, no global state;
// the only goroutines are those of RunMicroBatches and Evaluate, which end before
// they return.
//
// # One training step (what internal/local and the cluster workers do)
//
//  1. Build the network once: NewNet(spec, input shape, Config), NewModel(net, seed)
//     for fresh weights (Normal(0, sqrt(2/fan_in)) from the counter-based generator),
//     NewOptimizer(TrainConfig, net.NParams), and one Workspace per goroutine.
//  2. For each micro-batch of the step: Workspace.MicroBatch(model, batch, seed,
//     epoch, acc) runs every sample forward over T steps (recording the accumulated
//     input currents FI and spike counts FO of every layer), computes the loss, and
//     back-propagates once through the equivalent network built on FI and FO. The
//     micro-batch's gradient and scale statistics are quantised and added to acc,
//     an []int64 of Net.ResultLen() values (see the layout in result.go).
//  3. Sum the micro-batch vectors of the step (AddResults, or a ring all-reduce of
//     int64): integer addition is associative, so any grouping gives bitwise the same
//     sum. RunMicroBatches does steps 2-3 on several goroutines.
//  4. Optimizer.Apply(model, acc, epoch) decodes the gradient, takes one Adam (or SGD)
//     step at the epoch's learning rate and, in scale epochs, updates the ASF scales
//     from the summed statistics. Replicas that apply the same sum stay identical.
//
// # BPTT
//
// With Config.Method = BPTT the same forward is trained by back-propagation through
// time with a surrogate derivative of the spike (Config.Surrogate, SurrogateSlope,
// ResetGrad; bptt.go and surrogate.go, docs/bptt.md): the backward recomputes each
// layer's membrane from the spikes below, runs backwards over the window, and adds
// its gradient into the same fixed-point result vector.
//
// # Determinism
//
// A sample's input spikes are a function of (seed, epoch, sample index, t) only,
// drawn from a counter-based generator (rng.go); samples inside a micro-batch are
// processed in order in float32; micro-batch results are summed in fixed point. So
// the weights after a step depend on the job and the micro-batch size, never on the
// number of threads or workers. Model.Digest fingerprints a model bitwise.
//
// # Speed
//
// Spikes are binary and sparse, so the forward pass is event-driven: each layer
// runs over the whole window before the next (its weights stay in cache), and a
// spike adds a contiguous block of weights to the next layer's currents instead of
// a dense multiply. Conv weights are stored [cin][ky][K-1-kx][cout] and activations
// channels-last, so a spike at input column x adds K*cout contiguous floats to the
// outputs of columns x-K/2..x+K/2 of one row, for each of the K kernel rows. FC
// weights are stored [in][out]: a spike of input i adds row i. The neuron update
// (integrate, compare, reset, record the spike) is one fused AVX-512/AVX2 kernel,
// f32.NeuronStep. The backward pass does not loop over time: it visits only the
// elements whose spike count is nonzero (for dL/dW) or whose FI is positive (for
// dL/dh), with Axpy and Dot kernels on the same contiguous blocks.
//
// ExportWeights and ImportWeights convert to and from the standard layouts (conv
// [cout][cin][ky][kx], FC [out][in] over CHW-flattened inputs), bitwise.
package engine
