# libFuzzer targets (fuzz/README.md), included by the Makefile.
#
#   make fuzz-deps               clang and its fuzzer runtime, nginx's sources
#   make fuzz [FUZZ_TIME=30]     build, then run each target FUZZ_TIME
#                                seconds from its corpus; fails on a crash
#   make fuzz-build              only build build/fuzz/<target>

FUZZ_TIME     ?= 30
FUZZ_TARGETS  := api publish state verify
FUZZ_DIR      := $(BUILD)/fuzz
FUZZ_NGINX    := $(FUZZ_DIR)/nginx
FUZZ_OBJS     := $(FUZZ_DIR)/obj
FUZZ_NDK      ?= /usr/share/nginx-ndk/src

# clang 14 is bookworm's clang; libclang-rt-14-dev holds its
# libclang_rt.fuzzer, asan and ubsan runtimes
FUZZ_PACKAGES := clang libclang-rt-14-dev dpkg-dev

FUZZ_CC       := clang
FUZZ_SAN      := -fsanitize=fuzzer-no-link,address,undefined
FUZZ_CFLAGS   := -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN) \
                 -fno-sanitize-recover=undefined -fno-sanitize=nonnull-attribute \
                 -Wall -Werror \
                 -Wno-unused-parameter
FUZZ_INCS     := $(addprefix -I $(FUZZ_NGINX)/, src/core src/event \
                 src/event/modules src/os/unix objs src/http src/http/modules) \
                 -I src -I $(FUZZ_NDK)/src -I $(FUZZ_NDK)/objs
FUZZ_LIBS     := -lcjson -lcrypto -lpthread

FUZZ_MODULE_SRCS := ngx_http_webhook_module.c $(wildcard src/*.c)
FUZZ_MODULE_OBJS := $(patsubst %.c,$(FUZZ_OBJS)/%.o,$(notdir $(FUZZ_MODULE_SRCS)))
FUZZ_COMMON      := $(FUZZ_OBJS)/fuzz_common.o

# each harness includes the source file it drives (for its static
# functions), so that file's object is left out of its link
fuzz_includes_api     := ngx_http_webhook_api
fuzz_includes_publish := ngx_http_webhook_publish
fuzz_includes_state   := ngx_http_webhook_store
fuzz_includes_verify  := ngx_http_webhook_verify

.PHONY: fuzz fuzz-deps fuzz-build

fuzz-deps: $(FUZZ_DIR)/.deps

$(FUZZ_DIR)/.deps: fuzz/fuzz.mk $(BUILD)/.deps
	$(call install_missing,$(FUZZ_PACKAGES))
	@mkdir -p $(FUZZ_DIR) && touch $@

# nginx's core, built with clang and the sanitizers; its objects (main()
# renamed) are what the harnesses link with
$(FUZZ_DIR)/nginx.stamp: $(FUZZ_DIR)/.deps fuzz/nginx-source.sh
	@if [ ! -f $(FUZZ_NGINX)/configure ]; then \
	    echo "fetching nginx's sources (apt-get source nginx)"; \
	    fuzz/nginx-source.sh $(FUZZ_NGINX) $(FUZZ_DIR)/apt; \
	fi
	cd $(FUZZ_NGINX) && ./configure --with-cc=$(FUZZ_CC) \
	    --with-cc-opt="-g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)" \
	    --with-ld-opt="$(FUZZ_SAN)" --with-threads \
	    --without-http_rewrite_module --without-http_gzip_module \
	    --without-pcre > $(FUZZ_DIR)/configure.log 2>&1 \
	    || { tail -30 $(FUZZ_DIR)/configure.log; exit 1; }
	$(MAKE) -s -C $(FUZZ_NGINX) -f objs/Makefile binary > $(FUZZ_DIR)/make.log 2>&1 \
	    || { tail -30 $(FUZZ_DIR)/make.log; exit 1; }
	objcopy --redefine-sym main=ngx_fuzz_nginx_main \
	    $(FUZZ_NGINX)/objs/src/core/nginx.o $(FUZZ_DIR)/nginx-nomain.o
	find $(FUZZ_NGINX)/objs -name '*.o' ! -path '*/core/nginx.o' \
	    | sort > $(FUZZ_DIR)/nginx-objs.txt
	@touch $@

$(FUZZ_OBJS)/%.o: src/%.c $(wildcard src/*.h) $(FUZZ_DIR)/nginx.stamp
	@mkdir -p $(FUZZ_OBJS)
	$(FUZZ_CC) -c $(FUZZ_CFLAGS) $(FUZZ_INCS) -o $@ $<

$(FUZZ_OBJS)/ngx_http_webhook_module.o: ngx_http_webhook_module.c \
    $(wildcard src/*.h) $(FUZZ_DIR)/nginx.stamp
	@mkdir -p $(FUZZ_OBJS)
	$(FUZZ_CC) -c $(FUZZ_CFLAGS) -DNDK=1 -DNDK_SET_VAR=1 $(FUZZ_INCS) -o $@ $<

$(FUZZ_OBJS)/%.o: fuzz/%.c fuzz/fuzz.h $(wildcard src/*.h src/*.c) \
    $(FUZZ_DIR)/nginx.stamp
	@mkdir -p $(FUZZ_OBJS)
	$(FUZZ_CC) -c $(FUZZ_CFLAGS) $(FUZZ_INCS) -I fuzz -o $@ $<

$(FUZZ_DIR)/fuzz_%: $(FUZZ_OBJS)/fuzz_%.o $(FUZZ_COMMON) $(FUZZ_MODULE_OBJS)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_COMMON) \
	    $(filter-out $(FUZZ_OBJS)/$(fuzz_includes_$*).o,$(FUZZ_MODULE_OBJS)) \
	    $(FUZZ_DIR)/nginx-nomain.o $$(cat $(FUZZ_DIR)/nginx-objs.txt) \
	    $(FUZZ_LIBS)

fuzz-build: $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_TARGETS))

# each target from its seeds for FUZZ_TIME seconds; new inputs go to a
# scratch corpus, crashes to build/fuzz/artifacts and fail the run
fuzz: fuzz-build
	@set -e; mkdir -p $(FUZZ_DIR)/artifacts; \
	for t in $(FUZZ_TARGETS); do \
	    mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	    echo "fuzz: $$t for $(FUZZ_TIME)s"; \
	    $(FUZZ_DIR)/fuzz_$$t -max_total_time=$(FUZZ_TIME) -timeout=10 \
	        -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
	        -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t- \
	        $(if $(wildcard fuzz/$$t.dict),-dict=fuzz/$$t.dict) \
	        $(FUZZ_DIR)/corpus/$$t fuzz/corpus/$$t \
	        > $(FUZZ_DIR)/$$t.log 2>&1 \
	    || { tail -60 $(FUZZ_DIR)/$$t.log; echo "fuzz: $$t FAILED"; exit 1; }; \
	    grep -E '^stat::number_of_executed_units|^Done' $(FUZZ_DIR)/$$t.log \
	        | tr '\n' ' '; echo; \
	done

# the objects stay: a second build recompiles only what changed
.SECONDARY: $(FUZZ_MODULE_OBJS) $(FUZZ_COMMON) \
            $(patsubst %,$(FUZZ_OBJS)/fuzz_%.o,$(FUZZ_TARGETS))
