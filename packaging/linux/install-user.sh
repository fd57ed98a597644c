#!/usr/bin/env bash
# Install HealthQA for the current user, without root: the app folder, the
# `healthqa-desktop` and `healthqa` commands, a menu entry, icons and AppStream
# metadata, all under ~/.local.
#
#   ./install-user.sh                  install or update (from the release archive or a built checkout)
#   ./install-user.sh --uninstall      remove everything this script installed
#
# Options: --bundle DIR  the built HealthQA folder (default: ./HealthQA beside
#          this script, else dist/HealthQA of the checkout);
#          --prefix DIR  where to install (default: ~/.local).
# Workspaces (~/.local/share/HealthQA) are the user's data and are never touched.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PREFIX="$HOME/.local"
BUNDLE=""
MODE=install
while [[ $# -gt 0 ]]; do
  case "$1" in
    --uninstall) MODE=uninstall ;;
    --bundle) BUNDLE="${2:?--bundle needs a folder}"; shift ;;
    --prefix) PREFIX="${2:?--prefix needs a folder}"; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "install-user.sh: unknown option $1" >&2; exit 64 ;;
  esac
  shift
done

APP_ID=io.healthqa.HealthQA
ICON=healthqa
ICON_SIZES=(16 32 48 64 128 256 512)
COMMANDS=(healthqa-desktop healthqa)
APP_DIR="$PREFIX/lib/healthqa"
BIN_DIR="$PREFIX/bin"
SHARE="$PREFIX/share"
DESKTOP_FILE="$SHARE/applications/$APP_ID.desktop"
METAINFO_FILE="$SHARE/metainfo/$APP_ID.metainfo.xml"
HICOLOR="$SHARE/icons/hicolor"
# Written into each launcher so --uninstall removes ours and never, say, a pip-installed `healthqa`.
MARKER="# installed by HealthQA install-user.sh"

refresh_menus() {
  if command -v update-desktop-database >/dev/null; then update-desktop-database -q "$SHARE/applications" || true; fi
  if command -v gtk-update-icon-cache >/dev/null; then gtk-update-icon-cache -q -f -t "$HICOLOR" 2>/dev/null || true; fi
}

uninstall() {
  rm -rf "$APP_DIR"
  for command in "${COMMANDS[@]}"; do
    if [[ -f "$BIN_DIR/$command" ]] && grep -qxF "$MARKER" "$BIN_DIR/$command"; then rm -f "$BIN_DIR/$command"; fi
  done
  rm -f "$DESKTOP_FILE" "$METAINFO_FILE" "$HICOLOR/scalable/apps/$ICON.svg"
  for size in "${ICON_SIZES[@]}"; do rm -f "$HICOLOR/${size}x${size}/apps/$ICON.png"; done
  refresh_menus
  echo "HealthQA removed from $PREFIX (workspaces in ~/.local/share/HealthQA are kept)."
}

install_app() {
  if [[ -z "$BUNDLE" ]]; then
    if [[ -d "$HERE/HealthQA" ]]; then BUNDLE="$HERE/HealthQA"; else BUNDLE="$HERE/../../dist/HealthQA"; fi
  fi
  for command in "${COMMANDS[@]}"; do
    [[ -x "$BUNDLE/$command" ]] || { echo "install-user.sh: no built app at $BUNDLE (run packaging/build.sh first)" >&2; exit 1; }
  done
  local icons
  icons=$(find "$BUNDLE" -type d -path "*/resources/icons/app" -print -quit)
  [[ -n "$icons" ]] || { echo "install-user.sh: $BUNDLE has no resources/icons/app" >&2; exit 1; }

  # Copy beside, then swap: an update never leaves a half-copied app behind.
  mkdir -p "$(dirname "$APP_DIR")" "$BIN_DIR" "$SHARE/applications" "$SHARE/metainfo"
  rm -rf "$APP_DIR.new"
  cp -a "$BUNDLE" "$APP_DIR.new"
  rm -rf "$APP_DIR"
  mv "$APP_DIR.new" "$APP_DIR"

  for command in "${COMMANDS[@]}"; do
    if [[ -e "$BIN_DIR/$command" ]] && ! grep -qxF "$MARKER" "$BIN_DIR/$command"; then
      echo "  note: $BIN_DIR/$command is someone else's; left as it is (the app is $APP_DIR/$command)"
      continue
    fi
    printf '#!/bin/sh\n%s\nexec "%s/%s" "$@"\n' "$MARKER" "$APP_DIR" "$command" >"$BIN_DIR/$command"
    chmod 755 "$BIN_DIR/$command"
  done

  # The menu entry starts the app by its full path: ~/.local/bin is not on
  # every desktop session's PATH. Quoted as the Desktop Entry spec asks.
  local exec_path="\"$APP_DIR/healthqa-desktop\""
  sed -e "s|^Exec=.*|Exec=$exec_path|" -e "s|^TryExec=.*|TryExec=$APP_DIR/healthqa-desktop|" \
    "$HERE/healthqa.desktop" >"$DESKTOP_FILE"
  chmod 644 "$DESKTOP_FILE"
  install -m 644 "$HERE/$APP_ID.metainfo.xml" "$METAINFO_FILE"
  for size in "${ICON_SIZES[@]}"; do
    install -D -m 644 "$icons/$ICON-$size.png" "$HICOLOR/${size}x${size}/apps/$ICON.png"
  done
  install -D -m 644 "$icons/$ICON.svg" "$HICOLOR/scalable/apps/$ICON.svg"
  refresh_menus

  echo "HealthQA installed in $APP_DIR"
  echo "  menu:    HealthQA (Science / Education)"
  echo "  command: $BIN_DIR/healthqa-desktop, $BIN_DIR/healthqa"
  case ":$PATH:" in *":$BIN_DIR:"*) ;; *) echo "  note: $BIN_DIR is not on your PATH; the menu entry works anyway." ;; esac
}

if [[ $MODE == uninstall ]]; then uninstall; else install_app; fi
