//! The control protocol, as pure code: requests, replies, exit statuses.
//! The server is `sup::control`, the client `app::ctl`.
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

/// The default control socket.
pub const DEFAULT_SOCKET: &CStr = c"/var/run/tinyd.sock";
/// Bytes of a request line, newline included.
pub const REQUEST_MAX: usize = 128;
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
    let code = crate::util::num::decimal(&reply[..nl]).filter(|&c| c < 256)? as u8;
    Some((code, &reply[nl + 1..]))
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
