#!/usr/bin/env bash
# The demo: build a real one-layer busybox image with the project's own
# layout builder, pack it, verify the archive (file and stdin), inspect it.
set -euo pipefail
cd "$(dirname "$0")/.."

AIRLOCK=${AIRLOCK:-target/release/airlock}
MKIMAGE=${MKIMAGE:-target/release/airlock-mkimage}
OUT=testdata/out
REF=localhost/airlock-demo/busybox:1.36
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-0}

rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "build a busybox image (OCI layout) in $OUT/layout"
"$MKIMAGE" busybox --out "$OUT/layout" --ref "$REF"

step "airlock pack → $OUT/busybox.tar and .tar.zst"
"$AIRLOCK" pack --from-oci-layout "$OUT/layout" --arch amd64 -o "$OUT/busybox.tar"
"$AIRLOCK" pack --from-oci-layout "$OUT/layout" --arch amd64 -o "$OUT/busybox.tar.zst"
(cd "$OUT" && sha256sum -c busybox.tar.sha256 busybox.tar.zst.sha256)

step "airlock verify (file, then the compressed archive on stdin)"
"$AIRLOCK" verify "$OUT/busybox.tar"
"$AIRLOCK" verify - < "$OUT/busybox.tar.zst"

step "airlock inspect"
"$AIRLOCK" inspect "$OUT/busybox.tar"

step "a tampered copy is refused (exit code 3)"
cp "$OUT/busybox.tar" "$OUT/tampered.tar"
# Flip one byte inside the last layer's data.
size=$(stat -c %s "$OUT/tampered.tar")
printf '\xff' | dd of="$OUT/tampered.tar" bs=1 seek=$((size - 4096)) conv=notrunc status=none
set +e
"$AIRLOCK" verify "$OUT/tampered.tar"
rc=$?
set -e
echo "exit code: $rc"
[ "$rc" -eq 3 ] || { echo "demo: expected exit code 3" >&2; exit 1; }

if command -v skopeo >/dev/null; then
    step "skopeo reads the archive unchanged"
    skopeo inspect --format '{{.Digest}} {{.Architecture}}' "oci-archive:$OUT/busybox.tar"
fi
step "done"
