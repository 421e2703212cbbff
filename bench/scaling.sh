#!/usr/bin/env bash
# The measurements of docs/scaling.md in one go, for a quiet host (as root):
# the emulated cluster at 1 Gbit/s (gradient mode, W = 1, 2, 4, batches 64 and
# 256) and at 100 Mbit/s (gradient and local SGD, batch 256), each point the
# median of --repeat interleaved runs, then asf against gloo per element.
#
# Usage: sudo bench/scaling.sh            (from anywhere; runs in the repository root)
# Settings (environment): OUT (output folder, default a new temporary folder),
#   REPEAT (runs per point, 3), STEPS (measured steps, 8), CPUS (quota per
#   worker, 0.45), DATA_DIR (asf-data), PYTHON (/usr/bin/python3; the gloo part
#   is skipped without torch).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"

OUT=${OUT:-$(mktemp -d /tmp/asf-scaling.XXXXXX)}
REPEAT=${REPEAT:-3}
STEPS=${STEPS:-8}
CPUS=${CPUS:-0.45}
DATA_DIR=${DATA_DIR:-asf-data}
PYTHON=${PYTHON:-/usr/bin/python3}
mkdir -p "$OUT/bin"

echo "building into $OUT/bin" >&2
go build -o "$OUT/bin/" ./cmd/asf ./cmd/asf-coordinator ./cmd/asf-worker
asf="$OUT/bin/asf"
load() { cut -d' ' -f1-3 /proc/loadavg; }

echo "== 1 Gbit/s, gradient mode (load $(load))" | tee "$OUT/grad-1gbit.txt"
"$asf" bench scaling --data-dir "$DATA_DIR" --workers 1,2,4 --batch 64,256 --link 1gbit --cpus "$CPUS" \
	--steps "$STEPS" --warmup 4 --repeat "$REPEAT" --json "$OUT/grad-1gbit.json" --plot "$OUT/scaling.png" \
	--log-dir "$OUT/logs" | tee -a "$OUT/grad-1gbit.txt"
echo "== 100 Mbit/s, gradient and local SGD (load $(load))" | tee "$OUT/100mbit.txt"
"$asf" bench scaling --data-dir "$DATA_DIR" --workers 1,2,4 --batch 256 --link 100mbit --cpus "$CPUS" \
	--sync-mode gradient,weights --local-steps 4 --steps "$STEPS" --warmup 4 --repeat "$REPEAT" \
	--json "$OUT/100mbit.json" --plot "$OUT/scaling-100mbit.png" --predict=false --log-dir "$OUT/logs" | tee -a "$OUT/100mbit.txt"
if "$PYTHON" -c 'import torch.distributed' 2>/dev/null; then
	echo "== asf against gloo (load $(load))" | tee "$OUT/gloo.txt"
	OUT="$OUT/gloo" ASF_BIN="$asf" DATA_DIR="$DATA_DIR" ROUNDS="$REPEAT" "$here/pytorch/allreduce_vs_gloo.sh" | tee -a "$OUT/gloo.txt"
else
	echo "no torch for $PYTHON: the gloo comparison is skipped (apt-get install python3-torch)" >&2
fi
echo "results in $OUT (load at the end: $(load))" >&2
