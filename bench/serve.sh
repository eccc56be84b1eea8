#!/usr/bin/env bash
# Benchmark: `airlock serve` as a registry.
#
# Builds a random layout (IMAGES x LAYERS x LAYER_SIZE, ~1 GiB by default),
# packs it as a .tar, and puts the same images into Debian's docker-registry
# (through `airlock unpack --into registry:`). Then measures, same run:
# - pull throughput: `skopeo copy docker://… dir:` of every image from
#   `airlock serve` vs from docker-registry (best of RUNS); target >= 1.0x;
# - start-up: launch to "serving" of `airlock serve` vs `airlock verify` of
#   the same archive; target <= 1.1x;
# - peak RSS of `airlock serve` while 8 skopeo pulls run at once; target
#   <= 64 MiB.
# The CPU may be shared with other work: numbers are noisy.
# BENCH_STRICT=1 makes a missed target exit 1.
set -euo pipefail
shopt -s inherit_errexit

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
LAYERS=${BENCH_LAYERS:-4}
IMAGES=${BENCH_IMAGES:-2}
LAYER_SIZE=${BENCH_LAYER_SIZE:-134217728} # 128 MiB
RUNS=${BENCH_RUNS:-3}
PULLS=${BENCH_PULLS:-8}
STRICT=${BENCH_STRICT:-0}

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done
for tool in docker-registry skopeo python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing; run scripts/ensure-deps.sh" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-serve.XXXXXX")
serve_pid=
reg_pid=
cleanup() {
    [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
    [ -n "$reg_pid" ] && kill "$reg_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf -- "$work"
}
trap cleanup EXIT

. "$(dirname "$0")/../scripts/lib/registry.sh"
start_registry "$work/registry"
reg_pid=$REG_PID

echo "bench: $IMAGES images x $LAYERS layers x $LAYER_SIZE bytes in $work"
"$MKIMAGE" random --out "$work/layout" --ref localhost/bench/random:img \
    --layers "$LAYERS" --layer-size "$LAYER_SIZE" --images "$IMAGES" --seed 5 >/dev/null
"$AIRLOCK" pack -q --from-oci-layout "$work/layout" -o "$work/x.tar" >/dev/null
rm -rf -- "$work/layout"
"$AIRLOCK" unpack -q --insecure-no-policy "$work/x.tar" --into "registry:$REG" \
    --insecure-registry "$REG" >/dev/null 2>"$work/unpack.err"

# Start serve and wait for its report (the address line), reading it from
# a fifo: no polling process competes with the server for the CPU.
launch_serve() {
    rm -f -- "$work/serve.out" "$work/serve.fifo"
    mkfifo "$work/serve.fifo"
    "$AIRLOCK" serve -q --insecure-no-policy \
        --listen 127.0.0.1:0 --output json "$work/x.tar" >"$work/serve.fifo" 2>"$work/serve.err" &
    serve_pid=$!
    exec 3<"$work/serve.fifo"
    local line=
    read -r line <&3 || true
    [ -n "$line" ] || { cat "$work/serve.err" >&2; exit 1; }
    echo "$line" >"$work/serve.out"
}
# Start serve; sets SERVE (host:port).
start_serve() {
    launch_serve
    SERVE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["address"])' "$work/serve.out")
}
stop_serve() {
    kill -TERM "$serve_pid" 2>/dev/null || true
    exec 3<&-
    wait "$serve_pid" 2>/dev/null || true
    serve_pid=
}

start_serve
refs=$(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
for repo in r["repositories"]:
    for t in repo["tags"]:
        print(repo["name"] + ":" + t)' "$work/serve.out")

pull_all() { # HOST
    rm -rf -- "$work/pull"
    mkdir -p "$work/pull"
    local i=0
    for r in $refs; do
        i=$((i + 1))
        skopeo copy -q --src-tls-verify=false "docker://$1/$r" "dir:$work/pull/$i"
    done
}
best_ns() {
    "$@"
    local best=0 start end
    for _ in $(seq "$RUNS"); do
        start=$(date +%s%N)
        "$@"
        end=$(date +%s%N)
        if [ "$best" -eq 0 ] || [ $((end - start)) -lt "$best" ]; then best=$((end - start)); fi
    done
    echo "$best"
}
t_serve=$(best_ns pull_all "$SERVE")
t_reg=$(best_ns pull_all "$REG")
rm -rf -- "$work/pull"

# 8 concurrent pulls of everything, then the server's peak RSS.
pulls=()
for i in $(seq "$PULLS"); do
    (mkdir -p "$work/conc-$i"
     for r in $refs; do
        skopeo copy -q --src-tls-verify=false "docker://$SERVE/$r" "dir:$work/conc-$i/${r//[:\/]/_}"
     done; rm -rf -- "$work/conc-$i") &
    pulls+=($!)
done
for j in "${pulls[@]}"; do wait "$j" || { echo "bench: a concurrent pull failed" >&2; exit 1; }; done
# The kernel's high-water mark of the server's resident set.
rss_kib=$(awk '/^VmHWM:/ { print $2 }' "/proc/$serve_pid/status")
stop_serve

# Start-up (launch to report) vs verify.
startup_ns() { local s e; s=$(date +%s%N); launch_serve; e=$(date +%s%N); stop_serve; echo $((e - s)); }
verify_ns() { local s e; s=$(date +%s%N); "$AIRLOCK" verify -q "$work/x.tar" >/dev/null; e=$(date +%s%N); echo $((e - s)); }
t_start=0; t_verify=0
"$AIRLOCK" verify -q "$work/x.tar" >/dev/null # warm the cache
for _ in $(seq "$RUNS"); do
    a=$(startup_ns); b=$(verify_ns)
    if [ "$t_start" -eq 0 ] || [ "$a" -lt "$t_start" ]; then t_start=$a; fi
    if [ "$t_verify" -eq 0 ] || [ "$b" -lt "$t_verify" ]; then t_verify=$b; fi
done

bytes=$(stat -c %s "$work/x.tar")
pull_ratio=$(awk -v s="$t_serve" -v r="$t_reg" 'BEGIN { printf "%.2f", r / s }')
start_ratio=$(awk -v a="$t_start" -v v="$t_verify" 'BEGIN { printf "%.2f", a / v }')
rss_mib=$(awk -v k="$rss_kib" 'BEGIN { printf "%.1f", k / 1024 }')
verdict() { awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? v >= t : v <= t; print ok ? "PASS" : "FAIL" }'; }
v1=$(verdict "$pull_ratio" 1.0 ">="); v2=$(verdict "$start_ratio" 1.1 "<="); v3=$(verdict "$rss_mib" 64 "<=")
printf 'bench: archive %.0f MiB\n' "$(awk -v b="$bytes" 'BEGIN { print b / 1048576 }')"
printf 'pull (skopeo copy, all images)  serve %6.2f s  docker-registry %6.2f s  ratio %s (>= 1.0) %s\n' \
    "$(awk -v n="$t_serve" 'BEGIN { print n / 1e9 }')" "$(awk -v n="$t_reg" 'BEGIN { print n / 1e9 }')" "$pull_ratio" "$v1"
printf 'start-up                        serve %6.2f s  verify %6.2f s  ratio %s (<= 1.1) %s\n' \
    "$(awk -v n="$t_start" 'BEGIN { print n / 1e9 }')" "$(awk -v n="$t_verify" 'BEGIN { print n / 1e9 }')" "$start_ratio" "$v2"
printf 'peak RSS with %s pulls at once  %s MiB (<= 64) %s\n' "$PULLS" "$rss_mib" "$v3"
if [ "$STRICT" = 1 ] && { [ "$v1" = FAIL ] || [ "$v2" = FAIL ] || [ "$v3" = FAIL ]; }; then exit 1; fi
