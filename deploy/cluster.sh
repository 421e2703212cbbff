#!/usr/bin/env bash
# deploy/cluster.sh: run an asf cluster on this Docker host with compose.
#
#   deploy/cluster.sh up [N]        build the images, fetch MNIST if needed, start a coordinator and N workers (3)
#   deploy/cluster.sh logs          follow the logs (Ctrl-C stops following, not the cluster)
#   deploy/cluster.sh status        the coordinator's view: step, epoch, loss, ring, workers
#   deploy/cluster.sh kill-worker   docker kill one worker: training goes on without it
#   deploy/cluster.sh scale N       run N workers (new ones join at a step boundary)
#   deploy/cluster.sh ps            the containers and their health
#   deploy/cluster.sh down          stop and remove the containers; keep the checkpoint store
#   deploy/cluster.sh clean         the same, and delete the checkpoint store (a fresh start)
#   deploy/cluster.sh export [FILE] write the job's newest checkpoint to FILE (weights.safetensors), from the store volume
#   deploy/cluster.sh images        only build the binaries and the images
#
# Environment (see compose.yaml for the rest):
#   ASF_PROJECT    compose project name (asf)
#   ASF_DATA       host data directory, mounted read-only (<repo>/asf-data)
#   ASF_JOB_FILE   job file (deploy/job.json)
#   ASF_IMAGE, ASF_TAG   image names <ASF_IMAGE>-coordinator:<ASF_TAG> and -worker (asf, latest)
#   ASF_DIST       where the binaries are built (deploy/dist)
#   ASF_NO_BUILD=1 up without building (the images must exist)
#   ASF_PLAINTEXT=1  the plaintext variant (compose.plaintext.yaml on top): no TLS, gossip key or
#                  join token. By default the cluster is secure: a one-shot `certs` service runs
#                  `asf certs init` into the volume `certs` (docs/security.md)
#   ASF_CLUSTER_LABEL  gossip cluster label (asf-compose)
set -euo pipefail

deploy="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$deploy/.." && pwd)"

export ASF_IMAGE="${ASF_IMAGE:-asf}"
export ASF_TAG="${ASF_TAG:-latest}"
export ASF_DATA="$(realpath -m "${ASF_DATA:-$repo/asf-data}")"
export ASF_JOB_FILE="$(realpath -m "${ASF_JOB_FILE:-$deploy/job.json}")"
project="${ASF_PROJECT:-asf}"
dist="$(realpath -m "${ASF_DIST:-$deploy/dist}")"

die() { echo "cluster.sh: $*" >&2; exit 1; }
say() { printf '+ %s\n' "$*" >&2; }

files=(-f "$deploy/compose.yaml")
if [[ "${ASF_PLAINTEXT:-}" == 1 ]]; then
	files+=(-f "$deploy/compose.plaintext.yaml")
fi

# compose runs docker compose (v2) or docker-compose (v1) on this project.
compose() {
	if docker compose version >/dev/null 2>&1; then
		docker compose "${files[@]}" -p "$project" "$@"
	elif command -v docker-compose >/dev/null 2>&1; then
		docker-compose "${files[@]}" -p "$project" "$@"
	else
		die "neither 'docker compose' nor 'docker-compose' is installed"
	fi
}

# images builds static binaries into $dist and the two images from them.
images() {
	command -v go >/dev/null || die "go is not installed: the images hold binaries built on this host"
	say "go build (static) -> $dist"
	mkdir -p "$dist/store"
	(cd "$repo" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$dist/" ./cmd/asf ./cmd/asf-coordinator ./cmd/asf-worker)
	local ctx="$deploy"
	if [[ "$dist" != "$deploy/dist" ]]; then
		# A context of the binaries only; the Dockerfile expects them under dist/.
		ctx="$(mktemp -d)"
		trap 'rm -rf "$ctx"' RETURN
		mkdir -p "$ctx/dist/store"
		ln "$dist"/asf "$dist"/asf-coordinator "$dist"/asf-worker "$ctx/dist/" 2>/dev/null ||
			cp "$dist"/asf "$dist"/asf-coordinator "$dist"/asf-worker "$ctx/dist/"
	fi
	for role in coordinator worker; do
		say "docker build --target $role -t $ASF_IMAGE-$role:$ASF_TAG"
		docker build -q -f "$deploy/Dockerfile" --target "$role" -t "$ASF_IMAGE-$role:$ASF_TAG" "$ctx" >/dev/null
	done
}

# data makes sure the job's data set is in $ASF_DATA (MNIST and Fashion-MNIST
# can be fetched; the containers cannot fetch: they mount it read-only).
data() {
	local set
	set="$(sed -n 's/.*"dataset"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ASF_JOB_FILE" | head -1)"
	set="${set:-mnist}"
	case "$set" in
	mnist | fashion-mnist)
		if ! ls "$ASF_DATA/$set"/train-images-idx3-ubyte* >/dev/null 2>&1; then
			[[ -x "$dist/asf" ]] || images
			say "asf data fetch $set --data-dir $ASF_DATA"
			"$dist/asf" data fetch "$set" --data-dir "$ASF_DATA"
		fi
		;;
	synthetic) ;;
	*) [[ -d "$ASF_DATA/$set" ]] || die "data set $set is not in $ASF_DATA/$set (place it there by hand)" ;;
	esac
	# The containers run as uid 65532: the data and the job file must be world-readable.
	local unreadable
	unreadable="$(find "$ASF_DATA" "$ASF_JOB_FILE" \( -type d ! -perm -o+rx \) -o \( -type f ! -perm -o+r ! -name '*.db' \) 2>/dev/null | head -3)"
	[[ -z "$unreadable" ]] || die "the containers (uid 65532) cannot read: $(echo $unreadable) (chmod -R a+rX $ASF_DATA; chmod a+r $ASF_JOB_FILE)"
}

cmd="${1:-}"
shift || true
case "$cmd" in
up)
	n="${1:-3}"
	[[ "$n" =~ ^[0-9]+$ ]] || die "up: worker count '$n' is not a number"
	[[ -f "$ASF_JOB_FILE" ]] || die "job file $ASF_JOB_FILE does not exist"
	[[ "${ASF_NO_BUILD:-}" == 1 ]] || images
	data
	say "compose up: coordinator and $n worker(s), project $project, data $ASF_DATA, job $ASF_JOB_FILE"
	if ! compose up -d --no-build --scale "worker=$n"; then
		echo >&2
		compose logs --tail=8 coordinator >&2 || true
		die "compose up failed. If the coordinator printed 'job ... finished', the store already holds this job done: run 'deploy/cluster.sh clean' (or change \"id\" in the job file) to train again"
	fi
	cat >&2 <<EOF

Started. Follow the job:    deploy/cluster.sh logs      (or: deploy/cluster.sh status)
Kill a worker:              deploy/cluster.sh kill-worker
Stop (keep checkpoints):    deploy/cluster.sh down      (delete them too: deploy/cluster.sh clean)
EOF
	;;
images) images ;;
logs) compose logs -f --tail=100 "$@" ;;
ps) compose ps ;;
status) compose exec -T coordinator /usr/local/bin/asf status --coordinator 127.0.0.1:7070 "$@" ;;
kill-worker)
	id=""
	for c in $(compose ps -q worker); do
		if [[ "$(docker inspect -f '{{.State.Running}}' "$c")" == true ]]; then
			id="$c"
			break
		fi
	done
	[[ -n "$id" ]] || die "no worker container is running"
	say "docker kill ${id:0:12}"
	docker kill "$id" >/dev/null
	;;
scale)
	n="${1:-}"
	[[ "$n" =~ ^[0-9]+$ ]] || die "scale: want a worker count, got '$n'"
	compose up -d --no-build --no-recreate --scale "worker=$n"
	;;
export)
	out="$(realpath -m "${1:-weights.safetensors}")"
	job="$(sed -n 's/.*"id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' "$ASF_JOB_FILE" | head -1)"
	[[ -n "$job" ]] || die "no \"id\" in $ASF_JOB_FILE"
	docker volume inspect "${project}_store" >/dev/null 2>&1 || die "no volume ${project}_store: the cluster never ran (or was cleaned)"
	mkdir -p "$(dirname "$out")"
	say "asf checkpoint export $job -> $out"
	# The store file belongs to the image's user (65532): export as that user
	# into the container's own /var/lib/asf, then copy the file out.
	cid="$(docker create -v "${project}_store:/store:ro" --entrypoint /usr/local/bin/asf "$ASF_IMAGE-coordinator:$ASF_TAG" \
		checkpoint export "$job" -o /var/lib/asf/export.safetensors --store /store/asf.db)"
	trap 'docker rm -f "$cid" >/dev/null' EXIT
	docker start -a "$cid"
	[[ "$(docker inspect -f '{{.State.ExitCode}}' "$cid")" == 0 ]] || die "export failed (is the coordinator still running? it holds the store)"
	docker cp "$cid:/var/lib/asf/export.safetensors" "$out"
	echo "weights written to $out (evaluate: asf eval --weights $out)" >&2
	;;
down) compose down --remove-orphans ;;
clean) compose down -v --remove-orphans ;;
*)
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
	[[ -z "$cmd" || "$cmd" == help || "$cmd" == -h || "$cmd" == --help ]] || exit 2
	;;
esac
