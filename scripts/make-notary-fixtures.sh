#!/usr/bin/env bash
# Regenerates testdata/notary/ with the real Notary (Debian's notary-server
# and notary client), for the unit tests of src/trust/notary/. Two GUNs:
#   registry.test/app:   tag v1 signed by the repository key, tag v2 only
#                        through a targets/releases delegation, then a root
#                        rotation (root.1.json is the first root, root.json
#                        the rotated one, signed by both);
#   registry.test/other: tag v1 with the same content (for swap tests).
# fetched_at.txt records when the metadata was fetched (the timestamp role
# expires 14 days later; tests judge expiry at that time).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../testdata/notary"
. "$here/lib/notary.sh"
work=$(mktemp -d)
trap 'notary_stop; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
notary_start "$work" "$port"

printf '{"schemaVersion":2,"tag":"v1"}' >"$work/v1.json"
printf '{"schemaVersion":2,"tag":"v2"}' >"$work/v2.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/alice.key" \
    -out "$work/alice.crt" -days 3650 -subj /CN=alice 2>/dev/null

app=registry.test/app other=registry.test/other
notary_cli init "$app"
notary_cli add "$app" v1 "$work/v1.json"
notary_cli publish "$app"
rm -rf "$out" && mkdir -p "$out/app/targets" "$out/other"
notary_fetch "$app" root "$out/app/root.1.json"
notary_cli delegation add "$app" targets/releases "$work/alice.crt" --all-paths
notary_cli key import "$work/alice.key" --role alice
notary_cli publish "$app"
notary_cli add "$app" v2 "$work/v2.json" --roles targets/releases
notary_cli publish "$app"
echo yes | notary_cli key rotate "$app" root
notary_cli publish "$app"
for r in root targets snapshot timestamp targets/releases; do notary_fetch "$app" "$r" "$out/app/$r.json"; done

notary_cli init "$other"
notary_cli add "$other" v1 "$work/v1.json"
notary_cli publish "$other"
for r in root targets snapshot timestamp; do notary_fetch "$other" "$r" "$out/other/$r.json"; done

cp "$work/v1.json" "$work/v2.json" "$out/"
date -u +%s >"$out/fetched_at.txt"
echo "wrote $out"
