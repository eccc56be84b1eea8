#!/usr/bin/env bash
# The shipped crate's dependency tree holds no test-only code: the testkit
# crate and what only it uses are dev-dependencies, never normal ones.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
tree=$($CARGO tree -e normal -p airlock --prefix none --format '{p}')
direct=$($CARGO tree -e normal -p airlock --prefix none --format '{p}' --depth 1)
fail=0
for c in airlock-testkit tiny_http; do
  if grep -q "^$c v" <<<"$tree"; then
    echo "check-deps: $c is in airlock's normal dependency tree" >&2
    fail=1
  fi
done
# Used by test code only; allowed deeper in the tree (sigstore's crates use
# some of them), never as airlock's own normal dependency.
# (x509-cert is a normal dependency since src/trust/notary reads Notary's
# certificate keys.)
for c in p256 rand_core serde_json_canonicalizer walkdir jsonschema; do
  if grep -q "^$c v" <<<"$(tail -n +2 <<<"$direct")"; then
    echo "check-deps: $c is a normal dependency of airlock; it is test-only" >&2
    fail=1
  fi
done
# One TLS crypto provider (aws-lc-rs, which oci-client's reqwest uses).
if grep -q "^ring v" <<<"$tree"; then
  echo "check-deps: ring is compiled in beside aws-lc-rs; use one crypto provider" >&2
  fail=1
fi
# `cargo install --path .` installs the product binary only.
bins=$($CARGO metadata --no-deps --format-version 1 | python3 -c '
import json, sys
m = json.load(sys.stdin)
p = next(p for p in m["packages"] if p["name"] == "airlock")
print(" ".join(sorted(t["name"] for t in p["targets"] if "bin" in t["kind"])))')
if [ "$bins" != "airlock" ]; then
  echo "check-deps: the airlock package ships binaries [$bins]; only airlock belongs there" >&2
  fail=1
fi
[ $fail = 0 ] && echo "check-deps: the shipped crate has no test-only dependency"
exit $fail
