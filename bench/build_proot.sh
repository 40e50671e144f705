#!/bin/sh
# Build PRoot 5.4.0 with its seccomp mode and install it, for the proot peers
# of the benchmarks (Debian's proot is 5.1.0, built without seccomp).
#
#   bench/build_proot.sh [SOURCE] [DEST]
#
# SOURCE ($PROOT_SRC): a PRoot git repository (work tree or bare, e.g. a
#   mirror; its tag v5.4.0 is built) or an unpacked v5.4.0 source tree.
#   Default: git clone --depth 1 -b v5.4.0 https://github.com/proot-me/proot
# DEST ($PROOT_DEST): where the binary goes, default /usr/local/bin/proot.
# PROOT_NO_APT=1: do not apt-get install the build dependencies.
#
# The build happens in a temporary directory, removed at the end: no PRoot
# source ever lands in this checkout.
set -eu

TAG=v5.4.0
VERSION=5.4.0
URL=https://github.com/proot-me/proot
SRC=${1:-${PROOT_SRC:-}}
DEST=${2:-${PROOT_DEST:-/usr/local/bin/proot}}

die() { echo "build_proot: $*" >&2; exit 1; }

# What `make proot` needs: a C toolchain, objcopy/objdump (binutils, to embed
# the loader), pkg-config and talloc. uthash and libarchive are for `care`
# only; python3-dev and swig would add the optional Python extension, which
# is turned off below (HAS_SWIG=).
DEPS="gcc make binutils pkg-config libtalloc-dev"
missing=""
for pkg in $DEPS; do
    dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $pkg"
done
[ -n "$SRC" ] || command -v git >/dev/null || missing="$missing git ca-certificates"
if [ -n "$missing" ]; then
    [ "${PROOT_NO_APT:-}" != 1 ] || die "missing build dependencies:$missing"
    [ "$(id -u)" = 0 ] || die "missing build dependencies (run as root, or install them):$missing"
    echo "build_proot: apt-get install$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

BUILD=$(mktemp -d "${TMPDIR:-/tmp}/proot-build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
TREE=$BUILD/proot

if [ -z "$SRC" ]; then
    echo "build_proot: git clone --depth 1 -b $TAG $URL"
    git clone -q --depth 1 -b "$TAG" "$URL" "$TREE" || die "cannot clone $URL (no network? pass a source directory)"
elif git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    git -C "$SRC" rev-parse -q --verify "$TAG^{commit}" >/dev/null || die "$SRC has no tag $TAG"
    echo "build_proot: $TAG ($(git -C "$SRC" rev-parse "$TAG^{commit}")) from $SRC"
    mkdir "$TREE"
    git -C "$SRC" archive "$TAG" | tar -x -C "$TREE"
elif [ -f "$SRC/src/GNUmakefile" ]; then
    echo "build_proot: source tree $SRC"
    cp -R "$SRC" "$TREE"
else
    die "$SRC is neither a git repository nor a PRoot source tree"
fi
grep -q "define VERSION \"$VERSION\"" "$TREE/src/cli/proot.h" \
    || die "the source is not PRoot $VERSION (src/cli/proot.h)"

# The makefile takes its version string from `git describe` in the current
# directory (wrong or "-" outside a clone of this very tag): give it. It
# defines HAVE_SECCOMP_FILTER when src/.check_seccomp_filter.c builds, and
# then proot installs its filter unless PROOT_NO_SECCOMP is set at run time.
make -C "$TREE/src" -j"$(nproc)" proot VERSION="$VERSION" HAS_SWIG= >"$BUILD/make.log" 2>&1 \
    || { tail -30 "$BUILD/make.log" >&2; die "make failed"; }
grep -q "define HAVE_SECCOMP_FILTER" "$TREE/src/build.h" \
    || die "built without the seccomp mode (src/.check_seccomp_filter.c did not build)"

BIN=$TREE/src/proot
"$BIN" --version | grep -q "seccomp_filter = yes" || die "proot --version does not list seccomp_filter = yes"
"$BIN" -r / /bin/true || die "proot -r / /bin/true failed"
# Seccomp: 2 in the tracee: proot's filter is on (0 with PROOT_NO_SECCOMP=1).
"$BIN" -r / grep -q '^Seccomp:[[:space:]]*2' /proc/self/status \
    || die "the tracee under proot has no seccomp filter"

install -D -m 0755 "$BIN" "$DEST"
echo "build_proot: installed $DEST"
"$DEST" --version | grep -E "$VERSION\$|accelerators"
