#!/usr/bin/env bash
# Install this unpacked Resonance tarball for the current user (no root needed):
# a launcher in ~/.local/bin and a menu entry. Run it from the unpacked folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p ~/.local/bin ~/.local/share/applications ~/.local/share/icons/hicolor/256x256/apps
ln -sf "$here/resonance" ~/.local/bin/resonance
cp "$here/_internal/resources/icons/resonance.png" ~/.local/share/icons/hicolor/256x256/apps/
sed "s|^Exec=.*|Exec=$here/resonance %F|" "$here/resonance.desktop" \
    > ~/.local/share/applications/resonance.desktop
echo "Installed: run 'resonance' or pick Resonance from the applications menu."
