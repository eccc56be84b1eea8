#!/usr/bin/env bash
# Benchmark (issue 11): delta archives. Week 1 is a set of IMAGES images
# (`airlock-mkimage random`, LAYERS layers of LAYER_SIZE bytes each); week 2
# is the same set with one layer of one image replaced. Measures
#   - the delta's size against what it must carry (the changed blobs plus
#     metadata and evidence: its carried bytes), target <= 1.01x;
#   - the delta's size against the full week-2 archive, target <= 5%;
#   - merge (week 1 + delta -> full week 2) against `pack --from-oci-layout`
#     of the full week-2 set, target >= 0.9x its speed (best of RUNS);
# and checks that the merged archive is byte-identical to the full pack.
# The CPU may be shared: times are noisy. BENCH_STRICT=1 exits 1 on a miss.
set -euo pipefail

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
IMAGES=${BENCH_IMAGES:-10}
LAYERS=${BENCH_LAYERS:-3}
LAYER_SIZE=${BENCH_LAYER_SIZE:-4194304}
RUNS=${BENCH_RUNS:-3}
STRICT=${BENCH_STRICT:-0}
REF=localhost/airlock-bench/delta:1

for bin in "$AIRLOCK" "$MKIMAGE"; do
    [ -x "$bin" ] || { echo "bench: $bin not found; run: cargo build --release --bins" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/airlock-bench-delta.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

"$MKIMAGE" random --out "$work/week1" --ref "$REF" --images "$IMAGES" --layers "$LAYERS" \
    --layer-size "$LAYER_SIZE" --seed 1 >/dev/null
# Week 2: week 1 with the last layer of the first image replaced by new bytes
# of the same size (its config and manifest change with it).
cp -a "$work/week1" "$work/week2"
python3 - "$work/week2" "$LAYER_SIZE" <<'PY'
import hashlib, json, os, sys
root, size = sys.argv[1], int(sys.argv[2])
def blob(d): return os.path.join(root, "blobs", "sha256", d.split(":", 1)[1])
def put(data):
    d = "sha256:" + hashlib.sha256(data).hexdigest()
    open(blob(d), "wb").write(data)
    return d, len(data)
index = json.load(open(os.path.join(root, "index.json")))
desc = index["manifests"][0]
manifest = json.load(open(blob(desc["digest"])))
layer = os.urandom(size)
ld, ln = put(layer)
manifest["layers"][-1]["digest"], manifest["layers"][-1]["size"] = ld, ln
config = json.load(open(blob(manifest["config"]["digest"])))
if config.get("rootfs", {}).get("diff_ids"):
    config["rootfs"]["diff_ids"][-1] = ld
cd, cn = put(json.dumps(config).encode())
manifest["config"]["digest"], manifest["config"]["size"] = cd, cn
md, mn = put(json.dumps(manifest).encode())
desc["digest"], desc["size"] = md, mn
json.dump(index, open(os.path.join(root, "index.json"), "w"))
PY

pack() { "$AIRLOCK" pack -q --from-oci-layout "$work/$1" -o "$work/$2" --force "${@:3}" >/dev/null; }
export SOURCE_DATE_EPOCH=1700000000
pack week1 full1.tar
pack week2 full2.tar
pack week2 delta.tar --base "$work/full1.tar"
"$AIRLOCK" merge -q "$work/full1.tar" "$work/delta.tar" -o "$work/merged.tar" --force >/dev/null
cmp -s "$work/merged.tar" "$work/full2.tar" || { echo "bench: merged archive differs from the full pack" >&2; exit 1; }

# What a delta must carry: the changed blobs, every manifest, config and
# piece of evidence (its carried blobs), and the layout files that are not
# blobs (airlock.json, index.json, manifest.json, oci-layout).
carried=$("$AIRLOCK" --output json inspect "$work/delta.tar" | python3 -c 'import json,sys; print(json.load(sys.stdin)["archive"]["delta"]["carriedBytes"])')
for f in airlock.json index.json manifest.json oci-layout; do
    carried=$((carried + $(tar -xOf "$work/delta.tar" "$f" | wc -c)))
done
dsize=$(stat -c %s "$work/delta.tar")
fsize=$(stat -c %s "$work/full2.tar")

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
pack_ns=$(best_ns pack week2 full2.tar)
merge_ns=$(best_ns "$AIRLOCK" merge -q "$work/full1.tar" "$work/delta.tar" -o "$work/merged.tar" --force)

echo "bench: $IMAGES images x $LAYERS layers x $LAYER_SIZE bytes; one layer of one image changed; best of $RUNS"
missed=0
check() { # name value op target
    local ok
    ok=$(awk -v v="$2" -v t="$4" -v op="$3" 'BEGIN { print (op == "<=" ? v <= t : v >= t) ? "ok" : "MISS" }')
    printf '  %-46s %8s  (target %s %s)  %s\n' "$1" "$2" "$3" "$4" "$ok"
    [ "$ok" = ok ] || missed=1
}
printf '  full archive %d bytes, delta %d bytes, delta must carry %d bytes\n' "$fsize" "$dsize" "$carried"
check "delta size / (changed + metadata + evidence)" "$(awk -v a="$dsize" -v b="$carried" 'BEGIN { printf "%.4f", a / b }')" "<=" 1.01
check "delta size / full archive" "$(awk -v a="$dsize" -v b="$fsize" 'BEGIN { printf "%.4f", a / b }')" "<=" 0.05
check "merge speed / pack --from-oci-layout speed" "$(awk -v p="$pack_ns" -v m="$merge_ns" 'BEGIN { printf "%.2f", p / m }')" ">=" 0.9
awk -v p="$pack_ns" -v m="$merge_ns" 'BEGIN { printf "  pack %.2f s, merge %.2f s\n", p / 1e9, m / 1e9 }'
echo "  merged archive byte-identical to the full pack: yes"
if [ "$STRICT" = 1 ] && [ "$missed" = 1 ]; then exit 1; fi
