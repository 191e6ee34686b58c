#!/usr/bin/env bash
# nginx-compat.sh BUILD_DIR
#
# Builds the module against a newer nginx than Debian 12's: the nginx-dev
# headers of the next Debian release (nginx 1.26 in trixie), fetched with
# apt from the Debian mirror this machine already uses, into BUILD_DIR.
# Nothing is installed: the package is only unpacked there.  Called by
# `make compat` (and so by `make test`) to keep the module compiling on
# nginx 1.25+, where ngx_table_elt_t and other APIs changed.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mkdir -p "$1" && cd "$1" && pwd)
suite=${COMPAT_SUITE:-trixie}
src="$dir/root/usr/share/nginx/src"

die() { echo "nginx-compat: $*" >&2; exit 1; }

mirror() {
    # the URI of the main Debian archive in this machine's apt sources
    local f

    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        awk '/^URIs:/ { uri = $2 }
             /^Suites:/ && / bookworm( |$)/ && uri != "" { print uri; exit }
             /^$/ { uri = "" }' "$f"
    done | head -n 1

    if [ -f /etc/apt/sources.list ]; then
        awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
            /etc/apt/sources.list
    fi
}

if [ ! -f "$src/conf_flags" ]; then
    uri=$(mirror | head -n 1)
    [ -n "$uri" ] || die "no Debian bookworm source in /etc/apt to derive $suite from"

    apt="$dir/apt"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts"
    echo "deb $uri $suite main" > "$apt/sources.list"
    opts=(-o "Dir::Etc::sourcelist=$apt/sources.list"
          -o "Dir::Etc::sourceparts=$apt/parts"
          -o "Dir::State::lists=$apt/lists"
          -o "Dir::Cache=$apt/cache"
          -o "APT::Sandbox::User=root")

    apt-get "${opts[@]}" update -qq
    (cd "$dir" && apt-get "${opts[@]}" download nginx-dev)
    dpkg-deb -x "$dir"/nginx-dev_*.deb "$dir/root"
    [ -f "$src/conf_flags" ] || die "nginx-dev of $suite has no conf_flags"
fi

version=$(sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
              "$src/src/core/nginx.h")
echo "nginx-compat: building the module against nginx $version ($suite)"

make -C "$top" --no-print-directory NGINX_SRC="$src" BUILD="$dir/build" \
    module
