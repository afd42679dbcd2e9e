//! Every fixed capacity of tinyd, in one place. Each is documented in the
//! README; exceeding one is an error that names it, never a silent cut
//! (except log lines, which are split at `LINE_MAX`).

/// `--env` options.
pub const MAX_ENV: usize = 32;
/// Variables inherited from tinyd's own environment and passed to COMMAND.
pub const MAX_INHERITED_ENV: usize = 256;
/// Supplementary groups of `--user`.
pub const MAX_GROUPS: usize = 64;
/// Bytes of one line of output; a longer line is split.
pub const LINE_MAX: usize = 1024;
/// Bytes of a path tinyd builds (PATH search, log rotation names).
pub const PATH_MAX: usize = 512;
/// Bytes of one line of /etc/passwd or /etc/group; longer lines are skipped.
pub const PASSWD_LINE_MAX: usize = 1024;
/// Services in the configuration file.
pub const MAX_SERVICES: usize = 64;
/// Bytes of the configuration file.
pub const CONFIG_MAX: usize = 32 * 1024;
/// Bytes of one line of the configuration file, newline excluded.
pub const CONFIG_LINE_MAX: usize = 1024;
/// Words of a service's `exec` (the command and its arguments).
pub const MAX_WORDS: usize = 64;
/// Errors reported for a configuration file; the rest are only counted.
pub const CONFIG_MAX_ERRORS: usize = 16;
/// Bytes of one service's strings: command, paths, environment, user
/// (with its line buffer, one 4 KiB page per service).
pub const SPEC_MAX: usize = 3072;

/// The smallest doubled restart delay when MIN is 0, so that a crash loop
/// never spins (and the smallest MAX of a MIN given alone, see
/// `num::millis_range`), in milliseconds.
pub const DELAY_FLOOR: u64 = 100;

/// Bytes of one log ring: lines on their way from tinyd to its log writer,
/// for one log file (see `log::ring`). A power of two.
pub const RING_BYTES: usize = 64 * 1024;
const _: () = assert!(RING_BYTES.is_power_of_two());
/// Log rings: tinyd's own log, one per instance that logs to a file (two
/// per service while a reload replaces it), and as many again for rings
/// still being written out after their instance is gone.
pub const LOG_RINGS: usize = if cfg!(feature = "ctl") {
    3 * MAX_SERVICES + 1
} else {
    2
};
/// The longest sd_notify datagram read whole (systemd's own buffer); one
/// longer is cut and logged as malformed.
pub const NOTIFY_MAX: usize = 4096;
/// sd_notify datagrams read in one turn of the loop (the rest wait).
pub const NOTIFY_PER_TURN: usize = 16;
/// Bytes of a service's `STATUS=` kept for `ctl status`.
pub const STATUS_MAX: usize = 48;
