# recsys - top-level build.
#
#   make            build bin/rectrain and bin/recserve (release, -O2)
#   make deps       install the Debian packages the project needs (root)
#   make test       build, then run unit + integration tests
#   make asan       the same suite under AddressSanitizer + UBSan
#   make demo       train on the generated synthetic data set, publish, list
#   make bench      retrieval benchmarks (needs python3-numpy)
#   make tsan       the server's reload scenarios under ThreadSanitizer
#   make fuzz       libFuzzer, FUZZ_SECONDS (300) per target: request parser, answer writer, HTTP framing, data loader
#   make format     clang-format every source file in place
#   make format-check  fail if any source differs from .clang-format
#   make check-walls   prove the layer walls hold (run by make test)
#
# Every core/*.c goes into build/librecsys.a; trainer/*.c and server/*.c
# (except main.c) into their own archives so unit tests can link them; each
# tests/unit/test_*.c becomes one libcheck test binary. Adding a module is
# adding files: no edit here. Each bench/*.c is a benchmark program at
# build/bench/NAME, each tests/tools/*.c a test program at build/tools/NAME.
#
# Layers. core/ sees only core/ (-Icore); trainer/ sees core/ and trainer/;
# server/ sees core/ and server/. rectrain links librectrain + librecsys,
# recserve librecserve + librecsys, so a wrong include fails to compile and
# a wrong call fails to link. Programs outside the three directories get the
# layer they test:
#   tests/unit/test_server_*.c        server (librecserve + librecsys)
#   tests/unit/test_NAME.c            trainer when trainer/NAME.c or .h exists
#   TRAINER_UNITS below               trainer: core tests whose fixtures the
#                                     trainer builds ("integration units")
#   TRAINER_PROGRAMS below            trainer: the bench and tool programs that
#                                     drive the trainer (bench/train.c, ...)
#   every other test, tool and bench  core (librecsys only)

BUILD    ?= build
BINDIR   ?= bin
CC       ?= cc
OPT      ?= -O2 -march=native
SAN      ?=
PKGS      = openblas lmdb jansson libmicrohttpd

DEBIAN_PACKAGES = build-essential pkg-config libopenblas-openmp-dev liblmdb-dev lmdb-utils \
                  libjansson-dev libmicrohttpd-dev check curl python3 python3-numpy \
                  nginx-light wrk chromium fonts-dejavu-core openssl prometheus

# OpenBLAS is the OpenMP build: our own row loops use OpenMP too, and one
# thread pool for both avoids two pools spinning against each other (with
# the pthread build, small batches ran 5-100x slower on 2 cores). Debian
# installs it beside the default variant, so its directory is named and
# baked in as the run path.
MULTIARCH  := $(shell $(CC) -print-multiarch 2>/dev/null)
OPENBLAS_DIR ?= /usr/lib/$(MULTIARCH)/openblas-openmp
PKG_CONFIG := PKG_CONFIG_PATH=$(OPENBLAS_DIR)/pkgconfig pkg-config
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -Wl,-rpath,$(OPENBLAS_DIR)
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

CFLAGS  += -std=c11 -D_GNU_SOURCE -g $(OPT) -fopenmp -fno-math-errno -Wall -Wextra -Werror \
           -Wshadow -Wno-unused-parameter $(PKG_CFLAGS) $(SAN)
LDFLAGS += -fopenmp $(SAN)
LDLIBS  += $(PKG_LIBS) -lm -lpthread

CORE_SRC    := $(wildcard core/*.c)
TRAINER_SRC := $(filter-out trainer/main.c,$(wildcard trainer/*.c))
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
TOOL_SRC    := $(wildcard tests/tools/*.c)
BENCH_SRC   := $(wildcard bench/*.c)

CORE_OBJ    := $(CORE_SRC:%.c=$(BUILD)/%.o)
TRAINER_OBJ := $(TRAINER_SRC:%.c=$(BUILD)/%.o)
SERVER_OBJ  := $(SERVER_SRC:%.c=$(BUILD)/%.o) $(BUILD)/server/dashboard_assets.o
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN    := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)
BENCH_BIN   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

LIBCORE    := $(BUILD)/librecsys.a
LIBTRAINER := $(BUILD)/librectrain.a
LIBSERVER  := $(BUILD)/librecserve.a

# --- Layers (see the top of this file) ---
LAYER_CORE    := -Icore
LAYER_TRAINER := -Icore -Itrainer
LAYER_SERVER  := -Icore -Iserver

# test_model checks core/model.c on a model the trainer trained and published.
TRAINER_UNITS    := tests/unit/test_model.c
TRAINER_PROGRAMS := bench/train.c bench/bench_cooccur.c bench/bench_sinkhorn.c bench/ganmf_eval.c bench/baselines.c
# bench_filter measures the server's retrieval code (filters, sampling, batches).
SERVER_PROGRAMS  := bench/bench_filter.c

unit_module    = $(patsubst test_%.c,%,$(notdir $(1)))
SERVER_UNITS  := $(filter tests/unit/test_server_%,$(UNIT_SRC))
TRAINER_UNITS += $(foreach t,$(filter-out $(SERVER_UNITS),$(UNIT_SRC)),\
                   $(if $(wildcard trainer/$(call unit_module,$(t)).[ch]),$(t)))
CORE_UNITS    := $(filter-out $(SERVER_UNITS) $(TRAINER_UNITS),$(UNIT_SRC))
CORE_PROGRAMS := $(filter-out $(TRAINER_PROGRAMS) $(SERVER_PROGRAMS),$(TOOL_SRC) $(BENCH_SRC))

# Include path per object; the libraries a program links follow its layer.
$(BUILD)/core/%.o:    LAYER_FLAGS = $(LAYER_CORE)
$(BUILD)/trainer/%.o: LAYER_FLAGS = $(LAYER_TRAINER)
$(BUILD)/server/%.o:  LAYER_FLAGS = $(LAYER_SERVER)
$(CORE_UNITS:%.c=$(BUILD)/%.o) $(CORE_PROGRAMS:%.c=$(BUILD)/%.o):  LAYER_FLAGS = $(LAYER_CORE)
$(TRAINER_UNITS:%.c=$(BUILD)/%.o) $(TRAINER_PROGRAMS:%.c=$(BUILD)/%.o): LAYER_FLAGS = $(LAYER_TRAINER)
$(SERVER_UNITS:%.c=$(BUILD)/%.o) $(SERVER_PROGRAMS:%.c=$(BUILD)/%.o): LAYER_FLAGS = $(LAYER_SERVER)

layer_libs = $(if $(filter $(1),$(SERVER_UNITS) $(SERVER_PROGRAMS)),$(LIBSERVER) ,$(if $(filter $(1),$(TRAINER_UNITS) $(TRAINER_PROGRAMS)),$(LIBTRAINER) ))$(LIBCORE)

PROGRAMS := $(BINDIR)/rectrain
ifneq ($(wildcard server/main.c),)
PROGRAMS += $(BINDIR)/recserve
endif

.PHONY: all deps test unit integration asan demo bench bench-train format format-check clean check-deps fuzz check-walls

all: check-deps $(PROGRAMS) $(UNIT_BIN) $(TOOL_BIN) $(BENCH_BIN)

check-deps:
	@$(PKG_CONFIG) --exists $(PKGS) check && test -d $(OPENBLAS_DIR) || { \
	  echo "missing libraries; install them with: sudo make deps" >&2; exit 1; }

deps:
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(DEBIAN_PACKAGES)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(LAYER_FLAGS) -MMD -MP -c $< -o $@

# Vectorised expf/tanhf (glibc libmvec) for the softmax and activations; the
# file holds no NaN or infinity tests (see its header).
$(BUILD)/core/layers.o: CFLAGS += -ffast-math

$(LIBCORE): $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(LIBTRAINER): $(TRAINER_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The dashboard's files (server/dashboard/) are compiled into recserve.
DASHBOARD_FILES := $(sort $(wildcard server/dashboard/*.html server/dashboard/*.css \
                                     server/dashboard/*.js))
$(BUILD)/server/dashboard_assets.c: $(DASHBOARD_FILES) scripts/embed_assets.sh
	@mkdir -p $(dir $@)
	@echo "  EMBED   $(DASHBOARD_FILES)"
	@sh scripts/embed_assets.sh $@ $(DASHBOARD_FILES)
$(BUILD)/server/dashboard_assets.o: $(BUILD)/server/dashboard_assets.c
	@echo "  CC      $<"
	@$(CC) $(CFLAGS) $(LAYER_SERVER) -c $< -o $@

$(LIBSERVER): $(SERVER_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BINDIR)/rectrain: $(BUILD)/trainer/main.o $(LIBTRAINER) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BINDIR)/recserve: $(BUILD)/server/main.o $(LIBSERVER) $(LIBCORE)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Test, tool and bench programs: one object (compiled with its layer's
# include path and header dependencies), linked with its layer's libraries.
.SECONDEXPANSION:
$(UNIT_BIN): $(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $$(call layer_libs,tests/unit/$$*.c)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ $(CHECK_LIBS) $(LDLIBS) -o $@

$(TOOL_BIN): $(BUILD)/tools/%: $(BUILD)/tests/tools/%.o $$(call layer_libs,tests/tools/$$*.c)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

$(BENCH_BIN): $(BUILD)/bench/%: $(BUILD)/bench/%.o $$(call layer_libs,bench/$$*.c)
	@mkdir -p $(dir $@)
	@echo "  LINK    $@"
	@$(CC) $(LDFLAGS) $^ $(LDLIBS) -o $@

# Compiles probes that include another layer's headers under each layer's
# flags (each must fail), and checks with nm that each program links only its
# own layers (tests/walls.sh).
check-walls: $(PROGRAMS) $(LIBCORE) $(LIBTRAINER) $(LIBSERVER)
	@CC="$(CC)" CFLAGS="$(CFLAGS)" BUILD=$(BUILD) BINDIR=$(BINDIR) \
	  LAYER_CORE="$(LAYER_CORE)" LAYER_TRAINER="$(LAYER_TRAINER)" LAYER_SERVER="$(LAYER_SERVER)" \
	  tests/walls.sh

# The test runner prints one line per suite and a closing "N passed, N failed".
test: all check-walls
	@BUILD=$(BUILD) BINDIR=$(BINDIR) tests/run.sh

unit: all
	@BUILD=$(BUILD) BINDIR=$(BINDIR) tests/run.sh unit

integration: all
	@BUILD=$(BUILD) BINDIR=$(BINDIR) tests/run.sh integration

# ASan + UBSan: separate build tree and binaries, same suite. OpenBLAS is not
# instrumented; its internal threads are fine under ASan.
asan:
	$(MAKE) BUILD=build-asan BINDIR=build-asan/bin OPT="-O1 -fno-omit-frame-pointer" \
	  SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" test

demo: all
	@BINDIR=$(BINDIR) scripts/demo.sh

bench: all
	@BUILD=$(BUILD) BINDIR=$(BINDIR) bench/run.sh

bench-train: all
	@BUILD=$(BUILD) BINDIR=$(BINDIR) bench/train.sh

SOURCES_C = $(wildcard core/*.[ch] trainer/*.[ch] server/*.[ch] tests/*/*.[ch] bench/*.c)

format:
	clang-format -i $(SOURCES_C)

# Fails (listing the files) when any source differs from .clang-format.
format-check:
	@clang-format --dry-run --Werror $(SOURCES_C) 2>&1 | grep -o '^[^:]*\.[ch]' | sort -u; \
	clang-format --dry-run --Werror $(SOURCES_C) >/dev/null 2>&1 && echo "format: clean"

clean:
	rm -rf build build-* bin

-include $(CORE_OBJ:.o=.d) $(TRAINER_OBJ:.o=.d) $(SERVER_OBJ:.o=.d) \
         $(BUILD)/trainer/main.d $(BUILD)/server/main.d \
         $(UNIT_SRC:%.c=$(BUILD)/%.d) $(TOOL_SRC:%.c=$(BUILD)/%.d) $(BENCH_SRC:%.c=$(BUILD)/%.d)

.PHONY: tsan
# ThreadSanitizer build of the server and the hot-reload scenarios.
tsan:
	@tests/tsan.sh

.PHONY: fuzz
fuzz:
	@tests/fuzz/run.sh
