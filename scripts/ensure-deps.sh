#!/usr/bin/env bash
# Installs the host tools that `make test` / `make demo` drive, only when
# missing. Debian only; needs nothing but the Debian package mirrors.
set -euo pipefail

# package:command — the command proves the package is usable; busybox-static
# and time are checked with dpkg because `busybox` (dynamic) also provides
# /bin/busybox and `time` is a shell keyword.
deps=(skopeo:skopeo podman:podman busybox-static: zstd:zstd openssl:openssl time: docker.io:dockerd umoci:umoci strace:strace
      docker-registry:docker-registry apache2-utils:htpasswd containerd:ctr notary:notary-server jq:jq)

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

missing=()
for dep in "${deps[@]}"; do
    pkg=${dep%%:*} cmd=${dep#*:}
    if { [ -n "$cmd" ] && command -v "$cmd" >/dev/null 2>&1; } || installed "$pkg"; then
        echo "ensure-deps: $pkg present"
    else
        echo "ensure-deps: $pkg missing"
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "ensure-deps: need root to install ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
fi
echo "ensure-deps: apt-get update"
"${sudo[@]}" apt-get update -qq
echo "ensure-deps: installing ${missing[*]}"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
