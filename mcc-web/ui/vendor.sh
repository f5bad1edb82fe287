#!/usr/bin/env bash
# Copies the UI's npm dependencies (pinned in package-lock.json) into ../www/vendor/, where
# they are committed so that building mcc-web needs no Node.
#   vendor.sh          npm ci, then copy the dist files into ../www/vendor/
#   vendor.sh --check  npm ci in a temporary directory and fail unless the committed
#                      ../www/vendor/ equals what it produces (no file missing, extra or changed)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
vendor="$(cd "$here/.." && pwd)/www/vendor"

# package-dir-relative source path -> name in www/vendor
files=(
    "cytoscape/dist/cytoscape.min.js cytoscape.min.js"
    "cytoscape/LICENSE cytoscape.LICENSE"
)

usage() { echo "usage: $0 [--check]" >&2; exit 2; }
check=0
case "${1:-}" in
    "") ;;
    --check) check=1 ;;
    *) usage ;;
esac
[ $# -le 1 ] || usage
command -v npm >/dev/null || { echo "$0: npm not found (apt-get install npm)" >&2; exit 1; }

# Writes the vendored tree for the node_modules in $1 into directory $2.
populate() {
    local modules=$1 out=$2 entry src dst
    mkdir -p "$out"
    : > "$out/MANIFEST"
    for entry in "${files[@]}"; do
        src=${entry% *}
        dst=${entry#* }
        [ -f "$modules/$src" ] || { echo "$0: $modules/$src missing after npm ci" >&2; exit 1; }
        cp "$modules/$src" "$out/$dst"
    done
    # Which package version each file came from, so a reviewer sees what is vendored.
    for pkg in $(printf '%s\n' "${files[@]}" | cut -d/ -f1 | sort -u); do
        printf '%s %s\n' "$pkg" "$(node -p "require('$modules/$pkg/package.json').version")" >> "$out/MANIFEST"
    done
    (cd "$out" && sha256sum $(printf '%s\n' "${files[@]}" | cut -d' ' -f2 | sort)) >> "$out/MANIFEST"
}

if [ $check = 0 ]; then
    (cd "$here" && npm ci --no-audit --no-fund --ignore-scripts)
    rm -rf "$vendor"
    populate "$here/node_modules" "$vendor"
    echo "vendored into $vendor:"
    cat "$vendor/MANIFEST"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts --silent)
populate "$tmp/node_modules" "$tmp/vendor"
if ! diff -r "$tmp/vendor" "$vendor" >&2; then
    echo "$0 --check: $vendor differs from what npm ci produces from package-lock.json; run $0 and commit" >&2
    exit 1
fi
echo "vendor.sh --check: $vendor matches package-lock.json"
