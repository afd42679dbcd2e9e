# tinyd: `make` builds, `make run` runs the bundled example, `make test`
# runs every test, `make stress` runs the stress test for 5 minutes, `make
# bench` measures tinyd against its peers, `make cross` builds it for the
# boards' CPUs.

CARGO ?= cargo
# The full build (default features: config file, control socket, reload)
# and the minimal one (--no-default-features: one COMMAND, issue 2's job).
BIN := target/release/tinyd
MIN_BIN := target/minimal/release/tinyd
# The foreign architectures the suites run on under qemu-user (make test).
CROSS_TESTED := aarch64 armv7 riscv64 mipsel

.PHONY: all build minimal cross size run deps test test-cross check-binary lint bench boot fuzz stress clean

all: build

build:
	$(CARGO) build --release --locked

minimal:
	CARGO_TARGET_DIR=target/minimal $(CARGO) build --release --locked --no-default-features

# Both builds for every architecture into dist/ (dist/tinyd-ARCH,
# dist/tinyd-minimal-ARCH, dist/SHA256SUMS); installs Debian's rustc-web,
# lld and qemu-user on first use (cross/install.sh).
cross: build minimal
	bash cross/build.sh

# The size table, every architecture (budgets in cross/check.sh).
size: cross
	@bash cross/check.sh --table

run: build
	./examples/run.sh

# What the tests need beyond Rust (root, Debian): busybox-static and
# util-linux for tests/busybox.rs and tests/faults.rs, s6, python3,
# libsystemd0 and systemd-notify for tests/ready.rs; does nothing when
# they are there. (tests/boot.rs fetches qemu and a kernel itself.)
deps:
	sh tests/install-deps.sh

# Every test: the binaries' properties (every architecture), unit tests of
# the pure parts (with and without the ctl feature), the integration tests
# against the full build (the boot tests boot x86_64, aarch64 and armv7),
# the single-command tests again against the minimal build, then the suites
# against the foreign builds under qemu-user (test-cross).
test: deps build minimal cross check-binary
	$(CARGO) test --release --locked -- --test-threads=4
	CARGO_TARGET_DIR=target/minimal $(CARGO) test --release --locked --no-default-features --lib
	TINYD_BIN=$(CURDIR)/$(MIN_BIN) $(CARGO) test --release --locked \
	  --test daemon --test command --test logs --test supervise --test early_boot -- --test-threads=4
	TINYD_BIN=$(CURDIR)/$(MIN_BIN) $(CARGO) test --release --locked --test logwriter -- \
	  --test-threads=4 writer_sigkill full_disk_block deleted_log_file
	TINYD_BIN=$(CURDIR)/$(MIN_BIN) $(CARGO) test --release --locked --test ready -- \
	  launcher_of_one_command
	$(MAKE) test-cross

# The integration suites against each foreign full and minimal build, under
# qemu-user with that architecture's busybox as the children
# (cross/test.sh; what qemu-user cannot do is in cross/qemu-user-limits).
test-cross: cross
	@for a in $(CROSS_TESTED); do \
	  bash cross/test.sh $$a full && bash cross/test.sh $$a minimal || exit 1; done

# Every binary (native and dist/) must be for its CPU, static, libc-free
# and within its size budget (cross/check.sh).
check-binary: build minimal cross
	@bash cross/check.sh

# Boot a real kernel (Debian's, under qemu TCG) with busybox init and tinyd
# (also part of make test, as tests/boot.rs).
boot: build cross
	bash tests/boot/run.sh $(BIN) x86_64
	bash tests/boot/run.sh $(CURDIR)/dist/tinyd-aarch64 aarch64
	bash tests/boot/run.sh $(CURDIR)/dist/tinyd-armv7 armv7
	bash tests/boot/run.sh $(CURDIR)/dist/tinyd-mipsel mipsel

# The stress test (tests/stress.rs: random reloads, control requests and
# SIGKILLs against a dozen services) for 300 s instead of the 30 s it runs
# for in `make test`; TINYD_STRESS_SEED=N replays a run.
stress: build
	TINYD_STRESS_SECS=300 $(CARGO) test --release --locked --test stress -- --nocapture

# Fuzz every parser for FUZZ_SECONDS each (needs the nightly toolchain;
# installs cargo-fuzz when missing). CI runs each briefly.
FUZZ_SECONDS ?= 60
fuzz:
	bash fuzz/run.sh $(FUZZ_SECONDS)

# rustfmt, and clippy on both builds (default and --no-default-features).
lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --lib --bins --tests -- -D warnings
	CARGO_TARGET_DIR=target/minimal $(CARGO) clippy --release --no-default-features --lib --bins --tests -- -D warnings

# Both builds are measured (columns tinyd and tinyd minimal), then the
# many-services table (bench/services.sh) is appended.
bench: build minimal
	bash bench/bench.sh

clean:
	$(CARGO) clean
