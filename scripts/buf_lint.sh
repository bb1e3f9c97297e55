#!/usr/bin/env bash
# Lint and format-check the gRPC contract in proto/ with Buf.
#
#   scripts/buf_lint.sh
#
# Runs, in proto/ (proto/buf.yaml holds the rules):
#   buf lint                     the STANDARD rules, minus the documented exceptions for WMI's names
#   buf format -d --exit-code    the canonical formatting; prints a diff and fails if a file differs
#
# Buf comes from $BUF if set, else from `buf` on PATH if it is the pinned version, else it is
# installed once from the npm registry (the @bufbuild/buf package ships the binary through its
# optional per-platform dependencies) into a cache directory:
#   ${WMIPUT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wmiput}/buf-<version>
# Needs npm only for that first install. Exit status: 0 clean, 1 lint or format findings,
# 2 Buf could not be found or installed.
set -euo pipefail

BUF_VERSION="1.75.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_ROOT="${WMIPUT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/wmiput}"
INSTALL_DIR="$CACHE_ROOT/buf-$BUF_VERSION"

version_of() {
  "$1" --version 2>/dev/null | head -n 1 || true
}

find_buf() {
  if [[ -n "${BUF:-}" ]]; then
    echo "$BUF"
    return
  fi
  if command -v buf >/dev/null 2>&1 && [[ "$(version_of buf)" == "$BUF_VERSION" ]]; then
    command -v buf
    return
  fi
  local cached="$INSTALL_DIR/node_modules/.bin/buf"
  if [[ -x "$cached" && "$(version_of "$cached")" == "$BUF_VERSION" ]]; then
    echo "$cached"
    return
  fi
  if ! command -v npm >/dev/null 2>&1; then
    echo "buf_lint: buf $BUF_VERSION is not installed and npm is not available to install it" >&2
    return 2
  fi
  echo "buf_lint: installing @bufbuild/buf@$BUF_VERSION into $INSTALL_DIR" >&2
  mkdir -p "$CACHE_ROOT"
  # Install beside the final place, then move it there, so an interrupted install is never used.
  local staging
  staging="$(mktemp -d "$CACHE_ROOT/.buf-$BUF_VERSION.XXXXXX")"
  if ! npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$staging" \
      "@bufbuild/buf@$BUF_VERSION" >&2; then
    rm -rf "$staging"
    echo "buf_lint: npm install @bufbuild/buf@$BUF_VERSION failed" >&2
    return 2
  fi
  rm -rf "$INSTALL_DIR"
  mv "$staging" "$INSTALL_DIR"
  if [[ "$(version_of "$cached")" != "$BUF_VERSION" ]]; then
    echo "buf_lint: the installed buf does not run (no binary for $(uname -s)/$(uname -m)?)" >&2
    return 2
  fi
  echo "$cached"
}

BUF_BIN="$(find_buf)" || exit 2
echo "buf_lint: using $BUF_BIN ($(version_of "$BUF_BIN"))"

cd "$ROOT/proto"
status=0

echo "== buf lint"
if "$BUF_BIN" lint; then
  echo "ok"
else
  status=1
fi

echo "== buf format -d --exit-code"
if "$BUF_BIN" format -d --exit-code; then
  echo "ok"
else
  status=1
fi

exit "$status"
