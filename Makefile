# Ferry - build with `make`; `make check` runs the unit tests (also under ASan and UBSan).
#
#   make                 build/bin/ferry-vm (optimised)
#   make check           unit tests, optimised build and sanitizer build
#   make guest           the guest kernel and initramfs (guest/build.sh)
#   make format          clang-format the sources in place
#   make install         programs, man pages, bash completion, systemd units (PREFIX, DESTDIR)
#   make clean

CC ?= cc
O := build
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-missing-field-initializers
CFLAGS_BASE := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -MMD -MP -Isrc
OPT := -O2
SAN := -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
JSON_LIBS := -ljansson
LDLIBS := -lfdt -lxxhash $(JSON_LIBS)

COMMON_SRC := $(sort $(wildcard src/common/*.c))
# The VMM's layers, lowest first (docs/architecture.md); main.c assembles them.
VMM_LAYERS := core board devices state migrate control
VM_SRC := $(foreach l,$(VMM_LAYERS),$(sort $(wildcard src/vmm/$(l)/*.c)))
LIB_SRC := $(COMMON_SRC) $(VM_SRC)
# The agent (ferryd) and the CLI (ferry): each a program of its own beside the VMM.
AGENT_SRC := $(filter-out src/agent/main.c,$(sort $(wildcard src/agent/*.c)))
CLI_SRC := $(filter-out src/cli/main.c,$(sort $(wildcard src/cli/*.c)))
AGENT_LIBS := -lmicrohttpd -lcurl -lgnutls -lsystemd $(JSON_LIBS)
CLI_LIBS := -lcurl -lgnutls $(JSON_LIBS)
TEST_SRC := $(wildcard tests/unit/test_*.c)

# $(call objs,variant,sources)
objs = $(patsubst %.c,$(O)/$(1)/%.o,$(2))

.PHONY: all check unit guest format clean fuzz FORCE
.SECONDARY:
all: $(O)/bin/ferry-vm $(O)/bin/ferry-vmctl $(O)/bin/ferry-counter $(O)/bin/ferry-ping \
	$(if $(wildcard src/agent/main.c),$(O)/bin/ferryd) $(if $(wildcard src/cli/main.c),$(O)/bin/ferry)

# The project's version (src/common/version.h): `git describe` in a git checkout, else the
# first line of a VERSION file (a source copy), else 0.0.0-unknown. Only the objects of the
# files that print it get it; $(O)/version changes only when it does, so they are rebuilt then.
FERRY_VERSION := $(shell { if [ -e .git ] && git describe --always --dirty 2>/dev/null; then :; \
	elif [ -s VERSION ]; then head -n 1 VERSION; else echo 0.0.0-unknown; fi; } | tr -cd 'A-Za-z0-9._+~-')
VERSION_USERS := src/vmm/main.c src/tools/vmctl.c src/tools/counter.c src/tools/ping.c \
	src/agent/main.c src/cli/main.c
VERSION_OBJS := $(call objs,rel,$(VERSION_USERS)) $(call objs,san,$(VERSION_USERS))
$(VERSION_OBJS): CFLAGS_VERSION := -DFERRY_VERSION='"$(FERRY_VERSION)"'
$(VERSION_OBJS): $(O)/version
$(O)/version: FORCE
	@mkdir -p $(dir $@)
	@echo '$(FERRY_VERSION)' | cmp -s - $@ || echo '$(FERRY_VERSION)' >$@

$(O)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(CFLAGS_BASE) $(OPT) $(CFLAGS_VERSION) $(CFLAGS) -c -o $@ $<

$(O)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-SAN  $<"
	@$(CC) $(CFLAGS_BASE) $(SAN) $(CFLAGS_VERSION) $(CFLAGS) -c -o $@ $<

$(O)/bin/ferry-vm: $(call objs,rel,$(LIB_SRC) src/vmm/main.c)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) -o $@ $^ $(LDLIBS)

$(O)/bin/ferry-vm-san: $(call objs,san,$(LIB_SRC) src/vmm/main.c)
	@mkdir -p $(dir $@)
	@echo "  LD-SAN  $@"
	@$(CC) $(SAN) -o $@ $^ $(LDLIBS)

# Unit tests link everything but the programs' main files.
UNIT_LIB_SRC := $(LIB_SRC) $(AGENT_SRC) $(CLI_SRC)
$(O)/tests/rel/%: $(O)/rel/tests/unit/%.o $(O)/rel/tests/unit/harness.o $(call objs,rel,$(UNIT_LIB_SRC))
	@mkdir -p $(dir $@)
	@$(CC) $(OPT) -o $@ $^ $(LDLIBS) $(AGENT_LIBS) -lcmocka

$(O)/tests/san/%: $(O)/san/tests/unit/%.o $(O)/san/tests/unit/harness.o $(call objs,san,$(UNIT_LIB_SRC))
	@mkdir -p $(dir $@)
	@$(CC) $(SAN) -o $@ $^ $(LDLIBS) $(AGENT_LIBS) -lcmocka

# test_fpu compares fpu.c with the host's FPU through <fenv.h> and fma(): libm.
$(O)/tests/rel/test_fpu $(O)/tests/san/test_fpu: LDLIBS += -lm

UNIT_NAMES := $(basename $(notdir $(TEST_SRC)))
UNIT_BINS := $(addprefix $(O)/tests/rel/,$(UNIT_NAMES)) $(addprefix $(O)/tests/san/,$(UNIT_NAMES))

unit: $(UNIT_BINS) $(O)/bin/ferry-vm-san
check: all unit
	@tests/run-unit.sh $(UNIT_BINS)

guest:
	guest/build.sh $(O)/guest

format:
	clang-format -i $(shell find src -name "*.[ch]") tests/unit/*.[ch] guest/init/*.c guest/lib/*.h guest/progs/*.c

clean:
	rm -rf $(O)/rel $(O)/san $(O)/bin $(O)/tests $(O)/version $(O)/man $(O)/share

-include $(shell find $(O)/rel $(O)/san $(O)/fuzz -name "*.d" 2>/dev/null)

$(O)/bin/ferry-vmctl: $(call objs,rel,src/tools/vmctl.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) -o $@ $^ -lxxhash $(JSON_LIBS)

# The host-side client of the guest's counter service (tests and the lab).
$(O)/bin/ferry-counter: $(call objs,rel,src/tools/counter.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) -o $@ $^ -lxxhash $(JSON_LIBS)

# The host agent.
$(O)/bin/ferryd: $(call objs,rel,src/agent/main.c $(AGENT_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $(LDFLAGS) -o $@ $^ -lxxhash $(AGENT_LIBS)

# The command line.
$(O)/bin/ferry: $(call objs,rel,src/cli/main.c $(CLI_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) $(LDFLAGS) -o $@ $^ -lxxhash $(CLI_LIBS)

# ---- installation ----------------------------------------------------------------------------
# `make install [PREFIX=/usr/local] [DESTDIR=DIR]`: the programs; their man pages (ferry's
# written by `ferry --man` from its command table, the others' by help2man from their --help
# and --version); ferry's bash completion (`ferry --completion`); ferryd's systemd units, in
# /lib/systemd/system when PREFIX is /usr. CFLAGS and LDFLAGS given to make are used.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MAN1DIR ?= $(PREFIX)/share/man/man1
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
SYSTEMDUNITDIR ?= $(if $(filter /usr,$(PREFIX)),/lib/systemd/system,$(PREFIX)/lib/systemd/system)
INSTALL ?= install
HELP2MAN ?= help2man
INSTALL_PROGS := ferry-vm ferry-vmctl $(if $(wildcard src/agent/main.c),ferryd) \
	$(if $(wildcard src/cli/main.c),ferry)
MAN_PAGES := $(patsubst %,$(O)/man/%.1,$(INSTALL_PROGS))
MAN_NAME_ferry-vm := a RISC-V virtual machine that migrates live
MAN_NAME_ferry-vmctl := send commands to a ferry-vm control socket
MAN_NAME_ferryd := the host agent of a Ferry cluster

$(O)/man/ferry.1: $(O)/bin/ferry
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	@$< --man >$@.tmp && mv $@.tmp $@

$(O)/man/%.1: $(O)/bin/%
	@mkdir -p $(dir $@)
	@echo "  MAN     $@"
	@command -v $(HELP2MAN) >/dev/null || { echo "$(HELP2MAN) is needed for $@ (apt-get install help2man)" >&2; exit 1; }
	@$(HELP2MAN) --no-info --no-discard-stderr --section 1 --name "$(MAN_NAME_$*)" --output $@.tmp $< && mv $@.tmp $@

$(O)/share/ferry.bash: $(O)/bin/ferry
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@$< --completion >$@.tmp && mv $@.tmp $@

.PHONY: man install
man: $(MAN_PAGES)

install: all man $(if $(wildcard src/cli/main.c),$(O)/share/ferry.bash)
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MAN1DIR)
	$(INSTALL) -m 0755 $(addprefix $(O)/bin/,$(INSTALL_PROGS)) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(MAN_PAGES) $(DESTDIR)$(MAN1DIR)/
ifneq ($(wildcard src/cli/main.c),)
	$(INSTALL) -d $(DESTDIR)$(BASHCOMPDIR)
	$(INSTALL) -m 0644 $(O)/share/ferry.bash $(DESTDIR)$(BASHCOMPDIR)/ferry
endif
ifneq ($(wildcard src/agent/main.c),)
	$(INSTALL) -d $(DESTDIR)$(SYSTEMDUNITDIR) $(O)/share
	for u in ferryd.service ferryd@.service; do \
		sed 's|@BINDIR@|$(BINDIR)|g' dist/$$u >$(O)/share/$$u.tmp && \
		$(INSTALL) -m 0644 $(O)/share/$$u.tmp $(DESTDIR)$(SYSTEMDUNITDIR)/$$u && rm -f $(O)/share/$$u.tmp || exit 1; \
	done
endif

# A pinger that keeps its pace through a blackout (benchmarks, tests, the demo).
$(O)/bin/ferry-ping: $(call objs,rel,src/tools/ping.c)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) -o $@ $^

# Fuzz targets (libFuzzer, clang), with ASan and UBSan: `make fuzz`, run by tests/fuzz/run.sh.
FUZZ_CC := clang
FUZZ_FLAGS := -std=gnu11 -g -O1 -D_GNU_SOURCE -MMD -MP -Isrc -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(O)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(FUZZ_FLAGS:fuzzer,%=fuzzer-no-link,%) -Wall -Wextra -Werror -Wno-unused-command-line-argument -c -o $@ $<

$(O)/fuzz/%: $(O)/fuzz/obj/tests/fuzz/%.o $(patsubst %.c,$(O)/fuzz/obj/%.o,$(LIB_SRC))
	@echo "  LD-FUZZ $@"
	@$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $^ $(LDLIBS)

fuzz: $(FUZZ_TARGETS)

# The VM supervisor's driver for tests/integration/vms.sh.
$(O)/tests/vmsprobe: $(call objs,rel,tests/integration/vmsprobe.c src/agent/vms.c src/agent/vmconn.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) -o $@ $^ -lxxhash $(JSON_LIBS)

# The etcd client's driver for tests/integration/etcd.sh.
$(O)/tests/etcdprobe: $(call objs,rel,tests/integration/etcdprobe.c src/agent/etcd.c $(COMMON_SRC))
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(OPT) -o $@ $^ -lxxhash $(AGENT_LIBS)
