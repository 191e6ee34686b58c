#!/usr/bin/env bash
# run-local.sh start|stop|publish PACKAGE
#
# A local ngx_prep under ./var/: nginx with the module on 127.0.0.1:$PORT,
# its control socket at var/control.sock, a store at var/store holding a
# generated sample corte.  Called by `make run` and `make stop`.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
var="$top/var"
build=${PREP_BUILD:-$top/build}
nginx=${NGINX_BIN:-/usr/sbin/nginx}
python=${PYTHON:-/usr/bin/python3}
port=${PORT:-8080}

die() { echo "run-local: $*" >&2; exit 1; }

nginx_running() {
    [ -f "$var/nginx.pid" ] && kill -0 "$(cat "$var/nginx.pid")" 2>/dev/null
}

write_conf() {
    local user=""

    # workers must read var/; as root they would run as nobody and fail
    [ "$(id -u)" = 0 ] && user="user root;"

    sed -e "s|@VAR@|$var|g" -e "s|@BUILD@|$build|g" -e "s|@PORT@|$port|g" \
        -e "s|@USER@|$user|g" "$top/tools/nginx-local.conf.in" \
        > "$var/nginx.conf"
}

reload_corte() {
    curl -sS --fail-with-body --unix-socket "$var/control.sock" \
        -X POST http://localhost/reload
    echo
}

start() {
    local pkg

    [ -x "$build/prep-ingest" ] || die "build first: make"
    [ -f "$build/ngx_http_prep_module.so" ] || die "build first: make"

    if nginx_running; then
        echo "already running: http://127.0.0.1:$port/ (make stop)"
        return
    fi

    mkdir -p "$var/logs" "$var/tmp" "$var/store" "$var/packages"
    write_conf

    if [ ! -e "$var/store/current" ]; then
        pkg=$("$python" "$top/tests/fixtures/gen_prep.py" --size small \
                  --corte 20240603_0015 --out "$var/packages" | tail -n 1)
        "$build/prep-ingest" publish --store "$var/store" "$pkg"
    fi

    "$nginx" -p "$var" -e "$var/logs/error.log" -c nginx.conf -t -q
    "$nginx" -p "$var" -e "$var/logs/error.log" -c nginx.conf

    for _ in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.1
    done

    cat <<EOF
ngx_prep is serving the sample corte:

    http://127.0.0.1:$port/

    corte header:   curl -sI http://127.0.0.1:$port/ | grep -i x-prep-corte
    statistics:     curl -s http://127.0.0.1:$port/prep-status
                    curl -s 'http://127.0.0.1:$port/prep-status?format=prometheus'
    control:        curl --unix-socket $var/control.sock http://localhost/
    publish more:   tools/run-local.sh publish PACKAGE.tar.gz
    logs:           $var/logs/
    stop:           make stop
EOF
}

publish() {
    [ $# -eq 1 ] || die "usage: run-local.sh publish PACKAGE.tar.gz"
    "$build/prep-ingest" publish --store "$var/store" "$1"
    nginx_running && reload_corte
}

stop() {
    if ! nginx_running; then
        echo "not running"
        return
    fi

    "$nginx" -p "$var" -e "$var/logs/error.log" -c nginx.conf -s quit
    for _ in $(seq 100); do
        nginx_running || { echo "stopped"; return; }
        sleep 0.1
    done
    die "nginx did not stop; see $var/logs/error.log"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    publish) shift; publish "$@" ;;
    *) die "usage: run-local.sh start|stop|publish PACKAGE.tar.gz" ;;
esac
