# storagedriver: C library, Lua module (Lua 5.4 and LuaJIT), specs, demo, bench.
# `make` builds; `make test` installs what is missing, builds, starts the local
# S3 server and runs every spec.

PREFIX   ?= /usr/local
CC       ?= cc
BUILD    ?= build
OPT      ?= -O2 -g
SANFLAGS ?=
CFLAGS_COMMON = -std=c11 -D_GNU_SOURCE -fPIC -Wall -Wextra -Werror \
                -Werror=implicit-function-declaration $(OPT) $(SANFLAGS)
ALL_CFLAGS = $(CFLAGS_COMMON) $(CFLAGS)
LDLIBS   = -lpthread -lcrypto -lcurl -lexpat -ljansson
LUA54_INC  := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUAJIT_INC := $(shell pkg-config --cflags luajit 2>/dev/null || echo -I/usr/include/luajit-2.1)

RUNTIME_SRC = $(wildcard runtime/*.c runtime/sign/*.c runtime/http/*.c)
DRIVER_SRC  = $(wildcard drivers/*.c)
CORE_SRC    = $(RUNTIME_SRC) $(DRIVER_SRC)
CORE_OBJ    = $(patsubst %.c,$(BUILD)/obj/%.o,$(CORE_SRC))
HEADERS     = $(wildcard runtime/*.h runtime/sign/*.h runtime/http/*.h drivers/*.h lua/*.h)
LUA_SRC     = $(wildcard lua/*.c)

LIB_A   = $(BUILD)/libstoragedriver.a
LIB_SO  = $(BUILD)/libstoragedriver.so
PC      = $(BUILD)/storagedriver.pc
MOD54   = $(BUILD)/lua54/storagedriver/core.so
MODJIT  = $(BUILD)/luajit/storagedriver/core.so
EXAMPLE = $(BUILD)/example

.PHONY: all lua54 luajit test sanitize demo bench bench-deps bench-s3 bench-azure bench-swift install clean deps test-deps rock install-rock
TESTPROGS = $(BUILD)/sigv4_vectors $(BUILD)/azure_vectors $(BUILD)/swift_tempurl_vectors \
            $(BUILD)/http_test $(BUILD)/xml_test
all: $(LIB_A) $(LIB_SO) $(PC) $(MOD54) $(MODJIT) $(EXAMPLE) $(TESTPROGS)
lua54: $(MOD54)
luajit: $(MODJIT)

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB_A): $(CORE_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(CORE_OBJ)
	$(CC) -shared $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

# The pkg-config file names PREFIX, so install writes it again for its own.
define PC_TEXT
prefix=$(1)
libdir=$${prefix}/lib
includedir=$${prefix}/include

Name: storagedriver
Description: storage drivers (registry model) in C
Version: 0.1.0
Libs: -L$${libdir} -lstoragedriver
Libs.private: $(LDLIBS)
Cflags: -I$${includedir}
endef
export PC_BUILD = $(call PC_TEXT,$(abspath $(BUILD))/stage)
export PC_INSTALL = $(call PC_TEXT,$(PREFIX))

$(PC): Makefile
	@mkdir -p $(dir $@)
	printf '%s\n' "$$PC_BUILD" > $@

# The Lua modules link the core objects in; they do not link liblua (the host provides it).
$(MOD54): $(LUA_SRC) $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(ALL_CFLAGS) $(LUA54_INC) -o $@ $(LUA_SRC) $(CORE_OBJ) $(LDLIBS)

$(MODJIT): $(LUA_SRC) $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(ALL_CFLAGS) $(LUAJIT_INC) -o $@ $(LUA_SRC) $(CORE_OBJ) $(LDLIBS)

$(EXAMPLE): examples/example.c $(LIB_A)
	$(CC) $(ALL_CFLAGS) -Iruntime -o $@ $< $(LIB_A) $(LDLIBS)

# The AWS SigV4 vector checker (spec/sigv4_spec.lua); only it links libjansson.
$(BUILD)/sigv4_vectors: tests/sigv4_vectors.c runtime/sign/sigv4.h $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) -ljansson

# The Azure SharedKey/SAS vector checker (spec/azure_sign_spec.lua).
$(BUILD)/azure_vectors: tests/azure_vectors.c runtime/sign/azure.h $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS) -ljansson

# The Swift TempURL vector checker (spec/swift_tempurl_spec.lua).
$(BUILD)/swift_tempurl_vectors: tests/swift_tempurl_vectors.c drivers/swift.h $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

# The C checkers of runtime/http and runtime/xml (spec/http_spec.lua, spec/xml_spec.lua).
$(BUILD)/%_test: tests/%_test.c $(HEADERS) $(LIB_A)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(LDLIBS)

deps:
	@sh spec/support/deps.sh

# also the local S3 server (OpenStack Swift) and awscli for the S3 specs
test-deps:
	@sh spec/support/deps.sh --servers

# the specs with the local S3 server up; it is stopped afterwards, also on
# failure or Ctrl-C.  `sh spec/run.sh` alone runs without it (s3 pending).
test: test-deps all
	@sh spec/support/with-servers.sh sh spec/run.sh

sanitize: test-deps $(MODJIT)
	@sh spec/sanitize.sh

demo: deps $(MOD54)
	@LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/lua54/?.so;;' lua5.4 examples/demo.lua

$(BUILD)/bench/benchclock.so: bench/clock.c
	@mkdir -p $(dir $@)
	$(CC) -shared $(ALL_CFLAGS) $(LUA54_INC) -o $@ $<

$(BUILD)/bench/fsloop: bench/fsloop.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $<

# also the local S3 server, awscli, rclone and boto3 for bench/s3.lua
bench-deps:
	@sh bench/deps.sh

bench: deps bench-deps all $(BUILD)/bench/benchclock.so $(BUILD)/bench/fsloop
	@LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/lua54/?.so;$(BUILD)/bench/?.so;;' \
	  lua5.4 bench/run.lua
	@LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/lua54/?.so;;' lua5.4 bench/middleware.lua
	@LUA_PATH='lua/?.lua;lua/?/init.lua;spec/support/?.lua;;' lua5.4 bench/nginx.lua
	@$(MAKE) --no-print-directory bench-s3
	@$(MAKE) --no-print-directory bench-azure
	@$(MAKE) --no-print-directory bench-swift

# the azure driver against azurite (started and stopped by the script), rclone,
# curl and Azure's Python SDK; SD_BENCH_QUICK=1: a short run
bench-azure: bench-deps all $(BUILD)/bench/benchclock.so
	@LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/lua54/?.so;$(BUILD)/bench/?.so;;' \
	  lua5.4 bench/azure.lua

# the swift driver against the local Swift (started and stopped by the
# script unless SD_SWIFT_PARAMS names one) and the swift command, rclone, curl
# and python3-swiftclient; SD_BENCH_QUICK=1: a short run
bench-swift: bench-deps all $(BUILD)/bench/benchclock.so
	@LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/lua54/?.so;$(BUILD)/bench/?.so;;' \
	  lua5.4 bench/swift.lua

# the s3 driver against the local S3 server (started and stopped by the
# script) and awscli, rclone, curl and boto3; SD_BENCH_QUICK=1: a short run
bench-s3: bench-deps all $(BUILD)/bench/benchclock.so
	@LUA_PATH='lua/?.lua;lua/?/init.lua;;' LUA_CPATH='$(BUILD)/lua54/?.so;$(BUILD)/bench/?.so;;' \
	  lua5.4 bench/s3.lua

install: all
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/share/lua/5.4/storagedriver $(DESTDIR)$(PREFIX)/lib/lua/5.4/storagedriver \
	  $(DESTDIR)$(PREFIX)/share/lua/5.1/storagedriver $(DESTDIR)$(PREFIX)/lib/lua/5.1/storagedriver \
	  $(DESTDIR)$(PREFIX)/bin
	install -m 644 $(LIB_A) $(LIB_SO) $(DESTDIR)$(PREFIX)/lib/
	install -m 644 runtime/storagedriver.h $(DESTDIR)$(PREFIX)/include/
	printf '%s\n' "$$PC_INSTALL" > $(DESTDIR)$(PREFIX)/lib/pkgconfig/storagedriver.pc
	install -m 755 $(MOD54) $(DESTDIR)$(PREFIX)/lib/lua/5.4/storagedriver/
	install -m 755 $(MODJIT) $(DESTDIR)$(PREFIX)/lib/lua/5.1/storagedriver/
	for v in 5.4 5.1; do \
	  (cd lua && find storagedriver -name '*.lua' -exec install -D -m 644 {} $(DESTDIR)$(PREFIX)/share/lua/$$v/{} \;); \
	done

# LuaRocks (build type make): one module for the Lua whose headers are in LUA_INCDIR.
LUA_INCDIR ?= /usr/include/lua5.4
ROCKMOD = $(BUILD)/rock/storagedriver/core.so
rock: $(ROCKMOD)
$(ROCKMOD): $(LUA_SRC) $(CORE_OBJ) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) -shared $(ALL_CFLAGS) -I$(LUA_INCDIR) -o $@ $(LUA_SRC) $(CORE_OBJ) $(LDLIBS)
install-rock: $(ROCKMOD)
	install -d $(INST_LIBDIR)/storagedriver $(INST_LUADIR)/storagedriver
	install -m 755 $(ROCKMOD) $(INST_LIBDIR)/storagedriver/
	(cd lua && find storagedriver -name '*.lua' -exec install -D -m 644 {} $(INST_LUADIR)/{} \;)

clean:
	rm -rf $(BUILD) demo-data
