#!/bin/bash
# bench/build-busybox.sh - build the busybox that bench/bench.sh uses for its
# "busybox runsv" column: now `bench/build-peers.sh busybox` (kept for
# bench.sh, which calls it and reads its last line on failure).
#
# That is one static musl busybox (musl-gcc, Debian's musl-tools) from Debian's
# busybox source package (`apt-get source busybox` from a private deb-src state
# derived from the machine's apt sources; Debian's patches applied): `make
# allnoconfig`, then runsv, runsvdir, sv, svlogd, start-stop-daemon, syslogd,
# true, CONFIG_STATIC=y, the sh applet none. Installed as
# bench/out/peers/bin/busybox (applet symlinks beside it); does nothing when it
# is there. Also bench/out/peers/bin/busybox-runsv, the runsv applet alone
# (its size is in the table). On failure: exit 1, the last line on stderr is
# the reason.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SAY_AS=build-busybox exec bash "$HERE/build-peers.sh" busybox busybox-runsv
