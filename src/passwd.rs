//! `/etc/passwd` and `/etc/group`, read directly: there is no NSS here.
//!
//! The line parsers are pure; `resolve` reads the files through a fixed
//! buffer and turns `USER[:GROUP]` into credentials.

use core::ffi::CStr;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::limits::{MAX_GROUPS, PASSWD_LINE_MAX};
use crate::lines::LineBuf;
use crate::num;

/// One line of /etc/passwd: `name:x:uid:gid:gecos:home:shell`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct User<'a> {
    pub name: &'a [u8],
    pub uid: u32,
    pub gid: u32,
}

/// One line of /etc/group: `name:x:gid:member,member`.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Group<'a> {
    pub name: &'a [u8],
    pub gid: u32,
    pub members: &'a [u8],
}

fn id(s: &[u8]) -> Option<u32> {
    num::decimal(s)
        .and_then(|v| u32::try_from(v).ok())
        .filter(|&v| v != u32::MAX)
}

fn fields(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&c| c == b':')
}

pub fn parse_user(line: &[u8]) -> Option<User<'_>> {
    let mut f = fields(line);
    let name = f.next().filter(|n| !n.is_empty() && !n.starts_with(b"#"))?;
    let _password = f.next()?;
    let uid = id(f.next()?)?;
    let gid = id(f.next()?)?;
    Some(User { name, uid, gid })
}

pub fn parse_group(line: &[u8]) -> Option<Group<'_>> {
    let mut f = fields(line);
    let name = f.next().filter(|n| !n.is_empty() && !n.starts_with(b"#"))?;
    let _password = f.next()?;
    let gid = id(f.next()?)?;
    let members = f.next().unwrap_or(b"");
    Some(Group { name, gid, members })
}

impl Group<'_> {
    pub fn has_member(&self, user: &[u8]) -> bool {
        !user.is_empty()
            && self
                .members
                .split(|&c| c == b',')
                .any(|m| m.trim_ascii() == user)
    }
}

/// Credentials for COMMAND: setgroups(groups), setgid(gid), setuid(uid).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Creds {
    pub uid: u32,
    pub gid: u32,
    pub groups: [u32; MAX_GROUPS],
    pub ngroups: usize,
}

impl Creds {
    pub fn groups(&self) -> &[u32] {
        &self.groups[..self.ngroups]
    }
}

/// Why `--user` could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum Unknown<'a> {
    User(&'a [u8]),
    Group(&'a [u8]),
    TooManyGroups,
    /// /etc/passwd or /etc/group could not be read.
    Io(&'static str, Errno),
}

/// Calls `f` with every whole line of `path` until it returns true.
fn scan(path: &CStr, mut f: impl FnMut(&[u8]) -> bool) -> Result<(), Errno> {
    let fd: OwnedFd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let mut storage = [0u8; PASSWD_LINE_MAX];
    let mut lb = LineBuf::new(&mut storage);
    let mut done = false;
    while !done {
        let n = match rustix::io::read(&fd, lb.spare()) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        lb.commit(n, |p| done = done || (p.whole && f(p.text)));
    }
    if !done {
        lb.flush(|p| {
            if p.whole {
                f(p.text);
            }
        });
    }
    Ok(())
}

/// Resolves `USER[:GROUP]` (names or numbers) from the two files, like
/// initgroups: the primary group (GROUP if given) and every group that
/// lists USER as a member. A numeric USER missing from passwd is accepted
/// only with a GROUP.
pub fn resolve<'a>(spec: &'a [u8], passwd: &CStr, group: &CStr) -> Result<Creds, Unknown<'a>> {
    let (user, grp) = match spec.iter().position(|&c| c == b':') {
        Some(i) => (&spec[..i], Some(&spec[i + 1..])),
        None => (spec, None),
    };
    if user.is_empty() || grp == Some(b"") {
        return Err(Unknown::User(spec));
    }
    // The user: by name, or by number. Its whole name, for the groups
    // that list it: a line that was read whole fits in PASSWD_LINE_MAX.
    let mut name = [0u8; PASSWD_LINE_MAX];
    let mut found: Option<(u32, u32, usize)> = None;
    scan(passwd, |line| match parse_user(line) {
        Some(u) if u.name == user || id(user) == Some(u.uid) => {
            let n = u.name.len().min(PASSWD_LINE_MAX);
            name[..n].copy_from_slice(&u.name[..n]);
            found = Some((u.uid, u.gid, n));
            true
        }
        _ => false,
    })
    .map_err(|e| Unknown::Io("/etc/passwd", e))?;
    let (uid, mut gid, nlen) = match (found, id(user), grp) {
        (Some(f), _, _) => f,
        (None, Some(uid), Some(_)) => (uid, u32::MAX, 0),
        _ => return Err(Unknown::User(user)),
    };
    let name = &name[..nlen];
    // The group, if given: by name, or by number.
    if let Some(g) = grp {
        let mut gfound = None;
        scan(group, |line| match parse_group(line) {
            Some(e) if e.name == g => {
                gfound = Some(e.gid);
                true
            }
            _ => false,
        })
        .map_err(|e| Unknown::Io("/etc/group", e))?;
        gid = match gfound.or_else(|| id(g)) {
            Some(v) => v,
            None => return Err(Unknown::Group(g)),
        };
    }
    let mut creds = Creds {
        uid,
        gid,
        groups: [0; MAX_GROUPS],
        ngroups: 1,
    };
    creds.groups[0] = gid;
    let mut overflow = false;
    if !name.is_empty() {
        let r = scan(group, |line| {
            if let Some(e) = parse_group(line)
                && e.has_member(name)
                && !creds.groups().contains(&e.gid)
            {
                if creds.ngroups == MAX_GROUPS {
                    overflow = true;
                    return true;
                }
                creds.groups[creds.ngroups] = e.gid;
                creds.ngroups += 1;
            }
            false
        });
        match r {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Unknown::Io("/etc/group", e)),
        }
    }
    if overflow {
        return Err(Unknown::TooManyGroups);
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::ffi::CString;

    #[test]
    fn passwd_lines() {
        assert_eq!(
            parse_user(b"www:x:33:34:www-data:/var/www:/usr/sbin/nologin"),
            Some(User {
                name: b"www",
                uid: 33,
                gid: 34
            })
        );
        assert_eq!(
            parse_user(b"root::0:0::/root:/bin/sh").map(|u| u.uid),
            Some(0)
        );
        assert_eq!(parse_user(b"short:x:1"), None);
        assert_eq!(parse_user(b"bad:x:one:1:::"), None);
        assert_eq!(parse_user(b"# comment:x:1:1"), None);
        assert_eq!(parse_user(b""), None);
        assert_eq!(parse_user(b"big:x:4294967295:1::/:"), None);
    }

    #[test]
    fn group_lines_and_members() {
        let g = parse_group(b"audio:x:29:pulse,www").unwrap();
        assert_eq!((g.name, g.gid), (&b"audio"[..], 29));
        assert!(g.has_member(b"www"));
        assert!(g.has_member(b"pulse"));
        assert!(!g.has_member(b"ww"));
        assert!(!g.has_member(b""));
        let g = parse_group(b"nogroup:x:65534:").unwrap();
        assert!(!g.has_member(b"nobody"));
        assert_eq!(parse_group(b"x:x:").map(|g| g.gid), None);
        assert_eq!(
            parse_group(b"wheel:x:10").map(|g| g.members),
            Some(&b""[..])
        );
    }

    struct Files(std::path::PathBuf);
    impl Files {
        fn new(tag: &str, passwd: &str, group: &str) -> Files {
            let d =
                std::env::temp_dir().join(std::format!("tinyd-pw-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("passwd"), passwd).unwrap();
            std::fs::write(d.join("group"), group).unwrap();
            Files(d)
        }
        fn resolve<'a>(&self, spec: &'a str) -> Result<Creds, Unknown<'a>> {
            let p = CString::new(self.0.join("passwd").to_str().unwrap()).unwrap();
            let g = CString::new(self.0.join("group").to_str().unwrap()).unwrap();
            resolve(spec.as_bytes(), &p, &g)
        }
    }
    impl Drop for Files {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nwww:x:33:34::/var/www:/bin/false\n\
        # a comment\nnobody:x:65534:65534::/:/bin/false";
    const GROUP: &str =
        "root:x:0:\nwww:x:34:\naudio:x:29:pulse,www\nvideo:x:44:www\nnogroup:x:65534:\n";

    #[test]
    fn resolve_names_numbers_and_groups() {
        let f = Files::new("a", PASSWD, GROUP);
        let c = f.resolve("www").unwrap();
        assert_eq!((c.uid, c.gid, c.groups()), (33, 34, &[34, 29, 44][..]));
        let c = f.resolve("33:audio").unwrap();
        assert_eq!((c.uid, c.gid, c.groups()), (33, 29, &[29, 44][..]));
        let c = f.resolve("nobody").unwrap();
        assert_eq!((c.uid, c.gid, c.groups()), (65534, 65534, &[65534][..]));
        let c = f.resolve("1234:5678").unwrap();
        assert_eq!((c.uid, c.gid, c.groups()), (1234, 5678, &[5678][..]));
        assert_eq!(f.resolve("nosuch"), Err(Unknown::User(b"nosuch")));
        assert_eq!(f.resolve("1234"), Err(Unknown::User(b"1234")));
        assert_eq!(f.resolve("www:nosuch"), Err(Unknown::Group(b"nosuch")));
        assert_eq!(f.resolve(":x"), Err(Unknown::User(b":x")));
        assert_eq!(f.resolve("www:"), Err(Unknown::User(b"www:")));
    }

    #[test]
    fn long_lines_are_skipped_not_misread() {
        let long = "x".repeat(3000);
        let passwd = std::format!("evil:x:1:1:{long}root:x:0:0::/:\nroot:x:0:0::/:/bin/sh\n");
        let f = Files::new("b", &passwd, GROUP);
        assert_eq!(f.resolve("root").map(|c| c.uid), Ok(0));
        assert_eq!(f.resolve("evil"), Err(Unknown::User(b"evil")));
    }

    #[test]
    fn groups_match_the_whole_user_name() {
        // Found by fuzz/fuzz_targets/passwd.rs (corpus long-user-name): the
        // name was cut to 64 bytes, so a longer name got the groups of the
        // user named by its first 64 bytes, and not its own.
        let long = "u".repeat(70);
        let passwd = std::format!("{long}:x:1000:1000::/:/bin/sh\n");
        let group = std::format!("staff:x:50:{long}\nother:x:51:{}\n", &long[..64]);
        let f = Files::new("d", &passwd, &group);
        let c = f.resolve(&long).unwrap();
        assert_eq!(c.groups(), &[1000, 50]);
        let c = f.resolve("1000").unwrap();
        assert_eq!(c.groups(), &[1000, 50]);
    }

    #[test]
    fn too_many_groups_is_an_error() {
        let mut group = std::string::String::new();
        for i in 0..=MAX_GROUPS {
            group.push_str(&std::format!("g{i}:x:{}:www\n", 1000 + i));
        }
        let f = Files::new("c", PASSWD, &group);
        assert_eq!(f.resolve("www"), Err(Unknown::TooManyGroups));
    }
}
