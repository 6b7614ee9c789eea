# core.mk — build rules for the engine core, its CLI, tools, unit tests,
# fuzz targets and benchmarks.  Included by the top-level Makefile; needs no
# PostgreSQL.

CORE_CC ?= gcc
CORE_CLANG ?= clang
BUILD ?= build
CORE_OPT ?= -O2
CORE_CFLAGS = -std=gnu11 $(CORE_OPT) -g -fPIC -pthread -Wall -Wextra \
	-Wno-unused-parameter -Wno-sign-compare -Isrc/core
ifeq ($(SANITIZE),1)
BUILD = build/asan
CORE_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
CORE_LDFLAGS += -fsanitize=address,undefined
endif
CORE_LDLIBS = -lm -lpthread -ldl

# ISA-specific files are named *_avx2.c, *_avx512.c, *_amx.c; each is
# compiled for its ISA and only called after a run-time CPU check.
FLAGS_AVX2 = -mavx2 -mfma -mf16c
FLAGS_AVX512 = $(FLAGS_AVX2) -mavx512f -mavx512bw -mavx512vl -mavx512dq \
	-mavx512vnni -mavx512bf16
FLAGS_AMX = $(FLAGS_AVX512) -mamx-tile -mamx-int8 -mamx-bf16

CORE_SRCS = $(sort $(wildcard src/core/*.c))
CORE_OBJS = $(patsubst src/core/%.c,$(BUILD)/core/%.o,$(CORE_SRCS))
CORE_LIB = $(BUILD)/libllmcore.a
CORE_HDRS = $(wildcard src/core/*.h)

$(BUILD)/core/%.o: src/core/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CORE_CC) $(CORE_CFLAGS) -c $< -o $@
$(BUILD)/core/%_avx2.o: src/core/%_avx2.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CORE_CC) $(CORE_CFLAGS) $(FLAGS_AVX2) -c $< -o $@
$(BUILD)/core/%_avx512.o: src/core/%_avx512.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CORE_CC) $(CORE_CFLAGS) $(FLAGS_AVX512) -c $< -o $@
# gcc 12 was seen to miscompile AMX tile code: AMX files are built by clang.
$(BUILD)/core/%_amx.o: src/core/%_amx.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CORE_CLANG) $(CORE_CFLAGS) $(FLAGS_AMX) -c $< -o $@

$(CORE_LIB): $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

# ---- programs ---------------------------------------------------------
TOOL_SRCS = $(wildcard src/tools/*.c)
TOOLS = $(patsubst src/tools/%.c,$(BUILD)/llm-%,$(TOOL_SRCS))
CLI = $(BUILD)/llm-cli

$(CLI): src/cli/llm-cli.c $(CORE_LIB)
	$(CORE_CC) $(CORE_CFLAGS) $< -o $@ $(CORE_LIB) $(CORE_LDFLAGS) $(CORE_LDLIBS)
$(BUILD)/llm-%: src/tools/%.c $(CORE_LIB)
	$(CORE_CC) $(CORE_CFLAGS) $< -o $@ $(CORE_LIB) $(CORE_LDFLAGS) $(CORE_LDLIBS)

.PHONY: core
core: $(CORE_LIB) $(if $(wildcard src/cli/llm-cli.c),$(CLI)) $(TOOLS)

# ---- unit tests ---------------------------------------------------------
UNIT_SRCS = $(sort $(wildcard test/unit/test_*.c))
UNIT_BINS = $(patsubst test/unit/%.c,$(BUILD)/test/%,$(UNIT_SRCS))
LLM_MODELS_DIR ?= $(abspath ../shared/models)
export LLM_MODELS_DIR

$(BUILD)/test/%: test/unit/%.c test/unit/unit.h $(CORE_LIB) $(TOOLS)
	@mkdir -p $(dir $@)
	$(CORE_CC) $(CORE_CFLAGS) -Itest/unit $< -o $@ $(CORE_LIB) $(CORE_LDFLAGS) $(CORE_LDLIBS)

.PHONY: unit
UNIT_SCRIPTS = $(if $(wildcard src/cli/llm-cli.c),test/unit/test_cli.sh)

unit: $(UNIT_BINS) $(TOOLS) $(if $(wildcard src/cli/llm-cli.c),$(CLI)) check-clang
	@LLM_BUILD=$(BUILD) test/unit/run.sh $(UNIT_BINS) $(UNIT_SCRIPTS)

# The fuzz targets build every core file with clang, which rejects some
# code gcc accepts (an intrinsic's immediate that is constant only after
# unrolling): check all of them with clang here, in seconds, rather than
# finding out in a 5-minute fuzz build.
.PHONY: check-clang
check-clang:
	@$(CORE_CLANG) -std=gnu11 -fsyntax-only -Wall -Wno-unused-parameter -Isrc/core $(FLAGS_AMX) \
		$(CORE_SRCS) && echo "check-clang: $(words $(CORE_SRCS)) core files compile with clang"

# ---- fuzzing (clang libFuzzer + ASan) -----------------------------------
FUZZ_SRCS = $(wildcard test/fuzz/fuzz_*.c)
FUZZ_BINS = $(patsubst test/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
FUZZ_CORE = $(CORE_SRCS)

build/fuzz/%: test/fuzz/%.c $(CORE_SRCS) $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CORE_CLANG) -std=gnu11 -g -O1 -Isrc/core -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		$(FLAGS_AMX) $< $(FUZZ_CORE) -o $@ $(CORE_LDLIBS)

.PHONY: fuzz fuzz-run
fuzz: $(FUZZ_BINS)
fuzz-run: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); mkdir -p build/fuzz/corpus-$$n; \
		echo "== $$n for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build/fuzz/corpus-$$n test/fuzz/corpus/$$n || exit 1; done

# ---- benchmarks -----------------------------------------------------------
.PHONY: bench
bench: core
	test/bench/run.sh

# bench_matmul (kernels)
$(BUILD)/bench_matmul: test/bench/bench_matmul.c $(CORE_LIB)
	$(CORE_CC) $(CORE_CFLAGS) $< -o $@ $(CORE_LIB) $(CORE_LDFLAGS) $(CORE_LDLIBS)

# bench_attn (attention block)
$(BUILD)/bench_attn: test/bench/bench_attn.c $(CORE_LIB)
	$(CORE_CC) $(CORE_CFLAGS) $< -o $@ $(CORE_LIB) $(CORE_LDFLAGS) $(CORE_LDLIBS)

# bandwidth (benchmarks): the memory read roofline for test/bench/engine_bench.sh
$(BUILD)/bandwidth: test/bench/bandwidth.c
	@mkdir -p $(dir $@)
	$(CORE_CC) -std=gnu11 -O2 -g -pthread -Wall -Wextra -Isrc/core $< -o $@ -lpthread
