# tinyd: `make` builds, `make run` runs the bundled example, `make test`
# runs every test, `make bench` measures tinyd against its peers.

CARGO ?= cargo
# The full build (default features: config file, control socket, reload)
# and the minimal one (--no-default-features: one COMMAND, issue 2's job).
BIN := target/release/tinyd
MIN_BIN := target/minimal/release/tinyd
SIZE_BUDGET := 65536
FULL_BUDGET := 98304

.PHONY: all build minimal size run deps test check-binary lint bench boot fuzz clean

all: build

build:
	$(CARGO) build --release --locked

minimal:
	CARGO_TARGET_DIR=target/minimal $(CARGO) build --release --locked --no-default-features

size: build minimal
	@echo "tinyd (full):    $$(stat -c %s $(BIN)) bytes stripped (budget $(FULL_BUDGET))"
	@echo "tinyd (minimal): $$(stat -c %s $(MIN_BIN)) bytes stripped (budget $(SIZE_BUDGET))"

run: build
	./examples/run.sh

# What the tests need beyond Rust (root, Debian): busybox-static and
# util-linux for tests/busybox.rs and tests/faults.rs; does nothing when
# they are there. (tests/boot.rs fetches qemu and a kernel itself.)
deps:
	sh tests/install-deps.sh

# Every test: the binaries' properties, unit tests of the pure parts (with
# and without the ctl feature), the integration tests against the full
# build, and the single-command tests again against the minimal build.
test: deps build minimal check-binary
	$(CARGO) test --release --locked -- --test-threads=4
	CARGO_TARGET_DIR=target/minimal $(CARGO) test --release --locked --no-default-features --lib
	TINYD_BIN=$(CURDIR)/$(MIN_BIN) $(CARGO) test --release --locked \
	  --test daemon --test command --test logs --test supervise --test early_boot -- --test-threads=4

# Both binaries must be static, libc-free and within their size budgets.
check-binary: build minimal
	@out=$$($(CARGO) tree --locked -e normal -i libc 2>&1); \
	  if [ -n "$$out" ] && ! echo "$$out" | grep -q 'nothing to print'; then \
	    echo "FAIL: libc is in the dependency tree:"; echo "$$out"; exit 1; fi
	@for pair in $(BIN):$(FULL_BUDGET) $(MIN_BIN):$(SIZE_BUDGET); do \
	  bin=$${pair%%:*}; budget=$${pair##*:}; \
	  ! readelf -lW $$bin | grep -q INTERP || { echo "FAIL: $$bin has an ELF interpreter"; exit 1; }; \
	  ! readelf -d $$bin | grep -q 'Dynamic section' || { echo "FAIL: $$bin has a dynamic section"; exit 1; }; \
	  size=$$(stat -c %s $$bin); [ $$size -le $$budget ] || \
	    { echo "FAIL: $$bin is $$size bytes, over the $$budget budget"; exit 1; }; \
	  echo "ok: $$bin is static, libc-free, $$size bytes (budget $$budget)"; \
	done

# Boot a real kernel (Debian's, under qemu TCG) with busybox init and tinyd
# (also part of make test, as tests/boot.rs).
boot: build
	bash tests/boot/run.sh $(BIN)

# Fuzz every parser for FUZZ_SECONDS each (needs the nightly toolchain;
# installs cargo-fuzz when missing). CI runs each briefly.
FUZZ_SECONDS ?= 60
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --lib --bins --tests -- -D warnings

# Both builds are measured (columns tinyd and tinyd minimal), then the
# many-services table (bench/services.sh) is appended.
bench: build minimal
	bash bench/bench.sh

clean:
	$(CARGO) clean
