vcl 4.1;
# The edge of the HA tests (and a starting point for a real Varnish in
# front of ngx_prep origins): two origins probed on /, a fallback
# director (origin A while healthy, then B), one retry on the other
# origin when a fetch fails, the origins' stale-if-error as grace, and
# BAN/PURGE from loopback only.  @ORIGIN_A_PORT@ and @ORIGIN_B_PORT@ are
# filled in by tests/integration/test_ha.py.

import std;
import directors;

probe prep_origin {
    .url = "/";
    .expected_response = 200;
    .interval = 0.5s;
    .timeout = 1s;
    .window = 3;
    .threshold = 2;
    .initial = 2;
}

backend origin_a {
    .host = "127.0.0.1";
    .port = "@ORIGIN_A_PORT@";
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
    .between_bytes_timeout = 5s;
    .probe = prep_origin;
}

backend origin_b {
    .host = "127.0.0.1";
    .port = "@ORIGIN_B_PORT@";
    .connect_timeout = 1s;
    .first_byte_timeout = 5s;
    .between_bytes_timeout = 5s;
    .probe = prep_origin;
}

acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_init {
    new primary = directors.fallback();
    primary.add_backend(origin_a);
    primary.add_backend(origin_b);
}

sub vcl_recv {
    if (req.method == "BAN") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        # the purge hook names the new corte: objects already refilled
        # with it stay, every other corte goes
        if (req.http.X-PREP-Corte ~ "^[0-9T:+-]+$") {
            ban("obj.http.X-PREP-Corte != " + req.http.X-PREP-Corte);
        } else {
            ban("obj.status != 0");
        }
        return (synth(200, "Banned"));
    }
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Forbidden"));
        }
        return (purge);
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "Method Not Allowed"));
    }
    set req.backend_hint = primary.backend();
}

sub vcl_backend_fetch {
    # a retry goes to the other origin: the first may have died before
    # its probe says so
    if (bereq.http.X-PREP-Failed == "origin_a") {
        set bereq.backend = origin_b;
    } elsif (bereq.http.X-PREP-Failed == "origin_b") {
        set bereq.backend = origin_a;
    }
    unset bereq.http.X-PREP-Failed;
}

sub vcl_backend_response {
    if (beresp.status >= 500 && bereq.retries == 0) {
        set bereq.http.X-PREP-Failed = beresp.backend.name;
        return (retry);
    }
    # stale-if-error=N: serve the object N seconds past its TTL while no
    # origin can refresh it (Varnish's grace; every corte is banned, so a
    # graced object is always of the live corte)
    if (beresp.http.Cache-Control ~ "stale-if-error=[0-9]+") {
        set beresp.grace = std.duration(regsub(beresp.http.Cache-Control,
            "^.*stale-if-error=([0-9]+).*$", "\1") + "s", 0s);
    }
    if (beresp.status >= 500) {
        set beresp.ttl = 0s;
        set beresp.uncacheable = true;
    }
}

sub vcl_backend_error {
    if (bereq.retries == 0) {
        set bereq.http.X-PREP-Failed = beresp.backend.name;
        return (retry);
    }
    # never keep an error: the next request tries the origins again
    set beresp.ttl = 0s;
    set beresp.grace = 0s;
    set beresp.uncacheable = true;
}
