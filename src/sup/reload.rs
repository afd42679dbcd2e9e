//! Reading the configuration file for a reload (and at startup): the
//! whole file checked, every service staged as a spec in `t.staged`, before
//! `control::apply` plans and carries out the change.

use core::ffi::CStr;
use rustix::fd::BorrowedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::os::users::resolve;
use crate::pure::config::{self, Global};
use crate::pure::passwd::Unknown;
use crate::pure::spec::Spec;
use crate::sup::Tables;
use crate::util::buf::Buf;
use crate::util::limits::CONFIG_MAX;

/// Reads and checks the configuration file, staging a spec per service in
/// `t.staged`. Each error goes to `err` as the parts of a line
/// `FILE:LINE: ...` (to print after `tinyd: `);
/// `global` sees the `[tinyd]` section of a valid file. `Err` means the
/// file was rejected: its errors have gone to `err` already.
#[allow(clippy::result_unit_err)]
pub fn load_config(
    base: BorrowedFd<'_>,
    path: &CStr,
    t: &mut Tables,
    err: &mut dyn FnMut(&[&[u8]]),
    global: &mut dyn FnMut(&Global<'_>, &mut Tables),
) -> Result<(), ()> {
    // The path whole, in a part of its own: never cut.
    let mut say = |n: u32, msg: &[u8], text: &[u8]| {
        let mut num = Buf::<16>::new();
        if n > 0 {
            num.s(b":").u(n as u64);
        }
        let sep: &[u8] = if text.is_empty() { b"" } else { b": " };
        let text = &text[..text.len().min(80)];
        err(&[path.to_bytes(), num.as_bytes(), b": ", msg, sep, text]);
    };
    let Some(text) = t.text.take() else {
        return Err(());
    };
    let n = match read_file(base, path, &mut text[..]) {
        Ok(n) if n > CONFIG_MAX => {
            say(0, b"file too large (at most 32 KiB)", b"");
            t.text = Some(text);
            return Err(());
        }
        Ok(n) => n,
        Err(e) => {
            let mut why = Buf::<64>::new();
            why.err(e);
            say(0, b"cannot read", why.as_bytes());
            t.text = Some(text);
            return Err(());
        }
    };
    let Tables { arenas, staged, .. } = &mut *t;
    let result = config::parse_each(&mut text[..n], &mut |svc| {
        let creds = match svc.user() {
            None => None,
            Some((u, line)) => match resolve(u.to_bytes()) {
                Ok(c) => Some(c),
                Err(Unknown::Group(_)) => {
                    return Some(config::Error {
                        line,
                        msg: "unknown group",
                        text: u.to_bytes(),
                    });
                }
                Err(Unknown::TooManyGroups) => {
                    return Some(config::Error {
                        line,
                        msg: "user in too many groups",
                        text: u.to_bytes(),
                    });
                }
                Err(_) => {
                    return Some(config::Error {
                        line,
                        msg: "unknown user",
                        text: u.to_bytes(),
                    });
                }
            },
        };
        let Some(arena) = arenas.take() else {
            return Some(config::Error {
                line: svc.line,
                msg: "too many services",
                text: svc.set.name,
            });
        };
        match Spec::new(arena, &svc.set, svc.exec.iter(), creds) {
            Ok(spec) => match staged.push(spec) {
                Ok(()) => None,
                Err(spec) => {
                    arenas.give(spec.into_arena());
                    Some(config::Error {
                        line: svc.line,
                        msg: "too many services",
                        text: svc.set.name,
                    })
                }
            },
            Err((arena, e)) => {
                arenas.give(arena);
                Some(config::Error {
                    line: svc.line,
                    msg: e.message(),
                    text: svc.set.name,
                })
            }
        }
    });
    let ok = match result {
        Ok(g) => {
            t.deps = g.deps;
            global(&g, t);
            Ok(())
        }
        Err(errors) => {
            for e in errors.iter() {
                say(e.line, e.msg.as_bytes(), e.text);
            }
            if errors.more {
                say(0, b"more errors not shown", b"");
            }
            while let Some(spec) = t.staged.pop() {
                t.arenas.give(spec.into_arena());
            }
            Err(())
        }
    };
    t.text = Some(text);
    ok
}

/// Reads a whole file into `buf`; a result of `buf.len()` means it did not
/// fit.
fn read_file(base: BorrowedFd<'_>, path: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    let fd = rustix::fs::openat(
        base,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY,
        Mode::empty(),
    )?;
    let mut n = 0;
    while n < buf.len() {
        match rustix::io::read(&fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
