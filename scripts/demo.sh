#!/usr/bin/env bash
# The whole story on one machine:
#   a publisher pushes a signed multi-arch busybox to a local registry, each
#   signature logged in a Rekor-compatible log  →  airlock pack --arch amd64
#   (fetches the image, its signatures, SBOM and Rekor inclusion proofs,
#   checks them against the publisher's key)  →  airlock verify (offline)  →
#   airlock unpack into podman (or docker) → the loaded image → airlock
#   verify-local of the installed image; airlock diff of a rebuilt image; then a
#   second publisher's signed Helm chart packed beside it from a set file,
#   verified under a policy rule per publisher, unpacked into a site registry;
#   airlock serve the archive and pull it back with podman. The tag is also
#   signed with Docker Content Trust (notary-server + notary client), carried
#   by pack --notary-server and checked offline with --notary-root.
# Services it starts (docker-registry, airlock-test-rekor, notary-server) are
# stopped by pid.
set -euo pipefail
cd "$(dirname "$0")/.."

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
REKOR=${REKOR:-target/release/airlock-test-rekor}
OUT=${DEMO_OUT:-$PWD/testdata/out}
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}
# The demo's rollback state and blob cache live in $OUT, not in $HOME.
export AIRLOCK_STATE_DIR=$OUT/state XDG_CACHE_HOME=$OUT/cache

rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

. scripts/lib/registry.sh

step "start a local registry (CNCF distribution, plain HTTP on loopback)"
start_registry "$OUT/registry"
pids+=("$REG_PID")
echo "registry at $REG (pid ${pids[-1]})"

step "start a Rekor-compatible transparency log (airlock-test-rekor)"
"$REKOR" --listen 127.0.0.1:0 --trusted-root-out "$OUT/trusted_root.json" > "$OUT/rekor.addr" 2>"$OUT/rekor.log" &
pids+=($!)
for _ in $(seq 200); do [ -s "$OUT/rekor.addr" ] && break; sleep 0.05; done
REKOR_URL=http://$(head -n1 "$OUT/rekor.addr")
echo "Rekor at $REKOR_URL (pid ${pids[-1]}); its key is in $OUT/trusted_root.json"

step "publisher: sign and push demo/busybox:1.36 (amd64 + arm64/v8), log signatures in Rekor"
"$MKIMAGE" keygen --out "$OUT/publisher" >/dev/null
"$MKIMAGE" publish --registry "$REG" --insecure --repo demo/busybox --tag 1.36 \
    --key "$OUT/publisher.key" --rekor-url "$REKOR_URL" --work-dir "$OUT/publish" \
    | tee "$OUT/published.json"
IMAGE=$REG/demo/busybox:1.36
POLICY=(--key "$OUT/publisher.pub" --trusted-root "$OUT/trusted_root.json")

step "airlock pack --arch amd64 $IMAGE (checks the signatures before writing)"
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" "${POLICY[@]}" \
    --arch amd64 -o "$OUT/busybox.tar" "$IMAGE"
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" "${POLICY[@]}" \
    --arch amd64 -q -o "$OUT/busybox.tar.zst" "$IMAGE" >/dev/null
(cd "$OUT" && sha256sum -c busybox.tar.sha256 busybox.tar.zst.sha256)

step "publisher re-signs the same image later (new Rekor entries); pack that too"
"$MKIMAGE" publish --registry "$REG" --insecure --repo demo/busybox --tag 1.36 \
    --key "$OUT/publisher.key" --rekor-url "$REKOR_URL" --work-dir "$OUT/publish2" >/dev/null
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" "${POLICY[@]}" \
    --arch amd64 -q -o "$OUT/busybox-resigned.tar" "$IMAGE" >/dev/null
echo "wrote $OUT/busybox-resigned.tar"
mkdir -p "$OUT/media"
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" "${POLICY[@]}" \
    --arch amd64 -q -o "$OUT/media/busybox.tar" --volume-size 1MiB --parity 1 "$IMAGE" >/dev/null
echo "and split into 1 MiB volumes with one parity volume for removable media:"
ls "$OUT/media"

step "a second publisher signs a Helm chart with its own key; one set file packs image and chart, each under its publisher's key"
"$MKIMAGE" keygen --out "$OUT/charts" >/dev/null
CHART=$REG/demo/charts/busybox:0.1.0
CHART_DIGEST=$("$MKIMAGE" publish-chart --registry "$REG" --repo demo/charts/busybox --tag 0.1.0 \
    --key "$OUT/charts.key" --rekor-url "$REKOR_URL" --work-dir "$OUT/publish-chart")
echo "published $CHART ($CHART_DIGEST), signed by the chart publisher"
cat > "$OUT/airlock-set.yaml" <<YAML
# everything the site needs, each entry with the key that must have signed it
version: 1
images:
  - ref: $IMAGE
    platforms: [linux/amd64]
    policy: { keys: [{ path: publisher.pub }] }
charts:
  - ref: $CHART
    policy: { keys: [{ path: charts.pub }] }
YAML
cat "$OUT/airlock-set.yaml"
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" --trusted-root "$OUT/trusted_root.json" \
    --set "$OUT/airlock-set.yaml" -o "$OUT/site.tar"
# Week 2 as a delta against week 1 (busybox-resigned.tar, which the site
# already has): the busybox layer stays home, the chart travels.
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" --trusted-root "$OUT/trusted_root.json" \
    --set "$OUT/airlock-set.yaml" --base "$OUT/busybox-resigned.tar" -o "$OUT/site-delta.tar"
# The site's policy: a rule per publisher (version 2), and the same with
# the publishers' keys swapped.
cat > "$OUT/policy-publishers.json" <<JSON
{ "version": 2, "rules": [
  { "name": "busybox publisher", "images": ["$REG/demo/busybox"], "keys": [{ "path": "publisher.pub" }] },
  { "name": "chart publisher", "images": ["$REG/demo/charts/*"], "keys": [{ "path": "charts.pub" }] } ] }
JSON
sed -e 's/"publisher.pub"/"SWAP"/' -e 's/"charts.pub"/"publisher.pub"/' -e 's/"SWAP"/"charts.pub"/' \
    "$OUT/policy-publishers.json" > "$OUT/policy-swapped.json"

step "Docker Content Trust: the publisher also signs the tag with notary (notary-server, TLS on loopback)"
. scripts/lib/notary.sh
notary_start "$OUT/notary" "$(free_port)"
pids+=("$NOTARY_PID")
GUN=$REG/demo/busybox
# DCT signs the bytes the tag resolves to: here the multi-arch index.
skopeo inspect --raw --tls-verify=false "docker://$IMAGE" > "$OUT/busybox-index.json"
notary_cli init "$GUN"
notary_cli add "$GUN" 1.36 "$OUT/busybox-index.json"
notary_cli publish "$GUN"
cp "$NOTARY_DIR/trust/tuf/$GUN/metadata/root.json" "$OUT/notary-root.json"
echo "signed $GUN:1.36 on $NOTARY_URL; the site pins $OUT/notary-root.json"
"$AIRLOCK" pack --insecure-registry "$REG" --rekor-url "$REKOR_URL" "${POLICY[@]}" \
    --notary-server "$NOTARY_URL" --notary-ca "$NOTARY_DIR/ca.crt" \
    --arch amd64 -o "$OUT/busybox-dct.tar" "$IMAGE"

step "the Rekor log and the Notary server go away: everything from here on is offline"
kill "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
notary_stop

step "airlock inspect"
"$AIRLOCK" inspect "$OUT/busybox.tar"

step "airlock verify: integrity + publisher key + Rekor SET, inclusion proof and checkpoint"
"$AIRLOCK" verify "${POLICY[@]}" --require-inclusion-proof "$OUT/busybox.tar"
"$AIRLOCK" verify "${POLICY[@]}" --require-inclusion-proof -q - < "$OUT/busybox.tar.zst" >/dev/null
echo "(the .tar.zst on stdin verifies too)"

step "airlock verify --notary-root: the cosign signatures and Docker Content Trust, offline"
"$AIRLOCK" verify "${POLICY[@]}" --notary-root "$OUT/notary-root.json" "$OUT/busybox-dct.tar"

step "a tampered copy is refused (exit code 3)"
cp "$OUT/busybox.tar" "$OUT/tampered.tar"
size=$(stat -c %s "$OUT/tampered.tar")
printf '\xff' | dd of="$OUT/tampered.tar" bs=1 seek=$((size - 4096)) conv=notrunc status=none
set +e; "$AIRLOCK" verify "${POLICY[@]}" "$OUT/tampered.tar"; rc=$?; set -e
echo "exit code: $rc"
[ "$rc" -eq 3 ] || { echo "demo: expected exit code 3" >&2; exit 1; }

step "a different publisher key is refused (exit code 4)"
"$MKIMAGE" keygen --out "$OUT/stranger" >/dev/null
set +e; "$AIRLOCK" verify --key "$OUT/stranger.pub" --trusted-root "$OUT/trusted_root.json" -q "$OUT/busybox.tar"; rc=$?; set -e
echo "exit code: $rc"
[ "$rc" -eq 4 ] || { echo "demo: expected exit code 4" >&2; exit 1; }

PODMAN_ROOT=$OUT/podman
PODMAN=(--root "$PODMAN_ROOT/root" --runroot "$PODMAN_ROOT/run" --storage-driver vfs)
step "airlock unpack --into podman (private vfs store in $PODMAN_ROOT)"
"$AIRLOCK" unpack "${POLICY[@]}" --require-inclusion-proof --into podman \
    $(printf -- '--podman-arg=%s ' "${PODMAN[@]}") "$OUT/busybox.tar"

step "the loaded image: podman reports the packed config digest as its ID"
podman "${PODMAN[@]}" images --no-trunc --format '{{.Repository}}:{{.Tag}}  {{.ID}}'
podman "${PODMAN[@]}" run --rm --pull never --network none --cgroups disabled --ulimit host \
    "$IMAGE" busybox echo "hello from the air-gapped side" 2>/dev/null \
    || echo "(this host cannot run containers; the image is loaded)"

step "the re-signed archive is newer: accepted; then the first one is a rollback (exit code 5)"
"$AIRLOCK" unpack "${POLICY[@]}" --into podman -q \
    $(printf -- '--podman-arg=%s ' "${PODMAN[@]}") "$OUT/busybox-resigned.tar"
set +e; "$AIRLOCK" unpack "${POLICY[@]}" --into podman -q \
    $(printf -- '--podman-arg=%s ' "${PODMAN[@]}") "$OUT/busybox.tar"; rc=$?; set -e
echo "exit code: $rc"
[ "$rc" -eq 5 ] || { echo "demo: expected exit code 5" >&2; exit 1; }

step "airlock verify-local: the installed image against the evidence unpack kept (offline)"
"$AIRLOCK" verify-local "${POLICY[@]}" --in podman \
    $(printf -- '--podman-arg=%s ' "${PODMAN[@]}") "$IMAGE"

step "airlock diff: a rebuild of the same busybox a day later differs only in timestamps"
"$MKIMAGE" busybox --out "$OUT/build-1" --ref demo/busybox:rebuild >/dev/null
"$MKIMAGE" busybox --out "$OUT/build-2" --ref demo/busybox:rebuild --rebuilt >/dev/null
"$AIRLOCK" diff --platform linux/amd64 \
    "oci:$OUT/build-1:demo/busybox:rebuild" "oci:$OUT/build-2:demo/busybox:rebuild"

step "removable media: a volume is lost on the way; verify names it, repair rebuilds it"
rm "$OUT/media/busybox.tar.001"
set +e; "$AIRLOCK" verify -q "$OUT/media/busybox.tar.volumes.json"; rc=$?; set -e
echo "exit code: $rc"
[ "$rc" -eq 3 ] || { echo "demo: expected exit code 3" >&2; exit 1; }
"$AIRLOCK" repair "$OUT/media/busybox.tar.volumes.json"
"$AIRLOCK" verify "${POLICY[@]}" -q "$OUT/media/busybox.tar.volumes.json"
"$AIRLOCK" unpack "${POLICY[@]}" -q --into "dir:$OUT/media-unpacked" "$OUT/media/busybox.tar.001" >/dev/null
echo "unpacked from the repaired volumes into $OUT/media-unpacked"
cat "$OUT"/media/busybox.tar.0?? | cmp - "$OUT/busybox-resigned.tar"
echo "cat busybox.tar.0?? = busybox-resigned.tar, byte for byte"

step "airlock unpack --into registry: the site's own registry (a second docker-registry)"
SRC_REG=$REG
start_registry "$OUT/site-registry"
pids+=("$REG_PID")
SITE=$REG; REG=$SRC_REG
"$AIRLOCK" unpack "${POLICY[@]}" --into "registry:$SITE/mirror" --insecure-registry "$SITE" \
    "$OUT/busybox-resigned.tar"
signed=$(grep -A1 '"linux/amd64"' "$OUT/published.json" | tail -n1 | tr -d ' ",')
site=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$SITE/mirror/demo/busybox:1.36")
echo "published (signed) amd64 manifest: $signed"
echo "site registry serves:              $site"
[ "$signed" = "$site" ] || { echo "demo: digest changed on the way" >&2; exit 1; }
echo "digest round trip: OK"
skopeo list-tags --tls-verify=false "docker://$SITE/mirror/demo/busybox" | tr -d ' \n'; echo

step "week 2 as a delta (image + chart, packed with --base week 1): only what the site lacks travels"
ls -l "$OUT/site.tar" "$OUT/site-delta.tar"
"$AIRLOCK" inspect "$OUT/site-delta.tar" | sed -n 1,3p
"$AIRLOCK" verify --policy "$OUT/policy-publishers.json" --trusted-root "$OUT/trusted_root.json" \
    --base "$OUT/busybox-resigned.tar" "$OUT/site-delta.tar"
"$AIRLOCK" unpack --policy "$OUT/policy-publishers.json" --trusted-root "$OUT/trusted_root.json" \
    --into "registry:$SITE/mirror" --insecure-registry "$SITE" "$OUT/site-delta.tar"
"$AIRLOCK" merge "$OUT/busybox-resigned.tar" "$OUT/site-delta.tar" -o "$OUT/site-merged.tar" >/dev/null
cmp "$OUT/site-merged.tar" "$OUT/site.tar"
echo "merge(week 1, delta) = site.tar, byte for byte"

step "image and chart: inspect shows each kind; verify under a rule per publisher"
"$AIRLOCK" inspect "$OUT/site.tar"
"$AIRLOCK" verify --policy "$OUT/policy-publishers.json" --trusted-root "$OUT/trusted_root.json" "$OUT/site.tar"

step "the same archive with the publishers swapped (each key valid, for the other's images): refused (exit code 4)"
set +e; "$AIRLOCK" verify --policy "$OUT/policy-swapped.json" --trusted-root "$OUT/trusted_root.json" -q "$OUT/site.tar"; rc=$?; set -e
echo "exit code: $rc"
[ "$rc" -eq 4 ] || { echo "demo: expected exit code 4" >&2; exit 1; }

step "unpack image and chart into the site registry: the chart keeps its digest (helm pull oci://... works)"
"$AIRLOCK" unpack --policy "$OUT/policy-publishers.json" --trusted-root "$OUT/trusted_root.json" \
    --into "registry:$SITE/charts-mirror" --insecure-registry "$SITE" "$OUT/site.tar"
site_chart=sha256:$(skopeo inspect --tls-verify=false --raw "docker://$SITE/charts-mirror/demo/charts/busybox:0.1.0" | sha256sum | cut -d' ' -f1)
echo "published chart: $CHART_DIGEST"
echo "site registry:   $site_chart"
[ "$CHART_DIGEST" = "$site_chart" ] || { echo "demo: chart digest changed on the way" >&2; exit 1; }
echo "chart digest round trip: OK"

step "airlock serve: the verified archive itself as a read-only registry; podman pulls it back"
"$AIRLOCK" serve "${POLICY[@]}" --listen 127.0.0.1:0 --log-requests "$OUT/busybox-resigned.tar" \
    >"$OUT/serve.out" 2>"$OUT/serve.log" &
serve_pid=$!
pids+=("$serve_pid")
for _ in $(seq 600); do
    grep -q ' read-only on http://' "$OUT/serve.out" 2>/dev/null && break
    kill -0 "$serve_pid" 2>/dev/null || { cat "$OUT/serve.log" >&2; exit 1; }
    sleep 0.05
done
cat "$OUT/serve.out"
SERVED=$(sed -n 's/.* read-only on http:\/\///p' "$OUT/serve.out")
podman "${PODMAN[@]}" pull -q --tls-verify=false "$SERVED/demo/busybox:1.36" >/dev/null
pulled=$(podman "${PODMAN[@]}" image inspect --format '{{.Digest}}' "$SERVED/demo/busybox:1.36")
echo "published (signed) amd64 manifest: $signed"
echo "podman pulled from airlock serve:  $pulled"
[ "$signed" = "$pulled" ] || { echo "demo: digest changed on the way" >&2; exit 1; }
kill -TERM "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
echo "served requests: $(grep -c '" 200 ' "$OUT/serve.log")"

if command -v skopeo >/dev/null; then
    step "skopeo reads the archive unchanged"
    skopeo inspect --format '{{.Digest}} {{.Architecture}}' "oci-archive:$OUT/busybox.tar"
fi
step "done"
