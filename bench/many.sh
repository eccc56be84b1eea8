#!/usr/bin/env bash
# Benchmark: how pack, verify, inspect and unpack scale with the number of
# images. Builds layouts of SMALL and LARGE tiny distinct images
# (`airlock-mkimage many`), then times each command at both sizes (best of
# BENCH_RUNS, warm cache) and prints the cost per image and the growth ratio
# time(LARGE)/time(SMALL); linear cost gives LARGE/SMALL (8.0 by default).
# BENCH_STRICT=1 makes a ratio above 1.2x the ideal exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
SMALL=${BENCH_SMALL:-200}
LARGE=${BENCH_LARGE:-1600}
RUNS=${BENCH_RUNS:-3}
STRICT=${BENCH_STRICT:-0}
REF=localhost/airlock-bench/many

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-many.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

# The commands, each over the files of size $1 (unpack starts from an empty dir).
pack() { rm -f -- "$work/$1.tar"; "$AIRLOCK" pack -q --from-oci-layout "$work/layout-$1" -o "$work/$1.tar"; }
verify() { "$AIRLOCK" verify -q "$work/$1.tar"; }
inspect() { "$AIRLOCK" inspect "$work/$1.tar"; }
# Integrity only: the images are unsigned, so the policy step is skipped loudly.
unpack() { rm -rf -- "$work/out-$1"; "$AIRLOCK" unpack -q --insecure-no-policy "$work/$1.tar" --into "dir:$work/out-$1"; }

# Best wall time in ns of `$@` over RUNS runs.
best_ns() {
    local best=0 start end
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
        end=$(date +%s%N)
        if [ "$best" -eq 0 ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
    done
    echo "$best"
}

for n in "$SMALL" "$LARGE"; do
    "$MKIMAGE" many --out "$work/layout-$n" --ref "$REF" --images "$n" >/dev/null
done
echo "bench: $SMALL vs $LARGE images (one tiny layer each), best of $RUNS"
ideal=$(awk -v a="$LARGE" -v b="$SMALL" 'BEGIN { printf "%.1f", a / b }')
printf '%-8s %12s %12s %14s %14s %8s\n' command "$SMALL img" "$LARGE img" "ms/img@$SMALL" "ms/img@$LARGE" growth
missed=0
for cmd in pack verify inspect unpack; do
    a=$(best_ns "$cmd" "$SMALL")
    b=$(best_ns "$cmd" "$LARGE")
    growth=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", b / a }')
    awk -v c="$cmd" -v a="$a" -v b="$b" -v s="$SMALL" -v l="$LARGE" -v g="$growth" 'BEGIN {
        printf "%-8s %10.2f s %10.2f s %14.3f %14.3f %8s\n", c, a / 1e9, b / 1e9, a / 1e6 / s, b / 1e6 / l, g }'
    if awk -v g="$growth" -v i="$ideal" 'BEGIN { exit !(g > 1.2 * i) }'; then missed=1; fi
done
echo "bench: growth ideal $ideal (linear)"
if [ "$STRICT" = 1 ] && [ "$missed" = 1 ]; then
    echo "bench: a command grows faster than 1.2x linear" >&2
    exit 1
fi
