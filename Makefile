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
# a call without a prototype compiles to the wrong return-value handling
PG_CFLAGS = -Werror=implicit-function-declaration
SHLIB_LINK = $(CORE_LIB) -lm -lpthread -ldl

# pg_regress (make installcheck) needs a server with
# shared_preload_libraries = 'llm' and llm.model = the stories260K GGUF.
# LLM_REGRESS_MODE chooses where it comes from:
#   server (default)  an already running server, the one
#                     test/run-pg-tests.sh starts as the postgres user
#                     (PGHOST = its socket directory, PGPORT = 54329,
#                     PGUSER = postgres); the tests run in database
#                     llm_regress, which pg_regress (re)creates.  Works as
#                     root.
#   temp              pg_regress starts its own instance in build/tmp_check
#                     with build/regress.conf, made from
#                     test/regress.conf.in with LLM_TEST_MODEL substituted.
#                     PostgreSQL refuses to run as root, so as root run
#                     su postgres -c 'make installcheck LLM_REGRESS_MODE=temp'
#                     with the tree writable by postgres (pg_regress
#                     writes results/ there).
# The test server should use llm.threads = 1: for a 260K-parameter model the
# thread pool's hand-offs cost more than the maths (the suite takes ~2 s
# with 1 thread, minutes with 2 on a loaded 2-core machine).
LLM_REGRESS_MODE ?= server
LLM_TEST_MODEL ?= $(firstword $(wildcard $(CURDIR)/build/models/stories260K.gguf) \
	$(abspath $(LLM_MODELS_DIR))/stories260K/stories260K.gguf)
REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --load-extension=llm
ifeq ($(LLM_REGRESS_MODE),temp)
REGRESS_OPTS += --temp-config=$(CURDIR)/build/regress.conf \
	--temp-instance=$(CURDIR)/build/tmp_check
installcheck: build/regress.conf
endif

build/regress.conf: test/regress.conf.in
	@mkdir -p build
	sed 's|@LLM_TEST_MODEL@|$(LLM_TEST_MODEL)|' $< > $@

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)
ifneq ($(PGXS),)
include $(PGXS)
# after Makefile.global, which sets it; pg_regress gets --dbname=llm_regress
CONTRIB_TESTDB = llm_regress
$(shlib): $(CORE_LIB)
# PGXS does not track headers: rebuild every object when one changes (a
# stale object compiled before a prototype existed once returned garbage)
$(OBJS): $(wildcard src/*.h) $(wildcard src/core/*.h)
all: core
else
all: core
	@echo "pg_config not found: built the engine core only"
endif

abs_top_builddir := $(CURDIR)
EXTRA_CLEAN = build

.PHONY: test demo
# The README's test command: unit tests, build + install, convert the test
# model, then pg_regress, pgTAP and the lifecycle tests against a throwaway
# cluster on port 54329 (test/run-pg-tests.sh runs every stage and prints
# one "N passed, N failed" line).  Root or sudo is needed for make install.
test:
	@bash test/run-pg-tests.sh

# The README's first command: build, install and run a local demo cluster
# (port 54321); make demo MODEL=/path/to/model.gguf for another model.
demo:
	@bash scripts/demo.sh $(MODEL)
