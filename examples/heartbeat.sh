#!/bin/sh
# The bundled example service for `make run`: a heartbeat on stdout, a
# warning on stderr now and then, and a crash every 10 beats so that tinyd's
# restart (with its delay) can be seen in the log.
n=0
while :; do
    n=$((n + 1))
    echo "heartbeat $n (pid $$)"
    [ $((n % 5)) -eq 0 ] && echo "beat $n: stderr works too" >&2
    [ $((n % 10)) -eq 0 ] && { echo "exiting with status 1 to show a restart"; exit 1; }
    sleep 1
done
