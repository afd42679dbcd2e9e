# tinyd: `make` builds, `make run` runs the bundled example, `make test`
# runs every test, `make bench` measures tinyd against its peers.

CARGO ?= cargo
BIN := target/release/tinyd
SIZE_BUDGET := 65536

.PHONY: all build size run test check-binary unit integration lint bench clean

all: build

build:
	$(CARGO) build --release --locked

size: build
	@echo "tinyd: $$(stat -c %s $(BIN)) bytes stripped (budget $(SIZE_BUDGET))"

run: build
	./examples/run.sh

# Every test: the binary's properties, unit tests of the pure parts, and the
# integration tests that launch the built binary.
test: build check-binary
	$(CARGO) test --release --locked -- --test-threads=4

# The binary must be static, libc-free and within its size budget.
check-binary: build
	@! readelf -lW $(BIN) | grep -q INTERP || { echo "FAIL: $(BIN) has an ELF interpreter"; exit 1; }
	@! readelf -d $(BIN) | grep -q 'Dynamic section' || { echo "FAIL: $(BIN) has a dynamic section"; exit 1; }
	@out=$$($(CARGO) tree --locked -e normal -i libc 2>&1); \
	  if [ -n "$$out" ] && ! echo "$$out" | grep -q 'nothing to print'; then \
	    echo "FAIL: libc is in the dependency tree:"; echo "$$out"; exit 1; fi
	@size=$$(stat -c %s $(BIN)); [ $$size -le $(SIZE_BUDGET) ] || \
	  { echo "FAIL: $(BIN) is $$size bytes, over the $(SIZE_BUDGET) budget"; exit 1; }
	@echo "ok: $(BIN) is static, libc-free, $$(stat -c %s $(BIN)) bytes"

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --release --lib --bins --tests -- -D warnings

bench: build
	bash bench/bench.sh

clean:
	$(CARGO) clean
