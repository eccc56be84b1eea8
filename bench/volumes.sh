#!/usr/bin/env bash
# Benchmark: split archives (issue 10). On one random layout (~1 GiB by
# default), in one run:
#   - pack split into volumes vs the unsplit pack          (target <= 1.05x the time)
#   - verify over the volumes vs verify of the joined file  (target >= 0.95x the throughput)
#   - parity encode (pack --parity 2) and repair (two lost data volumes):
#     archive bytes per CPU second of the Reed-Solomon code (targets >= 1 GB/s
#     per core); the whole commands' times are printed beside
#   - verify: wall and CPU time of both, to show where a ratio comes from
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
command -v jq >/dev/null || { echo "bench: jq missing" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-volumes.XXXXXX")
trap 'rm -rf -- "$work"' EXIT
echo "bench: 1 image x $LAYERS layers x $LAYER_SIZE bytes, volumes of $VOLUME, in $work"
"$MKIMAGE" random --out "$work/layout" --ref localhost/airlock-bench/random:latest \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --images 1 --seed 1 >/dev/null

# Wall time in ns of one run of `"$@"`.
time_ns() {
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1
    end=$(date +%s%N)
    echo $((end - start))
}
# Best wall time in ns of `"$@"` (one untimed warm-up run).
best_ns() {
    "$@" >/dev/null 2>&1
    local best=0 t
    for _ in $(seq "$RUNS"); do
        t=$(time_ns "$@")
        if [ "$best" -eq 0 ] || [ "$t" -lt "$best" ]; then best=$t; fi
    done
    echo "$best"
}
# `/usr/bin/time -f FORMAT` of one run of `"$@"` into $work/time; a shell
# function is run by a bash that has it (its figures include airlock's).
timed() {
    local format=$1
    shift
    if declare -F "$1" >/dev/null; then
        /usr/bin/time -f "$format" -o "$work/time" bash -c "$(declare -f "$1"); AIRLOCK=$AIRLOCK; work=$work; VOLUME=$VOLUME; $1" >/dev/null 2>&1 || true
    else
        /usr/bin/time -f "$format" -o "$work/time" "$@" >/dev/null 2>&1 || true
    fi
    tail -n1 "$work/time"
}
# CPU seconds (user + sys) of one run.
cpu_s() { timed '%U %S' "$@" | awk '{ printf "%.3f", $1 + $2 }'; }
# Peak RSS in KiB of one run.
rss_kib() { timed %M "$@"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
gbps() { awk -v b="$1" -v ns="$2" -v c="$3" 'BEGIN { printf "%.2f", b / (ns / 1e9) / 1e9 / c }'; }
per_s() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.2f", b / s / 1e9 }'; }
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "PASS" : "FAIL" }'; }
# The Reed–Solomon code's CPU seconds in a `--timings` JSON report.
parity_s() { jq -r '.timings.parity // 0' "$1"; }
least() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b + 0 < a + 0) ? b : a }'; }

pack_whole() { "$AIRLOCK" pack -q --force --from-oci-layout "$work/layout" -o "$work/w/x.tar"; }
pack_split() { "$AIRLOCK" pack -q --force --from-oci-layout "$work/layout" -o "$work/v/x.tar" --volume-size "$VOLUME"; }
pack_parity() {
    "$AIRLOCK" pack -q --force --output json --timings --from-oci-layout "$work/layout" \
        -o "$work/p/x.tar" --volume-size "$VOLUME" --parity 2 >"$work/parity.json"
}
mkdir -p "$work/w" "$work/v" "$work/p"

# The packs take turns, each after the previous outputs are removed, synced
# and left to settle: otherwise one run's write-back (and the file system's
# discard of the blocks it freed) lands in the next run's time.
# The source is read back into the page cache last: this machine's cache
# does not keep it between runs.
fresh() {
    rm -f "$work/w/"* "$work/v/"* "$work/p/"*
    sync
    sleep "${BENCH_SETTLE:-3}"
    cat "$work/layout/blobs/sha256/"* >/dev/null
}
t_whole=0 t_split=0 t_parity=0 c_encode=
pack_whole >/dev/null 2>&1
for _ in $(seq "$RUNS"); do
    for kind in whole split parity; do
        fresh
        t=$(time_ns "pack_$kind")
        best=$(eval echo "\$t_$kind")
        if [ "$best" -eq 0 ] || [ "$t" -lt "$best" ]; then eval "t_$kind=$t"; fi
    done
    c_encode=$(least "$c_encode" "$(parity_s "$work/parity.json")")
done
# Leave every output in place for the runs below.
pack_whole >/dev/null 2>&1
pack_split >/dev/null 2>&1
bytes=$(stat -c %s "$work/w/x.tar")
t_verify_whole=$(best_ns "$AIRLOCK" verify -q "$work/w/x.tar")
t_verify_vol=$(best_ns "$AIRLOCK" verify -q "$work/v/x.tar.volumes.json")
c_verify_whole=$(cpu_s "$AIRLOCK" verify -q "$work/w/x.tar")
c_verify_vol=$(cpu_s "$AIRLOCK" verify -q "$work/v/x.tar.volumes.json")

# Repair: two data volumes lost, each run from the same state.
repair_once() {
    rm -f "$work/p/x.tar.001" "$work/p/x.tar.003"
    "$AIRLOCK" repair -q --output json --timings "$work/p/x.tar.volumes.json" >"$work/repair.json"
}
repair_once >/dev/null 2>&1
t_repair=0 c_decode=
for _ in $(seq "$RUNS"); do
    t=$(time_ns repair_once)
    if [ "$t_repair" -eq 0 ] || [ "$t" -lt "$t_repair" ]; then t_repair=$t; fi
    c_decode=$(least "$c_decode" "$(parity_s "$work/repair.json")")
done

rss=0
for cmd in pack_whole pack_split pack_parity \
    "$AIRLOCK verify -q $work/w/x.tar" "$AIRLOCK verify -q $work/v/x.tar.volumes.json" repair_once; do
    # shellcheck disable=SC2086 # the verify commands are word lists
    r=$(rss_kib ${cmd})
    [ "$r" -gt "$rss" ] && rss=$r
done
rss_mib=$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')

# Parity encode and repair per core: archive bytes per CPU second of the
# Reed–Solomon code (its `--timings` "parity" phase: thread CPU time,
# summed over threads; the least of the runs).
# The whole command also hashes every volume it reads or writes; that is
# printed below as bytes per CPU second of the entire run.
c_repair=$(cpu_s repair_once)
r_pack=$(ratio "$t_split" "$t_whole")
r_verify=$(ratio "$t_verify_whole" "$t_verify_vol")
enc=$(per_s "$bytes" "$c_encode")
dec=$(per_s "$bytes" "$c_decode")
rep_all=$(per_s "$bytes" "$c_repair")
t_step=$((t_parity - t_split))
[ "$t_step" -gt 1000000 ] || t_step=1000000
step=$(gbps "$bytes" "$t_step" 1)

v_pack=$(verdict "$r_pack" 1.05 "<=")
v_verify=$(verdict "$r_verify" 0.95 ">=")
v_enc=$(verdict "$enc" 1.0 ">=")
v_dec=$(verdict "$dec" 1.0 ">=")
v_rss=$(verdict "$rss_mib" 64 "<=")

echo
echo "archive: $bytes bytes; volumes of $VOLUME; best of $RUNS, warm cache, $CORES cores"
printf '  %-46s %8s   target <= 1.05  %s\n' "split pack time / unsplit pack time" "$r_pack" "$v_pack"
printf '  %-46s %8s   target >= 0.95  %s\n' "verify volumes throughput / joined file" "$r_verify" "$v_verify"
printf '  %-46s %8s   target >= 1.0   %s\n' "parity encode (2 parity), GB/s per core" "$enc" "$v_enc"
printf '  %-46s %8s   target >= 1.0   %s\n' "repair decode (2 lost), GB/s per core" "$dec" "$v_dec"
printf '  %-46s %8s   target <= 64    %s\n' "peak RSS of any run (MiB)" "$rss_mib" "$v_rss"
echo "  (pack: unsplit $((t_whole / 1000000)) ms, split $((t_split / 1000000)) ms, +parity $((t_parity / 1000000)) ms"
echo "   = parity step $step GB/s wall; code $c_encode CPU s;"
echo "   verify: joined $((t_verify_whole / 1000000)) ms / $c_verify_whole CPU s, volumes $((t_verify_vol / 1000000)) ms / $c_verify_vol CPU s;"
echo "   repair $((t_repair / 1000000)) ms wall, $c_repair CPU s = $rep_all GB/s per CPU s, every volume hashed; code $c_decode CPU s)"

if [ "$STRICT" = 1 ] && [ "$v_pack$v_verify$v_enc$v_dec$v_rss" != PASSPASSPASSPASSPASS ]; then
    exit 1
fi
