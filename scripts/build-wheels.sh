#!/usr/bin/env bash
# Builds the release artifacts into dist/ (or OUT):
#   sserpent-V.tar.gz                                                     the sdist
#   sserpent-V-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl  one wheel, CPython 3.9+
#
#   ./scripts/build-wheels.sh [OUT]
#
# The wheel is built from the unpacked sdist, not from the work tree, so a sdist that lacks a
# file the build needs fails here. It is linked against glibc 2.17 by zig (the `ziglang`
# package, from requirements-dev.txt), with the abi3 feature pyproject.toml sets, and
# `auditwheel show` must find it consistent with manylinux_2_17 (manylinux2014).
# This is the one release compile of scripts/test.sh. A release target directory is kept in
# target/ (or $CARGO_TARGET_DIR), so a rerun only relinks what changed.
source "$(dirname "$0")/_venv.sh"
out="$(mkdir -p "${1:-dist}" && cd "${1:-dist}" && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$CARGO_TARGET_DIR" in /*) ;; *) CARGO_TARGET_DIR="$ROOT/$CARGO_TARGET_DIR" ;; esac

version="$(sed -n '/^\[package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)"
python_version="$(python -c 'import sys; from packaging.version import Version; print(Version(sys.argv[1]))' "$version")"
rm -f "$out"/sserpent-*.whl "$out"/sserpent-*.tar.gz

start=$(date +%s)
maturin sdist --out "$out" >"$out/.sdist.log" 2>&1 || { cat "$out/.sdist.log" >&2; exit 1; }
rm -f "$out/.sdist.log"
sdist="$out/sserpent-$python_version.tar.gz"
[ -f "$sdist" ] || { echo "build-wheels: maturin sdist wrote no $sdist" >&2; exit 1; }
# Nothing large in it: the sources, the tests and their fixtures, the docs.
sdist_kib=$(( $(stat -c %s "$sdist") / 1024 ))
if [ "$sdist_kib" -gt 2048 ]; then
  echo "build-wheels: $sdist is $sdist_kib KiB (over 2 MiB): what got in?" >&2
  tar tzvf "$sdist" | sort -k3 -n | tail -10 >&2
  exit 1
fi
if tar tzf "$sdist" | grep -E '/(target|fuzz|\.venv|dist)/|\.(so|pyd|whl)$' >&2; then
  echo "build-wheels: $sdist holds build output (above)" >&2
  exit 1
fi
echo "build-wheels: $(basename "$sdist") ($sdist_kib KiB)"

work="$(mktemp -d "${TMPDIR:-/tmp}/sserpent-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar xzf "$sdist" -C "$work"
# The sdist's files carry a fixed old mtime (reproducible archives): cargo would take a
# release build of older sources, in the shared target directory, for up to date.
find "$work" -exec touch {} +
(
  cd "$work/sserpent-$python_version"
  maturin build --release --locked --zig --compatibility manylinux2014 --out "$out"
) >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
grep -E '^(warning|⚠️)' "$work/build.log" >&2 || true

# pip's order of the tag set (PEP 600 name first), as auditwheel writes it.
shopt -s nullglob
built=("$out"/sserpent-"$python_version"-cp39-abi3-*.whl)
[ ${#built[@]} -eq 1 ] || { echo "build-wheels: expected one abi3 wheel in $out, found: ${built[*]:-none}" >&2; exit 1; }
wheel="${built[0]}"
want="$out/sserpent-$python_version-cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
if [ "$(uname -m)" = x86_64 ] && [ "$wheel" != "$want" ]; then
  case "$(basename "$wheel")" in
    *-manylinux2014_x86_64.manylinux_2_17_x86_64.whl) mv "$wheel" "$want"; wheel="$want" ;;
  esac
fi
show="$(auditwheel show "$wheel")"
echo "$show" | sed 's/^/  /'
if ! echo "$show" | tr -s ' \n' ' ' | grep -q 'consistent with the following platform tag: "manylinux_2_17_'; then
  echo "build-wheels: auditwheel does not find $(basename "$wheel") consistent with manylinux_2_17" >&2
  exit 1
fi
echo "build-wheels: $(basename "$wheel") ($(( $(stat -c %s "$wheel") / 1024 )) KiB) in $(( $(date +%s) - start )) s"
