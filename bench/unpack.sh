#!/usr/bin/env bash
# Benchmark: `airlock unpack --into podman` against plain `podman load` of the
# same archive, in one run, each into its own empty private vfs store.
#
# unpack does more than podman load (a full verify pass, a re-hashing copy
# into private staging, then podman load of a stream, then ID/digest
# checks); the target is that all of it costs at most 1.2x plain podman load.
# Best of BENCH_RUNS wall times, warm page cache; the store is emptied
# (untimed) between runs. BENCH_STRICT=1 makes a missed target exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
LAYERS=${BENCH_LAYERS:-2}
LAYER_SIZE=${BENCH_LAYER_SIZE:-268435456}  # 256 MiB
RUNS=${BENCH_RUNS:-5}
STRICT=${BENCH_STRICT:-0}
REF=localhost/airlock-bench/unpack:latest

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done
command -v podman >/dev/null || { echo "bench: podman missing; run scripts/ensure-deps.sh" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-unpack.XXXXXX")
store_args=(--root="$work/store" --runroot="$work/run" --storage-driver=vfs)
cleanup() { podman "${store_args[@]}" rmi -a -f >/dev/null 2>&1 || true; rm -rf -- "$work"; }
trap cleanup EXIT

echo "bench: 1 image x $LAYERS layers x $LAYER_SIZE bytes in $work"
"$MKIMAGE" random --out "$work/layout" --ref "$REF" \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --seed 7 >/dev/null
"$AIRLOCK" pack -q --from-oci-layout "$work/layout" -o "$work/x.tar" >/dev/null 2>&1
rm -rf -- "$work/layout"

empty_store() { podman "${store_args[@]}" rmi -a -f >/dev/null 2>&1 || true; }
plain() { podman "${store_args[@]}" load -q -i "$work/x.tar" >/dev/null; }
# The benchmark image is unsigned: unpack loads it only with the loud
# opt-out (integrity only, the same work as before the policy became required).
ours() {
    AIRLOCK_PODMAN_ARGS="${store_args[*]}" "$AIRLOCK" unpack -q --insecure-no-policy "$work/x.tar" --into podman >/dev/null 2>&1
}

# Best wall time in ns of each, runs interleaved (plain, ours, plain, …) so
# load from other processes hits both alike; one untimed warm-up each.
time_ns() { local start end; empty_store; start=$(date +%s%N); "$@"; end=$(date +%s%N); empty_store; echo $((end - start)); }
time_ns plain >/dev/null; time_ns ours >/dev/null
plain_ns=0 ours_ns=0
for _ in $(seq "$RUNS"); do
    p=$(time_ns plain); o=$(time_ns ours)
    if [ "$plain_ns" -eq 0 ] || [ "$p" -lt "$plain_ns" ]; then plain_ns=$p; fi
    if [ "$ours_ns" -eq 0 ] || [ "$o" -lt "$ours_ns" ]; then ours_ns=$o; fi
done
ratio=$(awk -v a="$ours_ns" -v b="$plain_ns" 'BEGIN { printf "%.2f", a / b }')
bytes=$(stat -c %s "$work/x.tar")
printf 'archive          %d bytes\n' "$bytes"
printf 'podman load      %.2f s\n' "$(awk -v n="$plain_ns" 'BEGIN { print n / 1e9 }')"
printf 'airlock unpack   %.2f s  (verify + re-hashing copy + podman load + checks)\n' \
    "$(awk -v n="$ours_ns" 'BEGIN { print n / 1e9 }')"
printf 'ratio            %s  (target <= 1.20)\n' "$ratio"
if awk -v r="$ratio" 'BEGIN { exit !(r > 1.2) }'; then
    echo "bench: ratio target missed"
    [ "$STRICT" = 1 ] && exit 1
fi
exit 0
