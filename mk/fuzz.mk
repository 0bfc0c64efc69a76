# mk/fuzz.mk: fuzz targets for the decoders of hostile bytes (tests/fuzz/).
# Included by the root Makefile before its rules.
#   make fuzz-replay     each target once over its corpus (part of make test)
#   make fuzz FUZZ=proof [FUZZ_SECONDS=60]
#                        libFuzzer with address+undefined sanitizers (clang;
#                        warnings are not errors there: gcc is the gate);
#                        new inputs go to build/fuzz/corpus-$(FUZZ), crashes
#                        to build/fuzz/; copy the ones worth keeping into
#                        tests/fuzz/corpus/$(FUZZ)
#   make fuzz-seeds      rewrite the generated seeds (proofs, records, blocks)
FUZZ_TARGETS = proof consortium record block epcis pbft link
FUZZ_REPLAY = $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay-%)
FUZZ_COMMON = $(BUILD)/tests/fuzz/common.o
FUZZ ?= proof
FUZZ_SECONDS ?= 60
FUZZ_BUILD = build/fuzz/lib

$(BUILD)/tests/fuzz/%.o: $(PB_H)

$(BUILD)/fuzz/replay-%: $(BUILD)/tests/fuzz/fuzz_%.o $(BUILD)/tests/fuzz/replay.o $(FUZZ_COMMON) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/fuzz/seeds: $(BUILD)/tests/fuzz/seeds.o $(FUZZ_COMMON) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The EPCIS target also replays the GS1 example documents of ../shared.
fuzz-replay: $(FUZZ_REPLAY)
	@set -e; for t in $(FUZZ_TARGETS); do \
		extra=; [ $$t = epcis ] && extra="../shared/epcis/examples"; \
		$(BUILD)/fuzz/replay-$$t tests/fuzz/corpus/$$t $$extra; done

fuzz-seeds: $(BUILD)/fuzz/seeds
	$(BUILD)/fuzz/seeds tests/fuzz/corpus

fuzz:
	$(MAKE) BUILD=$(FUZZ_BUILD) BIN=$(FUZZ_BUILD)/bin CC=clang CFLAGS="-O1 -g" WERROR= \
		SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
		$(FUZZ_BUILD)/libtrellis.a $(FUZZ_BUILD)/tests/fuzz/fuzz_$(FUZZ).o $(FUZZ_BUILD)/tests/fuzz/common.o
	clang -pthread -fsanitize=fuzzer,address,undefined -o build/fuzz/fuzz-$(FUZZ) \
		$(FUZZ_BUILD)/tests/fuzz/fuzz_$(FUZZ).o $(FUZZ_BUILD)/tests/fuzz/common.o \
		$(FUZZ_BUILD)/libtrellis.a $(LDLIBS)
	@mkdir -p build/fuzz/corpus-$(FUZZ)
	cd build/fuzz && ./fuzz-$(FUZZ) -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
		corpus-$(FUZZ) ../../tests/fuzz/corpus/$(FUZZ) \
		$(if $(filter epcis,$(FUZZ)),../../../shared/epcis/examples)

TEST_EXTRA += fuzz-replay

.PHONY: fuzz fuzz-replay fuzz-seeds
