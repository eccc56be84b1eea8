#!/usr/bin/env bash
# Benchmark: `airlock verify` against plain SHA-256 of the same bytes.
#
# Builds a ~2 GiB random layout, packs it as .tar and .tar.zst, then times
# (best of N, warm page cache) `airlock verify` vs `openssl dgst -sha256`
# and `zstd -dc | openssl dgst -sha256`, and records airlock's peak RSS.
# Targets: throughput ratio airlock/openssl >= 1.0 (tar), >= 0.9 (zstd);
# peak RSS <= 64 MiB. BENCH_STRICT=1 makes a missed target exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
LAYERS=${BENCH_LAYERS:-4}                  # per image
IMAGES=${BENCH_IMAGES:-2}
LAYER_SIZE=${BENCH_LAYER_SIZE:-268435456}  # 256 MiB
RUNS=${BENCH_RUNS:-3}
ZSTD_FLAG=${AIRLOCK_ZSTD_FLAG:---zstd}     # set empty if the extension suffices
STRICT=${BENCH_STRICT:-0}

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done
for tool in openssl zstd /usr/bin/time; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing; run scripts/ensure-deps.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

echo "bench: $IMAGES images x $LAYERS layers x $LAYER_SIZE bytes in $work"
"$MKIMAGE" random --out "$work/layout" --ref localhost/airlock-bench/random:latest \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --images "$IMAGES" --seed 1 >/dev/null
"$AIRLOCK" pack --from-oci-layout "$work/layout" -o "$work/x.tar"
# shellcheck disable=SC2086 # ZSTD_FLAG is empty or one word
"$AIRLOCK" pack --from-oci-layout "$work/layout" -o "$work/x.tar.zst" $ZSTD_FLAG
rm -rf -- "$work/layout" # only the archives are measured; halve the disk use

magic=$(od -An -tx1 -N4 "$work/x.tar.zst" | tr -d ' ')
[ "$magic" = "28b52ffd" ] || { echo "bench: x.tar.zst is not zstd (magic $magic)" >&2; exit 2; }

tar_bytes=$(stat -c %s "$work/x.tar")
zst_bytes=$(stat -c %s "$work/x.tar.zst")

zstd_openssl() { zstd -qdc -- "$1" | openssl dgst -sha256; }

# Prints the best wall time in nanoseconds; one untimed run warms the cache.
best_ns() {
    "$@" >/dev/null
    local best=0 start end
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$@" >/dev/null
        end=$(date +%s%N)
        if [ "$best" -eq 0 ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
    done
    echo "$best"
}

# Peak RSS of one run, in KiB.
rss_kib() {
    /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null
    tail -n1 "$work/rss"
}

mbps() { awk -v b="$1" -v ns="$2" 'BEGIN { printf "%.0f", b / (ns / 1e9) / 1e6 }'; }
ratio() { awk -v a="$1" -v o="$2" 'BEGIN { printf "%.2f", o / a }'; } # time ratio = throughput ratio
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "PASS" : "FAIL" }'; }

t_air_tar=$(best_ns "$AIRLOCK" verify "$work/x.tar")
t_ssl_tar=$(best_ns openssl dgst -sha256 "$work/x.tar")
t_air_zst=$(best_ns "$AIRLOCK" verify "$work/x.tar.zst")
t_ssl_zst=$(best_ns zstd_openssl "$work/x.tar.zst")
rss_tar=$(rss_kib "$AIRLOCK" verify "$work/x.tar")
rss_zst=$(rss_kib "$AIRLOCK" verify "$work/x.tar.zst")

r_tar=$(ratio "$t_air_tar" "$t_ssl_tar")
r_zst=$(ratio "$t_air_zst" "$t_ssl_zst")
rss_mib=$(awk -v a="$rss_tar" -v b="$rss_zst" 'BEGIN { m = a > b ? a : b; printf "%.1f", m / 1024 }')

v_tar=$(verdict "$r_tar" 1.0 ">=")
v_zst=$(verdict "$r_zst" 0.9 ">=")
v_rss=$(verdict "$rss_mib" 64 "<=")

echo
echo "archive: x.tar $tar_bytes bytes, x.tar.zst $zst_bytes bytes; best of $RUNS, warm cache"
echo "throughput in MB/s of the uncompressed tar ($tar_bytes bytes):"
printf '  %-34s %8s MB/s\n' "airlock verify x.tar" "$(mbps "$tar_bytes" "$t_air_tar")"
printf '  %-34s %8s MB/s\n' "openssl dgst -sha256 x.tar" "$(mbps "$tar_bytes" "$t_ssl_tar")"
printf '  %-34s %8s MB/s\n' "airlock verify x.tar.zst" "$(mbps "$tar_bytes" "$t_air_zst")"
printf '  %-34s %8s MB/s\n' "zstd -dc x.tar.zst | openssl dgst" "$(mbps "$tar_bytes" "$t_ssl_zst")"
echo "results (ratio = airlock/openssl throughput; >1 means airlock is faster):"
printf '  %-34s %8s   target >= 1.0   %s\n' "ratio, uncompressed" "$r_tar" "$v_tar"
printf '  %-34s %8s   target >= 0.9   %s\n' "ratio, zstd" "$r_zst" "$v_zst"
printf '  %-34s %8s   target <= 64    %s\n' "airlock peak RSS (MiB)" "$rss_mib" "$v_rss"
echo "  (peak RSS: tar $((rss_tar / 1024)) MiB, zstd $((rss_zst / 1024)) MiB)"

if [ "$STRICT" = 1 ] && [ "$v_tar$v_zst$v_rss" != PASSPASSPASS ]; then
    exit 1
fi
