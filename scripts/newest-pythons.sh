#!/bin/sh
# CPython 3.14 and 3.15 for the matrix, where pyenv has none and cannot
# download them: Debian's own builds (sid; forky when sid fails), unpacked into
# a private folder outside the checkout and run through their own ld.so.
# Nothing is installed into the system: apt runs with a private state.
#
#   scripts/newest-pythons.sh [DIR]
#
# DIR defaults to $PORTFIX_PYTHONS, else ~/.cache/portfix-pythons.  Leaves
# DIR/bin/python3.14 and DIR/bin/python3.15 (each execs the binary in
# DIR/prefix) and prints DIR/bin on stdout: the folder to put on PATH
# (noxfile.py adds it by itself).  A DIR whose interpreters already work
# (their venvs too) is reused as it is; anything else there is replaced.
# Any failure exits non-zero with the reason on stderr.
#
# Environment: PORTFIX_DEBIAN_MIRROR (default http://deb.debian.org/debian),
# PORTFIX_DEBIAN_SUITES (default "sid forky": tried in this order).
#
# Why each step (measured on Debian 12, see the project's notes on the
# newest Pythons): sid's binaries need glibc >= 2.38 (Debian 12 has 2.36), so
# each python3.X binary is pointed at the unpacked ld.so and libraries
# (patchelf, from the same suite, run through that ld.so): it then runs as an
# ordinary program, its process's command line and sys.executable are its own
# (a shell wrapper around ld.so would show the loader's command line to every
# test that reads /proc), and the host's programs are left alone.  Debian's
# ensurepip looks for its wheels under the host's /usr/share/python-wheels;
# Debian's pyconfig.h includes a multiarch copy that C extensions would not
# find; and Debian ships no stdlib .pyc, which every fresh interpreter would
# otherwise compile.
set -eu

VERSIONS="3.14 3.15"
MIRROR=${PORTFIX_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITES=${PORTFIX_DEBIAN_SUITES:-"sid forky"}
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
DIR=${1:-${PORTFIX_PYTHONS:-$HOME/.cache/portfix-pythons}}
BIN=$DIR/bin
PREFIX=$DIR/prefix

say() { echo "newest-pythons: $*" >&2; }
fail() { say "FAILED: $*"; exit 1; }

# What a cell needs of an interpreter: these modules, and a venv that runs.
# With "pip", the venv also gets pip from ensurepip (slower: done once, after
# unpacking).
works() {
  for v in $VERSIONS; do
    "$BIN/python$v" -c "import ssl, sqlite3, ctypes, venv, ensurepip, sys; assert sys.version_info[:2] == tuple(map(int, '$v'.split('.')))" \
      >/dev/null 2>&1 || return 1
    scratch=$(mktemp -d)
    if [ "${1:-}" = pip ]; then
      "$BIN/python$v" -m venv "$scratch/venv" >/dev/null 2>&1 && "$scratch/venv/bin/python" -m pip --version >/dev/null 2>&1
    else
      "$BIN/python$v" -m venv --without-pip "$scratch/venv" >/dev/null 2>&1 && "$scratch/venv/bin/python" -c "import encodings, ssl"
    fi || { rm -rf "$scratch"; return 1; }
    rm -rf "$scratch"
  done
}

mkdir -p "$DIR" || fail "cannot create $DIR"
DIR=$(cd "$DIR" && pwd -P)  # absolute: it is written into the binaries and ensurepip
case $DIR in *[!A-Za-z0-9/._+@-]*) fail "the folder's path has characters this script does not quote: $DIR" ;; esac
BIN=$DIR/bin
PREFIX=$DIR/prefix
command -v flock >/dev/null 2>&1 || fail "flock (util-linux) is needed"
exec 9>"$DIR/.lock"
flock 9  # two runs at once: the second waits, then reuses

if works; then
  say "reusing $DIR ($("$BIN/python3.14" -V 2>&1), $("$BIN/python3.15" -V 2>&1))"
  echo "$BIN"
  exit 0
fi

for tool in apt-get dpkg; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed (a Debian-based machine)"
done
[ -r "$KEYRING" ] || fail "$KEYRING is missing (package debian-archive-keyring)"
packages="patchelf"
for v in $VERSIONS; do packages="$packages python$v python$v-venv python$v-dev"; done

# Unpacks one suite's packages into $PREFIX and points the interpreters at its ld.so.
# Returns non-zero (with the reason said) when this suite cannot be used.
unpack_suite() {
  suite=$1
  state=$(mktemp -d)
  mkdir -p "$state/lists/partial" "$state/cache/archives/partial"
  : >"$state/status"
  echo "deb [signed-by=$KEYRING] $MIRROR $suite main" >"$state/sources.list"
  set -- -o "Dir::Etc::SourceList=$state/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::Etc::Preferences=/nonexistent -o Dir::Etc::PreferencesParts=/nonexistent \
    -o "Dir::State::Lists=$state/lists" -o "Dir::Cache=$state/cache" -o "Dir::State::status=$state/status" \
    -o Debug::NoLocking=true -o APT::Install-Recommends=false -o APT::Install-Suggests=false
  say "$suite: reading the package lists from $MIRROR"
  # apt-get update exits 0 when a fetch fails (a warning): check for a list.
  if ! apt-get -q "$@" update >"$state/log" 2>&1 || ! ls "$state"/lists/*_Packages* >/dev/null 2>&1; then
    say "$suite: apt-get update failed:"; tail -5 "$state/log" >&2; rm -rf "$state"; return 1
  fi
  say "$suite: downloading $packages (and what they need)"
  # shellcheck disable=SC2086
  if ! apt-get -q -y "$@" install --download-only $packages >"$state/log" 2>&1; then
    say "$suite: apt-get install --download-only failed:"; tail -8 "$state/log" >&2; rm -rf "$state"; return 1
  fi
  rm -rf "$PREFIX" "$BIN"
  mkdir -p "$PREFIX" "$BIN"
  count=0
  for deb in "$state"/cache/archives/*.deb; do
    dpkg -x "$deb" "$PREFIX" || { say "$suite: dpkg -x $deb failed"; rm -rf "$state"; return 1; }
    count=$((count + 1))
  done
  rm -rf "$state"
  say "$suite: unpacked $count packages into $PREFIX"

  loader=$(ls "$PREFIX"/usr/lib/*/ld-linux*.so.* 2>/dev/null | head -n 1)
  [ -n "$loader" ] || { say "$suite: no ld.so among the unpacked files"; return 1; }
  libdir=$(dirname "$loader")
  multiarch=$(basename "$libdir")
  for v in $VERSIONS; do
    python=$PREFIX/usr/bin/python$v
    [ -x "$python" ] || { say "$suite: no usr/bin/python$v"; return 1; }
    # DT_RPATH (not RUNPATH): it also serves the libraries that extension
    # modules load (libcrypto for _ssl...), so none comes from the host.
    # Two calls, rpath first: patchelf 0.18 making both changes in one call
    # left segments overlapping (the binary crashed at start).
    patchelf() { "$loader" --library-path "$libdir" "$PREFIX/usr/bin/patchelf" "$@"; }
    if ! patchelf --force-rpath --set-rpath "$libdir" "$python" || ! patchelf --set-interpreter "$loader" "$python"; then
      say "$suite: patchelf could not point python$v at $loader"; return 1
    fi
    # An exec, not a symlink: sys.executable is then the binary's own path,
    # and a venv made from it names prefix/usr/bin as its home (forky's 3.14.8
    # and 3.15.0 do not follow a symlinked home: "Failed to import encodings").
    printf '#!/bin/sh\nexec %s "$@"\n' "$python" >"$BIN/python$v"
    chmod 755 "$BIN/python$v"

    # Debian's ensurepip takes its wheels from the folder its build names
    # (WHEEL_PKG_DIR: the host's /usr/share/python-wheels): ours instead.
    ensurepip=$PREFIX/usr/lib/python$v/ensurepip/__init__.py
    sed -i "s|^_pkg_dir = .*|_pkg_dir = '$PREFIX/usr/share/python-wheels'  # newest-pythons.sh|" "$ensurepip"
    grep -q "^_pkg_dir = '$PREFIX/usr/share/python-wheels'" "$ensurepip" ||
      { say "$suite: could not point ensurepip's _pkg_dir at $PREFIX/usr/share/python-wheels"; return 1; }

    # C extensions (markupsafe's speedups) include <pyconfig.h>, which on
    # Debian includes a multiarch path that is not on the include path.
    if [ -f "$PREFIX/usr/include/$multiarch/python$v/pyconfig.h" ]; then
      cp "$PREFIX/usr/include/$multiarch/python$v/pyconfig.h" "$PREFIX/usr/include/python$v/pyconfig.h"
    fi

    # The stdlib's .pyc, once, so that no cell pays for them.
    "$BIN/python$v" -m compileall -q -j 0 -x '/(test|idlelib|lib2to3/tests)/' "$PREFIX/usr/lib/python$v" >/dev/null 2>&1 ||
      say "$suite: compileall of python$v's stdlib reported errors (kept going)"
  done
  works pip || { say "$suite: the unpacked interpreters, or venvs made with them, do not run"; return 1; }
  echo "$suite" >"$DIR/suite"
}

started=$(date +%s)
for suite in $SUITES; do
  if unpack_suite "$suite"; then
    say "ready in $(( $(date +%s) - started )) s from Debian $suite: $("$BIN/python3.14" -V 2>&1), $("$BIN/python3.15" -V 2>&1)"
    echo "$BIN"
    exit 0
  fi
  rm -rf "$PREFIX" "$BIN"
done
fail "no suite of \"$SUITES\" at $MIRROR gave working python3.14 and python3.15 (reasons above)"
