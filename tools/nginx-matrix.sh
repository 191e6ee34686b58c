#!/usr/bin/env bash
# nginx-matrix.sh BUILD_DIR SUITE
#
# Prepares one nginx of the runtime matrix under BUILD_DIR/SUITE:
#
#   BUILD_DIR/SUITE/root/        Debian's nginx of SUITE (trixie: 1.26,
#                                sid: the current stable series, 1.30)
#                                with the C library, OpenSSL, PCRE2 and
#                                zlib of the same suite, unpacked only
#   BUILD_DIR/SUITE/nginx        runs that nginx through the suite's own
#                                dynamic loader (a newer glibc than this
#                                machine's), arguments passed on
#   BUILD_DIR/SUITE/build/ngx_http_prep_module.so
#                                the module, built by nginx's own build
#                                (-Werror) against the suite's nginx-dev
#   BUILD_DIR/SUITE/version      e.g. "1.30.6"
#
# Packages come from the Debian mirror this machine's apt already uses,
# through a private apt directory (nothing is installed).  The nginx is
# Debian's own build of the suite's source package, so it has exactly the
# configure flags of its debian/rules (http_v2, http_v3, ssl, threads...).
# Building it from the .dsc instead needs the source pool of the suite,
# which this machine's mirror does not carry (its .dsc and .debian.tar.xz
# answer 404); the binary package is the same source built by Debian.
# Nothing is fetched again once BUILD_DIR/SUITE/nginx exists; the module
# is rebuilt by make when its sources change.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -eq 2 ] || { echo "usage: nginx-matrix.sh BUILD_DIR SUITE" >&2; exit 2; }
dir=$(mkdir -p "$1/$2" && cd "$1/$2" && pwd)
suite=$2
root="$dir/root"
src="$root/usr/share/nginx/src"
lib="$root/usr/lib/x86_64-linux-gnu"

die() { echo "nginx-matrix: $*" >&2; exit 1; }

# shellcheck source=tools/debian-mirror.sh
. "$top/tools/debian-mirror.sh"

if [ ! -x "$dir/nginx" ]; then
    uri=$(debian_mirror)
    [ -n "$uri" ] || die "no Debian bookworm source in /etc/apt to derive $suite from"

    apt="$dir/apt"
    rm -rf "$apt" "$dir/debs" "$root"
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" \
        "$apt/parts" "$dir/debs"
    echo "deb $uri $suite main" > "$apt/sources.list"
    opts=(-o "Dir::Etc::sourcelist=$apt/sources.list"
          -o "Dir::Etc::sourceparts=$apt/parts"
          -o "Dir::State::lists=$apt/lists"
          -o "Dir::Cache=$apt/cache"
          -o "Dir::State::status=/dev/null"
          -o "APT::Sandbox::User=root")

    apt-get "${opts[@]}" update -qq
    # the runtime libraries nginx links, from the same suite, so the
    # binary runs with the libraries it was built and tested with
    (cd "$dir/debs" && apt-get "${opts[@]}" download -qq \
        nginx nginx-dev libc6 libssl3t64 libpcre2-8-0 zlib1g libcrypt1 \
        libzstd1)
    for deb in "$dir"/debs/*.deb; do
        dpkg-deb -x "$deb" "$root"
    done
    [ -f "$src/conf_flags" ] || die "nginx-dev of $suite has no conf_flags"
    [ -x "$root/usr/sbin/nginx" ] || die "nginx of $suite has no binary"
    loader="$root/usr/lib64/ld-linux-x86-64.so.2"
    [ -x "$loader" ] || loader="$root/lib64/ld-linux-x86-64.so.2"
    [ -x "$loader" ] || die "libc6 of $suite has no dynamic loader"

    cat > "$dir/nginx.tmp" <<EOF
#!/bin/sh
# nginx of Debian $suite with its own libraries (tools/nginx-matrix.sh)
exec "$loader" --library-path "$lib" "$root/usr/sbin/nginx" "\$@"
EOF
    chmod 0755 "$dir/nginx.tmp"
    "$dir/nginx.tmp" -V > "$dir/nginx-V.txt" 2>&1 ||
        die "nginx of $suite does not run: $(cat "$dir/nginx-V.txt")"
    sed -n 's/^#define NGINX_VERSION *"\(.*\)"/\1/p' \
        "$src/src/core/nginx.h" > "$dir/version"
    mv -f "$dir/nginx.tmp" "$dir/nginx"
fi

echo "nginx-matrix: nginx $(cat "$dir/version") ($suite) in $dir"
make -C "$top" --no-print-directory NGINX_SRC="$src" BUILD="$dir/build" \
    module
