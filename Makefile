# credreport: build, test and demo. `make test` installs what a fresh Debian 12 machine lacks.

PKGS      := lua5.4 lua5.4-cjson libcurl openssl inih expat
CC        ?= cc
CFLAGS    ?= -O2 -g
VERSION   := 0.1.0
# Includes name their layer from core/: "base/buf.h", "aws/aws.h" (docs/architecture.md).
WARN      := -std=c11 -D_GNU_SOURCE -DCREDREPORT_VERSION=\"$(VERSION)\" -Wall -Wextra -Wshadow -Wstrict-prototypes -Icore
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs lua5.4 libcurl openssl inih expat 2>/dev/null)
# lua-cjson is linked statically so the binary needs no Lua module path for it. Debian keeps
# the archive in the multiarch directory of its architecture (x86_64-linux-gnu,
# aarch64-linux-gnu...), which its pkg-config file does not name: ask the compiler which
# architecture it builds for (dpkg-architecture if it cannot say), look there and then in
# the usual places. `make CJSON_A=/path/to/liblua5.4-cjson.a` picks another one. Expanded only
# when something is linked, so `make test` can install lua-cjson-dev first.
MULTIARCH  = $(or $(shell $(CC) -print-multiarch 2>/dev/null),$(shell dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null))
CJSON_DIRS = $(if $(MULTIARCH),/usr/lib/$(MULTIARCH) /usr/local/lib/$(MULTIARCH)) /usr/lib64 /usr/lib /usr/local/lib
CJSON_A   ?= $(firstword $(wildcard $(addsuffix /liblua5.4-cjson.a,$(CJSON_DIRS))))
CJSON_LIB  = $(or $(CJSON_A),$(error liblua5.4-cjson.a not found for $(or $(MULTIARCH),this architecture) in $(CJSON_DIRS): install lua-cjson-dev (Debian) for the architecture you build for, or set CJSON_A=/path/to/liblua5.4-cjson.a))
# libcsv ships no pkg-config file.
LIBS       = $(CJSON_LIB) $(PKG_LIBS) -lcsv -lpthread -lm -ldl
# The release binary allocates with mimalloc (Debian's libmimalloc2.0) instead of glibc's
# malloc: Lua, curl and OpenSSL allocate and free small blocks for every request, and with it
# bench/run-org takes about 16% less CPU at 10,000 accounts, 9% at 1,000. Linked ahead of the C
# library, it serves every malloc of the process. `make MALLOC=libc` builds without it; the
# sanitizer builds never link it (ASan and TSan bring their own malloc).
MALLOC    ?= mimalloc
MIMALLOC_H   = $(firstword $(wildcard /usr/include/mimalloc.h /usr/local/include/mimalloc.h))
ALLOC_CFLAGS = $(if $(filter mimalloc,$(MALLOC)),$(if $(MIMALLOC_H),-DCREDREPORT_MIMALLOC,$(error mimalloc.h not found: install libmimalloc-dev (Debian; make deps installs it), or build with the C library's malloc: make MALLOC=libc)))
ALLOC_LIBS   = $(if $(filter mimalloc,$(MALLOC)),-lmimalloc)

BUILD     := build
SRCS      := $(wildcard core/*.c core/*/*.c core/*/*/*.c)
HDRS      := $(wildcard core/*/*.h core/*/*/*.h)
LIB_SRCS  := $(filter-out core/main.c,$(SRCS))
# The Lua library is also built into the binary (core/lua/lua_bundle.h).
LUA_FILES := $(wildcard lua/credreport/*.lua lua/workflows/*.lua)
BUNDLE    := $(BUILD)/gen/lua_bundle.c
OBJS      := $(SRCS:core/%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/lua_bundle.o
UNIT_SRCS := $(wildcard tests/unit/test_*.c)

SAN_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
SAN_OBJS  := $(LIB_SRCS:core/%.c=$(BUILD)/asan/obj/%.o) $(BUILD)/asan/obj/lua_bundle.o
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/asan/%)

APT_PKGS  := build-essential pkg-config liblua5.4-dev lua-cjson-dev libcurl4-openssl-dev \
             libssl-dev libinih-dev libexpat1-dev libcsv-dev libmimalloc-dev nodejs npm python3-boto3 openssl curl tmux man-db python3-yaml \
             chromium

PREFIX    ?= /usr/local
DESTDIR   ?=

.PHONY: all test unit deps emulator-deps demo install clean fuzz fuzz-deps

all: $(BUILD)/credreport

$(BUILD)/credreport: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(ALLOC_LIBS) $(LIBS)

$(BUILD)/obj/%.o: core/%.c $(HDRS) | $(BUILD)/obj
	@mkdir -p $(dir $@)
	$(CC) $(WARN) $(CFLAGS) $(OBJ_CFLAGS) $(PKG_CFLAGS) -c -o $@ $<

# alloc.c, the one file that reads the choice, is built for one allocator: rebuilt when
# MALLOC changes.
$(BUILD)/obj/base/alloc.o: OBJ_CFLAGS = $(ALLOC_CFLAGS)
$(BUILD)/obj/base/alloc.o: $(BUILD)/malloc-$(MALLOC)
$(BUILD)/malloc-$(MALLOC): | $(BUILD)/obj
	@rm -f $(BUILD)/malloc-*
	@touch $@

$(BUNDLE): core/lua/embed-lua $(LUA_FILES)
	@mkdir -p $(dir $@)
	core/lua/embed-lua lua > $@.tmp && mv $@.tmp $@

$(BUILD)/obj/lua_bundle.o: $(BUNDLE) core/lua/lua_bundle.h | $(BUILD)/obj
	$(CC) $(WARN) $(CFLAGS) -c -o $@ $<

$(BUILD)/asan/obj/lua_bundle.o: $(BUNDLE) core/lua/lua_bundle.h | $(BUILD)/asan/obj
	$(CC) $(WARN) -O1 -g $(SAN_FLAGS) -c -o $@ $<

$(BUILD)/tsan/obj/lua_bundle.o: $(BUNDLE) core/lua/lua_bundle.h | $(BUILD)/tsan/obj
	$(CC) $(WARN) -O1 -g -fsanitize=thread -c -o $@ $<

$(BUILD)/asan/obj/%.o: core/%.c $(HDRS) | $(BUILD)/asan/obj
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g $(SAN_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

# The same binary with sanitizers, for the integration tests.
$(BUILD)/asan/credreport: $(SAN_OBJS) $(BUILD)/asan/obj/main.o
	$(CC) -g $(SAN_FLAGS) -o $@ $^ $(LIBS)

$(BUILD)/asan/obj/main.o: core/main.c $(HDRS) | $(BUILD)/asan/obj
	$(CC) $(WARN) -O1 -g $(SAN_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

# With ThreadSanitizer, for the scheduler's tests (worker threads, queues, shared state).
TSAN_OBJS := $(SRCS:core/%.c=$(BUILD)/tsan/obj/%.o) $(BUILD)/tsan/obj/lua_bundle.o
$(BUILD)/tsan/credreport: $(TSAN_OBJS)
	$(CC) -g -fsanitize=thread -o $@ $^ $(LIBS)

$(BUILD)/tsan/obj/%.o: core/%.c $(HDRS) | $(BUILD)/tsan/obj
	@mkdir -p $(dir $@)
	$(CC) $(WARN) -O1 -g -fsanitize=thread $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/asan/test_%: tests/unit/test_%.c $(wildcard tests/unit/*.h) $(SAN_OBJS) | $(BUILD)/asan/obj
	$(CC) $(WARN) -O1 -g $(SAN_FLAGS) $(PKG_CFLAGS) -o $@ $< $(SAN_OBJS) $(LIBS) $(UNIT_LDFLAGS)

# Allocations that fail on purpose (tests/oom/failing_alloc.h): test_oom fails the core's one
# by one, and credreport-oom is the binary whose OOM_FAIL_AT-th allocation fails, for whole
# runs (tests/integration/test_out_of_memory.py).
FAILING_ALLOC := tests/oom/failing_alloc.c -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,--wrap=strndup
$(BUILD)/asan/test_oom: tests/oom/failing_alloc.c tests/oom/failing_alloc.h
$(BUILD)/asan/test_oom: UNIT_LDFLAGS := $(FAILING_ALLOC)
$(BUILD)/asan/credreport-oom: $(SAN_OBJS) $(BUILD)/asan/obj/main.o tests/oom/failing_alloc.c tests/oom/failing_alloc.h
	$(CC) $(WARN) -g $(SAN_FLAGS) -o $@ $(SAN_OBJS) $(BUILD)/asan/obj/main.o $(FAILING_ALLOC) $(LIBS)

# Fuzz targets (tests/fuzz/fuzz_NAME.c, corpus tests/fuzz/NAME/). `make test` replays each
# corpus once with the sanitizer build and replay.c's main(); `make fuzz` builds them with
# clang's libFuzzer and runs each for FUZZ_SECONDS, new inputs going to build/fuzz/corpus/NAME
# and crashing ones to build/fuzz/crashes/ (add those to tests/fuzz/NAME/ once fixed).
FUZZ_NAMES   := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
REPLAY_BINS  := $(FUZZ_NAMES:%=$(BUILD)/asan/fuzz_%)
FUZZ_BINS    := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -O1 -g -fsanitize=fuzzer-no-link,address,undefined,float-cast-overflow \
                -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_OBJS    := $(LIB_SRCS:core/%.c=$(BUILD)/fuzz/obj/%.o) $(BUILD)/fuzz/obj/lua_bundle.o
FUZZ_APT_PKGS := clang libclang-rt-14-dev

$(BUILD)/asan/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(wildcard tests/fuzz/*.h) $(SAN_OBJS) | $(BUILD)/asan/obj
	$(CC) $(WARN) -O1 -g $(SAN_FLAGS) $(PKG_CFLAGS) -DFUZZ_CORPUS=\"tests/fuzz/$*\" \
	  -o $@ $< tests/fuzz/replay.c $(SAN_OBJS) $(LIBS)

$(BUILD)/fuzz/obj/%.o: core/%.c $(HDRS) | $(BUILD)/fuzz/obj
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/fuzz/obj/lua_bundle.o: $(BUNDLE) core/lua/lua_bundle.h | $(BUILD)/fuzz/obj
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -c -o $@ $<

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard tests/fuzz/*.h) $(FUZZ_OBJS)
	$(FUZZ_CC) $(WARN) $(FUZZ_FLAGS) -fsanitize=fuzzer $(PKG_CFLAGS) -o $@ $< $(FUZZ_OBJS) $(LIBS)

$(BUILD)/obj $(BUILD)/asan/obj $(BUILD)/tsan/obj $(BUILD)/fuzz/obj:
	mkdir -p $@

fuzz-deps:
	@missing=""; for p in $(FUZZ_APT_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

# Prints each target's closing figures (runs, exec/s, coverage); fails on a crash.
fuzz: fuzz-deps
	@$(MAKE) --no-print-directory $(FUZZ_BINS)
	@tests/fuzz/run $(FUZZ_SECONDS) $(FUZZ_NAMES)

# Installs only what is missing, so a prepared machine pays nothing.
deps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if command -v node >/dev/null && command -v npm >/dev/null; then \
	  missing=$$(echo "$$missing" | sed 's/ nodejs//; s/ npm//'); fi; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@$(MAKE) --no-print-directory emulator-deps

emulator-deps: tests/emulator/node_modules/.installed

tests/emulator/node_modules/.installed: tests/emulator/package-lock.json
	cd tests/emulator && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# test_aws starts the emulator, which needs its node modules.
unit: emulator-deps $(UNIT_BINS) $(REPLAY_BINS)
	@tests/run-unit $(UNIT_BINS) $(REPLAY_BINS)

test: deps
	@$(MAKE) --no-print-directory all $(BUILD)/asan/credreport $(BUILD)/asan/credreport-oom $(BUILD)/tsan/credreport $(UNIT_BINS) $(REPLAY_BINS)
	@tests/run-all $(UNIT_BINS) $(REPLAY_BINS)

demo: deps all
	@tests/demo

# The binary finds its Lua library at PREFIX/share/credreport/lua (CREDREPORT_LUA_DIR overrides).
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/credreport \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/doc/credreport
	install -m 0755 $(BUILD)/credreport $(DESTDIR)$(PREFIX)/bin/credreport
	cd lua && find . -name '*.lua' -exec install -D -m 0644 {} $(DESTDIR)$(PREFIX)/share/credreport/lua/{} \;
	install -m 0644 config.ini $(DESTDIR)$(PREFIX)/share/credreport/config.ini
	install -m 0644 docs/credreport.1 $(DESTDIR)$(PREFIX)/share/man/man1/credreport.1
	install -m 0644 README.md docs/*.md $(DESTDIR)$(PREFIX)/share/doc/credreport/
	cp -R docs/iam docs/scheduling $(DESTDIR)$(PREFIX)/share/doc/credreport/

clean:
	rm -rf $(BUILD)
