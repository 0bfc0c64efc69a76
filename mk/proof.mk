# mk/proof.mk: offline proofs (issue 6). Included by the root Makefile
# before its rules.
#   make bench-proof     proof sizes and verify times for one event and a
#                        10-hop trace bundle, against libsodium's Ed25519
#                        verify rate (bench/RESULTS-proof.md)
$(BUILD)/bench/proof.o: $(PB_H)

BENCH_PROOF = $(BUILD)/bench/proof

$(BENCH_PROOF): $(BUILD)/bench/proof.o $(BUILD)/bench/common.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-proof: $(BENCH_PROOF)
	$(BENCH_PROOF)

.PHONY: bench-proof
