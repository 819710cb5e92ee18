# distd — bulletin distribution daemon
#
#   make            build distd and distctl
#   make check      unit tests (cmocka) and integration tests (pytest)
#   make check SANITIZE=1   the same, built with ASan + UBSan
#   make demo       deliver the seed bulletins to a loopback SMTPS server
#   make fuzz       run the libFuzzer targets for a bounded time
#   make bench      delivery benchmark against a loopback SMTPS sink
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
LOGROTATEDIR ?= $(SYSCONFDIR)/logrotate.d
PYTHON     ?= /usr/bin/python3

CC       ?= cc
CFLAGS   ?= -O2 -g
PKGS      = libcurl libconfig gmime-3.0 sqlite3 libpq libsystemd libcmark openssl uchardet \
            libzip libxml-2.0
# Messages are built with snprintf into fixed buffers on purpose: a cut
# message is better than none, so truncation is not an error here.
WARNINGS  = -Wall -Wextra -Wmissing-prototypes -Wstrict-prototypes -Wshadow \
            -Wno-format-truncation
# Warnings are errors for developers and CI (WERROR=1), not for packagers
# whose newer compilers may warn about things ours does not know yet.
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

# PDF issues (extract_pdf.c): poppler's GLib interface.
PKGS     += poppler-glib

ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS  = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
else
BUILD    ?= build
SANFLAGS  =
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
ALL_CFLAGS  = -std=gnu11 -D_GNU_SOURCE -DDISTD_VERSION='"$(VERSION)"' $(CPPFLAGS) $(WARNINGS) $(CFLAGS) $(SANFLAGS) $(PKG_CFLAGS) \
              $(INCLUDES) -MMD -MP
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS)
LIBS        = $(PKG_LIBS) -lpthread -lm

PROGRAMS    = distd distctl
# The one place the version lives: distd --version and distctl --version print it.
VERSION     = 0.9.0
# Layers, lowest first; each folder sees only the headers of its own layer
# and the ones below it, so that a wrong dependency fails to compile:
#   daemon/util   generic C          sees util
#   queue         the queue          sees util, queue
#   daemon/core   the pipeline       sees util, queue, core
#   daemon        distd's runtime    sees util, queue, core, daemon
#   daemon/ctl    distctl            sees everything (as do the tests)
INC_UTIL    = -Idaemon/util
INC_QUEUE   = $(INC_UTIL) -Iqueue
INC_CORE    = $(INC_QUEUE) -Idaemon/core
INC_RUNTIME = $(INC_CORE) -Idaemon
INC_ALL     = $(INC_RUNTIME) -Idaemon/ctl
INCLUDES    = $(INC_ALL)
# pattern-specific: the most specific folder wins ($(BUILD)/daemon/% also
# matches daemon/util/…)
$(BUILD)/daemon/%.o:      INCLUDES = $(INC_RUNTIME)
$(BUILD)/daemon/util/%.o: INCLUDES = $(INC_UTIL)
$(BUILD)/daemon/core/%.o: INCLUDES = $(INC_CORE)
$(BUILD)/daemon/ctl/%.o:  INCLUDES = $(INC_ALL)
$(BUILD)/queue/%.o:       INCLUDES = $(INC_QUEUE)
PROGRAM_SRC = daemon/distd.c daemon/ctl/distctl.c
LIB_SRC     = $(wildcard daemon/util/*.c daemon/core/*.c) \
              $(filter-out $(PROGRAM_SRC),$(wildcard daemon/*.c daemon/ctl/*.c)) \
              $(wildcard queue/*.c)
LIB_OBJ     = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB         = $(BUILD)/libdistd.a
UNIT_SRC    = $(wildcard tests/unit/test_*.c)
UNIT_BIN    = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.SECONDARY:

.PHONY: all deps check check-valgrind unit integration demo fuzz bench install uninstall clean

all: $(PROGRAMS:%=$(BUILD)/%)

deps:
	@scripts/install-deps

# Objects depend on the Makefile too: the flags and the include paths live
# here, and a header that moved folders leaves stale dependency files behind.
$(BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/distd: $(BUILD)/daemon/distd.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/distctl: $(BUILD)/daemon/ctl/distctl.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) -lcmocka

# Unit tests run from the top folder so that they find tests/data and the seeds.
# PG_UNIT: the tests of the PostgreSQL queue only (test_queue_pg), run under
# pgserver.py, which starts a throw-away cluster and passes it in
# DISTD_TEST_PG (where the server binaries are absent, it says so and the
# tests skip, saying why).
# PG_SHARED: the queue suites that run on both backends: once as is (SQLite),
# then again, the same binary, with DISTD_TEST_BACKEND=postgresql under
# pgserver.py, which makes testqueue.h's test_queue_open use the server's
# database instead of a file (tests of SQLite storage skip, saying why, and
# so do those of ops queue_backend_pg lacks yet, until it has them).
# To add a program to either list, add its name here.
PG_UNIT   = test_queue_pg test_queue_nodes test_queue_pg_concurrency test_queue_wake \
            test_queue_pg_counts
PG_SHARED = test_queue test_queue_ctl test_queue_views test_retention \
            test_queue_feedback
PG_RUN    = $(PYTHON) tests/integration/pgserver.py run --
unit: $(UNIT_BIN)
	@failed=0; for t in $(UNIT_BIN); do \
		n=$${t##*/}; \
		case " $(PG_UNIT) " in *" $$n "*) \
			echo "== $$t (PostgreSQL)"; $(PG_RUN) $$t || failed=1; continue;; \
		esac; \
		echo "== $$t"; $$t || failed=1; \
		case " $(PG_SHARED) " in *" $$n "*) \
			echo "== $$t (again, on PostgreSQL)"; \
			DISTD_TEST_BACKEND=postgresql $(PG_RUN) $$t || failed=1;; \
		esac; \
	done; exit $$failed

integration: all
	DISTD_BUILD=$(abspath $(BUILD)) $(PYTHON) -m pytest -q tests/integration

check: deps
	$(MAKE) unit
	$(MAKE) integration

# The daemon under valgrind memcheck in the main scenarios (delivery, the
# feedback mailbox's worker thread, documents read in a child): any error or
# a definitely lost byte makes distd exit 99, which fails the test.
VALGRIND = valgrind --quiet --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite --show-leak-kinds=definite --track-fds=no
check-valgrind: deps all
	DISTD_BUILD=$(abspath $(BUILD)) DISTD_WRAPPER="$(VALGRIND)" $(PYTHON) -m pytest -q \
		tests/integration/test_delivery.py tests/integration/test_daemon.py \
		tests/integration/test_feedback.py tests/integration/test_documents.py \
		-k "seeds or refused_and_deferred or folder or rejects or sighup or sigterm or \
		wrong_password or feedback_mailbox or delivered_like_text or hostile_documents"

demo: deps
	$(MAKE) all
	DISTD_BUILD=$(abspath $(BUILD)) scripts/demo

# make install with DESTDIR empty installs onto this system and finishes the
# job a Debian postinst would do: creates the distd user (systemd-sysusers),
# the spool folders (systemd-tmpfiles), gives the new configuration to group
# distd (root:distd 0640: the service reads it, the admin edits it) and
# reloads systemd. With DESTDIR set (packages, staging) it only copies; the
# package's postinst runs sysusers, tmpfiles and the chgrp.
# An existing configuration or logrotate file is never overwritten.
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/distd \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(LOGROTATEDIR) \
		$(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 0755 $(BUILD)/distd $(DESTDIR)$(SBINDIR)/distd
	install -m 0755 $(BUILD)/distctl $(DESTDIR)$(BINDIR)/distctl
	sed -e 's|/usr/local/sbin/distd|$(SBINDIR)/distd|g' \
		-e 's|/etc/distd/|$(SYSCONFDIR)/distd/|g' systemd/distd.service \
		> $(DESTDIR)$(UNITDIR)/distd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/distd.service
	install -m 0644 systemd/distd.sysusers $(DESTDIR)$(SYSUSERSDIR)/distd.conf
	install -m 0644 systemd/distd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/distd.conf
	[ -e $(DESTDIR)$(LOGROTATEDIR)/distd ] || \
		install -m 0644 contrib/distd.logrotate $(DESTDIR)$(LOGROTATEDIR)/distd
	install -m 0644 man/distctl.1 $(DESTDIR)$(MANDIR)/man1/distctl.1
	install -m 0644 man/distd.conf.5 $(DESTDIR)$(MANDIR)/man5/distd.conf.5
	install -m 0644 man/distd.8 $(DESTDIR)$(MANDIR)/man8/distd.8
	install -m 0644 contrib/distctl.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/distctl
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" != 0 ]; then \
		echo "note: not root: run systemd-sysusers $(SYSUSERSDIR)/distd.conf and" \
		     "systemd-tmpfiles --create $(TMPFILESDIR)/distd.conf as root"; \
	elif [ -z "$(DESTDIR)" ]; then \
		echo "systemd-sysusers $(SYSUSERSDIR)/distd.conf"; \
		systemd-sysusers $(SYSUSERSDIR)/distd.conf || exit 1; \
		echo "systemd-tmpfiles --create $(TMPFILESDIR)/distd.conf"; \
		systemd-tmpfiles --create $(TMPFILESDIR)/distd.conf || exit 1; \
	fi
	@conf=$(DESTDIR)$(SYSCONFDIR)/distd/distd.conf; \
	if [ -e $$conf ]; then \
		echo "$$conf exists: left as it is"; \
		if [ -z "$(DESTDIR)" ] && [ "$$(stat -c %G:%a $$conf)" != distd:640 ]; then \
			echo "warning: $$conf is $$(stat -c %U:%G\ %a $$conf); the service" \
			     "reads it as group distd: chgrp distd $$conf && chmod 0640 $$conf"; \
		fi; \
	elif [ -z "$(DESTDIR)" ] && getent group distd >/dev/null; then \
		echo "install -m 0640 -g distd conf/distd.conf $$conf"; \
		install -m 0640 -g distd conf/distd.conf $$conf; \
	else \
		echo "install -m 0640 conf/distd.conf $$conf (then: chgrp distd $$conf)"; \
		install -m 0640 conf/distd.conf $$conf; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && [ -d /run/systemd/system ]; then \
		echo "systemctl daemon-reload"; systemctl daemon-reload; \
	fi

# The configuration stays: it is the admin's, not ours. So does the
# logrotate file when the admin changed it.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/distd $(DESTDIR)$(BINDIR)/distctl \
		$(DESTDIR)$(UNITDIR)/distd.service $(DESTDIR)$(SYSUSERSDIR)/distd.conf \
		$(DESTDIR)$(TMPFILESDIR)/distd.conf $(DESTDIR)$(MANDIR)/man1/distctl.1 \
		$(DESTDIR)$(MANDIR)/man5/distd.conf.5 $(DESTDIR)$(MANDIR)/man8/distd.8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/distctl
	! cmp -s contrib/distd.logrotate $(DESTDIR)$(LOGROTATEDIR)/distd || \
		rm -f $(DESTDIR)$(LOGROTATEDIR)/distd

# ---- benchmarks --------------------------------------------------------------
SEEDS ?= tests/data/seeds

$(BUILD)/bench/%: $(BUILD)/tests/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

# ~5-6 minutes on 2 cores. Knobs (environment): BENCH_REPEAT=3, BENCH_N="1000 10000",
# BENCH_FLAT_N=40000, BENCH_HISTORY=100000, BENCH_BURST=200x50, BENCH_IDLE_SECONDS=10,
# BENCH_PG=1, BENCH_PG_N="1000 10000"; 0 skips the flatness, history, burst or
# PostgreSQL section (the last also skips, saying why, without PostgreSQL's server
# binaries). See tests/bench/bench_delivery.py.
bench: deps all $(BUILD)/bench/bench_parse
	$(BUILD)/bench/bench_parse $(SEEDS)/000_320506797a6b7d3b.txt
	DISTD_BUILD=$(abspath $(BUILD)) $(PYTHON) tests/bench/bench_delivery.py

# ---- fuzzing (clang's libFuzzer) -------------------------------------------
FUZZ_BUILD   = build-fuzz
FUZZ_SECONDS ?= 60
FUZZ_FLAGS   = -std=gnu11 -D_GNU_SOURCE -DDISTD_VERSION='"$(VERSION)"' -g -O1 -fno-omit-frame-pointer $(PKG_CFLAGS) $(INC_ALL)
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     = $(FUZZ_SRC:tests/fuzz/%.c=$(FUZZ_BUILD)/%)
FUZZ_LIB_OBJ = $(LIB_SRC:%.c=$(FUZZ_BUILD)/%.o)

$(FUZZ_BUILD)/%.o: %.c Makefile
	@mkdir -p $(dir $@)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link,address,undefined -c -o $@ $<

$(FUZZ_BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	clang $(FUZZ_FLAGS) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LIBS)

# Each target runs FUZZ_SECONDS from tests/fuzz/corpus/TARGET and the seeds.
# What it finds lands in $(FUZZ_BUILD)/found/TARGET; only the inputs that
# reach new coverage are merged into the tracked corpus, so that it stays
# minimised (libFuzzer -merge=1) instead of growing by every step taken.
fuzz: deps $(FUZZ_BIN)
	@for f in $(FUZZ_BIN); do \
		t=$$(basename $$f); mkdir -p tests/fuzz/corpus/$$t $(FUZZ_BUILD)/found/$$t; \
		echo "== $$t for $(FUZZ_SECONDS) s"; \
		LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
		$$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 \
			-rss_limit_mb=2048 -print_final_stats=1 \
			$(FUZZ_BUILD)/found/$$t tests/fuzz/corpus/$$t \
			$$(ls -d tests/fuzz/seed/$$t 2>/dev/null) || exit 1; \
		merged=$$(LSAN_OPTIONS=suppressions=tests/fuzz/lsan.supp \
			$$f -merge=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
			tests/fuzz/corpus/$$t $(FUZZ_BUILD)/found/$$t 2>&1) || \
			{ echo "$$merged" | tail -40; exit 1; }; \
		echo "$$merged" | grep MERGE-OUTER:; \
	done

clean:
	rm -rf build build-san build-fuzz

-include $(LIB_OBJ:.o=.d) $(PROGRAM_SRC:%.c=$(BUILD)/%.d) $(UNIT_SRC:%.c=$(BUILD)/%.d)
