#!/usr/bin/env bash
# Build the Linux one-folder bundle, a tarball and a .deb into build/dist/.
#   packaging/linux/build.sh            (uses .venv; installs pyinstaller there if missing)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"
PY=${PY:-.venv/bin/python}
DIST=build/dist
VERSION=$("$PY" -c 'from importlib.metadata import version; print(version("resonance"))')
ARCH=$(dpkg --print-architecture 2>/dev/null || echo amd64)

"$PY" -c 'import PyInstaller' 2>/dev/null || "$PY" -m pip install -q 'pyinstaller>=6.10'
start=$(date +%s)
"$PY" -m PyInstaller packaging/resonance.spec --noconfirm --log-level WARN \
    --distpath "$DIST" --workpath build/pyi
# Strip what stays loadable when stripped, replace the unused video encoders, link
# identical files (packaging/linux/slim.py says what each step saved).
"$PY" packaging/linux/slim.py "$DIST/resonance"
echo "bundle: $DIST/resonance ($(du -sh "$DIST/resonance" | cut -f1))"

# tarball: resonance-VERSION-linux-ARCH.tar.gz holding resonance-VERSION/
stage="build/stage/resonance-$VERSION"
rm -rf build/stage && mkdir -p "$stage"
cp -a "$DIST/resonance/." "$stage/"
cp resources/resonance.desktop "$stage/resonance.desktop"
cp packaging/linux/install-user.sh "$stage/install.sh"
tar -C build/stage -czf "$DIST/resonance-$VERSION-linux-$ARCH.tar.gz" "resonance-$VERSION"

# .deb: /opt/resonance + /usr/bin/resonance + menu entry + icons
deb=build/deb
rm -rf "$deb" && mkdir -p "$deb/DEBIAN" "$deb/opt" "$deb/usr/bin" \
    "$deb/usr/share/applications" "$deb/usr/share/icons/hicolor/scalable/apps" \
    "$deb/usr/share/icons/hicolor/256x256/apps"
cp -a "$DIST/resonance" "$deb/opt/resonance"
cat > "$deb/usr/bin/resonance" <<'SH'
#!/bin/sh
exec /opt/resonance/resonance "$@"
SH
chmod 755 "$deb/usr/bin/resonance"
cp resources/resonance.desktop "$deb/usr/share/applications/resonance.desktop"
cp resources/icons/resonance.svg "$deb/usr/share/icons/hicolor/scalable/apps/resonance.svg"
cp resources/icons/resonance.png "$deb/usr/share/icons/hicolor/256x256/apps/resonance.png"
size_kb=$(du -sk "$deb" | cut -f1)
depends=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' packaging/linux/app-depends.txt | grep -v '^$' \
    | paste -sd, | sed 's/,/, /g')
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@SIZE@/$size_kb/" \
    -e "s/@DEPENDS@/$depends/" \
    packaging/linux/control.in > "$deb/DEBIAN/control"
install -m 755 packaging/linux/postinst packaging/linux/postrm "$deb/DEBIAN/"
dpkg-deb --root-owner-group -Zxz --build "$deb" "$DIST/resonance_${VERSION}_$ARCH.deb" >/dev/null
end=$(date +%s)
echo "built in $((end - start)) s:"
ls -lh "$DIST"/*.tar.gz "$DIST"/*.deb
