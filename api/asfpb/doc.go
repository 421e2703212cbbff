// Package asfpb holds asf's protocol buffer messages and gRPC services (package
// asf.v1) and the Go code generated from them, committed beside the .proto files.
//
// Do not edit the *.pb.go files: change the .proto and run api/gen.sh (which
// names the pinned protoc and plugin versions). TestGeneratedCodeIsCurrent
// checks that regeneration changes nothing when those tools are installed.
//
// Files:
//   - allreduce.proto: AllReducePeer, the worker-to-worker ring all-reduce stream
//     (see package github.com/asfnet/asf/allreduce).
//   - cluster.proto: Coordinator (Join, NextTask, Report, Status: the control
//     plane between workers, the coordinator and `asf status`) and WorkerState
//     (GetState: the training state streamed to a joiner or to the coordinator's
//     checkpoint), see packages github.com/asfnet/asf/coordinator and
//     github.com/asfnet/asf/worker.
package asfpb
