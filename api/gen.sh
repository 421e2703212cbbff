#!/bin/sh
# gen.sh regenerates the Go code committed beside the .proto files under api/.
#
# Usage: api/gen.sh [OUTDIR]   (OUTDIR defaults to api/ itself; the regeneration
# check in api/asfpb/gen_test.go writes to a temporary OUTDIR and compares.)
#
# Pinned tools (the committed code was generated with exactly these):
#   protoc             libprotoc 3.21.12   (Debian 12: apt-get install -y protobuf-compiler)
#   protoc-gen-go      v1.36.12            (go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12)
#   protoc-gen-go-grpc v1.6.2              (go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
mkdir -p "$out"
PATH="$PATH:$(go env GOPATH)/bin"
export PATH
cd "$here"
protoc --proto_path=. \
	--go_out="$out" --go_opt=paths=source_relative \
	--go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	asfpb/*.proto
