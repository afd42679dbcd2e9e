#!/bin/sh
# `make run`: tinyd in the foreground supervising examples/heartbeat.sh,
# its output logged (timestamped, rotated) to target/example/heartbeat.log,
# which is shown as it grows. Ctrl-C stops tinyd, which stops the script.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir="$top/target/example"
mkdir -p "$dir"
log="$dir/heartbeat.log"
: > "$log"
echo "tinyd: supervising examples/heartbeat.sh; log in $log; Ctrl-C to stop"
tail -n +1 -F "$log" 2>/dev/null &
tailpid=$!
trap 'kill $tailpid 2>/dev/null' EXIT INT TERM
status=0
"$top/target/release/tinyd" --foreground --log "$log" --log-size 64k \
    --restart-delay 1:8 --name heartbeat "$top/examples/heartbeat.sh" || status=$?
sleep 0.2
exit $status
