#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60), one after the other:
#   bash fuzz/run.sh [SECONDS] [TARGET...]
# Needs a nightly toolchain (`cargo +nightly`); installs cargo-fuzz if it is
# missing. New inputs go to fuzz/corpus/TARGET (hash-named, ignored by git),
# crashes to fuzz/artifacts/TARGET, logs to fuzz/target/logs/TARGET.log.
# Exits non-zero if any target crashed (or did not build).
# FUZZ_SANITIZER=none builds without AddressSanitizer (the default is
# cargo-fuzz's, address); it is also what is tried if that build fails.
set -u
secs=${1:-60}
shift $(($# > 0 ? 1 : 0))
cd "$(dirname "$0")/.." || exit 2

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(args config ctl passwd lines model notify)

# -max_len per target: above each parser's interesting sizes (1024-byte
# lines, 128-byte requests) without slowing the search down.
max_len() {
    case $1 in
        args) echo 1024 ;;
        ctl) echo 512 ;;
        model) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: a nightly toolchain is needed (rustup toolchain install nightly)" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked || exit 2
fi

san=(${FUZZ_SANITIZER:+-s "$FUZZ_SANITIZER"})
if ! (cd fuzz && cargo +nightly fuzz build "${san[@]}"); then
    echo "fuzz: build with the sanitizer failed; trying -s none" >&2
    san=(-s none)
    (cd fuzz && cargo +nightly fuzz build "${san[@]}") || exit 2
fi

mkdir -p fuzz/target/logs
failed=()
for t in "${targets[@]}"; do
    log=fuzz/target/logs/$t.log
    echo "fuzz: $t for ${secs}s (max_len $(max_len "$t"))"
    (cd fuzz && cargo +nightly fuzz run "${san[@]}" "$t" -- \
        -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 \
        -print_final_stats=1) >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    echo "fuzz: $t: ${runs:-?} runs, about $(( ${runs:-0} / (secs > 0 ? secs : 1) )) exec/s, exit $rc"
    if [ $rc -ne 0 ]; then
        failed+=("$t")
        grep -E "panicked at|^  left|^ right|ERROR:|Test unit written|^Base64" "$log" | head -20 >&2
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]} (see fuzz/target/logs and fuzz/artifacts)" >&2
    exit 1
fi
echo "fuzz: no crash in ${targets[*]}"
