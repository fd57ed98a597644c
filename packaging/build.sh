#!/usr/bin/env bash
# Build the HealthQA desktop bundle from a clean checkout, then prove it works.
#
#   packaging/build.sh [--fresh] [--no-archive]
#
#   --fresh       recreate the build virtualenv (default: reuse build/package-venv)
#   --no-archive  skip the release archive dist/healthqa-<version>-linux-<arch>.tar.gz
#
# Environment: PYTHON (default python3, must be 3.11+), HEALTHQA_BUILD_VENV.
#
# Steps: a virtualenv of its own with PyInstaller and the project installed
# (not editable, so only declared dependencies are there), PyInstaller on
# packaging/healthqa.spec -> dist/HealthQA/, then checks on the FROZEN
# executables, with no Python of ours on the path:
#   desktop: healthqa-desktop --workspace W --screenshot PNG, offscreen (and on
#            Xvfb when installed); the PNG must exist and show a real window
#            (size and colours checked);
#   cli:     healthqa import <bundled rubrics/demo.jsonl> and healthqa score;
#   libraries: every bundled library finds what it needs (check_bundle_libs.py).
# Exits non-zero when any fails. Prints the build time, the bundle size on
# disk and the time from launching the frozen app to its screenshot, and
# writes them to build/packaging-report.json.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
VENV="${HEALTHQA_BUILD_VENV:-$ROOT/build/package-venv}"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
REPORT="$ROOT/build/packaging-report.json"
FRESH=0
ARCHIVE=1
for arg in "$@"; do
  case "$arg" in
    --fresh) FRESH=1 ;;
    --no-archive) ARCHIVE=0 ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $arg" >&2; exit 64 ;;
  esac
done

now() { date +%s.%N; }
seconds() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
step() { printf '\n== %s\n' "$*"; }

mkdir -p "$ROOT/build"
rm -f "$REPORT"
t_start=$(now)

step "build environment ($VENV)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
  || { echo "build.sh: needs Python 3.11+ (set PYTHON=...)" >&2; exit 1; }
[[ $FRESH == 1 ]] && rm -rf "$VENV"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
VPY="$VENV/bin/python"
if ! "$VPY" -m pip install --quiet --disable-pip-version-check pyinstaller "$ROOT" >"$ROOT/build/pip.log" 2>&1; then
  tail -20 "$ROOT/build/pip.log"
  echo "build.sh: pip install failed (full log: build/pip.log)" >&2
  exit 1
fi
"$VPY" -c 'import PyInstaller, healthqa, PySide6' || { echo "build.sh: build environment incomplete" >&2; exit 1; }

# Qt's X11 platform plugin needs these xcb helper libraries; PyInstaller can
# only bundle what the build machine has, so a machine without them would
# build an app that starts nowhere but Wayland. (Debian/Ubuntu names.)
QT_XCB_PACKAGES="libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 libxcb-image0 libxcb-render-util0 libxcb-shape0 libxcb-randr0 libxcb-xkb1 libxkbcommon-x11-0"
xcb_plugin=$("$VPY" -c 'import PySide6, pathlib; print(pathlib.Path(PySide6.__file__).parent / "Qt/plugins/platforms/libqxcb.so")')
if ldd "$xcb_plugin" | grep -q "not found"; then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    echo "installing the xcb libraries Qt needs: $QT_XCB_PACKAGES"
    apt-get install -y -qq $QT_XCB_PACKAGES >/dev/null || { apt-get update -qq && apt-get install -y -qq $QT_XCB_PACKAGES >/dev/null; }
  fi
  if ldd "$xcb_plugin" | grep "not found"; then
    echo "build.sh: install the libraries above first (Debian/Ubuntu: apt-get install $QT_XCB_PACKAGES)" >&2
    exit 1
  fi
fi
NAME=$("$VPY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["name"])')
VERSION=$("$VPY" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
APP=$("$VPY" -c 'import sys; sys.path.insert(0, "."); from healthqa.paths import APP_NAME; print(APP_NAME)')
BUNDLE="$DIST/$APP"
t_env=$(now)

step "pyinstaller packaging/healthqa.spec -> ${BUNDLE#$ROOT/}"
if ! "$VPY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" --workpath "$WORK" \
     packaging/healthqa.spec >"$ROOT/build/pyinstaller.log" 2>&1; then
  tail -40 "$ROOT/build/pyinstaller.log"
  echo "build.sh: PyInstaller failed (full log: build/pyinstaller.log)" >&2
  exit 1
fi
# The build Python's own libraries (pyenv and similar compile it with -g) carry
# ~20 MB of debug symbols. Wheels' libraries are left alone: auditwheel's
# patchelf-edited ones (numpy.libs/...) break when stripped.
if command -v strip >/dev/null; then
  find "$BUNDLE" -type f \( -name 'libpython3*.so*' -o -path '*/lib-dynload/*.so' \) -print0 \
    | xargs -0 -r strip --strip-unneeded
fi
t_built=$(now)
build_s=$(seconds "$t_start" "$t_built")
pyinstaller_s=$(seconds "$t_env" "$t_built")
bundle_bytes=$(du -sb "$BUNDLE" | cut -f1)
bundle_human=$(du -sh "$BUNDLE" | cut -f1)
bundle_files=$(find "$BUNDLE" -type f | wc -l)

# Run the frozen programs as a clinician's machine would: no source tree on
# the path, settings and data in a throwaway home, no display.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
frozen() {
  env -u PYTHONPATH -u VIRTUAL_ENV HOME="$SCRATCH/home" XDG_CONFIG_HOME="$SCRATCH/home/.config" \
    XDG_DATA_HOME="$SCRATCH/home/.local/share" XDG_CACHE_HOME="$SCRATCH/home/.cache" \
    QT_QPA_PLATFORM=offscreen "$@"
}
mkdir -p "$SCRATCH/home"
# Timings below are with a warm disk cache, as on a clinician's second start.
(cd "$SCRATCH" && frozen "$BUNDLE/healthqa" --version) >/dev/null 2>&1 || true

step "check: frozen healthqa-desktop --screenshot (offscreen)"
desktop=FAIL
shot="$SCRATCH/screenshot.png"
t0=$(now)
if (cd "$SCRATCH" && frozen timeout 180 "$BUNDLE/healthqa-desktop" --workspace "$SCRATCH/desktop.healthqa" \
      --screenshot "$shot") >"$SCRATCH/desktop.log" 2>&1; then
  shot_s=$(seconds "$t0" "$(now)")
  if "$VPY" "$ROOT/packaging/check_screenshot.py" "$shot"; then
    desktop=PASS
    mkdir -p "$ROOT/build" && cp "$shot" "$ROOT/build/frozen-screenshot.png"
  fi
else
  shot_s=$(seconds "$t0" "$(now)")
  echo "frozen healthqa-desktop failed:"; tail -20 "$SCRATCH/desktop.log"
fi
# Offscreen proves the Python side; a real X server proves the bundled xcb
# platform plugin and its libraries load too. Done wherever Xvfb is installed.
if [[ $desktop == PASS ]] && command -v xvfb-run >/dev/null; then
  step "check: frozen healthqa-desktop --screenshot on an X server (Xvfb)"
  x11_shot="$SCRATCH/screenshot-x11.png"
  if ! (cd "$SCRATCH" && frozen env -u QT_QPA_PLATFORM -u WAYLAND_DISPLAY QT_QPA_PLATFORM=xcb \
          timeout 180 xvfb-run -a -s "-screen 0 1280x800x24" "$BUNDLE/healthqa-desktop" \
          --workspace "$SCRATCH/desktop-x11.healthqa" --screenshot "$x11_shot") >"$SCRATCH/desktop-x11.log" 2>&1 \
     || ! "$VPY" "$ROOT/packaging/check_screenshot.py" "$x11_shot"; then
    desktop=FAIL
    echo "frozen healthqa-desktop failed on X11:"; tail -20 "$SCRATCH/desktop-x11.log"
  fi
fi

step "check: frozen healthqa import <bundled demo set> + score"
cli=FAIL
demo=$(find "$BUNDLE" -path "*/rubrics/demo.jsonl" -print -quit)
ws="$SCRATCH/cli.healthqa"
if [[ -z "$demo" ]]; then
  echo "rubrics/demo.jsonl is not in the bundle"
elif (cd "$SCRATCH" && frozen "$BUNDLE/healthqa" --version | grep -qx "healthqa $VERSION") \
  && (cd "$SCRATCH" && frozen "$BUNDLE/healthqa" --workspace "$ws" import "$demo") \
  && (cd "$SCRATCH" && frozen "$BUNDLE/healthqa" --workspace "$ws" sets) \
  && (cd "$SCRATCH" && frozen "$BUNDLE/healthqa" --workspace "$ws" score); then
  cli=PASS
else
  echo "frozen healthqa failed"
fi

step "check: every bundled library finds the libraries it needs"
libs=FAIL
"$VPY" "$ROOT/packaging/check_bundle_libs.py" "$BUNDLE" && libs=PASS

archive=""
if [[ $ARCHIVE == 1 && $desktop == PASS && $cli == PASS && $libs == PASS ]]; then
  step "release archive"
  archive="$DIST/$NAME-$VERSION-linux-$(uname -m).tar.gz"
  stage="$ROOT/build/release/$NAME-$VERSION"
  rm -rf "$ROOT/build/release" && mkdir -p "$stage"
  cp -a "$BUNDLE" "$stage/$APP"
  cp packaging/linux/install-user.sh packaging/linux/healthqa.desktop packaging/linux/io.healthqa.HealthQA.metainfo.xml "$stage/"
  tar -C "$ROOT/build/release" -czf "$archive" "$NAME-$VERSION"
  rm -rf "$ROOT/build/release"
  echo "${archive#$ROOT/} ($(du -sh "$archive" | cut -f1))"
fi

cat >"$REPORT" <<EOF
{"version": "$VERSION", "desktop_check": "$desktop", "cli_check": "$cli", "library_check": "$libs",
 "build_seconds": $build_s, "pyinstaller_seconds": $pyinstaller_s,
 "bundle_bytes": $bundle_bytes, "bundle_files": $bundle_files,
 "launch_to_screenshot_seconds": $shot_s, "archive": "${archive#$ROOT/}"}
EOF

step "figures"
echo "build time:            ${build_s} s (PyInstaller ${pyinstaller_s} s)"
echo "bundle size on disk:   ${bundle_human} (${bundle_bytes} bytes, ${bundle_files} files) in ${BUNDLE#$ROOT/}"
echo "launch to screenshot:  ${shot_s} s (frozen healthqa-desktop, offscreen, until it exits)"
echo "checks:                desktop=$desktop cli=$cli libraries=$libs"
[[ $desktop == PASS && $cli == PASS && $libs == PASS ]]
