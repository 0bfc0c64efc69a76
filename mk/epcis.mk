# mk/epcis.mk: the EPCIS work (issue 3). Included by the root Makefile
# before its rules.
#   make bench-query     history / trace latency on a >= 100,000-event
#                        ledger and submit ingest with and without
#                        validation + hashing (bench/RESULTS-epcis.md);
#                        BENCH_QUERY_EVENTS=1000000 for the issue's size,
#                        BENCH_QUERY_KEEP=DIR to build the ledger once in
#                        DIR and measure it again in later runs
#
# Objects include the generated protobuf headers through -isystem, which
# -MMD leaves out of the dependency files: make every object depend on
# them, so a changed .proto rebuilds what uses it.
$(filter-out $(PB_O),$(LIB_OBJ)) $(UNIT_SRC:%.c=$(BUILD)/%.o) $(BUILD)/cli/main.o \
	$(BUILD)/node/main.o $(BUILD)/bench/ingest.o $(BUILD)/bench/query.o: $(PB_H)

BENCH_QUERY = $(BUILD)/bench/query
BENCH_QUERY_EVENTS ?= 100000

$(BENCH_QUERY): $(BUILD)/bench/query.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASE) $(SAN) $(LDFLAGS) -o $@ $^ $(LDLIBS)

bench-query: $(BENCH_QUERY)
	$(BENCH_QUERY) --events $(BENCH_QUERY_EVENTS) $(if $(BENCH_QUERY_KEEP),--keep $(BENCH_QUERY_KEEP))

.PHONY: bench-query
