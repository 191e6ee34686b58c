#!/bin/bash
# tests/deb/run.sh OUT: the .debs of OUT (make deb) installed with apt into
# a clean Debian 12 root.  Checks: the module is enabled in
# modules-enabled and nginx -t passes; a package dropped into the drop
# folder is published by prep-ingest watch (as user prep) and served by
# nginx; the unit passes systemd-analyze verify and rates 2.0 or better
# in systemd-analyze security; apt purge leaves no file behind.
#
# The root is made once by mmdebstrap from this machine's Debian mirror
# and cached as OUT/bookworm-root-*.tar; every run unpacks a fresh copy.
# Needs root (chroot).  Nothing is skipped: a missing piece fails the
# suite with its reason.
set -euo pipefail

out=${1:?usage: tests/deb/run.sh OUT}
out=$(cd "$out" && pwd)
top=$(cd "$(dirname "$0")/../.." && pwd)
mirror=${DEB_MIRROR:-http://deb.debian.org/debian}
security=${DEB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
python=${PYTHON:-/usr/bin/python3}
max_exposure=2.0

fail() { echo "deb-test: FAIL: $*" >&2; exit 1; }
step() { echo "== $*"; }

[ "$(id -u)" = 0 ] || fail "needs root for chroot (run as root)"
for t in mmdebstrap chroot curl; do
	command -v "$t" >/dev/null || fail "$t not installed (make deps)"
done
mod_deb=$(ls "$out"/libnginx-mod-http-prep_*.deb 2>/dev/null | head -1)
ing_deb=$(ls "$out"/prep-ingest_*.deb 2>/dev/null | head -1)
[ -n "$mod_deb" ] && [ -n "$ing_deb" ] || fail "no .debs in $out (make deb)"

# the root: minbase, nginx, systemd (sysusers, tmpfiles, analyze), curl,
# man-db (verify checks Documentation=man:),
# and the libraries our packages link, so installing them needs no mirror
include=nginx,systemd,curl,procps,man-db,libarchive13,libdeflate0,libcurl4,libssl3,zlib1g
key=$(printf '%s %s %s' "$include" "$mirror" "$security" | sha256sum | cut -c1-12)
cache="$out/bookworm-root-$key.tar"
if [ ! -s "$cache" ]; then
	step "mmdebstrap bookworm from $mirror (cached as $cache)"
	rm -f "$out"/bookworm-root-*.tar
	nice -n 10 mmdebstrap --variant=minbase --mode=root \
	    --include="$include" bookworm "$cache.tmp.tar" \
	    "deb $mirror bookworm main" \
	    "deb $mirror bookworm-updates main" \
	    "deb $security bookworm-security main" >"$out/mmdebstrap.log" 2>&1 \
	    || { tail -20 "$out/mmdebstrap.log" >&2
	         fail "mmdebstrap from $mirror failed (log: $out/mmdebstrap.log)"; }
	mv "$cache.tmp.tar" "$cache"
fi

root=$(mktemp -d "$out/root.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	if [ -f "$root/run/nginx.pid" ]; then
		kill "$(cat "$root/run/nginx.pid")" 2>/dev/null || true
	fi
	sleep 0.2
	if mountpoint -q "$root/proc"; then umount -l "$root/proc"; fi
	# never remove through a mount point
	if ! grep -q " $root/" /proc/mounts; then rm -rf "$root"; fi
}
trap cleanup EXIT
tar -xf "$cache" -C "$root"
mount -t proc proc "$root/proc"
in_root() { chroot "$root" "$@"; }
# services are not started inside a chroot (Debian's policy-rc.d)
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

# what the root holds before; dpkg's and apt's own state, logs and
# caches change by design and are left out
list_files() {
	(cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp \
	    -o -path ./var/lib/dpkg -o -path ./var/lib/apt \
	    -o -path ./var/cache -o -path ./var/log \) -prune -o -print \
	    | LC_ALL=C sort)
}
# nginx -t (nginx's temp dirs) and systemd-analyze (/run/systemd) leave
# their own files: made here first, they are not counted as ours
in_root nginx -t -q && rm -f "$root/run/nginx.pid"
in_root systemd-analyze verify /lib/systemd/system/nginx.service \
    >/dev/null 2>&1 || true
list_files >"$root/tmp/before.txt"

step "apt install ./$(basename "$mod_deb") ./$(basename "$ing_deb")"
mkdir -p "$root/tmp/debs"
cp "$mod_deb" "$ing_deb" "$root/tmp/debs/"
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y \
    --no-install-recommends "/tmp/debs/$(basename "$mod_deb")" \
    "/tmp/debs/$(basename "$ing_deb")" >"$out/apt-install.log" 2>&1 \
    || { tail -20 "$out/apt-install.log" >&2; fail "apt install failed"; }

step "module enabled the Debian way"
link="$root/etc/nginx/modules-enabled/50-mod-http-prep.conf"
[ -L "$link" ] || fail "no $link"
[ "$(readlink "$link")" = /usr/share/nginx/modules-available/mod-http-prep.conf ] \
    || fail "$link points to $(readlink "$link")"
grep -q 'load_module modules/ngx_http_prep_module.so;' \
    "$root/usr/share/nginx/modules-available/mod-http-prep.conf" \
    || fail "mod-http-prep.conf does not load the module"
in_root getent passwd prep >/dev/null || fail "no prep user (sysusers.d)"
[ -d "$root/run/prep" ] || fail "no /run/prep (tmpfiles.d)"
[ "$(in_root stat -c %U /var/lib/prep/store)" = prep ] \
    || fail "/var/lib/prep/store not owned by prep"

step "nginx -t with the example site"
port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
site="$root/etc/nginx/sites-enabled/prep"
sed -e "s/listen 80;/listen 127.0.0.1:$port;/" -e '/listen \[::\]:80;/d' \
    "$root/usr/share/doc/prep-ingest/examples/nginx-site.example" >"$site"
mv "$root/etc/nginx/sites-enabled/default" "$root/tmp/default-site"
in_root nginx -t >"$out/nginx-t.log" 2>&1 \
    || { cat "$out/nginx-t.log" >&2; fail "nginx -t"; }
in_root nginx || fail "nginx does not start"

step "a package dropped into /srv/prep-drop/entrega is served"
"$python" "$top/tests/fixtures/gen_prep.py" --out "$root/tmp/pkg" >/dev/null
pkg=$(ls "$root"/tmp/pkg/*.tar.gz | head -1)
in_root setpriv --reuid=prep --regid=prep --init-groups \
    prep-ingest watch --config /etc/prep-ingest/prep-ingest.conf \
    >"$out/watch.log" 2>&1 &
pids+=($!)
mv "$pkg" "$root/srv/prep-drop/entrega/"
corte=""
for _ in $(seq 1 150); do
	corte=$(curl -s -o /dev/null -D - "http://127.0.0.1:$port/" \
	    | tr -d '\r' | sed -n 's/^[Xx]-[Pp][Rr][Ee][Pp]-[Cc]orte: *//p')
	[ -n "$corte" ] && [ "$corte" != none ] && break
	sleep 0.2
done
[ -n "$corte" ] && [ "$corte" != none ] || { tail -20 "$out/watch.log" >&2
	fail "no corte served on 127.0.0.1:$port 30 s after the drop"; }
echo "served corte $corte"
[ ! -e "$root/srv/prep-drop/entrega/$(basename "$pkg")" ] \
    || fail "the package is still in the drop folder"
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
in_root nginx -s stop
for _ in $(seq 1 50); do [ -f "$root/run/nginx.pid" ] || break; sleep 0.1; done

step "systemd-analyze verify and security"
unit=/lib/systemd/system/prep-ingest.service
in_root systemd-analyze verify "$unit" >"$out/verify.log" 2>&1 \
    || { cat "$out/verify.log" >&2; fail "systemd-analyze verify $unit"; }
if [ -s "$out/verify.log" ]; then
	cat "$out/verify.log" >&2; fail "systemd-analyze verify printed warnings"
fi
in_root systemd-analyze security --offline=yes "$unit" >"$out/security.txt" 2>&1 \
    || true
exposure=$(sed -n 's/.*Overall exposure level for [^:]*: *\([0-9.]*\).*/\1/p' \
    "$out/security.txt")
[ -n "$exposure" ] || { cat "$out/security.txt" >&2
	fail "no exposure level from systemd-analyze security"; }
echo "systemd-analyze security: exposure $exposure (at most $max_exposure)"
awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }' \
    || fail "exposure $exposure above $max_exposure"

step "apt purge leaves no file behind"
rm -f "$site"
mv "$root/tmp/default-site" "$root/etc/nginx/sites-enabled/default"
in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y \
    libnginx-mod-http-prep prep-ingest >"$out/apt-purge.log" 2>&1 \
    || { tail -20 "$out/apt-purge.log" >&2; fail "apt purge failed"; }
list_files >"$root/tmp/after.txt"
if ! diff -u "$root/tmp/before.txt" "$root/tmp/after.txt" >"$out/purge.diff"; then
	cat "$out/purge.diff" >&2
	fail "apt purge left files behind or removed some (above)"
fi
echo "deb-test: OK (corte $corte served; exposure $exposure)"
