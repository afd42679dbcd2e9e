#!/bin/sh
# Installs what tests/busybox.rs and tests/ready.rs need on a Debian system,
# as root:
#   busybox-static  busybox init, start-stop-daemon, syslogd, sh
#   util-linux      unshare, nsenter
#   mount           mount (its own package since Debian 8; usually there)
#   s6              s6-notifyoncheck (and s6-mkfifodir, s6-setlock, s6-svok)
#   python3         /usr/bin/python3, the sd_notify clients
#   libsystemd0     libsystemd.so.0, whose sd_notify() python calls
#   systemd         /usr/bin/systemd-notify (only when it is missing)
# Idempotent: does nothing (no apt-get update either) when all is there.
set -eu

missing=""
have_pkg() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
have_applets() {
    # Any busybox with the applets the tests use will do.
    for bb in /usr/bin/busybox /bin/busybox; do
        [ -x "$bb" ] || continue
        list=$("$bb" --list 2>/dev/null) || continue
        ok=yes
        for a in init start-stop-daemon syslogd sh; do
            printf '%s\n' "$list" | grep -qx "$a" || ok=no
        done
        [ "$ok" = yes ] && return 0
    done
    return 1
}

have_pkg busybox-static || have_applets || missing="$missing busybox-static"
for t in unshare nsenter; do
    if ! command -v "$t" >/dev/null 2>&1; then
        missing="$missing util-linux"
        break
    fi
done
command -v mount >/dev/null 2>&1 || missing="$missing mount"
for t in s6-notifyoncheck s6-mkfifodir s6-setlock s6-svok; do
    if [ ! -x "/usr/bin/$t" ] && [ ! -x "/bin/$t" ]; then
        missing="$missing s6"
        break
    fi
done
[ -x /usr/bin/python3 ] || missing="$missing python3"
have_pkg libsystemd0 || missing="$missing libsystemd0"
[ -x /usr/bin/systemd-notify ] || missing="$missing systemd"

if [ -z "$missing" ]; then
    echo "install-deps: busybox, util-linux, s6, python3, libsystemd0 and systemd-notify already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to install:$missing" >&2
    exit 1
fi
echo "install-deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086 # one word per package
apt-get install -y -qq --no-install-recommends $missing
have_applets || { echo "install-deps: busybox lacks init, start-stop-daemon or syslogd" >&2; exit 1; }
echo "install-deps: done"
