# debian-mirror.sh: sourced by tools/nginx-matrix.sh.
#
# debian_mirror prints the URI of the main Debian archive in this
# machine's apt sources (deb822 .sources files or sources.list), so the
# private apt directories of those scripts ask the same mirror for other
# suites (trixie, sid).

debian_mirror() {
    local f

    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk '/^URIs:/ { uri = $2 }
                 /^Suites:/ && / bookworm( |$)/ && uri != "" { print uri; exit }
                 /^$/ { uri = "" }' "$f"
        done

        if [ -f /etc/apt/sources.list ]; then
            awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' \
                /etc/apt/sources.list
        fi
    } | head -n 1
}
