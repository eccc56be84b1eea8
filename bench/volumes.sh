#!/usr/bin/env bash
# Benchmark: split archives (issue 10). On one random layout (~1 GiB by
# default), in one run:
#   - pack split into volumes vs the unsplit pack          (target <= 1.05x the time)
#   - verify over the volumes vs verify of the joined file  (target >= 0.95x the throughput)
#   - parity step: (pack with --parity 2) - (pack split), archive bytes per wall second
#   - repair: two lost data volumes rebuilt (every volume hashed first), per CPU second
#                                                          (targets >= 1 GB/s per core)
#   - peak RSS of every airlock run                        (target <= 64 MiB)
# The CPU may be shared with other work: numbers are noisy, ratios less so.
# BENCH_STRICT=1 makes a missed target exit 1.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
LAYERS=${BENCH_LAYERS:-4}
LAYER_SIZE=${BENCH_LAYER_SIZE:-268435456}  # 256 MiB
VOLUME=${BENCH_VOLUME_SIZE:-128MiB}
RUNS=${BENCH_RUNS:-3}
STRICT=${BENCH_STRICT:-0}
CORES=$(nproc)

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done
command -v /usr/bin/time >/dev/null || { echo "bench: /usr/bin/time missing" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-volumes.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
echo "bench: 1 image x $LAYERS layers x $LAYER_SIZE bytes, volumes of $VOLUME, in $work"
"$MKIMAGE" random --out "$work/layout" --ref localhost/airlock-bench/random:latest \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --images 1 --seed 1 >/dev/null

# Best wall time in ns of `"$@"` (one untimed warm-up run).
best_ns() {
    "$@" >/dev/null 2>&1
    local best=0 start end
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        if [ "$best" -eq 0 ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
    done
    echo "$best"
}
# CPU seconds (user + sys) of one run of `"$@"` (a function is run by bash).
cpu_s() {
    local f
    f=$(declare -F "$1" >/dev/null && echo 1 || echo 0)
    if [ "$f" = 1 ]; then
        /usr/bin/time -f '%U %S' -o "$work/cpu" bash -c "$(declare -f "$1"); AIRLOCK=$AIRLOCK; work=$work; VOLUME=$VOLUME; $1" >/dev/null 2>&1 || true
    else
        /usr/bin/time -f '%U %S' -o "$work/cpu" "$@" >/dev/null 2>&1 || true
    fi
    tail -n1 "$work/cpu" | awk '{ printf "%.3f", $1 + $2 }'
}
rss_kib() { /usr/bin/time -f %M -o "$work/rss" "$@" >/dev/null 2>&1 || true; tail -n1 "$work/rss"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
gbps() { awk -v b="$1" -v ns="$2" -v c="$3" 'BEGIN { printf "%.2f", b / (ns / 1e9) / 1e9 / c }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "PASS" : "FAIL" }'; }

pack_whole() { "$AIRLOCK" pack -q --force --from-oci-layout "$work/layout" -o "$work/x.tar"; }
pack_split() { "$AIRLOCK" pack -q --force --from-oci-layout "$work/layout" -o "$work/v/x.tar" --volume-size "$VOLUME"; }
pack_parity() { "$AIRLOCK" pack -q --force --from-oci-layout "$work/layout" -o "$work/p/x.tar" --volume-size "$VOLUME" --parity 2; }
mkdir -p "$work/v" "$work/p"

t_whole=$(best_ns pack_whole)
t_split=$(best_ns pack_split)
t_parity=$(best_ns pack_parity)
bytes=$(stat -c %s "$work/x.tar")
t_verify_whole=$(best_ns "$AIRLOCK" verify -q "$work/x.tar")
t_verify_vol=$(best_ns "$AIRLOCK" verify -q "$work/v/x.tar.volumes.json")

# Repair: two data volumes lost, each run from the same state.
repair_once() {
    rm -f "$work/p/x.tar.001" "$work/p/x.tar.003"
    "$AIRLOCK" repair -q "$work/p/x.tar.volumes.json"
}
t_repair=$(best_ns repair_once)

rss=0
for cmd in pack_whole pack_split pack_parity \
    "$AIRLOCK verify -q $work/x.tar" "$AIRLOCK verify -q $work/v/x.tar.volumes.json" repair_once; do
    # shellcheck disable=SC2086 # the verify commands are word lists
    r=$(rss_kib ${cmd})
    [ "$r" -gt "$rss" ] && rss=$r
done
rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')

# Throughput per core: bytes per CPU second (wall time here is mostly the
# disk: every volume is fsynced before it is renamed into place).
# The parity step is timed as the wall-time difference of the two packs
# (it re-reads the volumes, encodes and writes the parity volumes); CPU
# time differences of whole packs are too noisy on a shared machine.
c_repair=$(cpu_s repair_once)
t_encode=$((t_parity - t_split))
[ "$t_encode" -gt 1000000 ] || t_encode=1000000
t_repair_cpu=$(awk -v a="$c_repair" 'BEGIN { printf "%d", a * 1e9 }')
r_pack=$(ratio "$t_split" "$t_whole")
r_verify=$(ratio "$t_verify_whole" "$t_verify_vol")
enc=$(gbps "$bytes" "$t_encode" 1)
rep=$(gbps "$bytes" "$t_repair_cpu" 1)

v_pack=$(verdict "$r_pack" 1.05 "<=")
v_verify=$(verdict "$r_verify" 0.95 ">=")
v_enc=$(verdict "$enc" 1.0 ">=")
v_rep=$(verdict "$rep" 1.0 ">=")
v_rss=$(verdict "$rss_mib" 64 "<=")

echo
echo "archive: $bytes bytes; volumes of $VOLUME; best of $RUNS, warm cache, $CORES cores"
printf '  %-44s %8s   target <= 1.05  %s\n' "split pack time / unsplit pack time" "$r_pack" "$v_pack"
printf '  %-44s %8s   target >= 0.95  %s\n' "verify volumes throughput / joined file" "$r_verify" "$v_verify"
printf '  %-44s %8s   target >= 1.0   %s\n' "parity step (2 parity), GB/s wall" "$enc" "$v_enc"
printf '  %-44s %8s   target >= 1.0   %s\n' "repair (2 lost, all hashed), GB/s per CPU s" "$rep" "$v_rep"
printf '  %-44s %8s   target <= 64    %s\n' "peak RSS of any run (MiB)" "$rss_mib" "$v_rss"
echo "  (pack: unsplit $((t_whole / 1000000)) ms, split $((t_split / 1000000)) ms, +parity $((t_parity / 1000000)) ms;"
echo "   verify: joined $((t_verify_whole / 1000000)) ms, volumes $((t_verify_vol / 1000000)) ms;
   repair $((t_repair / 1000000)) ms wall, $c_repair CPU s)"

if [ "$STRICT" = 1 ] && [ "$v_pack$v_verify$v_enc$v_rep$v_rss" != PASSPASSPASSPASSPASS ]; then
    exit 1
fi
