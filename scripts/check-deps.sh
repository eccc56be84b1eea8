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
for c in p256 rand_core serde_json_canonicalizer walkdir jsonschema x509-cert; do
  if grep -q "^$c v" <<<"$(tail -n +2 <<<"$direct")"; then
    echo "check-deps: $c is a normal dependency of airlock; it is test-only" >&2
    fail=1
  fi
done
[ $fail = 0 ] && echo "check-deps: the shipped crate has no test-only dependency"
exit $fail
