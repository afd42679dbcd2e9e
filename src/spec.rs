//! One service's settings, owned: every string is copied into the service's
//! own arena (a fixed buffer from a static pool), and fields are offsets
//! into it. The configuration text can then be reused for the next reload,
//! and "unchanged" is a plain comparison of values.
//!
//! The command line and every `[NAME]` section of the configuration file
//! become a `Spec`: one code path for one service or many.

use core::ffi::CStr;

use crate::args::{Opts, Output, Restart};
#[cfg(feature = "ctl")]
use crate::config;
use crate::limits::{LINE_MAX, MAX_ENV, MAX_WORDS, SPEC_MAX};
use crate::passwd::Creds;
use crate::store::ArrayVec;
use crate::svc::Policy;
use crate::words::Words;

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

/// Arenas: never-used chunks in order, returned ones first.
#[repr(C)]
pub struct ArenaPool<const N: usize> {
    fresh: Option<&'static mut [Chunk]>,
    free: ArrayVec<Arena, N>,
}

impl<const N: usize> ArenaPool<N> {
    pub const fn empty() -> Self {
        ArenaPool {
            fresh: None,
            free: ArrayVec::new(),
        }
    }
    pub fn fill(&mut self, all: &'static mut [Chunk]) {
        self.fresh = Some(all);
    }
    pub fn take(&mut self) -> Option<Arena> {
        if let Some(a) = self.free.pop() {
            return Some(a);
        }
        let (first, rest) = self.fresh.take()?.split_first_mut()?;
        self.fresh = Some(rest);
        Some(Arena::new(first))
    }
    /// Takes an arena back; its line buffer must be back in it.
    pub fn give(&mut self, a: Arena) {
        let _ = self.free.push(a);
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

pub struct Spec {
    arena: Arena,
    len: usize,
    name: R,
    exec: (R, u16),
    env: (R, u16),
    chdir: R,
    user: Option<R>,
    pub creds: Option<Creds>,
    pub umask: u32,
    out: Out,
    pub log_size: u64,
    pub log_keep: u32,
    pub policy: Policy,
}

impl Spec {
    fn empty(arena: Arena) -> Spec {
        Spec {
            arena,
            len: 0,
            name: R::default(),
            exec: (R::default(), 0),
            env: (R::default(), 0),
            chdir: R::default(),
            user: None,
            creds: None,
            umask: 0o022,
            out: Out::Inherit,
            log_size: 0,
            log_keep: 0,
            policy: Policy {
                restart: Restart::Always,
                delay_min: 0,
                delay_max: 0,
                stop_timeout: 0,
            },
        }
    }

    /// Gives the arena back (to its pool).
    pub fn into_arena(self) -> Arena {
        self.arena
    }

    /// The line buffer, for the service's slot (once).
    pub fn take_line(&mut self) -> Option<&'static mut [u8; LINE_MAX]> {
        self.arena.line.take()
    }

    /// Puts the slot's line buffer back, before the arena goes back.
    pub fn put_line(&mut self, line: &'static mut [u8; LINE_MAX]) {
        self.arena.line = Some(line);
    }

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

    /// A service from the command line. `cmd` are COMMAND and its arguments.
    pub fn from_opts<'b>(
        arena: Arena,
        o: &Opts<'_>,
        cmd: impl Iterator<Item = &'b CStr>,
        creds: Option<Creds>,
    ) -> Result<Spec, (Arena, TooBig)> {
        let mut s = Spec::empty(arena);
        let o = &o.set;
        let r = (|| {
            s.name = s.push(o.name)?;
            s.exec = s.push_list(cmd, MAX_WORDS)?;
            s.env = s.push_list(o.env.iter().flatten().copied(), MAX_ENV)?;
            s.chdir = s.push(o.chdir.to_bytes())?;
            if let Some(u) = o.user {
                s.user = Some(s.push(u.to_bytes())?);
            }
            s.set_output(o.output)?;
            Ok(())
        })();
        s.creds = creds;
        s.umask = o.umask;
        s.log_size = o.log_size;
        s.log_keep = o.log_keep;
        s.policy = o.policy;
        match r {
            Ok(()) => Ok(s),
            Err(e) => Err((s.arena, e)),
        }
    }

    /// A service from a `[NAME]` section of the configuration file.
    #[cfg(feature = "ctl")]
    pub fn from_config(
        arena: Arena,
        c: &config::Service<'_>,
        creds: Option<Creds>,
    ) -> Result<Spec, (Arena, TooBig)> {
        let mut s = Spec::empty(arena);
        let exec = c.exec;
        let c = &c.set;
        let r = (|| {
            s.name = s.push(c.name)?;
            s.exec = s.push_list(exec.iter(), MAX_WORDS)?;
            s.env = s.push_list(c.env.iter().flatten().copied(), MAX_ENV)?;
            s.chdir = s.push(c.chdir.to_bytes())?;
            if let Some(u) = c.user {
                s.user = Some(s.push(u.to_bytes())?);
            }
            s.set_output(c.output)?;
            Ok(())
        })();
        s.creds = creds;
        s.umask = c.umask;
        s.log_size = c.log_size;
        s.log_keep = c.log_keep;
        s.policy = c.policy;
        match r {
            Ok(()) => Ok(s),
            Err(e) => Err((s.arena, e)),
        }
    }

    fn set_output(&mut self, o: Output<'_>) -> Result<(), TooBig> {
        self.out = match o {
            Output::Inherit => Out::Inherit,
            Output::File(p) => Out::File(self.push(p.to_bytes())?),
            Output::Syslog(t) => Out::Syslog(self.push(t)?),
        };
        Ok(())
    }

    fn bytes(&self, r: R) -> &[u8] {
        &self.arena.bytes[r.0 as usize..(r.0 + r.1) as usize]
    }

    fn cstr(&self, r: R) -> &CStr {
        CStr::from_bytes_with_nul(&self.arena.bytes[r.0 as usize..=(r.0 + r.1) as usize])
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
        self.arena.bytes[..self.len] == o.arena.bytes[..o.len]
            && (
                self.name, self.exec, self.env, self.chdir, self.user, self.out,
            ) == (o.name, o.exec, o.env, o.chdir, o.user, o.out)
            && (self.creds, self.umask, self.log_size, self.log_keep)
                == (o.creds, o.umask, o.log_size, o.log_keep)
            && (
                self.policy.restart,
                self.policy.delay_min,
                self.policy.delay_max,
                self.policy.stop_timeout,
            ) == (
                o.policy.restart,
                o.policy.delay_min,
                o.policy.delay_max,
                o.policy.stop_timeout,
            )
    }
}

#[cfg(all(test, feature = "ctl"))]
mod tests {
    extern crate std;
    use super::*;
    use std::boxed::Box;

    fn arena() -> Arena {
        Arena::new(Box::leak(Box::new(Chunk::EMPTY)))
    }

    fn service<'a>(name: &'a [u8], exec: &'a [u8]) -> config::Service<'a> {
        let mut s = config::Service::new(name, 3);
        s.exec = Words {
            bytes: exec,
            count: exec.iter().filter(|&&c| c == 0).count(),
        };
        s
    }

    #[test]
    fn strings_are_copied_and_read_back() {
        let mut c = service(b"web", b"/usr/sbin/httpd\0-f\0two words\0");
        c.set.env[0] = Some(c"LANG=C");
        c.set.env[1] = Some(c"A=b");
        c.set.output = Output::File(c"/var/log/web.log");
        c.set.user = Some(c"www:www");
        let s = Spec::from_config(arena(), &c, None).ok().unwrap();
        assert_eq!(s.name(), b"web");
        let words: std::vec::Vec<&CStr> = s.exec().iter().collect();
        assert_eq!(words, [c"/usr/sbin/httpd", c"-f", c"two words"]);
        let env: std::vec::Vec<&CStr> = s.env().iter().collect();
        assert_eq!(env, [c"LANG=C", c"A=b"]);
        assert_eq!(s.chdir(), c"/");
        assert_eq!(s.log_file(), Some(c"/var/log/web.log"));
        assert_eq!(s.syslog_tag(), None);
        assert_eq!(s.user(), Some(&b"www:www"[..]));
    }

    #[test]
    fn syslog_tag_defaults_to_name() {
        let mut c = service(b"ntp", b"ntpd\0");
        c.set.output = Output::Syslog(b"");
        assert_eq!(
            Spec::from_config(arena(), &c, None)
                .ok()
                .unwrap()
                .syslog_tag(),
            Some(&b"ntp"[..])
        );
        c.set.output = Output::Syslog(b"time");
        assert_eq!(
            Spec::from_config(arena(), &c, None)
                .ok()
                .unwrap()
                .syslog_tag(),
            Some(&b"time"[..])
        );
    }

    #[test]
    fn same_compares_values() {
        let a = Spec::from_config(arena(), &service(b"a", b"sleep\x001\0"), None)
            .ok()
            .unwrap();
        let b = Spec::from_config(arena(), &service(b"a", b"sleep\x001\0"), None)
            .ok()
            .unwrap();
        assert!(a.same(&b));
        let c = Spec::from_config(arena(), &service(b"a", b"sleep\x002\0"), None)
            .ok()
            .unwrap();
        assert!(!a.same(&c));
        let mut d = service(b"a", b"sleep\x001\0");
        d.set.policy.stop_timeout = 1;
        assert!(!a.same(&Spec::from_config(arena(), &d, None).ok().unwrap()));
        let mut e = service(b"a", b"sleep\x001\0");
        e.set.policy.restart = Restart::Never;
        assert!(!a.same(&Spec::from_config(arena(), &e, None).ok().unwrap()));
    }

    #[test]
    fn too_big_gives_the_arena_back() {
        let long = [b'x'; SPEC_MAX];
        let mut words = std::vec::Vec::from(&long[..]);
        words.push(0);
        match Spec::from_config(arena(), &service(b"big", &words), None) {
            Err((_arena, TooBig::Bytes)) => {}
            _ => panic!("accepted a command longer than the arena"),
        }
    }
}
