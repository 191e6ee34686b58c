# ngx_prep: build, test and run.
#
#   make            build build/ngx_http_prep_module.so and build/prep-ingest
#   make run        build, start a local nginx on 127.0.0.1:8080 (./var/)
#   make stop       stop it
#   make test       install dependencies, build, unit and integration tests
#   make compat     fetch Debian trixie's and sid's nginx (1.26, 1.30) and
#                   build the module for each (make matrix)
#   make integration  the integration suite on every nginx of the matrix:
#                   Debian 12's 1.22, trixie's 1.26, sid's 1.30, in parallel
#   make integration-one  the suite on NGINX_BIN only
#   make fuzz       libFuzzer over the package validator and the snapshot
#                   reader, FUZZ_SECONDS (60) each, under ASan/UBSan
#   make bench      benchmarks (see bench/RESULTS.md)
#   make bench-ingest  time from last byte to live, against tar -xzf
#   make bench-stats   requests/s with visitor statistics on against off
#   make clean      remove build/ and var/
#
# NGINX_SRC=/path/to/nginx-1.2x.y builds the module against another nginx
# source tree (configured --with-compat) instead of Debian's nginx-dev.

NGINX_SRC     ?= /usr/share/nginx/src
NGINX_BIN     ?= /usr/sbin/nginx
PYTHON        ?= /usr/bin/python3
BUILD         ?= build
PORT          ?= 8080

CC            ?= cc
CFLAGS        ?= -O2 -g
PREP_WARN      = -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wvla \
                 -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes
PREP_CPPFLAGS  = -std=c11 -D_GNU_SOURCE -Ilibprep
SANITIZE       = -fsanitize=address,undefined -fno-omit-frame-pointer \
                 -fno-sanitize-recover=all

LIBPREP_SRCS   = $(wildcard libprep/*.c)
LIBPREP_HDRS   = $(wildcard libprep/*.h)
# ingest/ has one room per layer (docs/DESIGN.md, "Code map"); everything
# but main.c goes into a static library, one object per file, so a unit
# test or fuzz target links only the objects it uses
INGEST_ROOMS   = common package store daemon cli ops
INGEST_SRCS    = $(wildcard $(patsubst %,ingest/%/*.c,$(INGEST_ROOMS)))
INGEST_HDRS    = $(wildcard $(patsubst %,ingest/%/*.h,$(INGEST_ROOMS)))
INGEST_MAIN    = ingest/cli/main.c
INGEST_LIB_SRCS = $(filter-out $(INGEST_MAIN),$(INGEST_SRCS))
INGEST_CPPFLAGS = $(PREP_CPPFLAGS) -Iingest
INGEST_LIBS    = -larchive -ldeflate -lcrypto -lz -lpthread -lm
MODULE_SRCS    = $(wildcard ngx_prep_module/*.c ngx_prep_module/*.h)
# test_util.c holds helpers every suite links, not a suite of its own
UNIT_UTIL      = tests/unit/test_util.c tests/unit/test_util.h
UNIT_SRCS      = $(filter-out tests/unit/test_util.c,\
                     $(wildcard tests/unit/test_*.c))
UNIT_BINS      = $(patsubst tests/unit/%.c,$(BUILD)/asan/%,$(UNIT_SRCS))

# Debian packages needed to build, test and benchmark (make deps)
DEPS = gcc make pkg-config nginx nginx-dev libarchive-dev libssl-dev \
       zlib1g-dev libdeflate-dev libpcre2-dev libcmocka-dev python3 \
       python3-pytest \
       curl openssh-server openssh-client rsync wrk openssl strace \
       iproute2 procps clang libclang-rt-14-dev man-db time \
       goaccess python3-prometheus-client libfaketime awstats \
       prometheus chromium
# deploy/hooks and tests/integration/test_ha*.py (issue 12)
DEPS += varnish
# tests/integration/test_http2.py and bench/serve.sh -T: h2load
DEPS += nghttp2-client
# tests/integration/test_http3.py: Debian 12's only HTTP/3 client
# (gtlsclient; its curl and h2load have no QUIC)
DEPS += ngtcp2-client
# prep-report: libcurl for --stats URL, Chromium renders the PDF,
# poppler-utils checks it in the tests
DEPS += libcurl4-openssl-dev poppler-utils fonts-dejavu-core

MOD_DIR        = $(BUILD)/nginx
# extra compiler options of the module only (bench/sendfile.sh), e.g.
# -DNGX_HTTP_PREP_SENDFILE_MIN=1; use another BUILD for them
MODULE_CC_OPT ?=
MOD_SO         = $(BUILD)/ngx_http_prep_module.so

# libFuzzer targets (clang): sources of tests/fuzz/fuzz_<name>.c
FUZZ_CC        ?= clang
FUZZ_SECONDS   ?= 60
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_NAMES      = validator snapshot
FUZZ_DIR        = $(BUILD)/fuzz
FUZZ_BINS       = $(patsubst %,$(FUZZ_DIR)/fuzz_%,$(FUZZ_NAMES))
FUZZ_FLAGS      = -O1 -g -fsanitize=fuzzer,address,undefined \
                  -fno-sanitize-recover=all -fno-omit-frame-pointer
# the library objects are instrumented without libFuzzer's main()
FUZZ_OBJ_FLAGS  = -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
                  -fno-sanitize-recover=all -fno-omit-frame-pointer
# clang also wants a format attribute on every vprintf-style helper,
# which gcc does not: the gcc builds keep -Wformat=2 whole
FUZZ_WARN       = $(PREP_WARN) -Wno-format-nonliteral -Wno-missing-prototypes
FUZZ_RUN        = -rss_limit_mb=4096 -timeout=20 -max_len=65536 \
                  -print_final_stats=1

.PHONY: report
.PHONY: all module ingest deps unit integration test run stop bench clean \
        asan compat matrix integration-one fuzz fuzz-smoke bench-ingest \
        bench-stats monitoring-check

all: module ingest

module: $(MOD_SO)
ingest: $(BUILD)/prep-ingest
asan: $(BUILD)/asan/prep-ingest $(UNIT_BINS)

# Idempotent: asks apt only for what is missing.
deps:
	@missing=""; for p in $(DEPS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	        | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	        apt-get install -y --no-install-recommends $$missing; \
	fi

# The module is built by nginx's own build, against a symlink copy of the
# nginx tree so nothing is written into /usr/share/nginx/src.  CFLAGS and
# MAKEFLAGS are kept away from nginx: its configure drops -Werror when
# CFLAGS is set.  Debian's conf_flags give a binary compatible module,
# dpkg-buildflags' CFLAGS and CPPFLAGS (_FORTIFY_SOURCE) a hardened one.
# MODULE_CC_OPT is part of nginx's configure: a new value reconfigures
MOD_CC_OPT_STAMP := $(shell mkdir -p $(BUILD) && \
    f=$(BUILD)/module-cc-opt; \
    [ -f $$f ] && [ "$$(cat $$f)" = '$(MODULE_CC_OPT)' ] || \
    printf '%s' '$(MODULE_CC_OPT)' > $$f; echo $$f)

$(MOD_DIR)/configured: config $(MOD_CC_OPT_STAMP)
	rm -rf $(MOD_DIR) && mkdir -p $(MOD_DIR)
	cp -rs $(abspath $(NGINX_SRC)) $(MOD_DIR)/src
	cd $(MOD_DIR)/src && env -u CFLAGS -u CPPFLAGS -u LDFLAGS \
	    -u MAKEFLAGS -u MFLAGS bash -ec ' \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat); fi; \
	    opt="$$(dpkg-buildflags --get CFLAGS 2>/dev/null || echo -O2 -g)"; \
	    opt="$$opt $$(dpkg-buildflags --get CPPFLAGS 2>/dev/null || true)"; \
	    opt="$$opt $(MODULE_CC_OPT)"; \
	    ld="$$(dpkg-buildflags --get LDFLAGS 2>/dev/null || true)"; \
	    ./configure --with-cc-opt="$$opt -fPIC" --with-ld-opt="$$ld -fPIC" \
	        "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(CURDIR) \
	        --builddir=$(abspath $(MOD_DIR))/objs' > $(abspath $(MOD_DIR))/configure.log
	touch $@

$(MOD_SO): $(MOD_DIR)/configured $(MODULE_SRCS) $(LIBPREP_SRCS) $(LIBPREP_HDRS)
	cd $(MOD_DIR)/src && env -u CFLAGS -u MAKEFLAGS -u MFLAGS \
	    $(MAKE) -f ../objs/Makefile modules
	@# a new inode: overwriting a loaded .so in place crashes running nginx
	cp $(MOD_DIR)/objs/ngx_http_prep_module.so $@.tmp && mv -f $@.tmp $@

# Three flavours of the same objects: plain ($(BUILD)/obj), ASan/UBSan
# ($(BUILD)/asan/obj, for prep-ingest under test and the unit tests) and
# libFuzzer's instrumentation ($(FUZZ_DIR)/obj).  -MMD keeps the header
# dependencies of each object in a .d beside it.
INGEST_OBJS    = $(patsubst %.c,%.o,$(INGEST_LIB_SRCS))
LIBPREP_OBJS   = $(patsubst %.c,%.o,$(LIBPREP_SRCS))

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(INGEST_CPPFLAGS) $(CFLAGS) $(PREP_WARN) -MMD -MP -c -o $@ $<

$(BUILD)/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(INGEST_CPPFLAGS) -O1 -g $(SANITIZE) $(PREP_WARN) -MMD -MP \
	    -c -o $@ $<

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(INGEST_CPPFLAGS) $(FUZZ_OBJ_FLAGS) $(FUZZ_WARN) -MMD -MP \
	    -c -o $@ $<

# $(1): the object directory of a flavour
define prep_libs
$(1)/libingest.a: $(addprefix $(1)/,$(INGEST_OBJS))
	@rm -f $$@
	ar rcs $$@ $$^

$(1)/libprep.a: $(addprefix $(1)/,$(LIBPREP_OBJS))
	@rm -f $$@
	ar rcs $$@ $$^
endef
$(eval $(call prep_libs,$(BUILD)/obj))
$(eval $(call prep_libs,$(BUILD)/asan/obj))
$(eval $(call prep_libs,$(FUZZ_DIR)/obj))

-include $(shell find $(BUILD)/obj $(BUILD)/asan $(FUZZ_DIR)/obj \
             -name '*.d' 2>/dev/null)

$(BUILD)/prep-ingest: $(BUILD)/obj/$(INGEST_MAIN:.c=.o) \
        $(BUILD)/obj/libingest.a $(BUILD)/obj/libprep.a
	$(CC) $(CFLAGS) -o $@ $^ $(INGEST_LIBS)

$(BUILD)/asan/prep-ingest: $(BUILD)/asan/obj/$(INGEST_MAIN:.c=.o) \
        $(BUILD)/asan/obj/libingest.a $(BUILD)/asan/obj/libprep.a
	$(CC) -O1 -g $(SANITIZE) -o $@ $^ $(INGEST_LIBS)

# prep-report's access-log side (report/log*.c but logs_hook.c, which
# is prep-report's glue and needs its report.h, and report/logs.c) and
# prep-logs-dump, a test and benchmark tool that runs it alone
LOGS_SRCS      = $(filter-out report/logs_hook.c,$(wildcard report/log*.c))
LOGS_HDRS      = $(wildcard report/log*.h)
LOGS_LIBS      = -lz -lcrypto -lm

all: $(BUILD)/prep-logs-dump
asan: $(BUILD)/asan/prep-logs-dump

$(BUILD)/prep-logs-dump: tools/logs_dump.c $(LOGS_SRCS) $(LOGS_HDRS) \
        $(LIBPREP_SRCS) $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) -Ireport $(CFLAGS) $(PREP_WARN) -o $@ \
	    tools/logs_dump.c $(LOGS_SRCS) $(LIBPREP_SRCS) $(LOGS_LIBS)

$(BUILD)/asan/prep-logs-dump: tools/logs_dump.c $(LOGS_SRCS) $(LOGS_HDRS) \
        $(LIBPREP_SRCS) $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) -Ireport -O1 -g $(SANITIZE) $(PREP_WARN) -o $@ \
	    tools/logs_dump.c $(LOGS_SRCS) $(LIBPREP_SRCS) $(LOGS_LIBS)

# prep-stats-dump: a state file decoded by libprep, as JSON (for tests)
all: $(BUILD)/prep-stats-dump
asan: $(BUILD)/asan/prep-stats-dump

$(BUILD)/prep-stats-dump: tools/stats_dump.c $(LIBPREP_SRCS) $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) $(CFLAGS) $(PREP_WARN) -o $@ \
	    tools/stats_dump.c $(LIBPREP_SRCS) $(LOGS_LIBS)

$(BUILD)/asan/prep-stats-dump: tools/stats_dump.c $(LIBPREP_SRCS) \
        $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) -O1 -g $(SANITIZE) $(PREP_WARN) -o $@ \
	    tools/stats_dump.c $(LIBPREP_SRCS) $(LOGS_LIBS)

# prep-stats-gen: synthetic origins (state file + events) for
# prep-report's tests and bench/report.sh; not installed
all: $(BUILD)/prep-stats-gen

$(BUILD)/prep-stats-gen: tools/stats_gen.c $(LIBPREP_SRCS) $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) $(CFLAGS) $(PREP_WARN) -o $@ \
	    tools/stats_gen.c $(LIBPREP_SRCS) -lz -lcrypto -lm

# prep-report (report/): the memoria tecnica, with the access-log side
# (LOGS_SRCS); the events log is read by ingest's JSON reader, taken
# from the archive, not copied
REPORT_SRCS    = $(filter-out $(LOGS_SRCS),$(wildcard report/*.c))
REPORT_HDRS    = $(wildcard report/*.h)
REPORT_LIBS    = -lcurl -lcrypto -lz -lm
PREP_VERSION_S = $(shell cat VERSION 2>/dev/null || echo 0.0.0)
REPORT_FLAGS   = -Ireport -Iingest/common -Wno-format-truncation \
                 -DPREP_VERSION='"$(PREP_VERSION_S)"'

all: $(BUILD)/prep-report
asan: $(BUILD)/asan/prep-report
report: $(BUILD)/prep-report

$(BUILD)/prep-report: $(REPORT_SRCS) $(REPORT_HDRS) $(LOGS_SRCS) \
        $(LOGS_HDRS) $(BUILD)/obj/libingest.a $(BUILD)/obj/libprep.a
	$(CC) $(PREP_CPPFLAGS) $(REPORT_FLAGS) $(CFLAGS) $(PREP_WARN) -o $@ \
	    $(REPORT_SRCS) $(LOGS_SRCS) $(filter %.a,$^) $(REPORT_LIBS)

$(BUILD)/asan/prep-report: $(REPORT_SRCS) $(REPORT_HDRS) $(LOGS_SRCS) \
        $(LOGS_HDRS) $(BUILD)/asan/obj/libingest.a $(BUILD)/asan/obj/libprep.a
	$(CC) $(PREP_CPPFLAGS) $(REPORT_FLAGS) -O1 -g $(SANITIZE) $(PREP_WARN) \
	    -o $@ $(REPORT_SRCS) $(LOGS_SRCS) $(filter %.a,$^) $(REPORT_LIBS)

# the log parsers' unit tests link report/log*.c too
$(BUILD)/asan/test_logs: tests/unit/test_logs.c $(LOGS_SRCS) $(LOGS_HDRS) \
        $(LIBPREP_SRCS) $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) -Ireport -O1 -g $(SANITIZE) $(PREP_WARN) \
	    -Wno-missing-prototypes -o $@ $< $(LOGS_SRCS) $(LIBPREP_SRCS) \
	    -lcmocka $(LOGS_LIBS)

# unit tests link the plain C they test: the archives give them only the
# objects they use
$(BUILD)/asan/test_%: tests/unit/test_%.c $(UNIT_UTIL) \
        $(BUILD)/asan/obj/libingest.a $(BUILD)/asan/obj/libprep.a
	@mkdir -p $(@D)
	$(CC) $(INGEST_CPPFLAGS) -O1 -g $(SANITIZE) $(PREP_WARN) \
	    -Wno-missing-prototypes -MMD -MP -MF $@.d -o $@ $< \
	    $(filter %.c,$(UNIT_UTIL)) $(filter %.a,$^) -lcmocka $(INGEST_LIBS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_DIR)/obj/libingest.a \
        $(FUZZ_DIR)/obj/libprep.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(INGEST_CPPFLAGS) $(FUZZ_FLAGS) $(FUZZ_WARN) \
	    -o $@ $< $(filter %.a,$^) $(INGEST_LIBS)

# seeds are generated from the fixtures, never committed
$(FUZZ_DIR)/seeds/.done: tests/fuzz/make_seeds.py \
        tests/fixtures/gen_prep.py $(BUILD)/prep-ingest
	rm -rf $(FUZZ_DIR)/seeds
	$(PYTHON) tests/fuzz/make_seeds.py --ingest $(BUILD)/prep-ingest \
	    --out $(FUZZ_DIR)/seeds
	touch $@

# FUZZ_SECONDS of fuzzing per target; the corpus grows in
# $(FUZZ_DIR)/corpus-<name>, crashes land in $(FUZZ_DIR)/crash-*
fuzz: $(FUZZ_BINS) $(FUZZ_DIR)/seeds/.done
	@set -e; for t in $(FUZZ_NAMES); do \
	    mkdir -p $(FUZZ_DIR)/corpus-$$t; \
	    echo "== fuzz_$$t for $(FUZZ_SECONDS) s"; \
	    $(FUZZ_DIR)/fuzz_$$t $(FUZZ_RUN) -max_total_time=$(FUZZ_SECONDS) \
	        -artifact_prefix=$(FUZZ_DIR)/crash-$$t- \
	        $(FUZZ_DIR)/corpus-$$t $(FUZZ_DIR)/seeds/$$t; \
	done

# part of make test: the targets build, every seed runs clean, and a
# few seconds of fuzzing find nothing
fuzz-smoke:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_SMOKE_SECONDS)

# The runtime matrix: Debian's nginx of each suite with the suite's own
# libraries, unpacked under $(MATRIX_DIR)/SUITE (fetched once), and the
# module built for each by nginx's own build (tools/nginx-matrix.sh).
MATRIX_DIR     = $(BUILD)/matrix
MATRIX_SUITES ?= trixie sid
MATRIX_RUNS    = debian12=$(NGINX_BIN):$(abspath $(MOD_SO)) \
                 $(foreach s,$(MATRIX_SUITES),$(s)=$(abspath \
                     $(MATRIX_DIR)/$(s)/nginx):$(abspath \
                     $(MATRIX_DIR)/$(s)/build/ngx_http_prep_module.so))

matrix:
	@set -e; for s in $(MATRIX_SUITES); do \
	    tools/nginx-matrix.sh $(MATRIX_DIR) $$s; done

# the module must keep compiling on nginx 1.25+ (1.26 and 1.30)
compat: matrix

# deploy/prometheus-alerts.yml: syntax, then its unit tests
monitoring-check:
	promtool check rules deploy/prometheus-alerts.yml
	promtool test rules deploy/prometheus/alerts-test.yml

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: all $(BUILD)/asan/prep-ingest matrix
	PYTHON=$(PYTHON) tools/test-matrix.sh $(BUILD) $(MATRIX_RUNS)

integration-one: all $(BUILD)/asan/prep-ingest
	PREP_BUILD=$(abspath $(BUILD)) NGINX_BIN=$(NGINX_BIN) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

test: deps
	$(MAKE) all asan
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) monitoring-check
	$(MAKE) integration
	$(MAKE) deb-test

run: deps all
	PREP_BUILD=$(abspath $(BUILD)) NGINX_BIN=$(NGINX_BIN) PORT=$(PORT) \
	    PYTHON=$(PYTHON) tools/run-local.sh start

stop:
	@tools/run-local.sh stop

bench: deps all
	bench/serve.sh

bench-ingest: deps all
	PREP_BUILD=$(abspath $(BUILD)) PYTHON=$(PYTHON) bench/ingest.sh

bench-stats: deps all
	PREP_BUILD=$(abspath $(BUILD)) PYTHON=$(PYTHON) bench/stats.sh

clean:
	@if [ -f var/nginx.pid ]; then tools/run-local.sh stop; fi
	rm -rf $(BUILD) var

# ------------------------------------------------------------ install
# make install DESTDIR=/tmp/root PREFIX=/usr (debian/rules will call it).
# The version lives in VERSION; man pages get it substituted here.
PREP_VERSION  := $(shell cat VERSION)
PREFIX        ?= /usr/local
DESTDIR       ?=
NGX_MODDIR    ?= $(PREFIX)/lib/nginx/modules
SYSCONFDIR    ?= /etc
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: install
install: all
	install -D -m 0644 $(MOD_SO) \
	    $(DESTDIR)$(NGX_MODDIR)/ngx_http_prep_module.so
	install -D -m 0755 $(BUILD)/prep-ingest \
	    $(DESTDIR)$(PREFIX)/bin/prep-ingest
	@if [ -x $(BUILD)/prep-report ]; then \
	    install -D -m 0755 $(BUILD)/prep-report \
	        $(DESTDIR)$(PREFIX)/bin/prep-report; fi
	@set -e; for m in $$(find ingest report -name '*.[1-8]' 2>/dev/null); do \
	    s=$${m##*.}; d=$(DESTDIR)$(PREFIX)/share/man/man$$s; \
	    mkdir -p $$d; \
	    sed 's/"ngx_prep [0-9][^"]*"/"ngx_prep $(PREP_VERSION)"/' $$m \
	        | gzip -9n > $$d/$${m##*/}.gz; \
	done
	install -D -m 0644 deploy/prep-ingest.service \
	    $(DESTDIR)$(SYSTEMD_UNITDIR)/prep-ingest.service
	sed -i -e 's|/usr/local/bin/prep-ingest|$(PREFIX)/bin/prep-ingest|' \
	    -e 's|/etc/prep-ingest.conf|$(SYSCONFDIR)/prep-ingest/prep-ingest.conf|' \
	    $(DESTDIR)$(SYSTEMD_UNITDIR)/prep-ingest.service
	install -D -m 0644 deploy/prep-ingest.sysusers \
	    $(DESTDIR)$(PREFIX)/lib/sysusers.d/prep-ingest.conf
	install -D -m 0644 deploy/prep-ingest.tmpfiles \
	    $(DESTDIR)$(PREFIX)/lib/tmpfiles.d/prep-ingest.conf
	install -D -m 0644 deploy/prep-ingest.conf.example \
	    $(DESTDIR)$(SYSCONFDIR)/prep-ingest/prep-ingest.conf
	install -D -m 0644 nginx.conf.example \
	    $(DESTDIR)$(PREFIX)/share/doc/prep-ingest/examples/nginx.conf.example
	install -D -m 0644 deploy/sshd_config.example \
	    $(DESTDIR)$(PREFIX)/share/doc/prep-ingest/examples/sshd_config.example
	install -D -m 0644 deploy/nginx-site.example \
	    $(DESTDIR)$(PREFIX)/share/doc/prep-ingest/examples/nginx-site.example

# ------------------------------------------------------------ Debian
# make deb: libnginx-mod-http-prep and prep-ingest .debs in build/deb/,
# lintian-checked; make deb-test installs them into a clean Debian 12
# root (tests/deb/run.sh, cached under build/deb/)
DEB_OUT        = $(BUILD)/deb
DEPS += debhelper nginx-dev dpkg-dev fakeroot lintian mmdebstrap \
        systemd

.PHONY: deb deb-test
deb:
	tools/build-deb.sh $(DEB_OUT)

deb-test: deb
	tests/deb/run.sh $(DEB_OUT)
