#!/bin/sh
# tools/build-deb.sh OUT: the Debian source package and the binary
# packages (libnginx-mod-http-prep, prep-ingest) of this checkout, built
# by dpkg-buildpackage in a clean copy under OUT/src (the files git
# tracks, plus new ones not ignored), then checked by lintian.
# Everything lands in OUT; nothing is written beside the checkout.
set -eu

out=${1:?usage: tools/build-deb.sh OUT}
top=$(git rev-parse --show-toplevel)
version=$(cat "$top/VERSION")
mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/src/ngx-prep-$version"

rm -rf "$out/src" "$out"/*.deb "$out"/*.dsc "$out"/*.tar.xz \
    "$out"/*.changes "$out"/*.buildinfo "$out/lintian.txt"
mkdir -p "$src"
(cd "$top" && git ls-files -z --cached --others --exclude-standard \
    | xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh \
    | tar --null -T - -cf -) | tar -xf - -C "$src"

# source package first (from the clean copy), then the binaries
(cd "$src" && dpkg-buildpackage -us -uc -S -d >"$out/source.log" 2>&1) || {
	tail -30 "$out/source.log" >&2
	echo "build-deb: dpkg-buildpackage -S failed (log: $out/source.log)" >&2
	exit 1
}
(cd "$src" && nice -n 10 dpkg-buildpackage -us -uc -b \
    >"$out/binary.log" 2>&1) || {
	tail -30 "$out/binary.log" >&2
	echo "build-deb: dpkg-buildpackage -b failed (log: $out/binary.log)" >&2
	exit 1
}
mv "$out"/src/*.deb "$out"/src/*.dsc "$out"/src/*.tar.xz \
    "$out"/src/*.changes "$out"/src/*.buildinfo "$out/"
rm -rf "$out/src"

# every package: no error, no warning (overrides carry their reason in
# debian/*.lintian-overrides)
status=0
lintian --fail-on error,warning --display-info "$out"/*.dsc "$out"/*.deb \
    >"$out/lintian.txt" 2>&1 || status=$?
cat "$out/lintian.txt"
if [ "$status" -ne 0 ]; then
	echo "build-deb: lintian found errors or warnings" >&2
	exit 1
fi
ls -l "$out"/*.deb
