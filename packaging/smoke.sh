#!/usr/bin/env bash
# Build the Linux bundle, tarball and .deb, then check the BUILT app headless:
#   --version, `selftest` (scan a generated folder, query it), the GUI starting
#   offscreen and quitting by itself, a scan of an AAC file, map --out, duplicates,
#   similar; then install the .deb with apt-get, run it
#   from /usr/bin, and remove it again. Prints sizes and timings.
#   packaging/smoke.sh [--no-build] [--no-deb]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
build=1 deb=1
for arg in "$@"; do
    case $arg in --no-build) build=0 ;; --no-deb) deb=0 ;; esac
done
say() { printf '\033[1m[smoke]\033[0m %s\n' "$*"; }
secs() { python3 -c 'import time; print(f"{time.perf_counter():.3f}")'; }

if [ $build = 1 ]; then
    t0=$(secs); packaging/linux/build.sh; t1=$(secs)
    say "build time: $(python3 -c "print(round($t1 - $t0, 1))") s"
fi
APP=build/dist/resonance/resonance
PY=${PY:-.venv/bin/python}  # writes the test media (PyAV, soundfile)
export QT_QPA_PLATFORM=offscreen
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export XDG_DATA_HOME="$tmp/data" XDG_CONFIG_HOME="$tmp/config" RESONANCE_SETTINGS="$tmp/settings.ini"

size_mib=$(du -sm build/dist/resonance | cut -f1)
say "bundle size: $size_mib MiB unpacked (budget < 450)"
[ "$size_mib" -lt 450 ] || { say "FAILED: the bundle is over its size budget"; exit 1; }
t0=$(secs); "$APP" --version; t1=$(secs)
say "cold start to --version: $(python3 -c "print(round($t1 - $t0, 2))") s"
t0=$(secs); "$APP" --version >/dev/null; t1=$(secs)
say "warm start to --version: $(python3 -c "print(round($t1 - $t0, 2))") s"
"$APP" selftest --keep "$tmp/selftest"
# The library map (t-SNE needs 8+ tracks), duplicates (scipy.signal) and PyAV's FFmpeg
# (an AAC .m4a) in the built app: the bundle's exclusions and stand-ins must not reach them.
"$PY" packaging/linux/smoke_media.py "$tmp/selftest/music" "$tmp/extra"
lib="$tmp/library2"
"$APP" scan --quiet --library "$lib" "$tmp/selftest/music" "$tmp/selftest/queries" "$tmp/extra"
"$APP" status --library "$lib" | grep "tracks: 14 (14 searchable" >/dev/null \
    || { say "FAILED: not every file was scanned"; "$APP" status --library "$lib"; exit 1; }
"$APP" map --library "$lib" --out "$tmp/map.png"
head -c 8 "$tmp/map.png" | od -An -c | grep "P   N   G" >/dev/null || { say "FAILED: map.png"; exit 1; }
"$APP" duplicates --library "$lib" > "$tmp/duplicates.txt"
grep -q "copy0.m4a" "$tmp/duplicates.txt" && grep -q "trim1.ogg" "$tmp/duplicates.txt" \
    || { say "FAILED: duplicates"; cat "$tmp/duplicates.txt"; exit 1; }
"$APP" similar --library "$lib" -k 3 "$tmp/extra/copy0.m4a" | grep "track0" >/dev/null \
    || { say "FAILED: similar to the .m4a"; exit 1; }
say "built app: scan with an AAC file, map --out, duplicates and similar passed"
t0=$(secs); RESONANCE_QUIT_AFTER_MS=1 "$APP"; t1=$(secs)
say "GUI: started offscreen, window shown and closed cleanly in $(python3 -c "print(round($t1 - $t0, 2))") s"
if command -v xvfb-run >/dev/null; then
    QT_QPA_PLATFORM=xcb RESONANCE_QUIT_AFTER_MS=300 xvfb-run -a -s "-screen 0 1280x720x24" "$APP"
    say "GUI: started on the real xcb platform (Xvfb) and closed cleanly"
fi

if [ $deb = 1 ]; then
    pkg=$(ls build/dist/resonance_*.deb | head -n1)
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing $pkg"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "./$pkg" >/dev/null
    /usr/bin/resonance --version
    /usr/bin/resonance selftest >/dev/null && say "installed app: selftest passed"
    test -f /usr/share/applications/resonance.desktop
    DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 remove -y -qq resonance >/dev/null
    if [ -e /opt/resonance ] || [ -e /usr/bin/resonance ]; then
        say "FAILED: files left after apt-get remove"; exit 1
    fi
    say "deb installed and removed cleanly"
fi
say "passed"
