//! The control protocol and the `tinyd ctl` client.
//!
//! A request is one short text line over a Unix stream socket:
//! `status [NAME]`, `start NAME`, `stop NAME`, `restart NAME`, `reload`,
//! `shutdown`. The reply is the exit status for the client on the first
//! line, then the text to print; tinyd closes the connection after it.
//!
//! Exit statuses follow LSB: 0 done (status: every named service running),
//! 3 a service is not running, 4 unknown service; and 1 failed or timed
//! out, 64 bad request, 77 permission denied, 78 configuration errors.

use core::ffi::CStr;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::args::Argv;
use crate::buf::Buf;
use crate::sink;
use crate::sys;

/// The default control socket.
pub const DEFAULT_SOCKET: &CStr = c"/var/run/tinyd.sock";
/// Bytes of a request line, newline included.
pub const REQUEST_MAX: usize = 128;
/// How long `tinyd ctl` waits for tinyd (connect, request and reply) unless
/// `-w` says otherwise, in milliseconds: beyond tinyd's own waits with the
/// default stop timeout (`stop` up to 20 s), short enough for a
/// `::shutdown:` line against a stopped or wedged tinyd.
pub const DEFAULT_WAIT: u64 = 60_000;

pub const OK: u8 = 0;
pub const FAILED: u8 = 1;
pub const NOT_RUNNING: u8 = 3;
pub const UNKNOWN: u8 = 4;
pub const BAD_REQUEST: u8 = 64;
pub const DENIED: u8 = 77;
pub const CONFIG: u8 = 78;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Request<'a> {
    Status(Option<&'a [u8]>),
    Start(&'a [u8]),
    Stop(&'a [u8]),
    Restart(&'a [u8]),
    Reload,
    Shutdown,
}

/// Parses a request line (without its newline).
pub fn parse(line: &[u8]) -> Result<Request<'_>, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut words = line.split(|&c| c == b' ').filter(|w| !w.is_empty());
    let verb = words.next().ok_or("empty request")?;
    let name = words.next();
    if words.next().is_some() {
        return Err("too many words");
    }
    if let Some(n) = name
        && (n.len() > 64 || n.iter().any(|&c| c <= b' ' || c >= 0x7f || c == b'/'))
    {
        return Err("bad service name");
    }
    fn need(n: Option<&[u8]>) -> Result<&[u8], &'static str> {
        n.ok_or("missing service name")
    }
    match verb {
        b"status" => Ok(Request::Status(name)),
        b"start" => Ok(Request::Start(need(name)?)),
        b"stop" => Ok(Request::Stop(need(name)?)),
        b"restart" => Ok(Request::Restart(need(name)?)),
        b"reload" | b"shutdown" if name.is_some() => Err("takes no service name"),
        b"reload" => Ok(Request::Reload),
        b"shutdown" => Ok(Request::Shutdown),
        _ => Err("unknown request"),
    }
}

/// Splits a reply into its exit status and text.
pub fn split_reply(reply: &[u8]) -> Option<(u8, &[u8])> {
    let nl = reply.iter().position(|&c| c == b'\n')?;
    let code = crate::num::decimal(&reply[..nl]).filter(|&c| c < 256)? as u8;
    Some((code, &reply[nl + 1..]))
}

pub const HELP: &str = "\
Usage: tinyd ctl [-s SOCKET] [-w SECONDS] REQUEST [NAME]   (or: tinyctl ...)
Requests: status [NAME], start NAME, stop NAME, restart NAME, reload, shutdown.
  -s, --socket SOCKET   the control socket (default /var/run/tinyd.sock)
  -w, --wait SECONDS    give up when tinyd has not answered after SECONDS
                        (default 60; fractions allowed)
Exit status: 0 done (status: every named service is running), 1 failed or
timed out, 3 a service is not running, 4 unknown service, 64 usage error,
77 permission denied, 78 configuration errors (reload).
";

/// Prints `tinyd: ` and the parts (up to 8, written whole) and exits.
fn fail(code: u8, parts: &[&[u8]]) -> ! {
    sink::stderr_line(parts);
    sys::exit(code as i32)
}

/// `tinyd ctl ...`: `argv[first..]` are the client's arguments.
pub fn client(argv: &Argv<'_>, first: usize) -> ! {
    let mut socket = DEFAULT_SOCKET;
    let mut wait = DEFAULT_WAIT;
    let mut i = first;
    while i < argv.len() {
        match argv.get(i).to_bytes() {
            b"-s" | b"--socket" if i + 1 < argv.len() => {
                socket = argv.get(i + 1);
                i += 2;
            }
            b"-w" | b"--wait" if i + 1 < argv.len() => {
                let v = argv.get(i + 1).to_bytes();
                wait = match crate::num::millis(v).filter(|&ms| ms > 0) {
                    Some(ms) => ms,
                    None => fail(
                        BAD_REQUEST,
                        &[b"bad value for -w: '", v, b"' (seconds, more than 0)"],
                    ),
                };
                i += 2;
            }
            b"-h" | b"--help" => {
                let _ = rustix::io::write(sys::stdout(), HELP.as_bytes());
                sys::exit(0)
            }
            _ => break,
        }
    }
    let mut req = Buf::<{ REQUEST_MAX + 1 }>::new();
    for (n, j) in (i..argv.len()).enumerate() {
        if n > 0 {
            req.s(b" ");
        }
        // An empty word would vanish from the line: `status ""` would ask
        // about every service.
        if argv.get(j).is_empty() {
            fail(BAD_REQUEST, &[b"empty argument (see tinyd ctl --help)"]);
        }
        req.s(argv.get(j).to_bytes());
    }
    if let Err(e) = parse(req.as_bytes()) {
        fail(
            BAD_REQUEST,
            &[
                e.as_bytes(),
                b": '",
                req.as_bytes(),
                b"' (see tinyd ctl --help)",
            ],
        );
    }
    req.s(b"\n");
    if req.room() == 0 {
        fail(BAD_REQUEST, &[b"request too long"]);
    }
    // One deadline for all of it: a stopped or wedged tinyd accepts
    // connections (the kernel's backlog) but never answers.
    let deadline = crate::sup::now().millis() + wait;
    let mut secs = Buf::<24>::new();
    secs.secs(wait);
    let timed_out = |what: &[u8]| -> ! {
        fail(
            FAILED,
            &[
                what,
                socket.to_bytes(),
                b": timed out after ",
                secs.as_bytes(),
                b" seconds (see -w)",
            ],
        )
    };
    let fd = match connect(socket, wait) {
        Ok(fd) => fd,
        Err(Errno::AGAIN) => timed_out(b"cannot connect to "),
        Err(e) => {
            let mut why = Buf::<64>::new();
            why.err(e);
            fail(
                FAILED,
                &[
                    b"cannot connect to ",
                    socket.to_bytes(),
                    b": ",
                    why.as_bytes(),
                ],
            )
        }
    };
    // MSG_NOSIGNAL: tinyd may have answered and closed already (a refusal
    // comes before the request is read); its answer is still to be read.
    let sent = rustix::net::send(&fd, req.as_bytes(), rustix::net::SendFlags::NOSIGNAL);
    let refused = !matches!(sent, Ok(n) if n == req.len());
    // The reply: stream it out, holding back only its first line (the
    // status) until it is complete.
    let mut head = Buf::<8>::new();
    let mut code: Option<u8> = None;
    let mut chunk = [0u8; 1024];
    loop {
        let left = deadline.saturating_sub(crate::sup::now().millis());
        let mut pfd = [PollFd::new(&fd, PollFlags::IN)];
        let timeout = Timespec {
            tv_sec: (left / 1000) as i64,
            tv_nsec: (left % 1000 * 1_000_000) as i64,
        };
        match rustix::event::poll(&mut pfd, Some(&timeout)) {
            Ok(0) => timed_out(b"no reply from "),
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(_) => break,
        }
        let n = match rustix::io::read(&fd, &mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(Errno::INTR) => continue,
            Err(_) => break,
        };
        let mut data = &chunk[..n];
        if code.is_none() {
            match data.iter().position(|&c| c == b'\n') {
                Some(nl) => {
                    head.s(&data[..=nl]);
                    match split_reply(head.as_bytes()) {
                        Some((c, _)) => code = Some(c),
                        None => fail(FAILED, &[b"bad reply from ", socket.to_bytes()]),
                    }
                    data = &data[nl + 1..];
                }
                None => {
                    head.s(data);
                    continue;
                }
            }
        }
        let out = if matches!(code, Some(OK | NOT_RUNNING)) {
            sys::stdout()
        } else {
            sys::stderr()
        };
        let _ = rustix::io::write(out, data);
    }
    match code {
        Some(c) => sys::exit(c as i32),
        None if refused => fail(FAILED, &[b"cannot send the request to ", socket.to_bytes()]),
        None => fail(FAILED, &[b"no reply from ", socket.to_bytes()]),
    }
}

/// Connects, waiting up to `wait` ms for room in tinyd's backlog (the send
/// timeout bounds a Unix socket's connect): `AGAIN` when it stayed full.
fn connect(path: &CStr, wait: u64) -> Result<rustix::fd::OwnedFd, Errno> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let wait = core::time::Duration::from_millis(wait);
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Send, Some(wait))?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests() {
        assert_eq!(parse(b"status"), Ok(Request::Status(None)));
        assert_eq!(parse(b"status web"), Ok(Request::Status(Some(b"web"))));
        assert_eq!(parse(b"  start   web \r"), Ok(Request::Start(b"web")));
        assert_eq!(parse(b"stop ntp"), Ok(Request::Stop(b"ntp")));
        assert_eq!(parse(b"restart ntp"), Ok(Request::Restart(b"ntp")));
        assert_eq!(parse(b"reload"), Ok(Request::Reload));
        assert_eq!(parse(b"shutdown"), Ok(Request::Shutdown));
    }

    #[test]
    fn bad_requests() {
        assert_eq!(parse(b""), Err("empty request"));
        assert_eq!(parse(b"start"), Err("missing service name"));
        assert_eq!(parse(b"start a b"), Err("too many words"));
        assert_eq!(parse(b"reload x"), Err("takes no service name"));
        assert_eq!(parse(b"frobnicate"), Err("unknown request"));
        assert_eq!(parse(b"start a/b"), Err("bad service name"));
        assert_eq!(parse(b"start \x01"), Err("bad service name"));
        let long = [b'x'; 65];
        let mut req = b"stop ".to_vec();
        req.extend_from_slice(&long);
        assert_eq!(parse(&req), Err("bad service name"));
    }

    #[test]
    fn replies() {
        assert_eq!(
            split_reply(b"0\nweb running\n"),
            Some((0, &b"web running\n"[..]))
        );
        assert_eq!(split_reply(b"78\n"), Some((78, &b""[..])));
        assert_eq!(split_reply(b"x\n"), None);
        assert_eq!(split_reply(b"300\n"), None);
        assert_eq!(split_reply(b"0"), None);
    }
}
