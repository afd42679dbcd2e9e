//! The `tinyd ctl` client: one request over the control socket, the
//! reply printed, its exit status returned (the protocol is
//! `pure::protocol`). It gives up after `-w SECONDS` in all.

use core::ffi::CStr;
use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::net::sockopt::Timeout;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

use crate::log::sink;
use crate::os::sys;
use crate::pure::protocol::*;
use crate::pure::time::Ms;
use crate::util::argv::Argv;
use crate::util::buf::Buf;

/// How long `tinyd ctl` waits for tinyd (connect, request and reply) unless
/// `-w` says otherwise, in milliseconds: beyond tinyd's own waits with the
/// default stop timeout (`stop` up to 20 s), short enough for a
/// `::shutdown:` line against a stopped or wedged tinyd.
pub const DEFAULT_WAIT: Ms = Ms(60_000);

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
                wait = match crate::util::num::millis(v).filter(|&ms| ms > 0).map(Ms) {
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
    let deadline = crate::os::sys::now() + wait;
    let mut secs = Buf::<24>::new();
    secs.secs(wait.0);
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
        let left = crate::os::sys::now().until(deadline).0;
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
fn connect(path: &CStr, wait: Ms) -> Result<rustix::fd::OwnedFd, Errno> {
    let fd = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let wait = core::time::Duration::from_millis(wait.0);
    rustix::net::sockopt::set_socket_timeout(&fd, Timeout::Send, Some(wait))?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(fd)
}
