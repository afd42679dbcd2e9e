//! Every setting of a service, once, in one table: its key in a `[NAME]`
//! section (which is also its long option), its short option, where it may
//! be given, its default, how its value is read and where it is kept.
//!
//! The command line (args.rs) and the file (config.rs) both read values
//! through `SETTINGS` into a `Settings`; a `Spec` is made from a `Settings`
//! by one function (`Spec::new`), and "unchanged" compares whole `Spec`s.
//! A setting added here is therefore read, stored and compared everywhere:
//! one row, and one field of `Settings` for its value.
//!
//! Not here: tinyd's own options (`--foreground`, `--pidfile`, ... and the
//! `[tinyd]` section), and the command itself (`exec` in the file, COMMAND
//! on the command line), which is a list of words rather than one value.
//! Pure: no I/O.

use core::ffi::CStr;

use crate::pure::svc::{Policy, ReadyBy};
use crate::pure::time::Ms;
use crate::util::limits::MAX_ENV;
use crate::util::num;

/// What to do when COMMAND ends by itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Restart {
    Always,
    OnFailure,
    Never,
}

impl Restart {
    pub fn parse(s: &[u8]) -> Option<Restart> {
        match s {
            b"always" => Some(Restart::Always),
            b"on-failure" => Some(Restart::OnFailure),
            b"never" => Some(Restart::Never),
            _ => None,
        }
    }
}

/// Where a service's output lines go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Output<'a> {
    /// Inherited: tinyd's own stdout/stderr (the terminal in the
    /// foreground, /dev/null in daemon mode).
    Inherit,
    /// Appended to a file, timestamped, rotated.
    File(&'a CStr),
    /// Datagrams to the syslog socket, with this tag (empty: the name).
    Syslog(&'a [u8]),
}

/// What happens to a service's output when its log cannot take more (the
/// log writer is behind, or the disk is full).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LogFull {
    /// The service never waits: lines that do not fit are counted, and
    /// the count is written once writing works again.
    Drop,
    /// tinyd stops reading the service's output: its writes wait (it is
    /// paused), nothing is lost.
    Block,
}

/// Whether `v` can be a service's name or a syslog tag: 1-64 printable
/// ASCII characters, no `/` (what `tinyd ctl` can ask about, and what fits
/// in a log line's prefix).
pub fn valid_name(v: &[u8]) -> bool {
    !v.is_empty() && v.len() <= 64 && v.iter().all(|&c| c > b' ' && c < 0x7f && c != b'/')
}

/// A service's settings as read, its strings borrowed from argv or from
/// the file's text. Each field is written by the `parse` of its row.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Settings<'a> {
    /// A valid name (`valid_name`), or empty until one is given.
    pub name: &'a [u8],
    /// USER[:GROUP] as written (resolved by the caller, not here).
    pub user: Option<&'a CStr>,
    pub chdir: &'a CStr,
    pub umask: u32,
    /// NAME=VALUE, in the order given; the unused ones at the end are
    /// `None`.
    pub env: [Option<&'a CStr>; MAX_ENV],
    pub output: Output<'a>,
    pub log_size: u64,
    pub log_keep: u32,
    pub log_full: LogFull,
    /// `restart`, `restart-delay`, `stop-timeout` (milliseconds), `type`,
    /// `ready` and `ready-timeout`.
    pub policy: Policy,
    /// `needs =` and `after =` as written: names, space-separated
    /// (checked against the file's names by config.rs; empty: none).
    pub needs: &'a [u8],
    pub after: &'a [u8],
}

impl<'a> Settings<'a> {
    /// Every setting at its default (each row's `default`, read by its own
    /// `parse`), with this name.
    pub fn new(name: &'a [u8]) -> Settings<'a> {
        // What a setting without a default is; the others are overwritten.
        let mut s = Settings {
            name,
            user: None,
            chdir: c"",
            umask: 0,
            env: [None; MAX_ENV],
            output: Output::Inherit,
            log_size: 0,
            log_keep: 0,
            log_full: LogFull::Drop,
            policy: Policy {
                restart: Restart::Always,
                delay_min: Ms(0),
                delay_max: Ms(0),
                stop_timeout: Ms(0),
                ready: ReadyBy::Exec,
                ready_timeout: Ms(0),
                oneshot: false,
            },
            needs: b"",
            after: b"",
        };
        for row in &SETTINGS {
            if let Some(d) = row.default {
                // Every default is valid (tests::defaults_are_valid).
                let _ = (row.parse)(&mut s, d);
            }
        }
        s
    }
}

/// Why a value was refused; the command line and the file each word it
/// their own way.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Bad {
    /// Empty, where a value is needed: "empty value for --KEY" on the
    /// command line, "empty value: KEY" in the file.
    Empty,
    /// Not a value of this setting: "bad value --KEY" on the command line,
    /// the row's `bad` in the file.
    Value,
    /// A message of its own: (on the command line, in the file).
    Said(&'static str, FileMsg),
}

/// A message about a `[NAME]` section of the file: its text where there
/// are files (the ctl feature), nothing in a build without them.
#[cfg(feature = "ctl")]
pub type FileMsg = &'static str;
#[cfg(not(feature = "ctl"))]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct FileMsg;

/// `m`, as a message about the file.
#[cfg(feature = "ctl")]
const fn in_file(m: &'static str) -> FileMsg {
    m
}
#[cfg(not(feature = "ctl"))]
const fn in_file(_: &'static str) -> FileMsg {
    FileMsg
}

/// Where a setting may be given.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum On {
    /// As `--KEY` (and `-X`) on the command line and `KEY =` in a section.
    Both,
    /// Only on the command line (a section's name is its header).
    Line,
    /// Only in a `[NAME]` section (about other sections).
    File,
}

/// Reads a value into its field of `Settings`.
pub type Parse = for<'a> fn(&mut Settings<'a>, &'a CStr) -> Result<(), Bad>;

/// One setting.
pub struct Setting {
    /// The key in a `[NAME]` section, and the long option (`--KEY`).
    pub key: &'static str,
    /// The short option (`-X`), 0 if none.
    pub short: u8,
    pub on: On,
    /// On the command line a flag, whose value can only be attached
    /// (`-Sntp`, `--syslog=ntp`; empty without one).
    pub attached: bool,
    /// May be given more than once, each value adding to a list (else the
    /// file refuses a duplicate key, and on the command line the last one
    /// wins).
    pub repeat: bool,
    /// The default, written as the user would write it (also in `--help`);
    /// `None`: not set.
    pub default: Option<&'static CStr>,
    pub parse: Parse,
    /// The file's message for `Bad::Value` (the value follows it).
    pub bad: FileMsg,
    /// Settings with the same non-empty `excl` exclude each other within a
    /// section; it is the file's message when both are given.
    pub excl: FileMsg,
}

const ROW: Setting = Setting {
    key: "",
    short: 0,
    on: On::Both,
    attached: false,
    repeat: false,
    default: None,
    parse: |_, _| Ok(()),
    bad: in_file(""),
    excl: in_file(""),
};

const NAME_BAD: &str = "bad name (1-64 printable characters, no '/')";
const TAG_BAD: &str = "bad syslog tag (1-64 printable characters, no '/')";
const EXPECTED_ENV: &str = "expected NAME=VALUE";
const OUTPUT_EXCL: &str = "log and syslog are exclusive";

/// `v`, unless it is empty.
fn full(v: &CStr) -> Result<&CStr, Bad> {
    if v.is_empty() { Err(Bad::Empty) } else { Ok(v) }
}

/// How many rows `SETTINGS` has (at most 32: the file's parser keeps a
/// bit for each).
pub const COUNT: usize = 18;
const _: () = assert!(COUNT <= 32);

/// The table. Its order is no one's business: settings are found by key or
/// letter, and their values are compared whole (in `Spec`).
pub static SETTINGS: [Setting; COUNT] = [
    Setting {
        key: "name",
        short: b'n',
        on: On::Line,
        parse: |s, v| {
            if !valid_name(v.to_bytes()) {
                return Err(Bad::Said(NAME_BAD, in_file(NAME_BAD)));
            }
            s.name = v.to_bytes();
            Ok(())
        },
        ..ROW
    },
    Setting {
        key: "user",
        short: b'u',
        parse: |s, v| {
            s.user = Some(full(v)?);
            Ok(())
        },
        ..ROW
    },
    Setting {
        key: "chdir",
        short: b'd',
        default: Some(c"/"),
        parse: |s, v| {
            s.chdir = full(v)?;
            Ok(())
        },
        ..ROW
    },
    Setting {
        key: "umask",
        short: b'm',
        default: Some(c"022"),
        parse: |s, v| {
            s.umask = num::octal_mask(v.to_bytes()).ok_or(Bad::Value)?;
            Ok(())
        },
        bad: in_file("bad umask (octal, at most 0777)"),
        ..ROW
    },
    Setting {
        key: "env",
        short: b'e',
        repeat: true,
        parse: |s, v| {
            if matches!(v.to_bytes().iter().position(|&c| c == b'='), None | Some(0)) {
                return Err(Bad::Said(EXPECTED_ENV, in_file(EXPECTED_ENV)));
            }
            let Some(free) = s.env.iter_mut().find(|e| e.is_none()) else {
                return Err(Bad::Said(
                    "too many --env options (at most 32)",
                    in_file("too many env (at most 32)"),
                ));
            };
            *free = Some(v);
            Ok(())
        },
        ..ROW
    },
    Setting {
        key: "log",
        short: b'o',
        parse: |s, v| {
            s.output = Output::File(full(v)?);
            Ok(())
        },
        excl: in_file(OUTPUT_EXCL),
        ..ROW
    },
    Setting {
        key: "log-size",
        default: Some(c"1M"),
        parse: |s, v| {
            s.log_size = num::size(v.to_bytes())
                .filter(|&b| b >= 1024)
                .ok_or(Bad::Value)?;
            Ok(())
        },
        bad: in_file("bad log-size (bytes, suffix k or M, at least 1k)"),
        ..ROW
    },
    Setting {
        key: "log-keep",
        default: Some(c"2"),
        parse: |s, v| {
            s.log_keep = num::decimal(v.to_bytes())
                .filter(|&k| k <= 99)
                .ok_or(Bad::Value)? as u32;
            Ok(())
        },
        bad: in_file("bad log-keep (0 to 99)"),
        ..ROW
    },
    Setting {
        key: "log-full",
        default: Some(c"drop"),
        parse: |s, v| {
            s.log_full = match v.to_bytes() {
                b"drop" => LogFull::Drop,
                b"block" => LogFull::Block,
                _ => return Err(Bad::Value),
            };
            Ok(())
        },
        bad: in_file("bad log-full (drop or block)"),
        ..ROW
    },
    Setting {
        key: "syslog",
        short: b'S',
        attached: true,
        parse: |s, v| {
            let tag = v.to_bytes();
            if !tag.is_empty() && !valid_name(tag) {
                return Err(Bad::Said(TAG_BAD, in_file(TAG_BAD)));
            }
            s.output = Output::Syslog(tag);
            Ok(())
        },
        excl: in_file(OUTPUT_EXCL),
        ..ROW
    },
    Setting {
        key: "restart",
        short: b'r',
        default: Some(c"always"),
        parse: |s, v| {
            s.policy.restart = Restart::parse(v.to_bytes()).ok_or(Bad::Value)?;
            Ok(())
        },
        bad: in_file("bad restart (always, on-failure or never)"),
        ..ROW
    },
    Setting {
        key: "restart-delay",
        default: Some(c"1:60"),
        parse: |s, v| {
            let (min, max) = num::millis_range(v.to_bytes()).ok_or(Bad::Value)?;
            (s.policy.delay_min, s.policy.delay_max) = (Ms(min), Ms(max));
            Ok(())
        },
        bad: in_file("bad restart-delay (seconds: MIN[:MAX])"),
        ..ROW
    },
    Setting {
        key: "stop-timeout",
        short: b't',
        default: Some(c"5"),
        parse: |s, v| {
            s.policy.stop_timeout = Ms(num::millis(v.to_bytes()).ok_or(Bad::Value)?);
            Ok(())
        },
        bad: in_file("bad stop-timeout (seconds)"),
        ..ROW
    },
    Setting {
        key: "type",
        default: Some(c"simple"),
        parse: |s, v| {
            s.policy.oneshot = match v.to_bytes() {
                b"simple" => false,
                b"oneshot" => true,
                _ => return Err(Bad::Value),
            };
            Ok(())
        },
        bad: in_file("bad type (simple or oneshot)"),
        ..ROW
    },
    Setting {
        key: "ready",
        default: Some(c"exec"),
        parse: |s, v| {
            s.policy.ready = match v.to_bytes() {
                b"exec" => ReadyBy::Exec,
                b"notify" => ReadyBy::Notify,
                v => match v.strip_prefix(b"fd:").and_then(num::decimal) {
                    Some(n @ 3..=255) => ReadyBy::Fd(n as u8),
                    _ => return Err(Bad::Value),
                },
            };
            Ok(())
        },
        bad: in_file("bad ready (exec, notify or fd:N with N from 3 to 255)"),
        ..ROW
    },
    Setting {
        key: "ready-timeout",
        default: Some(c"60"),
        parse: |s, v| {
            s.policy.ready_timeout = Ms(num::millis(v.to_bytes()).ok_or(Bad::Value)?);
            Ok(())
        },
        bad: in_file("bad ready-timeout (seconds, 0 for none)"),
        ..ROW
    },
    Setting {
        key: "needs",
        on: On::File,
        parse: |s, v| {
            s.needs = full(v)?.to_bytes();
            Ok(())
        },
        ..ROW
    },
    Setting {
        key: "after",
        on: On::File,
        parse: |s, v| {
            s.after = full(v)?.to_bytes();
            Ok(())
        },
        ..ROW
    },
];

/// The index in `SETTINGS` of the setting `KEY =` of a `[NAME]` section.
pub fn by_key(key: &[u8]) -> Option<usize> {
    SETTINGS
        .iter()
        .position(|r| r.on != On::Line && r.key.as_bytes() == key)
}

/// The setting of the command line's `--LONG` (with `short` 0) or `-X`.
pub fn by_option(long: &[u8], short: u8) -> Option<&'static Setting> {
    SETTINGS.iter().filter(|r| r.on != On::File).find(|r| {
        if short == 0 {
            r.key.as_bytes() == long
        } else {
            r.short == short
        }
    })
}

/// The index of `key` in `SETTINGS`, at compile time in a `const`.
pub const fn index(key: &str) -> usize {
    let mut i = 0;
    while i < COUNT {
        if eq(SETTINGS[i].key.as_bytes(), key.as_bytes()) {
            return i;
        }
        i += 1;
    }
    panic!("no such setting")
}

const fn eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A value for each row of `SETTINGS`, other than its default, for the
/// tests that go through every row. A row added without one fails
/// `tests::every_row_has_an_example`.
#[cfg(test)]
pub(crate) const EXAMPLES: &[(&str, &CStr)] = &[
    ("name", c"other"),
    ("user", c"nobody"),
    ("chdir", c"/tmp"),
    ("umask", c"027"),
    ("env", c"A=1"),
    ("log", c"/var/log/a"),
    ("log-size", c"64k"),
    ("log-keep", c"5"),
    ("log-full", c"block"),
    ("syslog", c""),
    ("restart", c"never"),
    ("restart-delay", c"0.5:30"),
    ("stop-timeout", c"2.5"),
    ("type", c"oneshot"),
    ("ready", c"fd:3"),
    ("ready-timeout", c"0"),
    ("needs", c"db net"),
    ("after", c"fw"),
];

/// The example of row `key`.
#[cfg(test)]
pub(crate) fn example(key: &str) -> &'static CStr {
    match EXAMPLES.iter().find(|(k, _)| *k == key) {
        Some(&(_, v)) => v,
        None => panic!("no example for setting {key:?}: add one to EXAMPLES"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        for row in &SETTINGS {
            if let Some(d) = row.default {
                let mut s = Settings::new(b"");
                assert_eq!((row.parse)(&mut s, d), Ok(()), "{}", row.key);
            }
        }
    }

    #[test]
    fn defaults() {
        // What they have always been (README, --help).
        let s = Settings::new(b"web");
        assert_eq!(s.name, b"web");
        assert_eq!((s.user, s.chdir, s.umask), (None, c"/", 0o022));
        assert!(s.env.iter().all(Option::is_none));
        assert_eq!(s.output, Output::Inherit);
        assert_eq!((s.log_size, s.log_keep), (1 << 20, 2));
        assert_eq!(
            s.policy,
            Policy {
                restart: Restart::Always,
                delay_min: Ms(1000),
                delay_max: Ms(60_000),
                stop_timeout: Ms(5000),
                ready: ReadyBy::Exec,
                ready_timeout: Ms(60_000),
                oneshot: false,
            }
        );
    }

    #[test]
    fn every_row_has_an_example() {
        let default = Settings::new(b"a");
        for row in &SETTINGS {
            let mut s = default;
            assert_eq!((row.parse)(&mut s, example(row.key)), Ok(()), "{}", row.key);
            assert_ne!(s, default, "{}: the example is the default", row.key);
        }
        assert_eq!(EXAMPLES.len(), COUNT, "an example for no setting");
    }

    #[test]
    fn keys_and_letters_are_unique() {
        for (i, a) in SETTINGS.iter().enumerate() {
            assert!(!a.key.is_empty());
            for b in &SETTINGS[..i] {
                assert_ne!(a.key, b.key);
                assert!(a.short == 0 || a.short != b.short, "-{}", a.short as char);
            }
            assert_eq!(index(a.key), i);
            assert_eq!(by_key(a.key.as_bytes()), (a.on != On::Line).then_some(i));
            if a.on == On::File {
                assert!(by_option(a.key.as_bytes(), 0).is_none());
                continue;
            }
            assert!(core::ptr::eq(by_option(a.key.as_bytes(), 0).unwrap(), a));
            if a.short != 0 {
                assert!(core::ptr::eq(by_option(b"", a.short).unwrap(), a));
            }
        }
        assert_eq!(by_key(b"exec"), None);
        assert_eq!(by_key(b"name"), None);
    }

    #[cfg(feature = "ctl")]
    #[test]
    fn refusals_have_messages() {
        for row in &SETTINGS {
            for v in [c"", c"x", c"-1", c"a b", c"=", c"99999999999"] {
                match (row.parse)(&mut Settings::new(b""), v) {
                    Err(Bad::Value) => assert!(!row.bad.is_empty(), "{}", row.key),
                    Err(Bad::Said(line, file)) => assert!(!line.is_empty() && !file.is_empty()),
                    _ => {}
                }
            }
            // An exclusive setting excludes another.
            assert!(
                row.excl.is_empty()
                    || SETTINGS
                        .iter()
                        .any(|o| o.key != row.key && o.excl == row.excl),
                "{}",
                row.key
            );
        }
    }

    #[test]
    fn env_fills_in_order_then_refuses() {
        let mut s = Settings::new(b"");
        for _ in 0..MAX_ENV {
            assert_eq!((SETTINGS[index("env")].parse)(&mut s, c"A=1"), Ok(()));
        }
        assert!(s.env.iter().all(|e| *e == Some(c"A=1")));
        assert_eq!(
            (SETTINGS[index("env")].parse)(&mut s, c"B=2"),
            Err(Bad::Said(
                "too many --env options (at most 32)",
                in_file("too many env (at most 32)")
            ))
        );
    }
}
