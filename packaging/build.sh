#!/usr/bin/env bash
# Builds dbcheckin's .deb and .rpm: the release binary, the man pages and shell
# completions generated from the CLI definition (examples/gen-assets.rs), then
# cargo-deb and cargo-generate-rpm (installed once by tools.sh). Prints each
# package's path and size; the packages land in $CARGO_TARGET_DIR/packages/.
# Usage: packaging/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-$PWD/target}
# The package metadata in Cargo.toml names target/assets/ relative to the
# checkout, wherever CARGO_TARGET_DIR points.
assets=$PWD/target/assets
out=$target/packages

tools=$(packaging/tools.sh)
export PATH="$tools:$PATH"
command -v gzip >/dev/null || { echo "build.sh: gzip is missing: apt install gzip" >&2; exit 1; }

echo "== release build"
cargo build --release --locked

echo "== man pages and completions from the CLI definition"
rm -rf "$assets"
cargo run --quiet --locked --example gen-assets -- "$assets"
cp packaging/man/dbcheckin.toml.5 "$assets/man/"
# Debian wants man pages compressed, without a timestamp (reproducible).
gzip -9n "$assets"/man/*

echo "== packages"
rm -rf "$out"
mkdir -p "$out"
cargo deb --no-build --locked --output "$out/" >/dev/null
cargo generate-rpm --output "$out/"

binary=$target/release/dbcheckin
printf '%-60s %10s bytes\n' "$binary" "$(stat -c %s "$binary")"
for package in "$out"/*.deb "$out"/*.rpm; do
    printf '%-60s %10s bytes\n' "$package" "$(stat -c %s "$package")"
done
