#!/usr/bin/env bash
# vendor.sh — refreshes web/ui/vendor/ from the npm registry, pinned by
# package-lock.json (exact versions, integrity hashes). Run it by hand when a
# version changes in package.json; the vendored files are committed, so the
# build, the tests and CI need no network. drover-web embeds them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$here/package.json" "$here/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund)
out="$here/vendor"
rm -rf "$out"
mkdir -p "$out/dagre" "$out/uplot"
m="$tmp/node_modules"
cp "$m/@dagrejs/dagre/dist/dagre.esm.js" "$m/@dagrejs/dagre/LICENSE" "$out/dagre/"
cp "$m/@dagrejs/dagre/dist/dagre.esm.js.LEGAL.txt" "$out/dagre/" 2>/dev/null || true
cp "$m/uplot/dist/uPlot.esm.js" "$m/uplot/dist/uPlot.min.css" "$m/uplot/LICENSE" "$out/uplot/"
# The source-map comment points at a file we do not ship.
sed -i '/sourceMappingURL=/d' "$out/dagre/dagre.esm.js"
for p in @dagrejs/dagre uplot; do
    node -e 'const p=require(process.argv[1]);console.log(p.name+" "+p.version)' "$m/$p/package.json"
done >"$out/VERSIONS"
echo "vendored into $out:"; cat "$out/VERSIONS"
