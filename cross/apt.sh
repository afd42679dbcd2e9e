# Shared by cross/install.sh and tests/boot/install.sh (sourced, bash):
# what a fresh Debian machine needs, from Debian's packages, without ever
# removing or upgrading what the machine already has.
#
#   CACHE          where downloads are unpacked (set before sourcing)
#   say MSG / die MSG
#   installed PKG  whether dpkg has PKG installed
#   apt_update     apt-get update, once
#   apt_install PKG...   apt-get install of those not installed yet; refuses
#                  when apt would remove anything
#   fetch PKG...   apt-get download into $CACHE/debs (fresh each call)
#   fetch_from WHAT PKG...  the same from a private apt state for WHAT:
#                  "arch:ARCH" (the machine's sources, another architecture)
#                  or "suite:SUITE" (the machine's Debian sources, another
#                  suite, such as bookworm-backports); the machine's own apt
#                  configuration is not changed. Source lists are derived
#                  from /etc/apt, never written out with a host name.
#   downloaded     bytes downloaded so far

export DEBIAN_FRONTEND=noninteractive
downloaded=0
updated=

say() { echo "${SAY_AS:-install}: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

apt_update() {
    [ -n "$updated" ] && return 0
    say "apt-get update"
    apt-get update -qq >"$CACHE/apt.log" 2>&1 || die "apt-get update failed: $(tail -n 5 "$CACHE/apt.log")"
    updated=1
}

count_debs() {
    local f
    for f in "$CACHE"/debs/*.deb; do
        [ -f "$f" ] && downloaded=$((downloaded + $(stat -c %s "$f")))
    done
    return 0
}

fetch() {
    local dir=$CACHE/debs
    rm -rf "$dir"; mkdir -p "$dir"
    ( cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$@" >"$CACHE/apt.log" 2>&1 ) ||
        { apt_update; ( cd "$dir" && apt-get download -q -o APT::Sandbox::User=root "$@" >"$CACHE/apt.log" 2>&1 ); } ||
        die "apt-get download $* failed: $(tail -n 3 "$CACHE/apt.log")"
    count_debs
}

# The apt options of a private state for $1 (see fetch_from); made (and
# updated) on first use.
private_apt() {
    local what=$1 key=${1//[:\/]/-} st
    st=$CACHE/apt-$key
    PRIV=(-o Dir::State::Lists="$st/lists" -o Dir::Cache="$st/cache"
          -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
    case "$what" in
    arch:*)
        PRIV+=(-o APT::Architecture="${what#arch:}" -o APT::Architectures::="${what#arch:}") ;;
    suite:*)
        PRIV+=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$st/parts") ;;
    *) die "private_apt: unknown $what" ;;
    esac
    [ -e "$st/updated" ] && return 0
    mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/parts"
    if [ "${what%%:*}" = suite ]; then
        # The machine's own Debian stanza (deb822 or one-line), suite
        # replaced; security and updates suites left out.
        local suite=${what#suite:} f
        : >"$st/parts/derived.sources"
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk -v s="$suite" 'BEGIN{RS="";ORS="\n\n"}
                /(^|\n)Types:[^\n]*deb/ && /Suites:/ && !/security/ && /debian-archive-keyring/ {
                    gsub(/Suites:[^\n]*/, "Suites: " s); print; exit }' "$f" >>"$st/parts/derived.sources"
        done
        if [ ! -s "$st/parts/derived.sources" ] && [ -f /etc/apt/sources.list ]; then
            awk -v s="$suite" '$1 == "deb" && $0 !~ /security/ { $3 = s; print; exit }' \
                /etc/apt/sources.list >"$st/parts/derived.list"
            rm -f "$st/parts/derived.sources"
        fi
        ls "$st"/parts/derived.* >/dev/null 2>&1 || die "no Debian source in /etc/apt to derive $suite from"
    fi
    say "apt-get update ($what)"
    apt-get -qq "${PRIV[@]}" update >"$CACHE/apt.log" 2>&1 ||
        die "apt-get update for $what failed: $(tail -n 3 "$CACHE/apt.log")"
    touch "$st/updated"
}

fetch_from() {
    local what=$1; shift
    private_apt "$what"
    local dir=$CACHE/debs
    rm -rf "$dir"; mkdir -p "$dir"
    ( cd "$dir" && apt-get -q "${PRIV[@]}" download "$@" >"$CACHE/apt.log" 2>&1 ) ||
        die "apt-get download $* ($what) failed: $(tail -n 3 "$CACHE/apt.log")"
    count_debs
}

# The package a metapackage (such as linux-image-arm64) depends on, in the
# private state for $1.
depends_of() {
    private_apt "$1"
    apt-cache "${PRIV[@]}" depends "$2" 2>/dev/null | awk '/Depends: /{print $2; exit}'
}

installed() { [ "$(dpkg-query -W -f '${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

apt_install() {
    local sim p want=()
    for p in "$@"; do installed "$p" || want+=("$p"); done
    [ ${#want[@]} -gt 0 ] || return 0
    set -- "${want[@]}"
    apt_update
    sim=$(apt-get install -s -y --no-install-recommends "$@" 2>&1) || die "apt-get cannot install $*: $(echo "$sim" | tail -n 3)"
    if echo "$sim" | grep -q '^Remv '; then
        die "installing $* would remove: $(echo "$sim" | awk '/^Remv /{print $2}' | tr '\n' ' ')"
    fi
    local before after
    before=$(df -B1 --output=used / | tail -n 1)
    apt-get install -y -qq --no-install-recommends "$@" >"$CACHE/apt.log" 2>&1 ||
        die "apt-get install $* failed: $(tail -n 5 "$CACHE/apt.log")"
    after=$(df -B1 --output=used / | tail -n 1)
    say "installed $*: $(( (after - before) / 1000000 )) MB on disk"
}

# source_get DIR PKG: `apt-get source --download-only PKG` into DIR (made),
# from a private deb-src state under $CACHE/apt-src: the machine's own
# deb822 stanzas (URIs, Suites, Components, Signed-By) with "Types: deb-src"
# (or its one-line "deb" entries as "deb-src"), so /etc/apt is not changed and
# no host name is written anywhere but that state. The state is made and
# updated on first use (drop $CACHE/apt-src/updated to update it again).
# Returns non-zero on failure, with apt's output in $CACHE/apt-src/source.log;
# does not exit. The .dsc can then be unpacked with dpkg-source -x (dpkg-dev).
source_get() {
    local dir=$1 pkg=$2 st=$CACHE/apt-src f
    local opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$st/parts"
                -o Dir::State::Lists="$st/lists" -o Dir::Cache="$st/cache"
                -o Dir::State::status=/dev/null -o APT::Sandbox::User=root)
    if [ ! -e "$st/updated" ]; then
        rm -rf "$st"; mkdir -p "$st/lists/partial" "$st/cache/archives/partial" "$st/parts"
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -f "$f" ] || continue
            awk 'BEGIN{RS="";ORS="\n\n"} /(^|\n)Types:[^\n]*deb/ && /URIs:/ && /Suites:/ {
                    sub(/Types:[^\n]*/, "Types: deb-src"); print }' "$f" >>"$st/parts/derived.sources"
        done
        [ -s "$st/parts/derived.sources" ] || rm -f "$st/parts/derived.sources"
        if [ -f /etc/apt/sources.list ]; then
            awk '$1 == "deb" { $1 = "deb-src"; print }' /etc/apt/sources.list >"$st/parts/derived.list"
            [ -s "$st/parts/derived.list" ] || rm -f "$st/parts/derived.list"
        fi
        ls "$st"/parts/derived.* >/dev/null 2>&1 || { say "no deb entry in /etc/apt to derive deb-src from"; return 1; }
        say "apt-get update (deb-src)"
        apt-get -qq "${opts[@]}" update >"$st/source.log" 2>&1 ||
            { say "apt-get update (deb-src) failed: $(tail -n 3 "$st/source.log")"; return 1; }
        touch "$st/updated"
    fi
    mkdir -p "$dir"
    ( cd "$dir" && apt-get -q "${opts[@]}" source --download-only "$pkg" ) >"$st/source.log" 2>&1
}
