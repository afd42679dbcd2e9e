//! /etc/passwd and /etc/group: `passwd::parse_user`, `parse_group`,
//! `Group::has_member`, and `passwd::resolve` reading real files.
//!
//! The input is `SPEC \0 PASSWD-TEXT \0 GROUP-TEXT` (missing parts empty).
//!
//! Invariants:
//! - every line: parse_user and parse_group agree with a plain std
//!   reference (fields split at ':', ids decimal below u32::MAX), the name
//!   is the first field, not empty, not a comment; has_member(u) is true
//!   exactly when u is one of the comma-separated members, trimmed;
//! - resolve(SPEC) through the files gives exactly what the reference
//!   resolution gives (same Ok creds or same error), where the reference
//!   reads whole lines of at most PASSWD_LINE_MAX - 1 bytes (longer ones are
//!   skipped, never misread) and matches supplementary groups on the
//!   user's whole name;
//! - creds: 1 to MAX_GROUPS groups, the first is the gid, no duplicates.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::OnceLock;
use tinyd::util::limits::{MAX_GROUPS, PASSWD_LINE_MAX};
use tinyd::pure::passwd::{self, Creds, Unknown};

/// An id as the files write it: 1-19 digits, below u32::MAX.
fn id(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(s).ok()?.parse().ok()?;
    u32::try_from(v).ok().filter(|&v| v != u32::MAX)
}

struct RefUser<'a> {
    name: &'a [u8],
    uid: u32,
    gid: u32,
}

fn ref_user(line: &[u8]) -> Option<RefUser<'_>> {
    let f: Vec<&[u8]> = line.split(|&c| c == b':').collect();
    if f.len() < 4 || f[0].is_empty() || f[0][0] == b'#' {
        return None;
    }
    Some(RefUser {
        name: f[0],
        uid: id(f[2])?,
        gid: id(f[3])?,
    })
}

fn ref_group(line: &[u8]) -> Option<(&[u8], u32, &[u8])> {
    let f: Vec<&[u8]> = line.split(|&c| c == b':').collect();
    if f.len() < 3 || f[0].is_empty() || f[0][0] == b'#' {
        return None;
    }
    Some((f[0], id(f[2])?, f.get(3).copied().unwrap_or(b"")))
}

fn ref_member(members: &[u8], user: &[u8]) -> bool {
    !user.is_empty()
        && members
            .split(|&c| c == b',')
            .any(|m| m.trim_ascii() == user)
}

fn check_line(line: &[u8]) {
    let u = passwd::parse_user(line);
    let r = ref_user(line);
    assert_eq!(
        u.map(|u| (u.name, u.uid, u.gid)),
        r.map(|r| (r.name, r.uid, r.gid))
    );
    if let Some(u) = u {
        assert!(line.starts_with(u.name) && line[u.name.len()] == b':');
    }
    let g = passwd::parse_group(line);
    assert_eq!(g.map(|g| (g.name, g.gid, g.members)), ref_group(line));
    if let Some(g) = g {
        // Every member, and a few things that are not members.
        for m in g.members.split(|&c| c == b',') {
            let m = m.trim_ascii();
            assert_eq!(g.has_member(m), !m.is_empty());
        }
        for probe in [&b""[..], b",", b" ", g.members, g.name] {
            assert_eq!(g.has_member(probe), ref_member(g.members, probe));
        }
    }
}

/// The lines `scan` hands out whole: split at '\n', a last line without
/// newline included, and only those that fit the line buffer with their
/// newline.
fn whole_lines(text: &[u8]) -> Vec<&[u8]> {
    let mut v: Vec<&[u8]> = text.split(|&c| c == b'\n').collect();
    if v.last().is_some_and(|l| l.is_empty()) {
        v.pop();
    }
    v.retain(|l| l.len() < PASSWD_LINE_MAX);
    v
}

#[derive(Debug, PartialEq, Eq)]
enum RefErr {
    User(Vec<u8>),
    Group(Vec<u8>),
    TooManyGroups,
}

fn ref_resolve(spec: &[u8], passwd: &[u8], group: &[u8]) -> Result<(u32, u32, Vec<u32>), RefErr> {
    let (user, grp) = match spec.iter().position(|&c| c == b':') {
        Some(i) => (&spec[..i], Some(&spec[i + 1..])),
        None => (spec, None),
    };
    if user.is_empty() || grp == Some(b"") {
        return Err(RefErr::User(spec.to_vec()));
    }
    let found = whole_lines(passwd)
        .into_iter()
        .filter_map(ref_user)
        .find(|u| u.name == user || id(user) == Some(u.uid));
    let (uid, mut gid, name): (u32, u32, &[u8]) = match (found, id(user), grp) {
        (Some(u), _, _) => (u.uid, u.gid, u.name),
        (None, Some(uid), Some(_)) => (uid, u32::MAX, b""),
        _ => return Err(RefErr::User(user.to_vec())),
    };
    let glines = whole_lines(group);
    if let Some(g) = grp {
        let by_name = glines
            .iter()
            .filter_map(|l| ref_group(l))
            .find(|e| e.0 == g)
            .map(|e| e.1);
        gid = by_name.or_else(|| id(g)).ok_or(RefErr::Group(g.to_vec()))?;
    }
    let mut groups = vec![gid];
    if !name.is_empty() {
        for (_, g, members) in glines.iter().filter_map(|l| ref_group(l)) {
            if ref_member(members, name) && !groups.contains(&g) {
                if groups.len() == MAX_GROUPS {
                    return Err(RefErr::TooManyGroups);
                }
                groups.push(g);
            }
        }
    }
    Ok((uid, gid, groups))
}

/// A file with no name (created, then unlinked), for `resolve` to open by
/// its /proc/self/fd path: nothing is left behind when the fuzzer exits.
struct Anon {
    file: File,
    path: CString,
}

impl Anon {
    fn new(tag: &str) -> Anon {
        let p = std::env::temp_dir().join(format!("tinyd-fuzz-{tag}-{}", std::process::id()));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&p)
            .unwrap();
        std::fs::remove_file(&p).unwrap();
        let path = CString::new(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
        Anon { file, path }
    }
    fn set(&self, text: &[u8]) -> &CString {
        self.file.set_len(0).unwrap();
        self.file.write_all_at(text, 0).unwrap();
        &self.path
    }
}

fn files() -> &'static (Anon, Anon) {
    static FILES: OnceLock<(Anon, Anon)> = OnceLock::new();
    FILES.get_or_init(|| (Anon::new("passwd"), Anon::new("group")))
}

fn check_creds(c: &Creds) {
    assert!(c.ngroups >= 1 && c.ngroups <= MAX_GROUPS);
    assert_eq!(c.groups()[0], c.gid);
    for (i, g) in c.groups().iter().enumerate() {
        assert!(!c.groups()[..i].contains(g), "duplicate group {g}");
    }
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(3, |&c| c == 0);
    let spec = parts.next().unwrap_or(b"");
    let ptext = parts.next().unwrap_or(b"");
    let gtext = parts.next().unwrap_or(b"");
    for line in ptext
        .split(|&c| c == b'\n')
        .chain(gtext.split(|&c| c == b'\n'))
    {
        check_line(line);
    }
    check_line(spec);
    let (pf, gf) = files();
    let got = passwd::resolve(spec, pf.set(ptext), gf.set(gtext), &mut tinyd::os::users::scan);
    let want = ref_resolve(spec, ptext, gtext);
    match (&got, &want) {
        (Ok(c), Ok((uid, gid, groups))) => {
            check_creds(c);
            assert_eq!((c.uid, c.gid, c.groups()), (*uid, *gid, groups.as_slice()));
        }
        (Err(Unknown::User(u)), Err(RefErr::User(w))) => assert_eq!(u, w),
        (Err(Unknown::Group(g)), Err(RefErr::Group(w))) => assert_eq!(g, w),
        (Err(Unknown::TooManyGroups), Err(RefErr::TooManyGroups)) => {}
        _ => panic!(
            "resolve {:?}: got {got:?}, want {want:?}",
            String::from_utf8_lossy(spec)
        ),
    }
});
