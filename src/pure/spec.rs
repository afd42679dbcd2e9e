//! One service's settings, owned: every string is copied into the service's
//! own arena (a fixed buffer from a static pool), and fields are offsets
//! into it. The configuration text can then be reused for the next reload,
//! and "unchanged" is a plain comparison of values.
//!
//! The command line and every `[NAME]` section of the configuration file
//! become a `Spec` through `Spec::new`: one code path for one service or
//! many, from the `Settings` that both read through `settings::SETTINGS`.
//! Two specs are the same when every field is (derived `PartialEq`), so a
//! setting kept in a `Spec` is always compared.

use core::ffi::CStr;

use crate::pure::passwd::Creds;
use crate::pure::settings::{LogFull, Output, Settings};
use crate::pure::svc::Policy;
use crate::util::limits::{LINE_MAX, MAX_ENV, MAX_WORDS, SPEC_MAX};
use crate::util::store::ArrayVec;
use crate::util::words::Words;

/// The memory of one service, one page: its strings and its output line
/// buffer, so that a service dirties a single page of these. (With one
/// service only, packing it with the rest saves more than aligning it.)
#[cfg_attr(feature = "ctl", repr(C, align(4096)))]
#[cfg_attr(not(feature = "ctl"), repr(C))]
pub struct Chunk {
    arena: [u8; SPEC_MAX],
    line: [u8; LINE_MAX],
}

impl Chunk {
    pub const EMPTY: Chunk = Chunk {
        arena: [0; SPEC_MAX],
        line: [0; LINE_MAX],
    };
}

/// A service's arena (where its strings live) and, until the service's
/// slot borrows it, its line buffer.
pub struct Arena {
    bytes: &'static mut [u8; SPEC_MAX],
    line: Option<&'static mut [u8; LINE_MAX]>,
}

impl Arena {
    pub fn new(c: &'static mut Chunk) -> Arena {
        Arena {
            bytes: &mut c.arena,
            line: Some(&mut c.line),
        }
    }

    /// The string space alone, kept for good (tinyd's own settings).
    pub fn into_bytes(self) -> &'static mut [u8; SPEC_MAX] {
        self.bytes
    }
}

/// Arenas: never-used chunks in order, returned ones first. Only the
/// header is here: the free list is handed over with the chunks and kept
/// elsewhere (see sup::Memory), so that the header is a few bytes on a
/// page that is touched anyway.
pub struct ArenaPool<const N: usize> {
    fresh: Option<&'static mut [Chunk]>,
    free: Option<&'static mut ArrayVec<Arena, N>>,
}

impl<const N: usize> ArenaPool<N> {
    pub const fn empty() -> Self {
        ArenaPool {
            fresh: None,
            free: None,
        }
    }
    pub fn fill(&mut self, all: &'static mut [Chunk], free: &'static mut ArrayVec<Arena, N>) {
        self.fresh = Some(all);
        self.free = Some(free);
    }
    pub fn take(&mut self) -> Option<Arena> {
        if let Some(a) = self.free.as_mut().and_then(|f| f.pop()) {
            return Some(a);
        }
        let (first, rest) = self.fresh.take()?.split_first_mut()?;
        self.fresh = Some(rest);
        Some(Arena::new(first))
    }
    /// Takes an arena back; its line buffer must be back in it. Nothing is
    /// dropped: an arena comes only from `take`, so after `fill`, and the
    /// free list holds all N.
    pub fn give(&mut self, a: Arena) {
        debug_assert!(self.free.is_some(), "an arena given back before fill");
        if let Some(f) = self.free.as_mut() {
            let pushed = f.push(a);
            debug_assert!(pushed.is_ok(), "more arenas given back than taken");
        }
    }
}

/// A string in the arena: offset and length (its NUL follows it).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
struct R(u16, u16);

/// Where a service's output goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Out {
    Inherit,
    File(R),
    /// Datagrams to syslog with this tag (empty: the name).
    Syslog(R),
}

/// What a spec did not have room for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TooBig {
    /// More than `SPEC_MAX` bytes of strings.
    Bytes,
    /// More than `MAX_WORDS` words in the command.
    Words,
}

impl TooBig {
    pub fn message(self) -> &'static str {
        match self {
            TooBig::Bytes => {
                "settings too long (at most 3072 bytes of command, paths and environment)"
            }
            TooBig::Words => "command has too many words (at most 64)",
        }
    }
}

/// An arena and the part of it the strings use; two are equal when their
/// strings are (not the rest, nor the line buffer).
struct Strings {
    arena: Arena,
    len: usize,
}

impl PartialEq for Strings {
    fn eq(&self, o: &Strings) -> bool {
        self.arena.bytes[..self.len] == o.arena.bytes[..o.len]
    }
}

impl Strings {
    /// Appends `bytes` and a NUL.
    fn push(&mut self, bytes: &[u8]) -> Result<R, TooBig> {
        let end = self.len + bytes.len() + 1;
        if end > SPEC_MAX {
            return Err(TooBig::Bytes);
        }
        self.arena.bytes[self.len..end - 1].copy_from_slice(bytes);
        self.arena.bytes[end - 1] = 0;
        let r = R(self.len as u16, bytes.len() as u16);
        self.len = end;
        Ok(r)
    }

    /// Appends a list of strings back to back, each with its NUL.
    fn push_list<'b>(
        &mut self,
        items: impl Iterator<Item = &'b CStr>,
        max: usize,
    ) -> Result<(R, u16), TooBig> {
        let start = self.len;
        let mut n = 0;
        for s in items {
            if n == max {
                return Err(TooBig::Words);
            }
            self.push(s.to_bytes())?;
            n += 1;
        }
        Ok((R(start as u16, (self.len - start) as u16), n as u16))
    }
}

/// A service's settings, owned. Compared whole: every field is part of
/// what "unchanged" means.
#[derive(PartialEq)]
pub struct Spec {
    strings: Strings,
    name: R,
    exec: (R, u16),
    env: (R, u16),
    chdir: R,
    user: Option<R>,
    out: Out,
    pub creds: Option<Creds>,
    pub umask: u32,
    pub log_size: u64,
    pub log_keep: u32,
    pub log_full: LogFull,
    pub policy: Policy,
}

impl Spec {
    /// A service from its settings (the command line's or a `[NAME]`
    /// section's); `exec` are the command and its arguments, `creds` what
    /// its user resolved to.
    pub fn new<'b>(
        arena: Arena,
        set: &Settings<'_>,
        exec: impl Iterator<Item = &'b CStr>,
        creds: Option<Creds>,
    ) -> Result<Spec, (Arena, TooBig)> {
        // Every field by name: one added to `Settings` does not build
        // until it has its place in the `Spec`.
        let Settings {
            name,
            user,
            chdir,
            umask,
            env,
            output,
            log_size,
            log_keep,
            log_full,
            policy,
            // The graph is the file's (config.rs): a dependency that
            // changes restarts nothing, so it is not in the spec.
            needs: _,
            after: _,
        } = *set;
        let mut s = Strings { arena, len: 0 };
        let strings = (|| {
            Ok((
                s.push(name)?,
                s.push_list(exec, MAX_WORDS)?,
                s.push_list(env.iter().flatten().copied(), MAX_ENV)?,
                s.push(chdir.to_bytes())?,
                match user {
                    Some(u) => Some(s.push(u.to_bytes())?),
                    None => None,
                },
                match output {
                    Output::Inherit => Out::Inherit,
                    Output::File(p) => Out::File(s.push(p.to_bytes())?),
                    Output::Syslog(t) => Out::Syslog(s.push(t)?),
                },
            ))
        })();
        match strings {
            Ok((name, exec, env, chdir, user, out)) => Ok(Spec {
                strings: s,
                name,
                exec,
                env,
                chdir,
                user,
                out,
                creds,
                umask,
                log_size,
                log_keep,
                log_full,
                policy,
            }),
            Err(e) => Err((s.arena, e)),
        }
    }

    /// Gives the arena back (to its pool).
    pub fn into_arena(self) -> Arena {
        self.strings.arena
    }

    /// The line buffer, for the service's slot (once).
    pub fn take_line(&mut self) -> Option<&'static mut [u8; LINE_MAX]> {
        self.strings.arena.line.take()
    }

    /// Puts the slot's line buffer back, before the arena goes back.
    pub fn put_line(&mut self, line: &'static mut [u8; LINE_MAX]) {
        self.strings.arena.line = Some(line);
    }

    fn bytes(&self, r: R) -> &[u8] {
        &self.strings.arena.bytes[r.0 as usize..(r.0 + r.1) as usize]
    }

    fn cstr(&self, r: R) -> &CStr {
        CStr::from_bytes_with_nul(&self.strings.arena.bytes[r.0 as usize..=(r.0 + r.1) as usize])
            .unwrap_or(c"")
    }

    pub fn name(&self) -> &[u8] {
        self.bytes(self.name)
    }

    /// COMMAND and its arguments.
    pub fn exec(&self) -> Words<'_> {
        Words {
            bytes: self.bytes(self.exec.0),
            count: self.exec.1 as usize,
        }
    }

    /// The NAME=VALUE overrides.
    pub fn env(&self) -> Words<'_> {
        Words {
            bytes: self.bytes(self.env.0),
            count: self.env.1 as usize,
        }
    }

    pub fn chdir(&self) -> &CStr {
        self.cstr(self.chdir)
    }

    pub fn user(&self) -> Option<&[u8]> {
        self.user.map(|r| self.bytes(r))
    }

    /// The log file, if output goes to one.
    pub fn log_file(&self) -> Option<&CStr> {
        match self.out {
            Out::File(r) => Some(self.cstr(r)),
            _ => None,
        }
    }

    /// The syslog tag (the name if none was given), if output goes there.
    pub fn syslog_tag(&self) -> Option<&[u8]> {
        match self.out {
            Out::Syslog(r) if r.1 > 0 => Some(self.bytes(r)),
            Out::Syslog(_) => Some(self.name()),
            _ => None,
        }
    }

    /// Whether two specs say exactly the same thing (a reload keeps the
    /// service running when they do).
    pub fn same(&self, o: &Spec) -> bool {
        self == o
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::pure::settings::{Restart, SETTINGS, example};
    use std::boxed::Box;
    use std::vec::Vec;

    fn arena() -> Arena {
        Arena::new(Box::leak(Box::new(Chunk::EMPTY)))
    }

    fn words(exec: &[u8]) -> Words<'_> {
        Words {
            bytes: exec,
            count: exec.iter().filter(|&&c| c == 0).count(),
        }
    }

    fn spec(set: &Settings<'_>, exec: &[u8]) -> Spec {
        match Spec::new(arena(), set, words(exec).iter(), None) {
            Ok(s) => s,
            Err((_, e)) => panic!("{}", e.message()),
        }
    }

    #[test]
    fn strings_are_copied_and_read_back() {
        let mut set = Settings::new(b"web");
        set.env[0] = Some(c"LANG=C");
        set.env[1] = Some(c"A=b");
        set.output = Output::File(c"/var/log/web.log");
        set.user = Some(c"www:www");
        let s = spec(&set, b"/usr/sbin/httpd\0-f\0two words\0");
        assert_eq!(s.name(), b"web");
        let words: Vec<&CStr> = s.exec().iter().collect();
        assert_eq!(words, [c"/usr/sbin/httpd", c"-f", c"two words"]);
        let env: Vec<&CStr> = s.env().iter().collect();
        assert_eq!(env, [c"LANG=C", c"A=b"]);
        assert_eq!(s.chdir(), c"/");
        assert_eq!(s.log_file(), Some(c"/var/log/web.log"));
        assert_eq!(s.syslog_tag(), None);
        assert_eq!(s.user(), Some(&b"www:www"[..]));
        assert_eq!((s.umask, s.log_size, s.log_keep), (0o022, 1 << 20, 2));
        assert_eq!(s.policy, set.policy);
    }

    #[test]
    fn syslog_tag_defaults_to_name() {
        let mut set = Settings::new(b"ntp");
        set.output = Output::Syslog(b"");
        assert_eq!(spec(&set, b"ntpd\0").syslog_tag(), Some(&b"ntp"[..]));
        set.output = Output::Syslog(b"time");
        assert_eq!(spec(&set, b"ntpd\0").syslog_tag(), Some(&b"time"[..]));
    }

    #[test]
    fn same_compares_values() {
        let set = Settings::new(b"a");
        let a = spec(&set, b"sleep\x001\0");
        assert!(a.same(&spec(&set, b"sleep\x001\0")));
        assert!(!a.same(&spec(&set, b"sleep\x002\0")));
        let mut d = set;
        d.policy.stop_timeout = crate::pure::time::Ms(1);
        assert!(!a.same(&spec(&d, b"sleep\x001\0")));
        let mut e = set;
        e.policy.restart = Restart::Never;
        assert!(!a.same(&spec(&e, b"sleep\x001\0")));
        // What the user resolved to is part of it too.
        let exec = words(b"sleep\x001\0");
        let creds = Some(Creds {
            uid: 1,
            gid: 1,
            groups: [0; crate::util::limits::MAX_GROUPS],
            ngroups: 0,
        });
        let f = Spec::new(arena(), &set, exec.iter(), creds).ok().unwrap();
        assert!(!a.same(&f));
    }

    #[test]
    fn every_setting_is_compared() {
        let exec = b"sleep\x001\0";
        let default = Settings::new(b"a");
        let base = spec(&default, exec);
        for row in &SETTINGS {
            let mut set = default;
            assert_eq!((row.parse)(&mut set, example(row.key)), Ok(()));
            let changed = spec(&set, exec);
            if matches!(row.key, "needs" | "after") {
                // The graph's, not the service's: no restart for it.
                assert!(changed.same(&base), "{}", row.key);
                continue;
            }
            assert!(
                !changed.same(&base) && !base.same(&changed),
                "{}: a spec that differs only in it is the same",
                row.key
            );
            assert!(changed.same(&spec(&set, exec)), "{}", row.key);
        }
    }

    #[test]
    fn too_big_gives_the_arena_back() {
        let mut exec = Vec::from(&[b'x'; SPEC_MAX][..]);
        exec.push(0);
        match Spec::new(arena(), &Settings::new(b"big"), words(&exec).iter(), None) {
            Err((_arena, TooBig::Bytes)) => {}
            _ => panic!("accepted a command longer than the arena"),
        }
    }
}
