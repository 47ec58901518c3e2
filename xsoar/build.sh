#!/usr/bin/env bash
# Builds and checks the XSOAR pack (xsoar/Packs/CertSentry, its playbooks from
# playbooks/): demisto-sdk validate (offline config), the unified integration
# YAML and the uploadable zip.
#   xsoar/build.sh            -> dist/CertSentry.zip, dist/integration-CertSentry.yml
# Needs demisto-sdk on PATH (or DEMISTO_SDK=/path/to/demisto-sdk), e.g.
#   python3 -m venv .venv-xsoar && .venv-xsoar/bin/pip install demisto-sdk==1.39.13
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sdk="${DEMISTO_SDK:-demisto-sdk}"
if ! command -v "$sdk" >/dev/null 2>&1; then
  echo "demisto-sdk not found: install it (pip install demisto-sdk==1.39.13) or set DEMISTO_SDK" >&2
  exit 2
fi
export DEMISTO_SDK_IGNORE_CONTENT_WARNING=1
dist="$root/dist"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# demisto-sdk works on a content repository: a git repo holding Packs/
content="$work/content"
mkdir -p "$content"
cp -rL "$root/xsoar/Packs" "$content/Packs"
find "$content" -name '__pycache__' -prune -exec rm -rf {} +
touch "$content/.private-repo-settings"
(
  cd "$content"
  git init -q
  git -c user.name=build -c user.email=build@localhost add -A
  git -c user.name=build -c user.email=build@localhost commit -q -m pack
)
cd "$content"
echo "== validate (offline config: xsoar/validate-offline.toml)"
"$sdk" validate -i Packs/CertSentry --config-path "$root/xsoar/validate-offline.toml"
echo "== unify"
mkdir -p "$dist"
rm -f "$dist/integration-CertSentry.yml" "$dist/CertSentry.zip"
"$sdk" unify -i Packs/CertSentry/Integrations/CertSentry -o "$dist"
echo "== zip-packs"
rm -rf "$work/zip"
"$sdk" zip-packs -i Packs/CertSentry -o "$work/zip"
zip="$(find "$work/zip" -name 'CertSentry.zip' | head -n 1)"
if [ -z "$zip" ]; then
  echo "zip-packs made no CertSentry.zip" >&2
  exit 1
fi
cp "$zip" "$dist/CertSentry.zip"
echo "built $dist/CertSentry.zip and $(ls "$dist"/integration-*.yml)"
