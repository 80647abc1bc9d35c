# ngx_http_webhook_module: deps, build, run, test.
#
#   make deps           install what is missing (Debian packages, as root)
#   make                build build/ngx_http_webhook_module.so
#   make run            build and start nginx with conf-examples/quickstart.conf
#   make test           run the whole test suite (prove -r t)
#   make test-valgrind  the same under valgrind memcheck
#   make fuzz           libFuzzer targets, FUZZ_TIME seconds each (fuzz/fuzz.mk)
#   make bench          benchmarks against plain nginx (~5 min), bench/RESULTS.md

SHELL       := /bin/bash
ROOT        := $(CURDIR)
BUILD       := $(ROOT)/build
NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
MODULE      := $(BUILD)/ngx_http_webhook_module.so
NDK_MODULE  ?= /usr/lib/nginx/modules/ndk_http_module.so

DEB_PACKAGES := nginx nginx-dev libssl-dev libcjson-dev \
                libnginx-mod-http-ndk libnginx-mod-http-ndk-dev \
                gcc make valgrind curl procps openssl \
                libtest-base-perl libtext-diff-perl libtest-longstring-perl \
                libwww-perl liburi-perl liblist-moreutils-perl libjson-pp-perl \
                nodejs npm

SOURCES := config ngx_http_webhook_module.c $(wildcard src/*.c src/*.h)

TEST_ENV = TEST_NGINX_BINARY=$(NGINX_BIN) \
           TEST_NGINX_LOAD_MODULES="$(NDK_MODULE) $(MODULE)"

.PHONY: all deps interop-deps build run test test-valgrind bench clean

all: build

# $(call install_missing,PACKAGES): installs those of the Debian packages
# that are not installed yet (nodejs and npm: unless node and npm run), so
# that a second run costs nothing
define install_missing
	@missing=""; \
	for p in $(1); do \
	    case $$p in nodejs|npm) command -v $${p%js} >/dev/null && continue;; esac; \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null \
	        | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "installing:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps: $(BUILD)/.deps

$(BUILD)/.deps: Makefile
	$(call install_missing,$(DEB_PACKAGES))
	@# Debian starts the packaged nginx on port 80; the project never uses it.
	@if command -v systemctl >/dev/null 2>&1; then \
	    systemctl disable --now nginx >/dev/null 2>&1 || true; fi
	@mkdir -p $(BUILD) && touch $@

# t/042-interop.t: the signature libraries from the npm registry, as locked.
INTEROP := t/interop
interop-deps: $(INTEROP)/node_modules/.package-lock.json

$(INTEROP)/node_modules/.package-lock.json: $(INTEROP)/package-lock.json $(BUILD)/.deps
	npm ci --prefix $(INTEROP) --no-audit --no-fund
	@touch $@

build: $(MODULE)

$(MODULE): $(BUILD)/.deps $(SOURCES)
	@mkdir -p $(BUILD)
	@if [ ! -f $(BUILD)/nginx/objs/Makefile ] \
	    || [ config -nt $(BUILD)/nginx/objs/Makefile ]; then \
	    rm -rf $(BUILD)/nginx && cp -r $(NGINX_SRC) $(BUILD)/nginx && \
	    cd $(BUILD)/nginx && \
	    if [ -f conf_flags ]; then \
	        . ./conf_flags; \
	    else \
	        NGX_CONF_FLAGS=(--with-compat --with-threads --with-http_ssl_module); \
	    fi && \
	    ./configure "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(ROOT) \
	        > $(BUILD)/configure.log 2>&1 \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }; \
	fi
	$(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules
	cp $(BUILD)/nginx/objs/ngx_http_webhook_module.so $@.tmp && mv -f $@.tmp $@

run: $(MODULE)
	@mkdir -p $(BUILD)/run/logs $(BUILD)/run/tmp
	@echo "nginx with conf-examples/quickstart.conf on http://127.0.0.1:8080 (Ctrl-C stops it)"
	$(NGINX_BIN) -p $(BUILD)/run -c $(ROOT)/conf-examples/quickstart.conf \
	    -g 'daemon off; load_module $(NDK_MODULE); load_module $(MODULE);'

test: $(MODULE) interop-deps
	$(TEST_ENV) prove -I t/lib -r $(or $(T),t)

test-valgrind: $(MODULE) interop-deps
	$(TEST_ENV) TEST_NGINX_USE_VALGRIND=1 prove -I t/lib -r $(or $(T),t)

# make bench: wrk (and perl, curl) besides the build's packages, if missing
BENCH_PACKAGES := wrk perl curl procps

$(BUILD)/.deps-bench: Makefile $(BUILD)/.deps
	$(call install_missing,$(BENCH_PACKAGES))
	@touch $@

bench: $(MODULE) $(BUILD)/.deps-bench
	bench/bench.sh

clean:
	rm -rf $(BUILD) t/servroot

# fuzzing: make fuzz-deps, make fuzz (fuzz/README.md)
include fuzz/fuzz.mk
