#!/usr/bin/env bash
# Fetch axe-core (MPL-2.0, from the npm registry) for the console's
# accessibility test: target/axe-core/axe.min.js, checked against the
# registry's sha512. No Node toolchain needed.
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.14.1
sha512=1477dafa598d8d065f273d6af302aa203c02e83131707b7fa648cd41bd3d6b734f8c22a0dab86ee6a6f64b8afbe804b214d36db85a2826965edfb3a0b9d546b5
out=target/axe-core
if [ -f "$out/axe.min.js" ] && [ "$(cat "$out/version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL -o "$tmp/axe.tgz" "https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz"
echo "$sha512  $tmp/axe.tgz" | sha512sum -c --quiet
tar -xzf "$tmp/axe.tgz" -C "$tmp" package/axe.min.js
mv "$tmp/package/axe.min.js" "$out/axe.min.js"
echo "$version" > "$out/version"
echo "axe-core $version in $out"
