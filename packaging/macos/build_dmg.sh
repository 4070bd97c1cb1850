#!/usr/bin/env bash
# Build Resonance.app and Resonance-VERSION.dmg on macOS (run on a Mac; not buildable on Linux).
#   python3 -m venv .venv && .venv/bin/pip install -e . pyinstaller
#   packaging/macos/build_dmg.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
VERSION=$("$PY" -c 'from importlib.metadata import version; print(version("resonance"))')
"$PY" -m PyInstaller packaging/resonance.spec --noconfirm --distpath build/dist --workpath build/pyi
# The spec's BUNDLE step writes build/dist/Resonance.app on macOS. Sign it when an
# identity is configured (otherwise Gatekeeper asks users to right-click > Open once).
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    codesign --deep --force --options runtime --sign "$CODESIGN_IDENTITY" build/dist/Resonance.app
fi
stage=build/dmg && rm -rf "$stage" && mkdir -p "$stage"
cp -R build/dist/Resonance.app "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "Resonance $VERSION" -srcfolder "$stage" -ov -format UDZO \
    "build/dist/Resonance-$VERSION.dmg"
echo "built build/dist/Resonance-$VERSION.dmg"
