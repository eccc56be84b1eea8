#!/usr/bin/env bash
# Benchmark: airlock's offline trust path against sigstore-verify's own
# verifier, per signature, on the same evidence.
#
# examples/bench_trust.rs signs N images with a test key, logs every
# signature in airlock's Rekor-compatible test log (real RFC 6962 tree, SETs,
# signed checkpoints), and times (best of R passes, in one process):
#   - airlock, cosign legacy .sig + SET + the pack-time rekor-proof document
#     (evidence parsing, proof binding, verify_cosign_signature);
#   - airlock, Sigstore bundle v0.3 with inclusion proof + checkpoint
#     (verify_bundle);
#   - sigstore-verify's Verifier::verify on the same v0.3 bundles.
# Target: <= 1 ms per signature for both airlock paths.
# BENCH_STRICT=1 makes a missed target exit 1.
set -euo pipefail

BENCH_TRUST=${BENCH_TRUST:-target/release/examples/bench_trust}
COUNT=${BENCH_SIGNATURES:-1000}
RUNS=${BENCH_RUNS:-5}
STRICT=${BENCH_STRICT:-0}

[ -x "$BENCH_TRUST" ] || {
    echo "bench: $BENCH_TRUST not found; run: cargo build --release --example bench_trust" >&2
    exit 2
}

out=$(nice "$BENCH_TRUST" --count "$COUNT" --runs "$RUNS")
get() { awk -v k="$1" '$1 == k { print $2 }' <<<"$out"; }
cosign=$(get airlock_cosign_ns)
bundle=$(get airlock_bundle_ns)
sigstore=$(get sigstore_verify_bundle_ns)
for v in "$cosign" "$bundle" "$sigstore"; do
    [ -n "$v" ] || { echo "bench: unexpected output from $BENCH_TRUST:" >&2; echo "$out" >&2; exit 2; }
done

ms() { awk -v ns="$1" 'BEGIN { printf "%.3f", ns / 1e6 }'; }
ratio() { awk -v a="$1" -v s="$2" 'BEGIN { printf "%.2f", s / a }'; } # speed ratio
verdict() { awk -v ns="$1" 'BEGIN { print (ns <= 1e6) ? "PASS" : "FAIL" }'; }

v_cosign=$(verdict "$cosign")
v_bundle=$(verdict "$bundle")

echo
echo "trust: $COUNT signatures with Rekor entries (SET + inclusion proof + checkpoint); best of $RUNS"
echo "time per signature:"
printf '  %-44s %8s ms   target <= 1 ms   %s\n' "airlock, cosign .sig + SET + rekor-proof" "$(ms "$cosign")" "$v_cosign"
printf '  %-44s %8s ms   target <= 1 ms   %s\n' "airlock, Sigstore bundle v0.3" "$(ms "$bundle")" "$v_bundle"
printf '  %-44s %8s ms\n' "sigstore-verify, same bundles v0.3" "$(ms "$sigstore")"
echo "ratio = sigstore-verify time / airlock time (>1 means airlock is faster):"
printf '  %-44s %8s\n' "cosign .sig path vs sigstore-verify bundle" "$(ratio "$cosign" "$sigstore")"
printf '  %-44s %8s\n' "bundle path vs sigstore-verify bundle" "$(ratio "$bundle" "$sigstore")"

if [ "$STRICT" = 1 ] && [ "$v_cosign$v_bundle" != PASSPASS ]; then
    exit 1
fi
