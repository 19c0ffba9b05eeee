# postern - one plain Makefile (docs/style.md rule 22).
#
#   make            build posternd, postern-console and the unit tests' lib
#   make run        install what is missing, set up var/, start posternd
#   make console    the same set-up, then postern-console on the local database
#   make check      same set-up, then every test suite; ends "N passed, N failed"
#   make psql       psql on the local database (reads stdin when not a tty)
#   make passwd ADDRESS=a@b   set an account's password (asked, no echo)
#   make bench      side-by-side benchmarks against a private Postfix
#   make SANITIZER=address,undefined ...   sanitizer build (into build-san/)

SHELL   := /bin/bash
CC      ?= cc
SANITIZER ?=
ifeq ($(SANITIZER),)
BUILD   := build
SANFLAGS :=
else
BUILD   := build-san
SANFLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif

PGINC   := $(shell pg_config --includedir 2>/dev/null || echo /usr/include/postgresql)
CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Wformat=2 -Wstrict-prototypes -Werror \
           -D_GNU_SOURCE -pthread -I. -I$(PGINC) $(SANFLAGS) -MMD -MP
LDFLAGS += -pthread $(SANFLAGS)
LIBS    := -lwolfssl -lpq -lcrypt -lcares -lm
CONSOLE_LIBS := -lpq -lncursesw

# Library sources: every daemon/ and tls/ file except the program mains.
LIB_SRCS := $(filter-out daemon/main.c,$(wildcard daemon/*.c daemon/*/*.c)) $(wildcard tls/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CONSOLE_SRCS := $(wildcard console/*.c)
CONSOLE_OBJS := $(CONSOLE_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)

PROGS := $(BUILD)/posternd
ifneq ($(CONSOLE_SRCS),)
PROGS += $(BUILD)/postern-console
endif

.PHONY: all deps setup run console check unit integration psql passwd bench clean stop lint lint-db fuzz fuzz-build
all: $(PROGS) $(UNIT_BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/libpostern.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/posternd: $(BUILD)/daemon/main.o $(BUILD)/libpostern.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

# The console shares the bootstrap file reader with posternd.
$(BUILD)/postern-console: $(CONSOLE_OBJS) $(BUILD)/daemon/bootstrap.o
	$(CC) $(LDFLAGS) -o $@ $^ $(CONSOLE_LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/libpostern.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Installs missing Debian packages (root only; a no-op when all are there).
deps:
	@scripts/deps.sh

# Private PostgreSQL cluster under var/, schema, default config, certificate.
setup: deps all
	@scripts/setup.sh

run: setup
	@scripts/run.sh

console: setup
	$(BUILD)/postern-console -c var/postern.conf

check: deps
	@scripts/check.sh

psql:
	@scripts/pg.sh psql

# Sets an account's password, read from the terminal without echo (or stdin).
passwd:
	@scripts/postern-passwd "$(ADDRESS)"

stop:
	@scripts/pg.sh stop

bench: setup
	@bench/run.sh

# Static checks we keep the tree clean under.  clang-analyzer's
# valist.Uninitialized is off: clang 14 reports it for every correct
# va_start/vsnprintf pair.
TIDY_CHECKS := -*,clang-analyzer-*,-clang-analyzer-valist.Uninitialized,-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,-clang-analyzer-security.insecureAPI.strcpy,bugprone-*,-bugprone-easily-swappable-parameters,-bugprone-reserved-identifier,-bugprone-narrowing-conversions,-bugprone-assignment-in-if-condition,-bugprone-branch-clone,-bugprone-implicit-widening-of-multiplication-result
# One database layer: only daemon/db.c and the statement modules
# daemon/db_*.c talk to libpq (docs/architecture.md, "Database layer").
DB_LAYER := daemon/db.c daemon/db.h $(wildcard daemon/db_*.c daemon/db_*.h)
lint: lint-db
	cppcheck --quiet --error-exitcode=1 --enable=warning,portability \
	    --inline-suppr -I. daemon tls console
	clang-tidy --quiet --warnings-as-errors='*' -checks='$(TIDY_CHECKS)' \
	    daemon/*.c tls/*.c $(CONSOLE_SRCS) -- -std=gnu11 -I. -I$(PGINC) -D_GNU_SOURCE

lint-db:
	@bad=$$(grep -lE '#[[:space:]]*include[[:space:]]*<libpq-fe\.h>|\<PQ[a-zA-Z]+[[:space:]]*\(' \
	    $(filter-out $(DB_LAYER),$(wildcard daemon/*.c daemon/*.h daemon/*/*.c daemon/*/*.h))); \
	if [ -n "$$bad" ]; then \
	    echo "lint: libpq used outside the database layer (daemon/db.c, daemon/db_*.c):" $$bad; \
	    exit 1; fi

# libFuzzer targets, one per parser (tests/fuzz/fuzz_*.c), each with a
# committed corpus in tests/fuzz/corpus/<name>/.  The library is built once
# with coverage instrumentation (clang), then each target links against it.
#   make fuzz                       every target, FUZZ_SECONDS (60) each
#   make fuzz FUZZ_TARGETS=addr     one target
# `make check` runs every target over its corpus and briefly beyond it.
FUZZ_CFLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -I. -I$(PGINC) \
	-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
FUZZ_SRCS_ALL := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_TARGETS ?= $(FUZZ_SRCS_ALL:tests/fuzz/fuzz_%.c=%)
FUZZ_LIB_OBJS := $(LIB_SRCS:%.c=build-fuzz/%.o)

build-fuzz/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(FUZZ_CFLAGS) -MMD -MP -c -o $@ $<

build-fuzz/libpostern.a: $(FUZZ_LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libpostern.a
	clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $(filter %.c %.a,$^) $(LIBS)

fuzz-build: $(FUZZ_TARGETS:%=build-fuzz/fuzz_%)

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p var/fuzz-corpus/$$t; \
	    echo "== fuzz $$t ($${FUZZ_SECONDS:-60} s)"; \
	    build-fuzz/fuzz_$$t -max_total_time=$${FUZZ_SECONDS:-60} \
	        -max_len=4096 -print_final_stats=1 var/fuzz-corpus/$$t \
	        tests/fuzz/corpus/$$t 2>&1 | grep -E '^(stat::number_of_executed_units|==|SUMMARY|#[0-9]+ +DONE)' ; \
	    test $${PIPESTATUS[0]} -eq 0 || exit 1; \
	done

clean:
	rm -rf build build-san build-fuzz

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
-include $(shell find build-fuzz -name '*.d' 2>/dev/null)
