#!/usr/bin/env bash
# Benchmark: `airlock pack` from a loopback registry vs `skopeo copy` of the
# same images into oci-archives, in the same run.
#
# Builds BENCH_IMAGES (>= 5) random images (default 2 x 56 MiB layers each,
# ~560 MiB together), pushes them to Debian's docker-registry on a free
# loopback port, then times (cold cache each run, median of BENCH_RUNS
# alternating runs; peak RSS and bytes written per archive byte, see
# bench/lib/measure.sh):
#   airlock pack IMG... -o x.tar         (all images, one archive)
#   skopeo copy docker://IMG oci-archive:IMG.tar   (one per image)
# and prints the ratio airlock/skopeo. Target <= 0.6 (issue 18); BENCH_STRICT=1 makes a
# missed target exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
IMAGES=${BENCH_IMAGES:-5}
LAYERS=${BENCH_LAYERS:-2}
LAYER_SIZE=${BENCH_LAYER_SIZE:-58720256}  # 56 MiB
RUNS=${BENCH_RUNS:-3}
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
    # exec: measure samples airlock's own RSS (run it only through measure).
    exec "$AIRLOCK" pack -q "${refs[@]}" --insecure-registry "$host" \
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
. "$(dirname "$0")/lib/measure.sh"
# Alternating runs (airlock, skopeo, airlock, …), cold cache each time for
# airlock (its --cache-dir is removed); medians compared.
a_t=() s_t=() a_rss=() a_w=() s_w=()
for _ in $(seq "$RUNS"); do
    sync; read -r -a m < <(measure run_airlock)
    a_t+=("${m[0]}"); a_rss+=("${m[1]}"); a_w+=("${m[2]}")
    sync; read -r -a m < <(measure run_skopeo)
    s_t+=("${m[0]}"); s_w+=("${m[2]}")
done
a_ns=$(median "${a_t[@]}")
s_ns=$(median "${s_t[@]}")
"$AIRLOCK" verify -q "$work/x.tar" >/dev/null
bytes=$(stat -c %s "$work/x.tar")
ratio=$(ratio "$a_ns" "$s_ns")
rss=$(printf '%s\n' "${a_rss[@]}" | sort -n | tail -1)
mib=$((bytes / 1048576))
echo "bench: archive ${mib} MiB, median of $RUNS alternating runs"
echo "bench: airlock pack  $(secs "$a_ns") s  peak RSS $((rss / 1024)) MiB (<= 64)  written/byte $(ratio "$(median "${a_w[@]}")" "$bytes")"
echo "bench: skopeo copy   $(secs "$s_ns") s  written/byte $(ratio "$(median "${s_w[@]}")" "$bytes")"
echo "bench: ratio airlock/skopeo = $ratio (target <= 0.6)"
if awk -v r="$ratio" 'BEGIN { exit !(r > 0.6) }' || [ "$rss" -gt 65536 ]; then
    echo "bench: target missed (the CPU may be shared: medians are noisy)" >&2
    [ "$STRICT" = 1 ] && exit 1
fi
exit 0
