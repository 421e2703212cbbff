#!/usr/bin/env bash
# All-reduce per element: asf's ring (asf bench allreduce: int64, and packed64 on
# the real LeNet gradient) against torch.distributed gloo (bench/pytorch/
# gloo_allreduce.py, float32), alternating in one session on loopback, at the
# same number of elements (asf's buffer is twice gloo's bytes: 8-byte elements).
#
# Usage: bench/pytorch/allreduce_vs_gloo.sh      (from anywhere; runs in the repository root)
# Settings (environment): PEERS (2 4), SIZES (gloo float32 bytes: 4MiB 64MiB),
#   ROUNDS (alternations per configuration, 2), ITERS (timed reductions, 5),
#   DATA_DIR (asf-data, MNIST for --data lenet), ASF_BIN (built into a temporary
#   directory when unset), PYTHON (/usr/bin/python3), OUT (raw outputs; a new
#   temporary folder).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

PEERS=${PEERS:-2 4}
SIZES=${SIZES:-4MiB 64MiB}
ROUNDS=${ROUNDS:-2}
ITERS=${ITERS:-5}
DATA_DIR=${DATA_DIR:-asf-data}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-$(mktemp -d /tmp/asf-gloo.XXXXXX)}
mkdir -p "$OUT"

die() { echo "allreduce_vs_gloo.sh: $*" >&2; exit 1; }
"$PYTHON" -c 'import torch.distributed' 2>/dev/null || die "$PYTHON has no torch (apt-get install python3-torch)"
if [[ -z "${ASF_BIN:-}" ]]; then
	ASF_BIN="$OUT/asf"
	go build -o "$ASF_BIN" ./cmd/asf
fi

# double turns a gloo size (4MiB) into asf's size of as many int64 elements.
double() { local n=${1%%[A-Za-z]*} u=${1##*[0-9]}; echo "$((2 * n))$u"; }
# field N of the data line (the line after the header) of a table.
elems_gloo() { awk '$1 == "peers" {getline; print $8}' "$1"; }
elems_asf() { sed -n 's/^elements reduced per second: \([0-9.e+]*\) .*/\1/p' "$1"; }
bytes_asf() { sed -n 's/.*, \([0-9.]*\) bytes per element it carried/\1/p' "$1"; }

printf '%-5s %-7s %-5s %12s %12s %12s %9s %9s %7s\n' peers size round gloo_el/s int64_el/s packed_el/s int64/gl packed/gl B/el
for w in $PEERS; do
	for s in $SIZES; do
		for r in $(seq 1 "$ROUNDS"); do
			g="$OUT/gloo-$w-$s-$r.txt" a="$OUT/int64-$w-$s-$r.txt" p="$OUT/packed-$w-$s-$r.txt"
			"$PYTHON" "$here/gloo_allreduce.py" --peers "$w" --size "$s" --iters "$ITERS" >"$g"
			"$ASF_BIN" bench allreduce --peers "$w" --size "$(double "$s")" --codec int64 --iters "$ITERS" >"$a"
			"$ASF_BIN" bench allreduce --peers "$w" --size "$(double "$s")" --codec packed64 --data lenet \
				--data-batch $((256 / w)) --data-dir "$DATA_DIR" --iters "$ITERS" >"$p"
			ge=$(elems_gloo "$g") ae=$(elems_asf "$a") pe=$(elems_asf "$p")
			awk -v w="$w" -v s="$s" -v r="$r" -v g="$ge" -v a="$ae" -v p="$pe" -v b="$(bytes_asf "$p")" \
				'BEGIN { printf "%-5s %-7s %-5s %12.4g %12.4g %12.4g %9.2f %9.2f %7s\n", w, s, r, g, a, p, a/g, p/g, b }'
		done
	done
done
echo "raw outputs: $OUT (load: $(cut -d' ' -f1-3 /proc/loadavg))"
