# trellis: one Makefile for the whole tree.
#   make            build bin/trellis and bin/trellisd
#   make test       everything CI runs (installs missing Debian packages first)
#   make asan       the tests under address + undefined sanitizers
#   make valgrind   the unit tests and a CLI round under valgrind
#   make demo       the farm-to-shelf story on a 4-partner testnet
#   make bench      the one-partner ingest benchmark
#   make bench-net  the 4-node network benchmark (with an etcd reference)
#   make bench-bulk two 50,000-record submits under a paced load
#   make install    PREFIX=/usr/local DESTDIR=
.DELETE_ON_ERROR:
# keep generated headers and test objects (they are not intermediate to us)
.SECONDARY:
.SUFFIXES:

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
BIN     ?= bin
SAN     ?=
CFLAGS  ?= -O2 -g
WERROR  ?= -Werror
WARN     = -Wall -Wextra -Wpedantic -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes \
           -Wvla -Wwrite-strings -Wcast-qual -Wshadow -fno-common
BASE     = -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -pthread
ALL_CFLAGS = $(BASE) $(CFLAGS) $(WARN) $(WERROR) $(SAN) -MMD -MP -I. -isystem $(BUILD)
PB_CFLAGS  = $(BASE) $(CFLAGS) $(SAN) -w -MMD -MP -I$(BUILD)
LDLIBS   = -lsodium -llmdb -lnng -lprotobuf-c -lsecp256k1 -ljansson -pthread
LDFLAGS ?=

DEPS_STAMP = build/.deps-stamp
PROTOS = $(wildcard proto/*.proto)
PB_C = $(PROTOS:%.proto=$(BUILD)/%.pb-c.c)
PB_H = $(PROTOS:%.proto=$(BUILD)/%.pb-c.h)
PB_O = $(PROTOS:%.proto=$(BUILD)/%.pb-c.o)


COMMON_SRC  = $(wildcard common/*.c)
LEDGER_SRC  = $(wildcard ledger/*.c)
CONS_SRC    = $(wildcard consensus/*.c)
P2P_SRC     = $(wildcard p2p/*.c)
NODE_SRC    = $(filter-out node/main.c,$(wildcard node/*.c))
CLI_SRC     = $(filter-out cli/main.c,$(wildcard cli/*.c))

LIB_SRC  = $(COMMON_SRC) $(LEDGER_SRC) $(CONS_SRC) $(P2P_SRC) $(NODE_SRC) $(CLI_SRC)
LIB_OBJ  = $(LIB_SRC:%.c=$(BUILD)/%.o) $(PB_O)
LIB      = $(BUILD)/libtrellis.a

UNIT_SRC  = $(wildcard tests/unit/*_test.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

PROGS = $(BIN)/trellis $(BIN)/trellisd

.DEFAULT_GOAL := all

# Module fragments (mk/*.mk) may add targets and append to TEST_EXTRA.
TEST_EXTRA =
-include mk/*.mk

all: $(PROGS)

$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(dir $@)
	sh scripts/deps.sh
	@touch $@

$(BUILD)/proto/%.pb-c.c $(BUILD)/proto/%.pb-c.h: proto/%.proto | $(DEPS_STAMP)
	@mkdir -p $(BUILD)
	protoc-c --proto_path=. --c_out=$(BUILD) $<

$(BUILD)/proto/%.pb-c.o: $(BUILD)/proto/%.pb-c.c $(PB_H)
	$(CC) $(PB_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c | $(PB_H) $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/trellis: $(BUILD)/cli/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/trellisd: $(BUILD)/node/main.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# ==== Tests ====

# Unit tests find ../shared through TRELLIS_SHARED (default: ../shared).
TRELLIS_SHARED ?= $(abspath ../shared)
export TRELLIS_SHARED

unit: $(UNIT_BIN)
	@set -e; for t in $(UNIT_BIN); do echo "== $$t"; $$t; done

integration: $(PROGS)
	TRELLIS_BIN=$(abspath $(BIN)) prove -v tests/integration/

test: unit integration $(TEST_EXTRA)

# tests/lsan.supp: the one NNG leak at a hung close (see the file)
asan:
	LSAN_OPTIONS="suppressions=$(abspath tests/lsan.supp):print_suppressions=0" \
	$(MAKE) BUILD=build/asan BIN=build/asan/bin \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-O1 -g" test

VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
           --show-leak-kinds=definite
valgrind: $(UNIT_BIN) $(PROGS)
	@set -e; for t in $(UNIT_BIN); do echo "== valgrind $$t"; $(VALGRIND) $$t; done
	TRELLIS_BIN=$(abspath $(BIN)) TRELLIS_VALGRIND="$(VALGRIND)" prove -v tests/integration/t0010-cli.t tests/integration/t0100-node.t

bench: $(PROGS) $(BUILD)/bench/ingest
	$(BUILD)/bench/ingest $(abspath $(BIN))

$(BUILD)/bench/ingest: $(BUILD)/bench/ingest.o $(BUILD)/bench/common.o $(LIB)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/bench/netload: $(BUILD)/bench/netload.o $(BUILD)/bench/common.o $(LIB)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

demo: $(PROGS)
	TRELLIS_BIN=$(abspath $(BIN)) sh testnet/demo.sh

bench-net: $(PROGS) $(BUILD)/bench/netload
	TRELLIS_BIN=$(abspath $(BIN)) NETLOAD=$(abspath $(BUILD)/bench/netload) sh bench/net.sh

bench-bulk: $(PROGS) $(BUILD)/bench/netload
	TRELLIS_BIN=$(abspath $(BIN)) NETLOAD=$(abspath $(BUILD)/bench/netload) sh bench/bulk.sh

install: $(PROGS)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(PROGS) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf build bin

.PHONY: all unit integration test asan valgrind bench bench-net bench-bulk demo install clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
