//! Output capture: the log file (format, events, partial and long lines,
//! rotation, reopen on SIGHUP), syslog datagrams, and a flood of output.

mod common;

use common::*;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::time::Duration;
use support::*;

#[test]
fn log_lines_have_utc_timestamp_name_and_events() {
    let d = TempDir::new("log-format");
    let log = d.join("out.log");
    let cmd = d.script(
        "cmd.sh",
        "echo \"pid $$\"\necho to-stdout\necho to-stderr >&2\necho '  spaced:  text  '\nexit 3",
    );
    let before = now_ms();
    let mut t = Tinyd::spawn(
        &d,
        &["-f", "-r", "never", "-n", "web", "-o", &s(&log), &s(&cmd)],
    );
    let st = t.wait_exit(20.0);
    assert_eq!(
        st.code(),
        Some(3),
        "tinyd exits with COMMAND's status; stderr: {}",
        t.stderr()
    );

    // Every line of the file parses (log_lines panics otherwise), and every
    // timestamp is close to now.
    let lines = log_lines(&log);
    let raw = fs::read_to_string(&log).unwrap();
    assert!(
        raw.ends_with('\n'),
        "log ends with a complete line: {raw:?}"
    );
    assert_eq!(lines.len(), raw.lines().count());
    let now = now_ms();
    for l in &lines {
        assert!(
            l.ms >= before - 60_000 && l.ms <= now + 60_000,
            "timestamp not near now: {l:?}"
        );
        assert!(
            l.rest.starts_with("web: ") || l.rest.starts_with("tinyd: web: "),
            "line is neither output nor event of `web`: {l:?}"
        );
    }
    for w in lines.windows(2) {
        assert!(w[0].ms <= w[1].ms, "timestamps go back: {w:?}");
    }

    let out: Vec<String> = output(&log, "web").into_iter().map(|(_, t)| t).collect();
    let pid: i32 = out
        .first()
        .and_then(|l| l.strip_prefix("pid "))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("first output line is `pid N`: {out:?}"));
    assert_eq!(
        out,
        vec![
            format!("pid {pid}"),
            "to-stdout".into(),
            "to-stderr".into(),
            "  spaced:  text  ".into()
        ]
    );

    let ev: Vec<String> = events(&log, "web").into_iter().map(|(_, e)| e).collect();
    assert_eq!(
        ev.first(),
        Some(&format!("started pid {pid}")),
        "events: {ev:?}"
    );
    assert!(
        ev.contains(&"exited with status 3".to_string()),
        "events: {ev:?}"
    );
    assert_eq!(starts(&log, "web").len(), 1, "restart never: one start");
    // The started event precedes COMMAND's first output line.
    let i_start = lines
        .iter()
        .position(|l| l.rest == format!("tinyd: web: started pid {pid}"))
        .unwrap();
    let i_out = lines
        .iter()
        .position(|l| l.rest == format!("web: pid {pid}"))
        .unwrap();
    assert!(
        i_start < i_out,
        "started event before the output: {lines:?}"
    );

    // Foreground: the same events on stderr, no timestamp.
    let err = t.stderr();
    assert!(
        err.lines()
            .any(|l| l == format!("tinyd: web: started pid {pid}")),
        "stderr: {err:?}"
    );
    assert!(
        err.lines().any(|l| l == "tinyd: web: exited with status 3"),
        "stderr: {err:?}"
    );

    let mode = fs::metadata(&log).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o644, "log file mode (umask 022)");
}

#[test]
fn default_name_is_basename_of_command() {
    let d = TempDir::new("log-name");
    let log = d.join("out.log");
    let cmd = d.script("my-service.sh", "echo hello");
    let mut t = Tinyd::spawn(
        &d,
        &[
            "-f",
            "--restart",
            "never",
            "--log",
            &s(&log),
            "--",
            &s(&cmd),
        ],
    );
    assert_eq!(t.wait_exit(20.0).code(), Some(0), "stderr: {}", t.stderr());
    let out = output(&log, "my-service.sh");
    assert_eq!(out.len(), 1, "log: {:?}", fs::read_to_string(&log));
    assert_eq!(out[0].1, "hello");
    assert_eq!(starts(&log, "my-service.sh").len(), 1);
    assert!(
        events(&log, "my-service.sh")
            .iter()
            .any(|(_, e)| e == "exited with status 0")
    );
}

#[test]
fn partial_last_line_is_written_when_command_exits() {
    let d = TempDir::new("log-partial");
    let log = d.join("out.log");
    let cmd = d.script("cmd.sh", "printf 'first\\nno newline'; exit 0");
    let mut t = Tinyd::spawn(
        &d,
        &["-f", "-r", "never", "-n", "p", "-o", &s(&log), &s(&cmd)],
    );
    assert_eq!(t.wait_exit(20.0).code(), Some(0), "stderr: {}", t.stderr());
    let out: Vec<String> = output(&log, "p").into_iter().map(|(_, t)| t).collect();
    assert_eq!(out, vec!["first".to_string(), "no newline".to_string()]);
    assert!(
        fs::read_to_string(&log).unwrap().ends_with('\n'),
        "the partial line is terminated in the log"
    );
}

#[test]
fn long_line_is_split_into_1024_byte_pieces_nothing_lost() {
    let d = TempDir::new("log-long");
    let log = d.join("out.log");
    // 3000 bytes that never repeat within a piece boundary shift.
    let long: String = (0..3000u32)
        .map(|i| {
            if i % 10 == 9 {
                char::from(b'0' + (i / 10 % 10) as u8)
            } else {
                char::from(b'a' + (i * 7 % 26) as u8)
            }
        })
        .collect();
    let cmd = d.script("cmd.sh", &format!("echo before\necho '{long}'\necho after"));
    let mut t = Tinyd::spawn(
        &d,
        &["-f", "-r", "never", "-n", "long", "-o", &s(&log), &s(&cmd)],
    );
    assert_eq!(t.wait_exit(20.0).code(), Some(0), "stderr: {}", t.stderr());
    let out: Vec<String> = output(&log, "long").into_iter().map(|(_, t)| t).collect();
    assert_eq!(out.first().map(String::as_str), Some("before"), "{out:?}");
    assert_eq!(out.last().map(String::as_str), Some("after"), "{out:?}");
    let pieces = &out[1..out.len() - 1];
    for p in pieces {
        assert!(p.len() <= 1024, "piece of {} bytes", p.len());
    }
    assert_eq!(
        pieces.concat(),
        long,
        "pieces concatenated give the line back"
    );
    let lens: Vec<usize> = pieces.iter().map(|p| p.len()).collect();
    assert_eq!(lens, vec![1024, 1024, 952], "split at 1024 bytes");
}

#[test]
fn line_of_exactly_1024_or_2048_bytes_adds_no_empty_line() {
    // The newline right after a full piece made an empty log line that
    // COMMAND never wrote (issue 8, defect 10).
    let d = TempDir::new("log-exact");
    let log = d.join("out.log");
    let (a, b) = ("a".repeat(1024), "b".repeat(2048));
    let cmd = d.script(
        "cmd.sh",
        &format!("echo before\necho {a}\necho {b}\necho\necho after"),
    );
    let mut t = Tinyd::spawn(
        &d,
        &["-f", "-r", "never", "-n", "exact", "-o", &s(&log), &s(&cmd)],
    );
    assert_eq!(t.wait_exit(20.0).code(), Some(0), "stderr: {}", t.stderr());
    let out: Vec<String> = output(&log, "exact").into_iter().map(|(_, t)| t).collect();
    let want = ["before", &a, &b[..1024], &b[1024..], "", "after"];
    assert_eq!(out, want, "one empty line: the one COMMAND wrote");
}

/// The number in a `line N ...` output text.
fn line_no(t: &str) -> Option<u32> {
    t.strip_prefix("line ")?.split(' ').next()?.parse().ok()
}

const NUMBERED: &str = "i=0\nwhile [ $i -lt 400 ]; do echo \"line $i .......................................\"; i=$((i+1)); done\necho done-marker";

#[test]
fn rotation_keeps_n_files_none_above_size() {
    let d = TempDir::new("log-rot");
    let log = d.join("out.log");
    let p = |n: u32| d.join(&format!("out.log.{n}"));
    let cmd = d.script("cmd.sh", &format!("{NUMBERED}\nexec sleep 100901"));
    let mut t = Tinyd::spawn(
        &d,
        &[
            "-f",
            "-n",
            "rot",
            "-o",
            &s(&log),
            "--log-size",
            "1k",
            "--log-keep",
            "2",
            &s(&cmd),
        ],
    );
    t.marker("sleep 100901");
    wait_until(20.0, "done-marker in the newest file", || {
        output(&log, "rot").iter().any(|(_, t)| t == "done-marker")
    });
    let files = [p(2), p(1), log.clone()];
    for f in &files {
        let len = fs::metadata(f)
            .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            .len();
        assert!(
            len <= 1024,
            "{} is {len} bytes > --log-size 1k",
            f.display()
        );
    }
    assert!(!p(3).exists(), "--log-keep 2: no FILE.3");
    // Each rotated file was full: the first line of the next file did not fit.
    for w in files.windows(2) {
        let older = fs::metadata(&w[0]).unwrap().len();
        let first = fs::read_to_string(&w[1])
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .len() as u64
            + 1;
        assert!(
            older + first > 1024,
            "{} rotated at {older} bytes though {first} more fit",
            w[0].display()
        );
    }
    // Oldest to newest: consecutive numbered lines ending with the last one.
    let mut nums = Vec::new();
    for f in &files {
        nums.extend(output(f, "rot").iter().filter_map(|(_, t)| line_no(t)));
    }
    assert!(nums.len() >= 20, "three 1k files hold many lines: {nums:?}");
    assert_eq!(*nums.last().unwrap(), 399, "newest line in FILE");
    for w in nums.windows(2) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "lines across FILE.2, FILE.1, FILE are consecutive: {nums:?}"
        );
    }
    assert!(
        output(&log, "rot")
            .iter()
            .any(|(_, t)| line_no(t) == Some(399))
    );

    signal(t.pid, SIGTERM);
    assert_eq!(t.wait_exit(20.0).code(), Some(0));
    for f in &files {
        assert!(
            fs::metadata(f).unwrap().len() <= 1024,
            "{} after stop",
            f.display()
        );
    }
    assert!(!p(3).exists(), "no FILE.3 after stop");
}

#[test]
fn rotation_keep_zero_truncates_single_file() {
    let d = TempDir::new("log-rot0");
    let log = d.join("out.log");
    let cmd = d.script("cmd.sh", &format!("{NUMBERED}\nexec sleep 100902"));
    let mut t = Tinyd::spawn(
        &d,
        &[
            "-f",
            "-n",
            "rz",
            "-o",
            &s(&log),
            "--log-size=1k",
            "--log-keep=0",
            &s(&cmd),
        ],
    );
    t.marker("sleep 100902");
    wait_until(20.0, "done-marker in FILE", || {
        output(&log, "rz").iter().any(|(_, t)| t == "done-marker")
    });
    let len = fs::metadata(&log).unwrap().len();
    assert!(len <= 1024, "FILE is {len} bytes");
    let names: Vec<String> = fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("out.log"))
        .collect();
    assert_eq!(
        names,
        vec!["out.log".to_string()],
        "--log-keep 0: only FILE"
    );
    let nums: Vec<u32> = output(&log, "rz")
        .iter()
        .filter_map(|(_, t)| line_no(t))
        .collect();
    assert_eq!(nums.last(), Some(&399), "{nums:?}");
    for w in nums.windows(2) {
        assert_eq!(w[1], w[0] + 1, "{nums:?}");
    }
}

#[test]
fn sighup_reopens_log_file() {
    let d = TempDir::new("log-hup");
    let log = d.join("out.log");
    let old = d.join("out.log.old");
    let cmd = d.script(
        "cmd.sh",
        "i=0\nwhile :; do echo \"tick $i\"; i=$((i+1)); sleep 0.05; done",
    );
    let mut t = Tinyd::spawn(&d, &["-f", "-n", "hup", "-o", &s(&log), &s(&cmd)]);
    let ticks = |p: &Path| -> Vec<u32> {
        output(p, "hup")
            .iter()
            .filter_map(|(_, t)| t.strip_prefix("tick ")?.parse().ok())
            .collect()
    };
    let pid = wait_starts(&log, "hup", 1, 20.0)[0].1;
    t.group(pid);
    wait_until(20.0, "ticks in FILE", || !ticks(&log).is_empty());
    fs::rename(&log, &old).unwrap();
    let n = ticks(&old).len();
    wait_until(
        20.0,
        "lines still go to the renamed file before SIGHUP",
        || ticks(&old).len() >= n + 2,
    );
    assert!(!log.exists(), "no new FILE before SIGHUP");

    assert!(signal(t.pid, SIGHUP));
    wait_until(20.0, "a new FILE with ticks after SIGHUP", || {
        ticks(&log).len() >= 3
    });
    let old_len = fs::metadata(&old).unwrap().len();
    let m = ticks(&log).len();
    wait_until(20.0, "more ticks in the new FILE", || {
        ticks(&log).len() >= m + 3
    });
    assert_eq!(
        fs::metadata(&old).unwrap().len(),
        old_len,
        "old file no longer written after SIGHUP"
    );

    assert_ticks_go_on(&ticks(&old), &ticks(&log));
    assert!(
        alive(t.pid) && alive(pid),
        "SIGHUP neither stops tinyd nor COMMAND"
    );
    assert_eq!(
        starts(&log, "hup").len() + starts(&old, "hup").len(),
        1,
        "COMMAND not restarted"
    );
}

#[test]
fn deleted_log_file_is_noticed_and_reopened() {
    // Output went into the deleted file until SIGHUP (issue 8, defect 11):
    // now a deleted (or replaced) file is noticed within a second while
    // lines flow, and a new FILE takes the next line.
    let d = TempDir::new("log-del");
    let log = d.join("out.log");
    let cmd = d.script(
        "cmd.sh",
        "i=0\nwhile :; do echo \"tick $i\"; i=$((i+1)); sleep 0.05; done",
    );
    let mut t = Tinyd::spawn(&d, &["-f", "-n", "del", "-o", &s(&log), &s(&cmd)]);
    let ticks_in = |text: &str| -> Vec<u32> {
        text.lines()
            .filter_map(|l| l.split_once(" del: tick ")?.1.parse().ok())
            .collect()
    };
    let ticks = |p: &Path| ticks_in(&fs::read_to_string(p).unwrap_or_default());
    let pid = wait_starts(&log, "del", 1, 20.0)[0].1;
    t.group(pid);
    wait_until(20.0, "ticks in FILE", || !ticks(&log).is_empty());
    // Keep the file readable after it is deleted.
    let mut deleted = fs::File::open(&log).unwrap();
    fs::remove_file(&log).unwrap();
    wait_until(20.0, "a new FILE with ticks", || ticks(&log).len() >= 2);
    let size = deleted.metadata().unwrap().len();
    let n = ticks(&log).len();
    wait_until(20.0, "more ticks in the new FILE", || {
        ticks(&log).len() >= n + 5
    });
    assert_eq!(
        deleted.metadata().unwrap().len(),
        size,
        "nothing more goes into the deleted file once a new one is open"
    );
    let mut old = String::new();
    std::io::Read::read_to_string(&mut deleted, &mut old).unwrap();
    let o = ticks_in(&old);
    assert!(!o.is_empty(), "the deleted file had ticks: {old:?}");
    assert_ticks_go_on(&o, &ticks(&log));
    assert!(
        alive(t.pid) && alive(pid),
        "neither tinyd nor COMMAND stopped"
    );
}

/// The ticks of the old FILE, then of the new one, count up by one: no
/// line lost or written twice when tinyd moved to the new FILE.
fn assert_ticks_go_on(old: &[u32], new: &[u32]) {
    for w in old.windows(2).chain(new.windows(2)) {
        assert_eq!(
            w[1],
            w[0] + 1,
            "no tick lost or duplicated: old {old:?} new {new:?}"
        );
    }
    assert_eq!(
        new[0],
        old.last().unwrap() + 1,
        "the new FILE goes on where the old one ended: old {old:?} new {new:?}"
    );
}

/// Runs tinyd with syslog to a socket in a temp dir; checks the datagrams.
fn syslog_case(tag: &str, syslog_arg: &str) {
    let d = TempDir::new("log-syslog");
    let sock_path = d.join("log.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let cmd = d.script("cmd.sh", "echo \"pid $$\"\necho second line\nexit 0");
    let mut t = Tinyd::spawn_env(
        &d,
        &["-f", "-r", "never", "-n", "svc", syslog_arg, &s(&cmd)],
        &[("TINYD_SYSLOG", &s(&sock_path))],
    );
    assert_eq!(t.wait_exit(20.0).code(), Some(0), "stderr: {}", t.stderr());
    let now = now_ms() / 1000;
    let mut msgs = Vec::new();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = sock.recv(&mut buf) {
        msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let recent: Vec<String> = (now - 120..=now + 5).map(rfc3164).collect();
    // Split `<PRI>Mmm dd hh:mm:ss REST`, checking the timestamp.
    let split = |m: &str| -> (String, String) {
        let close = m.find('>').unwrap_or_else(|| panic!("no <PRI>: {m:?}"));
        let stamp = m
            .get(close + 1..close + 16)
            .unwrap_or_else(|| panic!("short: {m:?}"));
        assert!(
            recent.iter().any(|r| r == stamp),
            "timestamp {stamp:?} is not `Mmm dd hh:mm:ss` UTC near now: {m:?}"
        );
        assert_eq!(m.as_bytes().get(close + 16), Some(&b' '), "{m:?}");
        (m[..close + 1].to_string(), m[close + 17..].to_string())
    };
    let parsed: Vec<(String, String)> = msgs.iter().map(|m| split(m)).collect();
    let cmdpid: i32 = parsed
        .iter()
        .find_map(|(_, r)| {
            r.strip_prefix(&format!("tinyd[{}]: svc: started pid ", t.pid))?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no started event from tinyd[{}]: {msgs:?}", t.pid));
    let want = [
        (
            "<29>",
            format!("tinyd[{}]: svc: started pid {cmdpid}", t.pid),
        ),
        ("<30>", format!("{tag}[{cmdpid}]: pid {cmdpid}")),
        ("<30>", format!("{tag}[{cmdpid}]: second line")),
        (
            "<29>",
            format!("tinyd[{}]: svc: exited with status 0", t.pid),
        ),
    ];
    for (pri, rest) in &want {
        assert!(
            parsed.iter().any(|(p, r)| p == pri && r == rest),
            "missing datagram {pri}... {rest}; got {msgs:?}"
        );
    }
    let outs: Vec<&String> = parsed
        .iter()
        .filter(|(p, _)| p == "<30>")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(
        outs,
        vec![&want[1].1, &want[2].1],
        "output datagrams in order, nothing else at daemon.info"
    );
    for (p, _) in &parsed {
        assert!(
            p == "<29>" || p == "<30>",
            "unexpected priority {p}: {msgs:?}"
        );
    }
}

#[test]
fn syslog_default_tag_is_name() {
    syslog_case("svc", "-S");
}

#[test]
fn syslog_attached_short_tag() {
    syslog_case("shorttag", "-Sshorttag");
}

#[test]
fn syslog_long_option_tag() {
    syslog_case("longtag", "--syslog=longtag");
}

/// The last `n` bytes of a file.
fn tail(p: &Path, n: u64) -> String {
    let mut f = match fs::File::open(p) {
        Ok(f) => f,
        Err(_) => return String::new(),
    };
    let len = f.metadata().unwrap().len();
    f.seek(SeekFrom::Start(len.saturating_sub(n))).unwrap();
    let mut b = Vec::new();
    f.read_to_end(&mut b).unwrap();
    String::from_utf8_lossy(&b).into_owned()
}

#[test]
fn output_flood_loses_no_line_and_rss_stays_flat() {
    const N: usize = 2_000_000;
    let d = TempDir::new("log-flood");
    let log = d.join("out.log");
    let go = d.join("go");
    let cmd = d.script(
        "cmd.sh",
        &format!(
            "yes w | head -n 20000\necho warm-done\nwhile [ ! -e '{}' ]; do sleep 0.02; done\nyes x | head -n {N}\necho flood-done\nexec sleep 101101",
            &s(&go)
        ),
    );
    let mut t = Tinyd::spawn(
        &d,
        &[
            "-f",
            "-n",
            "fl",
            "-o",
            &s(&log),
            "--log-size",
            "100M",
            &s(&cmd),
        ],
    );
    t.marker("sleep 101101");
    let pid = wait_starts(&log, "fl", 1, 20.0)[0].1;
    t.group(pid);
    wait_until(30.0, "warm-up output logged", || {
        tail(&log, 4096).contains(" fl: warm-done\n")
    });
    wait_quiet(t.pid, 20.0);
    let rss0 = smaps_kb(t.pid, "Rss").unwrap();

    fs::write(&go, "").unwrap();
    // Each `x` line is `TIMESTAMP fl: x\n`: 24 + 1 + 4 + 2 bytes.
    let min = (N * 31) as u64;
    wait_until(120.0, "the flood is logged", || {
        fs::metadata(&log).map(|m| m.len() >= min).unwrap_or(false)
            && tail(&log, 4096).contains(" fl: flood-done\n")
    });
    wait_quiet(t.pid, 20.0);
    let rss1 = smaps_kb(t.pid, "Rss").unwrap();
    assert!(
        rss1 <= rss0 + 8,
        "tinyd Rss grew from {rss0} kB to {rss1} kB during the flood"
    );

    let out = output(&log, "fl");
    let xs = out.iter().filter(|(_, t)| t == "x").count();
    let ws = out.iter().filter(|(_, t)| t == "w").count();
    assert_eq!(ws, 20_000, "warm-up lines");
    assert_eq!(xs, N, "every flood line is in the log");
    assert_eq!(out.len(), N + 20_002, "nothing else, nothing mangled");
    assert_eq!(starts(&log, "fl").len(), 1);
}
