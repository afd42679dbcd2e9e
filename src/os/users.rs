//! /etc/passwd and /etc/group, read through a fixed buffer (there is no
//! NSS here); what the lines mean is `pure::passwd`'s.

use core::ffi::CStr;
use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::pure::passwd::{self, Creds, Unknown};
use crate::util::limits::PASSWD_LINE_MAX;
use crate::util::lines::LineBuf;

/// `USER[:GROUP]` from the system's files.
#[inline(never)] // its line buffers stay out of the caller's frame
pub fn resolve(user: &[u8]) -> Result<Creds, Unknown<'_>> {
    passwd::resolve(user, c"/etc/passwd", c"/etc/group", &mut scan)
}

/// Calls `f` on each whole line of the file at `path` until it returns
/// true; lines longer than `PASSWD_LINE_MAX` are skipped.
pub fn scan(path: &CStr, f: &mut dyn FnMut(&[u8]) -> bool) -> Result<(), Errno> {
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
        lb.commit(n, |p| {
            done = done || (p.whole && f(p.text));
            true
        });
    }
    if !done {
        lb.flush(|p| {
            if p.whole {
                f(p.text);
            }
            true
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! `resolve` on real files, read by `scan`.
    extern crate std;
    use super::*;
    use crate::util::limits::MAX_GROUPS;
    use std::ffi::CString;

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
            passwd::resolve(spec.as_bytes(), &p, &g, &mut scan)
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
