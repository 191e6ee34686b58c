# ngx_prep: build, test and run.
#
#   make            build build/ngx_http_prep_module.so and build/prep-ingest
#   make run        build, start a local nginx on 127.0.0.1:8080 (./var/)
#   make stop       stop it
#   make test       install dependencies, build, unit and integration tests
#   make compat     build the module against nginx 1.26 headers too
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
INGEST_SRCS    = $(wildcard ingest/*.c)
INGEST_HDRS    = $(wildcard ingest/*.h)
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
       goaccess python3-prometheus-client libfaketime
DEPS += libcurl4-openssl-dev chromium poppler-utils fonts-dejavu-core

MOD_DIR        = $(BUILD)/nginx
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
# clang also wants a format attribute on every vprintf-style helper,
# which gcc does not: the gcc builds keep -Wformat=2 whole
FUZZ_WARN       = $(PREP_WARN) -Wno-format-nonliteral -Wno-missing-prototypes
FUZZ_RUN        = -rss_limit_mb=4096 -timeout=20 -max_len=65536 \
                  -print_final_stats=1

# report: build/prep-report
.PHONY: report
.PHONY: all module ingest deps unit integration test run stop bench clean \
        asan compat fuzz fuzz-smoke bench-ingest bench-stats

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
# CFLAGS is set.  Debian's conf_flags give a binary compatible module.
$(MOD_DIR)/configured: config
	rm -rf $(MOD_DIR) && mkdir -p $(MOD_DIR)
	cp -rs $(abspath $(NGINX_SRC)) $(MOD_DIR)/src
	cd $(MOD_DIR)/src && env -u CFLAGS -u CPPFLAGS -u LDFLAGS \
	    -u MAKEFLAGS -u MFLAGS bash -ec ' \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	    else NGX_CONF_FLAGS=(--with-compat); fi; \
	    opt="$$(dpkg-buildflags --get CFLAGS 2>/dev/null || echo -O2 -g)"; \
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

$(BUILD)/prep-ingest: $(INGEST_SRCS) $(INGEST_HDRS) $(LIBPREP_SRCS) \
        $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) $(CFLAGS) $(PREP_WARN) -o $@ \
	    $(INGEST_SRCS) $(LIBPREP_SRCS) $(INGEST_LIBS)

$(BUILD)/asan/prep-ingest: $(INGEST_SRCS) $(INGEST_HDRS) $(LIBPREP_SRCS) \
        $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) -O1 -g $(SANITIZE) $(PREP_WARN) -o $@ \
	    $(INGEST_SRCS) $(LIBPREP_SRCS) $(INGEST_LIBS)

# prep-report (report/): the memoria tecnica.  ingest/jsonget.c is linked,
# not copied: one JSON reader for the events log.  The access-log side
# (report/log*.c, issue 10) joins REPORT_SRCS when present.
REPORT_SRCS    = $(wildcard report/*.c) ingest/jsonget.c
REPORT_HDRS    = $(wildcard report/*.h) ingest/ingest_jsonget.h
REPORT_LIBS    = -lcurl -lcrypto -lz -lm
PREP_VERSION_S = $(shell cat VERSION 2>/dev/null || echo 0.0.0)
REPORT_FLAGS   = -Ireport -Iingest -Wno-format-truncation -DPREP_VERSION='"$(PREP_VERSION_S)"'

all: $(BUILD)/prep-report
asan: $(BUILD)/asan/prep-report
report: $(BUILD)/prep-report

$(BUILD)/prep-report: $(REPORT_SRCS) $(REPORT_HDRS) $(LIBPREP_SRCS) \
        $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) $(REPORT_FLAGS) $(CFLAGS) $(PREP_WARN) -o $@ \
	    $(REPORT_SRCS) $(LIBPREP_SRCS) $(REPORT_LIBS)

$(BUILD)/asan/prep-report: $(REPORT_SRCS) $(REPORT_HDRS) $(LIBPREP_SRCS) \
        $(LIBPREP_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) $(REPORT_FLAGS) -O1 -g $(SANITIZE) $(PREP_WARN) \
	    -o $@ $(REPORT_SRCS) $(LIBPREP_SRCS) $(REPORT_LIBS)

# unit tests link the plain C they test; ingest objects other than main
$(BUILD)/asan/test_%: tests/unit/test_%.c $(UNIT_UTIL) $(LIBPREP_SRCS) \
        $(LIBPREP_HDRS) $(INGEST_SRCS) $(INGEST_HDRS)
	@mkdir -p $(@D)
	$(CC) $(PREP_CPPFLAGS) -Iingest -O1 -g $(SANITIZE) $(PREP_WARN) \
	    -Wno-missing-prototypes -o $@ $< $(filter %.c,$(UNIT_UTIL)) \
	    $(LIBPREP_SRCS) \
	    $(filter-out ingest/main.c,$(INGEST_SRCS)) -lcmocka $(INGEST_LIBS)

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c $(LIBPREP_SRCS) $(LIBPREP_HDRS) \
        $(INGEST_SRCS) $(INGEST_HDRS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(PREP_CPPFLAGS) -Iingest $(FUZZ_FLAGS) $(FUZZ_WARN) \
	    -o $@ $< $(LIBPREP_SRCS) \
	    $(filter-out ingest/main.c,$(INGEST_SRCS)) $(INGEST_LIBS)

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

# the module must keep compiling on nginx 1.25+ (Debian trixie's 1.26)
compat:
	tools/nginx-compat.sh $(BUILD)/compat

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: all $(BUILD)/asan/prep-ingest
	PREP_BUILD=$(abspath $(BUILD)) NGINX_BIN=$(NGINX_BIN) \
	    $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

test: deps
	$(MAKE) all asan
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) compat
	$(MAKE) integration

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
