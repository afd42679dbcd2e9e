//! `/etc/passwd` and `/etc/group`, read directly: there is no NSS here.
//!
//! Pure: the line parsers, and `resolve`, which turns `USER[:GROUP]` into
//! credentials from the lines a scanner gives it (`os::users` reads the
//! files through a fixed buffer).

use core::ffi::CStr;
use rustix::io::Errno;

use crate::util::limits::{MAX_GROUPS, PASSWD_LINE_MAX};
use crate::util::num;

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

/// Reads the lines of a file, calling `f` on each whole line until it
/// returns true (the I/O is the caller's: `os::users::scan`).
pub type Scan<'s> = &'s mut dyn FnMut(&CStr, &mut dyn FnMut(&[u8]) -> bool) -> Result<(), Errno>;

/// Resolves `USER[:GROUP]` (names or numbers) from the two files, like
/// initgroups: the primary group (GROUP if given) and every group that
/// lists USER as a member. A numeric USER missing from passwd is accepted
/// only with a GROUP.
pub fn resolve<'a>(
    spec: &'a [u8],
    passwd: &CStr,
    group: &CStr,
    scan: Scan<'_>,
) -> Result<Creds, Unknown<'a>> {
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
    scan(passwd, &mut |line| match parse_user(line) {
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
        scan(group, &mut |line| match parse_group(line) {
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
        let r = scan(group, &mut |line| {
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
}
