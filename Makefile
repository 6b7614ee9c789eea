# Makefile — llm: a PostgreSQL extension that runs a language model in the
# database.  The engine core (src/core, no PostgreSQL dependency) is built
# once into build/libllmcore.a; the extension (src/*.c, PGXS) links it, and so
# do the CLI, the tools, the unit tests and the benchmarks.
#
#   make                 extension + core + CLI + tools
#   make unit            C unit tests of the core (SANITIZE=1 for ASan/UBSan)
#   make installcheck    pg_regress (starts its own server, see REGRESS_OPTS)
#   make fuzz            libFuzzer targets (clang); make fuzz-run FUZZ_SECONDS=600
#   make bench           benchmarks (test/bench)

.DEFAULT_GOAL := all

include src/core/core.mk

# ---- PostgreSQL extension (PGXS) -----------------------------------------
MODULE_big = llm
EXTENSION = llm
DATA = llm--1.0.sql
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
PG_CPPFLAGS = -Isrc -Isrc/core
SHLIB_LINK = $(CORE_LIB) -lm -lpthread -ldl

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=$(srcdir)/test/regress.conf --temp-instance=$(abs_top_builddir)/build/tmp_check --load-extension=llm

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
$(shlib): $(CORE_LIB)
all: core
else
all: core
	@echo "pg_config not found: built the engine core only"
endif

abs_top_builddir := $(CURDIR)
EXTRA_CLEAN = build

.PHONY: test
# The README's test command: unit tests, then the SQL tests (the caller has
# started a server, see .ci/run and test/run-pg-tests.sh).
test: unit
