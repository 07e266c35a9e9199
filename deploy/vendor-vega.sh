#!/bin/sh
# Vendors the insights charts' browser side into static/vendor/ from the npm registry,
# at the pinned versions below, with each package's licence. Run from the repository
# root after changing a version; nothing is fetched when the site runs.
#
#   vega, vega-lite, vega-embed: their own minified browser builds, copied as published.
#   vega-interpreter: published only as an ES module importing vega-util, so it is bundled
#     here with esbuild into one classic script (global ``vegaInterpreter``).
#   world-atlas: Natural Earth 1:110m country outlines (TopoJSON) for the site map.
set -eu
VEGA=6.4.0
VEGA_LITE=6.4.1   # the schema Altair (requirements/base.txt) writes
VEGA_EMBED=7.3.0
VEGA_INTERPRETER=2.3.2
WORLD_ATLAS=2.0.2
ESBUILD=0.28.2

out="$(pwd)/static/vendor"
test -d static || { echo "run from the repository root (no static/ here)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
for spec in "vega@$VEGA" "vega-lite@$VEGA_LITE" "vega-embed@$VEGA_EMBED" \
            "vega-interpreter@$VEGA_INTERPRETER" "world-atlas@$WORLD_ATLAS"; do
  name="${spec%@*}"
  mkdir -p "$name"
  npm pack --silent "$spec" >/dev/null
  tar xzf "$name-${spec#*@}.tgz" -C "$name"
done
mkdir -p "$out/vega" "$out/world-atlas"
cp vega/package/build/vega.min.js "$out/vega/vega.min.js"
cp vega/package/LICENSE "$out/vega/LICENSE-vega"
cp vega-lite/package/build/vega-lite.min.js "$out/vega/vega-lite.min.js"
cp vega-lite/package/LICENSE "$out/vega/LICENSE-vega-lite"
cp vega-embed/package/build/vega-embed.min.js "$out/vega/vega-embed.min.js"
cp vega-embed/package/LICENSE "$out/vega/LICENSE-vega-embed"
cp vega-interpreter/package/LICENSE "$out/vega/LICENSE-vega-interpreter"
cp world-atlas/package/countries-110m.json world-atlas/package/LICENSE "$out/world-atlas/"

mkdir bundle && cd bundle
npm init -y >/dev/null
npm install --silent --no-audit --no-fund "vega-interpreter@$VEGA_INTERPRETER" "esbuild@$ESBUILD"
echo 'export { expressionInterpreter } from "vega-interpreter";' > entry.js
node_modules/.bin/esbuild entry.js --bundle --minify --format=iife \
  --global-name=vegaInterpreter --legal-comments=none \
  --outfile="$out/vega/vega-interpreter.min.js"
cp node_modules/vega-util/LICENSE "$out/vega/LICENSE-vega-util"
util="$(node -p 'require("./node_modules/vega-util/package.json").version')"
cat > "$out/vega/VERSIONS" <<END
vega $VEGA
vega-lite $VEGA_LITE
vega-embed $VEGA_EMBED
vega-interpreter $VEGA_INTERPRETER (bundled with vega-util $util by esbuild $ESBUILD)
world-atlas $WORLD_ATLAS (../world-atlas)
Made by deploy/vendor-vega.sh.
END
echo "vendored into $out"
