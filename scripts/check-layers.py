#!/usr/bin/env python3
"""Top-level modules of src/ import only modules below them.

The layers, lowest first, are the data path of docs/architecture.md. Every
`crate::X` path in a module's files must name X at a lower layer (or the
module itself), so no import cycle between top-level modules can exist. A new
top-level module must be placed in LAYERS (and in docs/architecture.md)."""
import os
import re
import sys

LAYERS = [
    "model",            # digests, OCI and airlock.json types, limits, media types
    "trust",            # signatures, bundles, Rekor, TUF, policy (pure checks)
    "error",            # the crate error type (wraps trust's)
    "scratch",          # names of temporaries beside outputs; sweeping leftovers
    "archive",          # writer, tar/zstd, reader, layout files
    "registry_client",  # HTTP(S) registry access shared by source and sink
    "source",           # OCI layout, registry, Rekor proofs, trust root at pack
    "gate",             # policy over a read archive: verified plan, rollback
    "sink",             # dir, podman, docker, registry targets
    "serve",            # read-only OCI registry over a verified archive
    "pipeline",         # composes the steps of pack, verify, unpack
    "cli",              # arguments, reports, exit codes
]
SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
PATH = re.compile(r"\bcrate::(\{|[a-z_][a-z0-9_]*)")


def braced_heads(text, start):
    """Top-level names inside `{...}` that opens at text[start]."""
    depth, item, heads = 0, "", []
    for ch in text[start:]:
        if ch == "{":
            depth += 1
            if depth == 1:
                continue
        elif ch == "}":
            depth -= 1
            if depth == 0:
                heads.append(item)
                break
        if depth == 1 and ch == ",":
            heads.append(item)
            item = ""
        elif depth >= 1:
            item += ch
    return [re.match(r"\s*([a-z_][a-z0-9_]*)", h).group(1) for h in heads if h.strip()]


def strip_comments(text):
    return re.sub(r"//[^\n]*", "", text)


def main():
    rank = {m: i for i, m in enumerate(LAYERS)}
    bad = []
    for root, _, files in os.walk(SRC):
        for f in sorted(files):
            if not f.endswith(".rs"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SRC)
            top = rel.split(os.sep)[0].removesuffix(".rs")
            if top in ("lib", "main", "bin"):
                continue
            if top not in rank:
                bad.append(f"{rel}: top-level module {top!r} is not in LAYERS")
                continue
            text = strip_comments(open(path, encoding="utf-8").read())
            for m in PATH.finditer(text):
                names = braced_heads(text, m.start(1)) if m.group(1) == "{" else [m.group(1)]
                for n in names:
                    if n == top or n == "self":
                        continue
                    if n not in rank:
                        continue
                    if rank[n] > rank[top]:
                        line = text.count("\n", 0, m.start()) + 1
                        bad.append(f"{rel}:{line}: {top} (layer {rank[top]}) uses {n} (layer {rank[n]}), a layer above it")
    for b in sorted(set(bad)):
        print("check-layers:", b, file=sys.stderr)
    if bad:
        return 1
    print(f"check-layers: {len(LAYERS)} layers, every import points down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
