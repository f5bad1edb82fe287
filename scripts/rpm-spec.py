#!/usr/bin/env python3
"""The RPM spec of a crate's [package.metadata.rpm] (scripts/package.sh builds it with rpmbuild).

    rpm-spec.py CARGO_TOML VERSION RELEASE ARCH RELEASE_DIR > mcc.spec

The metadata is the one cargo-generate-rpm reads (name, license, summary, the three
scriptlet files, assets with source, dest, mode and doc, requires; and recommends, a
list), so the RPM is made
from the same Cargo.toml as the deb without compiling that tool. Asset sources are
relative to the crate; "target/release/" in them means RELEASE_DIR, as for cargo-deb;
a source with a glob goes to a dest ending in "/". %install copies the files as they are
(package.sh stripped the binaries): no debuginfo package, no build-id links, no strip.
"""

import glob
import os
import sys
import tomllib


def fail(msg):
    sys.exit(f"rpm-spec.py: {msg}")


def main():
    if len(sys.argv) != 6:
        fail("usage: rpm-spec.py CARGO_TOML VERSION RELEASE ARCH RELEASE_DIR")
    toml_path, version, release, arch, rel = sys.argv[1:]
    with open(toml_path, "rb") as f:
        cargo = tomllib.load(f)
    crate_dir = os.path.dirname(os.path.abspath(toml_path))
    try:
        meta = cargo["package"]["metadata"]["rpm"]
    except KeyError:
        fail(f"{toml_path}: no [package.metadata.rpm]")
    description = cargo["package"]["metadata"].get("deb", {}).get("extended-description") or meta["summary"]

    def source(path):
        if path.startswith("target/release/"):
            return os.path.abspath(os.path.join(rel, path[len("target/release/"):]))
        return os.path.normpath(os.path.join(crate_dir, path))

    files = []  # (source, dest, mode, doc)
    for i, a in enumerate(meta["assets"]):
        for key in ("source", "dest", "mode"):
            if key not in a:
                fail(f"{toml_path}: [package.metadata.rpm] asset {i + 1} has no {key}")
        src = source(a["source"])
        matches = sorted(glob.glob(src)) if any(c in src for c in "*?[") else [src]
        if not matches or not all(os.path.isfile(m) for m in matches):
            fail(f"{toml_path}: asset {a['source']}: no such file ({src})")
        for m in matches:
            dest = a["dest"] + os.path.basename(m) if a["dest"].endswith("/") else a["dest"]
            files.append((m, dest, a["mode"], a.get("doc", False)))

    def script(key):
        p = meta.get(key)
        if not p:
            return ""
        with open(os.path.join(crate_dir, p)) as f:
            return f.read()

    out = []
    w = out.append
    w("%global debug_package %{nil}")
    w("%global _build_id_links none")
    w("%global __os_install_post %{nil}")
    # xz: readable by every rpm still in use (zstd payloads need rpm 4.14 or newer).
    w("%global _binary_payload w9.xzdio")
    w(f"Name: {meta['name']}")
    w(f"Version: {version}")
    w(f"Release: {release}")
    w(f"Summary: {meta['summary']}")
    w(f"License: {meta['license']}")
    if "url" in meta:
        w(f"URL: {meta['url']}")
    w(f"BuildArch: {arch}")
    for dep, ver in meta.get("requires", {}).items():
        w(f"Requires: {dep}" if ver == "*" else f"Requires: {dep} {ver}")
    for dep in meta.get("recommends", []):
        w(f"Recommends: {dep}")
    w("")
    w("%description")
    w(description.strip())
    w("")
    w("%install")
    for src, dest, mode, _ in files:
        w(f"install -D -m {mode} '{src}' \"%{{buildroot}}{dest}\"")
    w("")
    for section, key in (("post", "post_install_script"), ("preun", "pre_uninstall_script"),
                         ("postun", "post_uninstall_script")):
        body = script(key)
        if body:
            w(f"%{section}")
            w(body.rstrip("\n"))
            w("")
    w("%files")
    for _, dest, mode, doc in files:
        w(f"%attr({mode}, root, root) {'%doc ' if doc else ''}{dest}")
    # Directories of the package's own (not the system's).
    for d in sorted({os.path.dirname(dest) for _, dest, _, _ in files}):
        if d.startswith("/usr/libexec/") or d.startswith("/usr/share/doc/"):
            w(f"%dir {d}")
    print("\n".join(out))


main()
