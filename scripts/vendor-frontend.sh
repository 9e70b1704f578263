#!/usr/bin/env bash
# Fetch the front end's third-party code from the npm registry into backend/tickertape/web/vendor/.
#
# The front end has no build step, so we vendor the upstream ESM builds byte for byte and
# commit them. Pinned versions live here; bump a version, run this script, review the diff
# (backend/tickertape/web/vendor/VERSIONS records each file's sha256), run the browser tests, commit.
#
# Needs: npm (only `npm pack`, which downloads a tarball without installing anything).
set -euo pipefail

MARKED_VERSION="18.2.1"
DOMPURIFY_VERSION="3.4.18"
HIGHLIGHT_VERSION="11.11.1" # @highlightjs/cdn-assets: highlight.js's prebuilt ES modules
# The grammars the chat page highlights; each is a small ES module of its own.
HIGHLIGHT_LANGUAGES="bash c cpp css diff go java javascript json markdown plaintext python rust sql typescript xml yaml"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
final_dir="$repo_root/backend/tickertape/web/vendor"
work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT
# Stage everything first so a failed download leaves the committed vendor dir untouched.
vendor_dir="$work_dir/out"

unpack() { # name version -> prints the unpacked package dir
    local name="$1" version="$2" tarball
    tarball="$(cd "$work_dir" && npm pack --silent "$name@$version" 2>/dev/null | tail -n 1)"
    mkdir -p "$work_dir/$name"
    tar -xzf "$work_dir/$tarball" -C "$work_dir/$name"
    # Refuse to vendor something other than what we pinned.
    local got
    got="$(node -e 'process.stdout.write(require(process.argv[1]).version)' "$work_dir/$name/package/package.json")"
    if [[ "$got" != "$version" ]]; then
        echo "expected $name@$version, npm gave $got" >&2
        exit 1
    fi
    echo "$work_dir/$name/package"
}

mkdir -p "$vendor_dir/marked" "$vendor_dir/dompurify" "$vendor_dir/highlight/languages"

marked_pkg="$(unpack marked "$MARKED_VERSION")"
cp "$marked_pkg/lib/marked.esm.js" "$vendor_dir/marked/marked.esm.js"
cp "$marked_pkg/LICENSE" "$vendor_dir/marked/LICENSE"

dompurify_pkg="$(unpack dompurify "$DOMPURIFY_VERSION")"
cp "$dompurify_pkg/dist/purify.es.mjs" "$vendor_dir/dompurify/purify.es.mjs"
# DOMPurify is dual-licensed (MPL-2.0 OR Apache-2.0); ship both texts.
cp "$dompurify_pkg/LICENSE" "$vendor_dir/dompurify/LICENSE"
if [[ -f "$dompurify_pkg/LICENSE-MPL" ]]; then
    cp "$dompurify_pkg/LICENSE-MPL" "$vendor_dir/dompurify/LICENSE-MPL"
fi

highlight_pkg="$(unpack @highlightjs/cdn-assets "$HIGHLIGHT_VERSION")"
cp "$highlight_pkg/es/core.min.js" "$vendor_dir/highlight/core.min.js"
cp "$highlight_pkg/LICENSE" "$vendor_dir/highlight/LICENSE"
for language in $HIGHLIGHT_LANGUAGES; do
    cp "$highlight_pkg/es/languages/$language.min.js" "$vendor_dir/highlight/languages/$language.min.js"
done

{
    echo "# Vendored by scripts/vendor-frontend.sh from the npm registry (npm pack). Do not edit."
    echo "marked $MARKED_VERSION MIT"
    echo "dompurify $DOMPURIFY_VERSION MPL-2.0 OR Apache-2.0"
    echo "@highlightjs/cdn-assets $HIGHLIGHT_VERSION BSD-3-Clause (highlight/: core + $HIGHLIGHT_LANGUAGES)"
    echo
    echo "# sha256"
    (cd "$vendor_dir" && find . -type f ! -name VERSIONS | sort | sed 's|^\./||' | xargs sha256sum)
} > "$vendor_dir/VERSIONS"

rm -rf "$final_dir"
mv "$vendor_dir" "$final_dir"
echo "vendored into $final_dir:"
cat "$final_dir/VERSIONS"
