#!/usr/bin/env bash
# Side-by-side training speed: asf's engine vs PyTorch, for ASF-BP (the authors'
# formulation, bench/pytorch/asf_lenet.py) and for BPTT with a surrogate gradient
# (bench/pytorch/bptt_lenet.py), same network, batch, T values and thread count, in
# one invocation on this machine. For each T, asf (all METHODS, alternating) and then
# PyTorch (each method) run back to back, so a change of load hits both sides.
#
# Usage: bench/pytorch/compare.sh            (from anywhere; runs in the repository root)
# Settings (environment): STEPS (measured steps per T, default 5), TS (default 20,100),
#   BATCH (64), THREADS (2), DATA_DIR (asf-data), ASF_BIN (/tmp/asf-bench),
#   MKLDNN (on|off, default on = PyTorch's default), TORCH_BLAS (openblas|system,
#   default openblas when libopenblas0-pthread is installed), PYTHON (/usr/bin/python3),
#   OUT (folder for the raw outputs, default a new temporary folder), METHODS (asf,bptt;
#   or one of them), ROUNDS (asf rounds per T, default 1), OMP_WAIT_POLICY (PyTorch's
#   OpenMP threads: PASSIVE by default here, so that waiting threads do not spin and
#   count as CPU time on a shared machine; ACTIVE is libgomp's own default).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

STEPS=${STEPS:-5}
TS=${TS:-20,100}
BATCH=${BATCH:-64}
THREADS=${THREADS:-2}
DATA_DIR=${DATA_DIR:-asf-data}
ASF_BIN=${ASF_BIN:-/tmp/asf-bench}
MKLDNN=${MKLDNN:-on}
PYTHON=${PYTHON:-/usr/bin/python3}
OUT=${OUT:-$(mktemp -d /tmp/asf-compare.XXXXXX)}
METHODS=${METHODS:-asf,bptt}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ROUNDS=${ROUNDS:-1}
mkdir -p "$OUT"

die() { echo "compare.sh: $*" >&2; exit 1; }

[[ $STEPS =~ ^[1-9][0-9]*$ ]] || die "STEPS=$STEPS: expected a positive integer"
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "BATCH=$BATCH: expected a positive integer"
[[ $THREADS =~ ^[1-9][0-9]*$ ]] || die "THREADS=$THREADS: expected a positive integer"
[[ $TS =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "TS=$TS: expected comma-separated positive integers such as 20,100"
[[ $MKLDNN == on || $MKLDNN == off ]] || die "MKLDNN=$MKLDNN: expected on or off"
[[ $METHODS =~ ^(asf|bptt)(,(asf|bptt))*$ ]] || die "METHODS=$METHODS: expected asf, bptt or asf,bptt"
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS=$ROUNDS: expected a positive integer"

# PyTorch: Debian's python3-torch installs for /usr/bin/python3 (a pyenv python3 on PATH lacks it).
[[ -x $PYTHON ]] || die "$PYTHON not found: apt-get install python3-torch (it brings /usr/bin/python3)"
if ! "$PYTHON" -c 'import torch, numpy' 2>/dev/null; then
	die "$PYTHON cannot import torch: apt-get install python3-torch"
fi

# BLAS for PyTorch's matrix products: Debian links torch against libblas.so.3; choose
# OpenBLAS (pthreads) explicitly when it is installed, else whatever the system provides.
openblas_dir=/usr/lib/x86_64-linux-gnu/openblas-pthread
TORCH_BLAS=${TORCH_BLAS:-$([[ -e $openblas_dir/libblas.so.3 ]] && echo openblas || echo system)}
case $TORCH_BLAS in
openblas)
	[[ -e $openblas_dir/libblas.so.3 ]] || die "TORCH_BLAS=openblas but $openblas_dir/libblas.so.3 is missing: apt-get install libopenblas0-pthread"
	torch_env=(env "LD_LIBRARY_PATH=$openblas_dir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "OPENBLAS_NUM_THREADS=$THREADS")
	;;
system) torch_env=(env) ;;
*) die "TORCH_BLAS=$TORCH_BLAS: expected openblas or system" ;;
esac

echo "== building asf -> $ASF_BIN"
go build -o "$ASF_BIN" ./cmd/asf

mnist=$DATA_DIR/mnist
need_fetch=0
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
	[[ -s $mnist/$f ]] || need_fetch=1
done
if ((need_fetch)); then
	echo "== fetching MNIST into $mnist"
	"$ASF_BIN" --data-dir "$DATA_DIR" data fetch mnist
fi

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
IFS=, read -r -a ts <<<"$TS"
IFS=, read -r -a methods <<<"$METHODS"
: >"$OUT/asf.txt"
for m in "${methods[@]}"; do printf 'T\tsamples_per_s\tcpu_est\tfwd_ms_cpu\tbwd_ms_cpu\n' >"$OUT/torch-$m.tsv"; done
for T in "${ts[@]}"; do
	echo "== T=$T: asf bench engine (methods $METHODS, batch $BATCH, $STEPS steps, $ROUNDS round(s), $THREADS threads)"
	"$ASF_BIN" --data-dir "$DATA_DIR" bench engine --T "$T" --method "$METHODS" --rounds "$ROUNDS" --batch "$BATCH" \
		--steps "$STEPS" --threads "$THREADS" | tee -a "$OUT/asf.txt"
	for m in "${methods[@]}"; do
		script=asf_lenet.py
		[[ $m == bptt ]] && script=bptt_lenet.py
		echo
		echo "== T=$T: PyTorch $m ($script; BLAS $TORCH_BLAS, mkldnn $MKLDNN, batch $BATCH, $STEPS steps, $THREADS threads)"
		"${torch_env[@]}" "$PYTHON" "$here/$script" --mnist-dir "$mnist" --T "$T" --batch "$BATCH" \
			--steps "$STEPS" --warmup 2 --threads "$THREADS" --mkldnn "$MKLDNN" --tsv "$OUT/torch-$m-$T.tsv" | tee -a "$OUT/torch-$m.txt"
		tail -n +2 "$OUT/torch-$m-$T.tsv" >>"$OUT/torch-$m.tsv"
	done
	echo
done
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# asf's table: rows "T method samples/s cpu_est ms/batch fwd bwd ..." after each header line.
awk '/^ *T +method +samples\/s/ {t=1; next} t && $1 ~ /^[0-9]+$/ && ($2 == "asf" || $2 == "bptt") && NF >= 7 {print $2 "\t" $1 "\t" $3 "\t" $4 "\t" $6 "\t" $7}' \
	"$OUT/asf.txt" >"$OUT/asf.tsv"
[[ -s $OUT/asf.tsv ]] || die "could not read the result rows from asf's output ($OUT/asf.txt)"

echo
echo "== summary: training samples/s, batch $BATCH, $THREADS threads (raw outputs in $OUT)"
echo "   wall = samples per wall-clock second; cpu = samples per process-CPU-second x $THREADS threads"
echo "   (the fairer figure on a shared machine); CPU ms/sample = forward/backward CPU time per sample"
for m in "${methods[@]}"; do
	echo "-- method $m (PyTorch: $([[ $m == bptt ]] && echo bptt_lenet.py || echo asf_lenet.py))"
	awk -F'\t' -v m="$m" '
		NR == FNR { if ($1 == m) a[$2] = $0; next }
		FNR == 1 { next }
		{ t[$1] = $0 }
		END {
			printf "%5s  %11s %11s %7s   %11s %11s %7s   %17s %17s\n", "T", "asf wall", "torch wall", "ratio", "asf cpu", "torch cpu", "ratio", "asf fwd/bwd ms", "torch fwd/bwd ms"
			n = 0
			for (k in t) ks[++n] = k + 0
			for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (ks[j] < ks[i]) { x = ks[i]; ks[i] = ks[j]; ks[j] = x }
			for (i = 1; i <= n; i++) {
				k = ks[i]
				if (!(k in a)) { printf "%5d  asf row missing\n", k; continue }
				split(a[k], A, "\t"); split(t[k], P, "\t")
				printf "%5d  %11.1f %11.1f %6.1fx   %11.1f %11.1f %6.1fx   %8.3f/%-8.3f %8.3f/%-8.3f\n", k, A[3], P[2], A[3] / P[2], A[4], P[3], A[4] / P[3], A[5], A[6], P[4], P[5]
			}
		}' "$OUT/asf.tsv" "$OUT/torch-$m.tsv"
done | tee "$OUT/summary.txt"
# The backward's growth with T (largest over smallest T measured) for each method, both engines.
for m in "${methods[@]}"; do
	awk -F'\t' -v m="$m" '
		NR == FNR { if ($1 == m) { a[$2 + 0] = $6 }; next }
		FNR == 1 { next }
		{ p[$1 + 0] = $5 }
		END {
			lo = hi = 0
			for (k in a) { if (lo == 0 || k + 0 < lo) lo = k + 0; if (k + 0 > hi) hi = k + 0 }
			if (lo == hi || a[lo] <= 0) exit
			printf "%s: backward T=%d / T=%d: asf %.2f", m, hi, lo, a[hi] / a[lo]
			if ((lo in p) && (hi in p) && p[lo] > 0) printf ", PyTorch %.2f", p[hi] / p[lo]
			printf "\n"
		}' "$OUT/asf.tsv" "$OUT/torch-$m.tsv"
done | tee -a "$OUT/summary.txt"
