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
package asfpb
