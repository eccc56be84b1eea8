#!/usr/bin/env bash
# Benchmark: `airlock unpack` against the plain tool loading the same archive,
# for each target this machine has:
#   podman    airlock unpack --into podman     vs  podman load -i x.tar
#   docker    airlock unpack --into docker     vs  docker load -i x.tar   (a private dockerd)
#   registry  airlock unpack --into registry:  vs  skopeo copy oci-archive:x.tar docker://…
# Each pair runs BENCH_RUNS times alternating (plain, ours, plain, …) from a
# warm page cache into an emptied store; the medians are compared. Targets
# (issue 18): ratio <= 1.1, airlock's peak RSS <= 64 MiB. Also printed: the
# bytes each side's process tree wrote to storage per byte of archive
# (bench/lib/measure.sh; a daemon's own writes are not counted).
# BENCH_STRICT=1 makes a missed target exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
LAYERS=${BENCH_LAYERS:-2}
LAYER_SIZE=${BENCH_LAYER_SIZE:-104857600}  # 100 MiB
RUNS=${BENCH_RUNS:-3}
STRICT=${BENCH_STRICT:-0}
TARGETS=${BENCH_TARGETS:-podman docker registry}
REF=localhost/airlock-bench/unpack:latest

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done
here=$(dirname "$0")
. "$here/lib/measure.sh"
. "$here/../scripts/lib/registry.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-unpack.XXXXXX")
store_args=(--root="$work/store" --runroot="$work/run" --storage-driver=vfs)
REG_PID= DOCKERD_PID=
cleanup() {
    podman "${store_args[@]}" rmi -a -f >/dev/null 2>&1 || true
    if [ -n "$REG_PID" ]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
    if [ -n "$DOCKERD_PID" ]; then kill "$DOCKERD_PID" 2>/dev/null || true; wait "$DOCKERD_PID" 2>/dev/null || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT

echo "bench: 1 image x $LAYERS layers x $LAYER_SIZE bytes in $work, $RUNS runs each"
"$MKIMAGE" random --out "$work/layout" --ref "$REF" \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --seed 7 >/dev/null
"$AIRLOCK" pack -q --from-oci-layout "$work/layout" -o "$work/x.tar" >/dev/null 2>&1
rm -rf -- "$work/layout"
size=$(stat -c %s "$work/x.tar")
printf 'archive %d bytes\n' "$size"
missed=0

# compare NAME EMPTY PLAIN OURS: alternate PLAIN and OURS (EMPTY, untimed,
# before each), print medians, ratio, RSS and bytes written.
compare() {
    local name=$1 empty=$2 plain=$3 ours=$4 p o pt=() ot=() pw=() ow=() orss=() r rss
    # One untimed warm-up each. `ours` execs airlock (so its RSS is sampled):
    # run it only through measure.
    $empty; measure $plain >/dev/null 2>&1 || true; $empty; measure $ours >/dev/null 2>&1 || true
    for _ in $(seq "$RUNS"); do
        $empty; read -r -a p < <(measure $plain)
        $empty; read -r -a o < <(measure $ours)
        pt+=("${p[0]}"); pw+=("${p[2]}")
        ot+=("${o[0]}"); orss+=("${o[1]}"); ow+=("${o[2]}")
    done
    $empty
    r=$(ratio "$(median "${ot[@]}")" "$(median "${pt[@]}")")
    rss=$(printf '%s\n' "${orss[@]}" | sort -n | tail -1)
    printf '%-9s plain %6.2f s  airlock %6.2f s  ratio %s (<= 1.10)  airlock peak RSS %d MiB (<= 64)  written/byte plain %s airlock %s\n' \
        "$name" "$(secs "$(median "${pt[@]}")")" "$(secs "$(median "${ot[@]}")")" "$r" \
        $((rss / 1024)) "$(ratio "$(median "${pw[@]}")" "$size")" "$(ratio "$(median "${ow[@]}")" "$size")"
    if awk -v r="$r" 'BEGIN { exit !(r > 1.1) }' || [ "$rss" -gt 65536 ]; then missed=1; fi
}

# ---------------------------------------------------------------- podman
podman_empty() { podman "${store_args[@]}" rmi -a -f >/dev/null 2>&1 || true; }
podman_plain() { podman "${store_args[@]}" load -q -i "$work/x.tar"; }
# Each `ours` ends in `exec airlock`, so measure samples airlock's own RSS.
# The benchmark image is unsigned: unpack loads it only with the loud
# opt-out (integrity only).
podman_ours() {
    AIRLOCK_PODMAN_ARGS="${store_args[*]}" exec "$AIRLOCK" unpack -q --insecure-no-policy "$work/x.tar" --into podman
}

# ---------------------------------------------------------------- docker
DOCKER_HOST=unix://$work/d/docker.sock
start_dockerd() {
    mkdir -p "$work/d"
    dockerd --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none \
        -H "$DOCKER_HOST" --data-root="$work/d/data" --exec-root="$work/d/exec" \
        --pidfile="$work/d/docker.pid" >/dev/null 2>"$work/d/log" &
    DOCKERD_PID=$!
    for _ in $(seq 120); do
        docker -H "$DOCKER_HOST" version >/dev/null 2>&1 && return 0
        sleep 0.25
    done
    echo "bench: dockerd did not start" >&2
    return 1
}
docker_empty() { docker -H "$DOCKER_HOST" rmi -f "$REF" >/dev/null 2>&1 || true; }
docker_plain() { docker -H "$DOCKER_HOST" load -q -i "$work/x.tar"; }
docker_ours() {
    exec "$AIRLOCK" unpack -q --insecure-no-policy "$work/x.tar" --into docker --docker-host "$DOCKER_HOST"
}

# ---------------------------------------------------------------- registry
registry_empty() {
    kill "$REG_PID" 2>/dev/null || true
    wait "$REG_PID" 2>/dev/null || true
    rm -rf -- "$work/registry"
    start_registry "$work/registry"
}
registry_plain() {
    skopeo copy -q --dest-tls-verify=false "oci-archive:$work/x.tar" "docker://$REG/plain/unpack:latest"
}
registry_ours() {
    exec "$AIRLOCK" unpack -q --insecure-no-policy "$work/x.tar" --into "registry:$REG/ours" --insecure-registry "$REG"
}

for t in $TARGETS; do
    case $t in
        podman)
            command -v podman >/dev/null || { echo "podman    skipped: podman missing"; continue; }
            compare podman podman_empty podman_plain podman_ours ;;
        docker)
            { command -v dockerd && command -v docker; } >/dev/null || { echo "docker    skipped: dockerd missing"; continue; }
            start_dockerd
            compare docker docker_empty docker_plain docker_ours
            kill "$DOCKERD_PID"; wait "$DOCKERD_PID" 2>/dev/null || true; DOCKERD_PID= ;;
        registry)
            { command -v docker-registry && command -v skopeo; } >/dev/null || { echo "registry  skipped: docker-registry or skopeo missing"; continue; }
            start_registry "$work/registry"
            compare registry registry_empty registry_plain registry_ours ;;
    esac
done
if [ "$missed" = 1 ]; then
    echo "bench: a target was missed (the CPU may be shared: medians are noisy)"
    [ "$STRICT" = 1 ] && exit 1
fi
exit 0
