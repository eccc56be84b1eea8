#!/usr/bin/env bash
# Benchmark: `airlock pack` from a loopback registry vs `skopeo copy` of the
# same images into oci-archives, in the same run.
#
# Builds BENCH_IMAGES (>= 5) random images (default 2 x 56 MiB layers each,
# ~560 MiB together), pushes them to Debian's docker-registry on a free
# loopback port, then times (cold cache each run, best of BENCH_RUNS):
#   airlock pack IMG... -o x.tar         (all images, one archive)
#   skopeo copy docker://IMG oci-archive:IMG.tar   (one per image)
# and prints the ratio airlock/skopeo. Target <= 0.8; BENCH_STRICT=1 makes a
# missed target exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
IMAGES=${BENCH_IMAGES:-5}
LAYERS=${BENCH_LAYERS:-2}
LAYER_SIZE=${BENCH_LAYER_SIZE:-58720256}  # 56 MiB
RUNS=${BENCH_RUNS:-2}
STRICT=${BENCH_STRICT:-0}

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done
for tool in docker-registry skopeo; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing; run scripts/ensure-deps.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-pack-bench.XXXXXX")
reg_pid=
cleanup() {
    if [ -n "$reg_pid" ]; then kill "$reg_pid" 2>/dev/null || true; wait "$reg_pid" 2>/dev/null || true; fi
    rm -rf -- "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/../scripts/lib/registry.sh"
start_registry "$work/registry"
reg_pid=$REG_PID
host=$REG

echo "bench: $IMAGES images x $LAYERS layers x $LAYER_SIZE bytes, registry $host"
"$MKIMAGE" random --out "$work/layout" --ref localhost/bench/random:img \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --images "$IMAGES" --seed 7 >/dev/null
names=$(grep -o '"org.opencontainers.image.ref.name":"[^"]*"' "$work/layout/index.json" | cut -d'"' -f4)
refs=()
for name in $names; do
    tag=${name##*:}
    skopeo copy -q --preserve-digests --dest-tls-verify=false \
        "oci:$work/layout:$name" "docker://$host/bench/random:$tag"
    refs+=("$host/bench/random:$tag")
done
rm -rf -- "$work/layout"
[ "${#refs[@]}" -ge 5 ] || { echo "bench: need >= 5 images, have ${#refs[@]}" >&2; exit 2; }

run_airlock() {
    rm -rf -- "$work/cache" "$work/x.tar"
    "$AIRLOCK" pack -q "${refs[@]}" --insecure-registry "$host" \
        --cache-dir "$work/cache" -o "$work/x.tar" >/dev/null 2>"$work/airlock.err"
}
run_skopeo() {
    rm -f -- "$work"/s-*.tar
    local i=0
    for r in "${refs[@]}"; do
        i=$((i + 1))
        skopeo copy -q --src-tls-verify=false "docker://$r" "oci-archive:$work/s-$i.tar"
    done
}
best_ns() {
    local best=0 start end
    for _ in $(seq "$RUNS"); do
        sync
        start=$(date +%s%N)
        "$@"
        end=$(date +%s%N)
        if [ "$best" -eq 0 ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
    done
    echo "$best"
}

a_ns=$(best_ns run_airlock)
"$AIRLOCK" verify -q "$work/x.tar" >/dev/null
bytes=$(stat -c %s "$work/x.tar")
s_ns=$(best_ns run_skopeo)
ratio=$(awk -v a="$a_ns" -v s="$s_ns" 'BEGIN { printf "%.3f", a / s }')
mib=$((bytes / 1048576))
echo "bench: archive ${mib} MiB"
echo "bench: airlock pack  $(awk -v n="$a_ns" 'BEGIN { printf "%.2f s", n / 1e9 }')"
echo "bench: skopeo copy   $(awk -v n="$s_ns" 'BEGIN { printf "%.2f s", n / 1e9 }')"
echo "bench: ratio airlock/skopeo = $ratio (target <= 0.8)"
if [ "$STRICT" = 1 ] && awk -v r="$ratio" 'BEGIN { exit !(r > 0.8) }'; then
    echo "bench: target missed" >&2
    exit 1
fi
