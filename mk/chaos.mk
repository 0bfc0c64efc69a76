# mk/chaos.mk: the randomized fault soak (tests/chaos/chaos.sh). Included
# by the root Makefile before its rules; not part of make test (minutes per
# seed, and it wants the machine to itself).
#   make chaos                          CHAOS_SEEDS (3 random seeds), CHAOS_ROUNDS (10) rounds each
#   make chaos SEED=N [CHAOS_ROUNDS=R]  replay one seed: the same faults in the same order
#   make chaos CHAOS_SEEDS="1 2 3"      those seeds, one fresh testnet each
#   make chaos CHAOS_FAULTS="kill pause" only those faults (kill pause wipe primary twodown liar)
#   make chaos-asan [SEED=N ...]        the same with the make asan build (build/asan/bin)
CHAOS_ROUNDS ?= 10
CHAOS_SEEDS  ?=
CHAOS_FAULTS ?=

chaos: $(PROGS)
	LSAN_OPTIONS="suppressions=$(abspath tests/lsan.supp):print_suppressions=0" \
	TRELLIS_BIN=$(abspath $(BIN)) ROUNDS=$(CHAOS_ROUNDS) \
		$(if $(SEED),SEED=$(SEED),$(if $(CHAOS_SEEDS),SEEDS="$(CHAOS_SEEDS)",SEEDS="$$(od -An -N2 -tu2 /dev/urandom) $$(od -An -N2 -tu2 /dev/urandom) $$(od -An -N2 -tu2 /dev/urandom)")) \
		$(if $(CHAOS_FAULTS),FAULTS="$(CHAOS_FAULTS)") sh tests/chaos/chaos.sh

chaos-asan:
	$(MAKE) BUILD=build/asan BIN=build/asan/bin \
		SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
		CFLAGS="-O1 -g" chaos

.PHONY: chaos chaos-asan
