# Shared by deploy/hooks/fanout and deploy/hooks/purge (bash, sourced).
#
# The config file is "key = value" lines, '#' comments; a key may repeat
# (peer, origin).  It is parsed here, never sourced: nothing in it runs.

HOOK_NAME=${HOOK_NAME:-hook}

hook_log() {
    printf '%s: %s\n' "$HOOK_NAME" "$*" >&2
}

hook_die() {
    hook_log "$*"
    exit 1
}

# every value of KEY, one a line
declare -A HOOK_CONF=()
declare -A HOOK_CONF_N=()

hook_conf_load() {
    local file=$1 line key value n=0
    [ -r "$file" ] || hook_die "config $file: cannot read it"
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        line=${line%%#*}
        line=${line#"${line%%[![:space:]]*}"}
        line=${line%"${line##*[![:space:]]}"}
        [ -z "$line" ] && continue
        case $line in
        *=*) ;;
        *) hook_die "config $file:$n: expected 'key = value'" ;;
        esac
        key=${line%%=*}
        key=${key%"${key##*[![:space:]]}"}
        value=${line#*=}
        value=${value#"${value%%[![:space:]]*}"}
        case $key in
        ''|*[!a-z0-9_]*) hook_die "config $file:$n: bad key '$key'" ;;
        esac
        local i=${HOOK_CONF_N[$key]:-0}
        HOOK_CONF["$key.$i"]=$value
        HOOK_CONF_N[$key]=$((i + 1))
    done < "$file"
}

# conf KEY [DEFAULT]: the last value of KEY
conf() {
    local n=${HOOK_CONF_N[$1]:-0}
    if [ "$n" -gt 0 ]; then
        printf '%s' "${HOOK_CONF[$1.$((n - 1))]}"
    else
        printf '%s' "${2-}"
    fi
}

# conf_all KEY: every value of KEY, one a line
conf_all() {
    local i n=${HOOK_CONF_N[$1]:-0}
    for ((i = 0; i < n; i++)); do
        printf '%s\n' "${HOOK_CONF[$1.$i]}"
    done
}

conf_number() {
    local v
    v=$(conf "$1" "$2")
    case $v in
    ''|*[!0-9.]*|*.*.*) hook_die "config: $1 = '$v' is not a number" ;;
    esac
    printf '%s' "$v"
}

json_str() {
    local s=$1
    s=${s//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\n'/\\n}
    s=${s//$'\r'/\\r}
    s=${s//$'\t'/\\t}
    printf '"%s"' "$s"
}

# hook_alarm KIND LEVEL MESSAGE...: docs/EVENTS.md's alarm convention; the
# event's JSON line on stdin.  Without an alarm command only stderr
# (which the daemon keeps in its "hook" event) says it.
hook_alarm() {
    local kind=$1 level=$2 message cmd json
    shift 2
    message="$*"
    hook_log "$level: $kind: $message"
    cmd=${PREP_ALARM_HOOK:-$(conf alarm_hook)}
    [ -n "$cmd" ] || return 0
    json=$(printf '{"event":%s,"level":%s,"message":%s,"corte_id":%s,"hook":%s}' \
        "$(json_str "$kind")" "$(json_str "$level")" \
        "$(json_str "$message")" "$(json_str "${PREP_CORTE_ID:-}")" \
        "$(json_str "$HOOK_NAME")")
    printf '%s\n' "$json" |
        PREP_ALARM_KIND=$kind PREP_ALARM_LEVEL=$level \
        PREP_ALARM_MESSAGE=$message PREP_STORE=${PREP_STORE:-} \
        PREP_CORTE_ID=${PREP_CORTE_ID:-} \
        timeout 30 /bin/sh -c "$cmd" ||
        hook_log "the alarm command failed ($?)"
}

# a*2^n, capped at max: backoff BASE ATTEMPT MAX
backoff() {
    awk -v b="$1" -v n="$2" -v m="$3" \
        'BEGIN { d = b; for (i = 1; i < n; i++) d *= 2;
                 if (d > m) d = m; printf "%.3f", d }'
}

# the credentials file: KEY=VALUE lines, owned by whoever runs the hook
# (or root), no access for group or others; values go to CRED[KEY]
declare -A CRED=()

hook_credentials_load() {
    local file=$1 owner mode line key n=0
    [ -n "$file" ] || hook_die "config: credentials = FILE is required " \
        "by this driver"
    [ -f "$file" ] || hook_die "credentials $file: not a regular file"
    owner=$(stat -c %u -- "$file") || exit 1
    mode=$(stat -c %a -- "$file") || exit 1
    if [ "$owner" != "$(id -u)" ] && [ "$owner" != 0 ]; then
        hook_die "credentials $file: owned by uid $owner, not by" \
            "uid $(id -u) or root: refused"
    fi
    if [ $((8#$mode & 8#077)) -ne 0 ]; then
        hook_die "credentials $file: mode $mode lets group or others" \
            "read it: refused (chmod 0600 $file)"
    fi
    [ -r "$file" ] || hook_die "credentials $file: cannot read it"
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        case $line in
        ''|'#'*) continue ;;
        *=*) ;;
        *) hook_die "credentials $file:$n: expected KEY=VALUE" ;;
        esac
        key=${line%%=*}
        key=${key//[[:space:]]/}
        CRED[$key]=${line#*=}
    done < "$file"
}

cred() {
    [ -n "${CRED[$1]:-}" ] || hook_die "credentials: $1 is missing"
    printf '%s' "${CRED[$1]}"
}
