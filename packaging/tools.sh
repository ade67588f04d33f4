#!/usr/bin/env bash
# Installs the pinned packaging tools (cargo-deb, cargo-generate-rpm) into a
# cache folder kept between runs, unless the right versions are already there,
# and prints the folder holding the binaries. Used by build.sh and .ci/run.
set -euo pipefail

CARGO_DEB_VERSION=3.8.0
CARGO_GENERATE_RPM_VERSION=0.21.1

root=${DBCHECKIN_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/dbcheckin-ci/tools}

install_tool() {
    local name=$1 version=$2
    if [ "$("$root/bin/$name" --version 2>/dev/null)" = "$name $version" ]; then
        return
    fi
    echo "installing $name $version into $root (once; later runs reuse it)" >&2
    # A private target dir: CARGO_TARGET_DIR would mix the tool's build with the project's.
    env -u CARGO_TARGET_DIR cargo install --quiet --locked --force \
        --root "$root" --version "$version" "$name" >&2
    if [ "$("$root/bin/$name" --version)" != "$name $version" ]; then
        echo "tools.sh: $root/bin/$name is not version $version after installing it" >&2
        exit 1
    fi
}

install_tool cargo-deb "$CARGO_DEB_VERSION"
install_tool cargo-generate-rpm "$CARGO_GENERATE_RPM_VERSION"
echo "$root/bin"
