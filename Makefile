# sprofd top-level Makefile. Hand-written; ./configure writes config.mk with
# the compiler and library flags. On a checkout that was never configured,
# any goal first runs autoreconf and ./configure, then itself again.

CONFIGURED := $(wildcard config.mk)

ifeq ($(CONFIGURED),)

.DEFAULT_GOAL := all
GOALS := all check check-unit check-e2e check-asan check-valgrind fuzz demo install uninstall \
         bench clean distclean targets

deps:
	sh .ci/deps build

test-deps:
	sh .ci/deps test

$(GOALS): config.mk
	$(MAKE) $@

config.mk: configure.ac config.mk.in
	autoreconf -fi
	./configure

.PHONY: deps test-deps $(GOALS)

else

include config.mk

WARN    = -Wall -Wextra -Wshadow -Wformat=2 -Wmissing-prototypes -Wstrict-prototypes \
          -Wno-unused-parameter $(WERROR)
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -DSPROFD_VERSION='"$(PACKAGE_VERSION)"' -Iinclude \
          $(UNWIND_CFLAGS) $(DW_CFLAGS) $(ELF_CFLAGS) $(ZLIB_CFLAGS) $(WARN) $(SANITIZE) \
          $(CPPFLAGS) $(CFLAGS)
LIBS    = $(UNWIND_LIBS) $(DW_LIBS) $(ELF_LIBS) $(ZLIB_LIBS) $(IBERTY_LIBS) $(CURSES_LIBS) -lpthread
ALL_LDFLAGS = $(SANITIZE) $(LDFLAGS)

LIB_SRCS := $(filter-out src/main.c,$(wildcard src/*.c))
LIB_OBJS := $(LIB_SRCS:.c=.o)
HDRS     := $(wildcard include/*.h)

UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(UNIT_SRCS:.c=.o)

# Target programs with known stacks: built -O2 without frame pointers, as
# production servers are, so unwinding must use DWARF CFI.
TARGET_SRCS := $(wildcard tests/targets/*.c)
TARGET_CXX_SRCS := $(wildcard tests/targets/*.cc)
TARGETS     := $(TARGET_SRCS:.c=) $(TARGET_CXX_SRCS:.cc=)
TARGET_CFLAGS = -std=gnu11 -D_GNU_SOURCE -O2 -g -fomit-frame-pointer -Wall -Wextra $(WERROR)
TARGET_CXXFLAGS = -std=gnu++17 -O2 -g -fomit-frame-pointer -Wall -Wextra $(WERROR)

all: sprofd

sprofd: src/main.o src/libsprofd.a
	$(CC) $(ALL_LDFLAGS) -o $@ src/main.o src/libsprofd.a $(LIBS)

src/libsprofd.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $(LIB_OBJS)

# The compiler writes each object's header dependencies to its .d file
# (-MMD; -MP so a deleted header is no error). An object built before it had
# a .d depends on every header, once.
DEPFLAGS = -MMD -MP
src/%.o: src/%.c config.mk
	$(CC) $(ALL_CFLAGS) $(DEPFLAGS) -c -o $@ $<

# Only the screen's module sees curses.h and the feature macros it wants.
src/topdraw.o: ALL_CFLAGS += $(CURSES_CFLAGS)

tests/unit/%.o: tests/unit/%.c config.mk
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) $(DEPFLAGS) -c -o $@ $<

ALL_OBJS := src/main.o $(LIB_OBJS) $(UNIT_OBJS)
$(foreach o,$(ALL_OBJS),$(if $(wildcard $(o:.o=.d)),,$(eval $(o): $(HDRS) $(wildcard tests/unit/*.h))))
-include $(wildcard $(ALL_OBJS:.o=.d))

ifeq ($(HAVE_CHECK),yes)
tests/unit/run-unit: $(UNIT_OBJS) src/libsprofd.a
	$(CC) $(ALL_LDFLAGS) -o $@ $(UNIT_OBJS) src/libsprofd.a $(LIBS) $(CHECK_LIBS)
else ifeq ($(SPROFD_RECHECKED),)
# ./configure found no Check, which may have been installed since (sh .ci/deps
# test): configure again with the same options, then build with what it finds.
tests/unit/run-unit: FORCE
	@echo "Check was missing when ./configure ran: configuring again"
	./config.status --recheck
	./config.status
	$(MAKE) SPROFD_RECHECKED=1 all tests/unit/run-unit
else
tests/unit/run-unit: FORCE
	@echo "Check is not installed, and the unit tests need it: run 'sh .ci/deps test'" \
		"(or: apt-get install check), then this command again" >&2
	@exit 1
endif

tests/targets/%: tests/targets/%.c $(wildcard tests/targets/*.h)
	$(CC) $(TARGET_CFLAGS) -o $@ $< -lpthread -lm -ldl

tests/targets/%: tests/targets/%.cc $(wildcard tests/targets/*.h)
	$(CXX) $(TARGET_CXXFLAGS) -o $@ $< -lpthread -ldl

targets: $(TARGETS)

check: all tests/unit/run-unit $(TARGETS)
	$(PYTHON3) tests/run.py

check-unit: tests/unit/run-unit $(TARGETS)
	$(PYTHON3) tests/run.py --unit-only

check-e2e: all $(TARGETS)
	$(PYTHON3) tests/run.py --e2e-only

# The whole suite against an ASan+UBSan build (in a copy of the tree) or
# under valgrind; either fails on any report. See tests/sanitize.
check-asan:
	sh tests/sanitize asan

check-valgrind: all tests/unit/run-unit $(TARGETS)
	sh tests/sanitize valgrind

# Every libFuzzer target for FUZZ_SECONDS each (clang); see tests/fuzz/run.
fuzz:
	sh tests/fuzz/run

# The demo: profile the bundled multi-threaded target for a few seconds.
demo: all tests/targets/demo
	sh tests/demo.sh

bench: all $(TARGETS)
	sh bench/run

# systemd reads units from $(prefix)/lib/systemd/system for /usr and /usr/local.
unitdir ?= $(prefix)/lib/systemd/system

# The example configuration goes where Debian packages put examples.
exampledir ?= $(datarootdir)/doc/sprofd/examples

install: sprofd
	install -d $(DESTDIR)$(sbindir) $(DESTDIR)$(mandir)/man8 $(DESTDIR)$(mandir)/man5 \
		$(DESTDIR)$(unitdir) $(DESTDIR)$(exampledir)
	install -m 0755 sprofd $(DESTDIR)$(sbindir)/sprofd
	install -m 0644 man/sprofd.8 $(DESTDIR)$(mandir)/man8/sprofd.8
	install -m 0644 man/sprofd.conf.5 $(DESTDIR)$(mandir)/man5/sprofd.conf.5
	sed 's|@sbindir@|$(sbindir)|g' src/sprofd.service > $(DESTDIR)$(unitdir)/sprofd.service
	chmod 0644 $(DESTDIR)$(unitdir)/sprofd.service
	install -m 0644 src/sprofd.conf.example $(DESTDIR)$(exampledir)/sprofd.conf

uninstall:
	rm -f $(DESTDIR)$(sbindir)/sprofd $(DESTDIR)$(mandir)/man8/sprofd.8 \
		$(DESTDIR)$(mandir)/man5/sprofd.conf.5 $(DESTDIR)$(unitdir)/sprofd.service \
		$(DESTDIR)$(exampledir)/sprofd.conf
	rmdir $(DESTDIR)$(exampledir) $(DESTDIR)$(datarootdir)/doc/sprofd 2>/dev/null || true

clean:
	rm -f sprofd src/*.o src/*.d src/libsprofd.a tests/unit/*.o tests/unit/*.d tests/unit/run-unit \
		$(TARGETS)

distclean: clean
	rm -rf config.mk config.log config.status configure autom4te.cache aclocal.m4

config.mk: config.mk.in config.status
	./config.status

config.status: configure
	./config.status --recheck

configure: configure.ac
	autoreconf -fi

deps:
	sh .ci/deps build

test-deps:
	sh .ci/deps test

FORCE:

.PHONY: FORCE test-deps all check check-unit check-e2e check-asan check-valgrind fuzz demo bench install uninstall clean distclean targets deps

endif
