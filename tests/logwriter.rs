//! The log writer (issue 9): tinyd formats the lines, a child of its own,
//! `tinyd-log`, writes them to the files. Whatever the writer does (a FIFO
//! nobody reads, SIGSTOP, SIGKILL, a full disk), tinyd answers, restarts
//! services on time and obeys SIGTERM; `log-full = drop` loses lines and
//! says how many where they were lost, `log-full = block` pauses the
//! service and loses nothing; a writer SIGKILLed is replaced and neither
//! loses nor repeats a line.
//!
//! The guards (`Tinyd`, `multi::Td`) and the log parsing are
//! tests/common's; what is the writer's (finding it, a FIFO's fill, numbered
//! floods and their checks) is here.

mod common;

use common::support::*;
use common::*;
use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

// ---- the writer ---------------------------------------------------------------

/// A process's name (`/proc/PID/comm`).
fn comm(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// tinyd's live children named `tinyd-log`.
fn writers(tinyd: i32) -> Vec<i32> {
    all_live_children(tinyd)
        .into_iter()
        .filter(|&c| alive(c) && comm(c) == "tinyd-log")
        .collect()
}

/// tinyd's one log writer (waits for it).
fn writer_of(tinyd: i32) -> i32 {
    wait_for(
        10.0,
        &format!("one child of tinyd {tinyd} named tinyd-log"),
        || match writers(tinyd)[..] {
            [w] => Some(w),
            _ => None,
        },
    )
}

/// A log writer other than `old` (waits `secs` for it).
fn new_writer(tinyd: i32, old: i32, secs: f64) -> i32 {
    wait_for(
        secs,
        &format!("a new log writer after writer {old} was killed"),
        || writers(tinyd).into_iter().find(|&w| w != old),
    )
}

/// Lines of `text` that mention the log writer.
fn writer_events(text: &str) -> usize {
    text.lines().filter(|l| l.contains("log writer")).count()
}

// ---- a FIFO ---------------------------------------------------------------------

unsafe extern "C" {
    fn mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    fn ioctl(fd: i32, req: IoctlReq, ...) -> i32;
    fn fcntl(fd: i32, cmd: i32, ...) -> i32;
}

#[cfg(target_env = "musl")]
type IoctlReq = std::ffi::c_int;
#[cfg(not(target_env = "musl"))]
type IoctlReq = std::ffi::c_ulong;

#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const FIONREAD: IoctlReq = 0x467f;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const FIONREAD: IoctlReq = 0x541b;
#[cfg(any(target_arch = "mips", target_arch = "mips64"))]
const O_NONBLOCK: i32 = 0x80;
#[cfg(not(any(target_arch = "mips", target_arch = "mips64")))]
const O_NONBLOCK: i32 = 0o4000;
const F_GETPIPE_SZ: i32 = 1032;

fn make_fifo(p: &Path) {
    let c = std::ffi::CString::new(s(p)).unwrap();
    // SAFETY: a NUL-terminated path and a mode.
    assert_eq!(unsafe { mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {p:?}");
}

/// The read end of a FIFO, opened without waiting for a writer.
struct Fifo(File);

impl Fifo {
    fn open(p: &Path) -> Fifo {
        Fifo(
            fs::OpenOptions::new()
                .read(true)
                .custom_flags(O_NONBLOCK)
                .open(p)
                .unwrap(),
        )
    }

    /// Bytes waiting in the FIFO.
    fn queued(&self) -> usize {
        let mut n: std::ffi::c_int = 0;
        // SAFETY: FIONREAD stores an int through the pointer.
        let r = unsafe { ioctl(self.0.as_raw_fd(), FIONREAD, &mut n as *mut std::ffi::c_int) };
        assert_eq!(r, 0, "FIONREAD");
        n as usize
    }

    fn capacity(&self) -> usize {
        // SAFETY: F_GETPIPE_SZ takes no argument.
        let r = unsafe { fcntl(self.0.as_raw_fd(), F_GETPIPE_SZ) };
        assert!(r > 0, "F_GETPIPE_SZ");
        r as usize
    }

    /// Waits until the FIFO holds at least a quarter of its capacity and
    /// nothing more for a second, while its writer has lines to write: the
    /// writer is blocked, the FIFO full (how full depends on the sizes of
    /// the writes: the kernel fills a page only with writes that fit whole
    /// in what is left of it). Returns how many bytes it holds.
    fn wait_full(&self, secs: f64) -> usize {
        let mut since: Option<(usize, Instant)> = None;
        wait_for(secs, "the FIFO full and its writer blocked", || {
            let q = self.queued();
            if q < self.capacity() / 4 {
                since = None;
                return None;
            }
            match since {
                Some((n, t)) if n == q => (t.elapsed() >= Duration::from_secs(1)).then_some(q),
                _ => {
                    since = Some((q, Instant::now()));
                    None
                }
            }
        })
    }
}

/// A thread reading a FIFO as fast as it can into `data`.
struct Drain {
    data: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Fifo>,
}

impl Drain {
    fn start(f: Fifo) -> Drain {
        let data = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (d, st) = (data.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut b = vec![0u8; 65536];
            while !st.load(Ordering::Relaxed) {
                match (&f.0).read(&mut b) {
                    Ok(0) => std::thread::sleep(Duration::from_millis(1)),
                    Ok(n) => d.lock().unwrap().extend_from_slice(&b[..n]),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(1))
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => panic!("reading the FIFO: {e}"),
                }
            }
            f
        });
        Drain { data, stop, thread }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data.lock().unwrap()).into_owned()
    }

    /// Stops reading; the FIFO stays open (its writer gets no EPIPE).
    fn stop(self) -> (Fifo, String) {
        self.stop.store(true, Ordering::Relaxed);
        let f = self.thread.join().unwrap();
        let t = String::from_utf8_lossy(&self.data.lock().unwrap()).into_owned();
        (f, t)
    }
}

// ---- numbered output -------------------------------------------------------------

/// What follows the timestamp in each complete line of `text` (a last
/// line without its newline is left out); panics on a line without a
/// well-formed timestamp.
fn rests(text: &str) -> Vec<String> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..i + 1],
        None => "",
    };
    complete
        .lines()
        .map(|l| {
            let ok = l.get(..24).and_then(parse_rfc3339_ms).is_some()
                && l.as_bytes().get(24) == Some(&b' ');
            assert!(ok, "a line without its timestamp (cut or glued?): {l:?}");
            l[25..].to_string()
        })
        .collect()
}

fn file_rests(p: &Path) -> Vec<String> {
    rests(&String::from_utf8_lossy(&fs::read(p).unwrap_or_default()))
}

/// A `tinyd: N lines lost: REASON` note: (N, REASON).
fn lost_note(rest: &str) -> Option<(u64, String)> {
    let (n, why) = rest.strip_prefix("tinyd: ")?.split_once(" lines lost: ")?;
    Some((n.parse().ok()?, why.to_string()))
}

/// The numbered lines of a flood, read from a log.
#[derive(Debug, Default)]
struct Flood {
    /// The numbers, in the order of the log.
    nums: Vec<u64>,
    /// Each `lines lost` note: how many lines came before it, N, REASON.
    notes: Vec<(usize, u64, String)>,
    /// Output lines of the service that are not numbered (`flood-done`).
    other: Vec<String>,
}

/// Reads the lines of `name` shaped `WORD N PAD` (`prefix` is `WORD `)
/// out of `rests`. Any other output line of `name` must be one of
/// `others`; other lines must be tinyd's: a line cut short, or two glued
/// together, fails here.
fn flood(rests: &[String], name: &str, prefix: &str, pad: &str, others: &[&str]) -> Flood {
    let mut f = Flood::default();
    let me = format!("{name}: ");
    for r in rests {
        if let Some(t) = r.strip_prefix(&me) {
            let n = t
                .strip_prefix(prefix)
                .and_then(|x| x.split_once(' '))
                .filter(|(_, p)| *p == pad)
                .and_then(|(n, _)| n.parse().ok());
            match n {
                Some(n) => f.nums.push(n),
                None if others.contains(&t) => f.other.push(t.to_string()),
                None => panic!("a mangled output line (cut short, or two glued): {r:?}"),
            }
        } else if let Some((n, why)) = lost_note(r) {
            f.notes.push((f.nums.len(), n, why));
        } else {
            assert!(r.starts_with("tinyd: "), "neither output nor event: {r:?}");
        }
    }
    f
}

/// Checks that `nums` is exactly 1, 2, ..., N: each number once, in order.
fn assert_every_line_once(nums: &[u64], what: &str) {
    for (k, &n) in nums.iter().enumerate() {
        if n != k as u64 + 1 {
            let lo = k.saturating_sub(3);
            panic!(
                "{what}: line {} of the log is number {n}, not {} (lost, repeated or out of order): ... {:?} ...",
                k + 1,
                k + 1,
                &nums[lo..(k + 4).min(nums.len())]
            );
        }
    }
}

/// A service printing `line N PAD` for N = 1, 2, ... and writing N to
/// `count` after each line (the file is truncated and rewritten: a read
/// may find it empty), sleeping 10 ms every `every` lines.
fn counter_script(d: &TempDir, count: &Path, pad: &str, every: u32) -> PathBuf {
    d.script(
        "count.sh",
        &format!(
            "i=0\npad={pad}\nwhile :; do i=$((i+1)); echo \"line $i $pad\"; echo $i > '{c}'; [ $((i % {every})) -ne 0 ] || sleep 0.01; done",
            c = s(count)
        ),
    )
}

/// The service's counter, if the file holds a whole number now.
fn counter(count: &Path) -> Option<u64> {
    fs::read_to_string(count).ok()?.trim().parse().ok()
}

/// Waits until the counter stops: the same value for 1.5 s (a service
/// running, even on a loaded machine, writes many lines in that time).
fn wait_paused(count: &Path, secs: f64) -> u64 {
    let mut last: Option<(u64, Instant)> = None;
    wait_for(secs, "the service paused (its counter stops)", || {
        let n = counter(count)?;
        match last {
            Some((m, t)) if m == n => (t.elapsed() >= Duration::from_millis(1500)).then_some(n),
            _ => {
                last = Some((n, Instant::now()));
                None
            }
        }
    })
}

// ---- control ------------------------------------------------------------------

/// `tinyd ctl status` run three times: the fastest. Each reply must list
/// `names` (exit 0, or 3 while one is in backoff).
fn best_status(sock: &Path, names: &[&str]) -> Duration {
    (0..3)
        .map(|_| {
            let t0 = Instant::now();
            let o = multi::ctl(sock, &["-w", "10", "status"]);
            let took = t0.elapsed();
            assert!(o.code == Some(0) || o.code == Some(3), "status: {o:?}");
            let got: Vec<String> = multi::parse_status(&o.stdout)
                .into_iter()
                .map(|l| l.name)
                .collect();
            assert_eq!(got, names, "status lists the services: {o:?}");
            took
        })
        .min()
        .unwrap()
}

/// The status line of one service.
fn status_line(sock: &Path, name: &str) -> multi::Line {
    let o = multi::ctl(sock, &["-w", "10", "status", name]);
    let l = multi::parse_status(&o.stdout);
    assert_eq!(l.len(), 1, "status {name}: {o:?}");
    l[0].clone()
}

/// Seconds since boot (/proc/uptime), as a shell script sees them.
fn uptime() -> f64 {
    fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// The last `n` bytes of a file.
fn tail(p: &Path, n: u64) -> String {
    let Ok(mut f) = File::open(p) else {
        return String::new();
    };
    let len = f.metadata().unwrap().len();
    f.seek(SeekFrom::Start(len.saturating_sub(n))).unwrap();
    let mut b = Vec::new();
    f.read_to_end(&mut b).unwrap();
    String::from_utf8_lossy(&b).into_owned()
}

fn len(p: &Path) -> u64 {
    fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The longest a `status` may take while the writer is stuck: the best of
/// three `tinyd ctl status` (a process started each time) in each round.
const STATUS_MAX: Duration = Duration::from_millis(100);

// ---- 1. a FIFO nobody reads, drop ----------------------------------------------

#[test]
fn stalled_writer_fifo_drop() {
    let d = TempDir::new("lw-fifo");
    let fifo = d.join("a.fifo");
    make_fifo(&fifo);
    // A reader that reads nothing yet: the writer's open succeeds, its
    // writes fill the FIFO (64 KiB) and then block.
    let reader = Fifo::open(&fifo);
    let pad = "x".repeat(40);
    // a: numbered lines, 500 at a time, 50 times a second at most.
    let a = d.script(
        "a.sh",
        &format!(
            "exec awk 'BEGIN {{ i = 0; while (1) {{ i++; print \"line \" i \" {pad}\"; if (i % 500 == 0) {{ fflush(); system(\"sleep 0.02\") }} }} }}'"
        ),
    );
    // b: records its pid and start time, crashes after 0.3 s.
    let starts_file = d.join("b.starts");
    let b = d.script(
        "b.sh",
        &format!(
            "read up rest < /proc/uptime\necho \"$$ $up\" >> '{}'\necho \"b up at $up\"\nsleep 0.3\nexit 1",
            s(&starts_file)
        ),
    );
    let conf = format!(
        "[a]\nexec = {}\nlog = {}\nlog-full = drop\nlog-size = 1000M\nstop-timeout = 2\n\n[b]\nexec = {}\nlog = {}\nrestart-delay = 0.2\nstop-timeout = 2\n",
        s(&a),
        s(&fifo),
        s(&b),
        s(&d.join("b.log"))
    );
    let names = ["a", "b"];
    let (mut t, sock, p) = multi::Td::up(&d, &conf, &names);
    let b_starts = || -> Vec<(i32, f64)> {
        fs::read_to_string(&starts_file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (p, u) = l.split_once(' ')?;
                Some((p.parse().ok()?, u.parse().ok()?))
            })
            .collect()
    };

    let level = reader.wait_full(20.0);
    let w = writer_of(t.pid);

    // While the FIFO is full: status answers at once, b restarts on time.
    let (u0, t0) = (uptime(), Instant::now());
    let mut bests = Vec::new();
    for _ in 0..5 {
        bests.push(best_status(&sock, &names));
        std::thread::sleep(Duration::from_millis(400));
    }
    while t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let u1 = uptime();
    eprintln!("FIFO full: status (best of 3, each round) took {bests:?}");
    assert_eq!(
        reader.queued(),
        level,
        "the FIFO stayed full: the writer wrote nothing more"
    );
    assert_eq!(writers(t.pid), vec![w], "the same writer, stuck");
    let worst = *bests.iter().max().unwrap();
    assert!(
        worst < STATUS_MAX,
        "status took {worst:?} while the writer was stuck: {bests:?}"
    );
    let la = status_line(&sock, "a");
    assert_eq!(
        (la.state.as_str(), la.pid),
        ("running", Some(p[0])),
        "a goes on: {la:?}"
    );
    let st = b_starts();
    for &(bp, _) in &st {
        t.group(bp);
    }
    let times: Vec<f64> = st.iter().map(|x| x.1).collect();
    let during: Vec<f64> = times
        .iter()
        .copied()
        .filter(|&u| u >= u0 && u <= u1)
        .collect();
    eprintln!(
        "b started {} times in the {:.1} s the writer was stuck",
        during.len(),
        u1 - u0
    );
    // Every 0.5 s (0.3 s up, 0.2 s delay): 6 in 3 s.
    assert!(
        during.len() >= 3,
        "b restarted: {times:?} (window {u0}..{u1})"
    );
    // From b's last start before the window (or the window's start).
    let before = times.iter().copied().filter(|&u| u < u0).reduce(f64::max);
    let mut prev = before.unwrap_or(u0);
    for &u in during.iter().chain(std::iter::once(&u1)) {
        assert!(
            u - prev <= 1.5,
            "b not restarted on time: {:.2} s between starts: {times:?} (window {u0}..{u1})",
            u - prev
        );
        prev = u;
    }

    // Reading again: the lines that did not fit are counted, and the note
    // stands where they are missing.
    let drain = Drain::start(reader);
    wait_until(20.0, "a `lines lost` note, then a's lines again", || {
        let f = flood(&rests(&drain.text()), "a", "line ", &pad, &[]);
        f.notes.last().is_some_and(|&(k, _, _)| f.nums.len() > k)
    });
    let (reader, text) = drain.stop();
    let f = flood(&rests(&text), "a", "line ", &pad, &[]);
    for (_, n, why) in &f.notes {
        assert_eq!(why, "log writer behind", "notes: {:?}", f.notes);
        assert!(*n > 0, "notes: {:?}", f.notes);
    }
    // Between two lines of a, the notes count exactly the numbers missing.
    let mut prev = 0u64;
    let mut k_note = 0;
    for (k, &n) in f.nums.iter().enumerate() {
        let mut counted = 0;
        while k_note < f.notes.len() && f.notes[k_note].0 <= k {
            counted += f.notes[k_note].1;
            k_note += 1;
        }
        assert!(
            n > prev,
            "line {n} after line {prev}: repeated or out of order"
        );
        assert_eq!(
            n - prev - 1,
            counted,
            "lines {}..{} missing, {counted} counted there (notes {:?})",
            prev + 1,
            n,
            f.notes
        );
        prev = n;
    }
    let lost: u64 = f.notes.iter().map(|x| x.1).sum();
    eprintln!(
        "drained {} bytes: {} lines of a, {lost} lost in {} notes",
        text.len(),
        f.nums.len(),
        f.notes.len()
    );

    // Stuck again, then SIGTERM: tinyd waits for the writer 1 s at most.
    reader.wait_full(20.0);
    let w = writer_of(t.pid);
    let t0 = Instant::now();
    assert!(signal(t.pid, SIGTERM));
    let st = t.wait_exit(15.0);
    let took = t0.elapsed();
    eprintln!("SIGTERM with the writer stuck: exited after {took:?}");
    assert_eq!(st.code(), Some(0), "stderr: {}", t.stderr());
    // stop-timeout 2, the writer's second, and slack.
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    wait_until(5.0, "the writer is gone", || !alive(w));
    let mut groups = vec![p[0]];
    groups.extend(b_starts().iter().map(|x| x.0));
    wait_until(5.0, "no process of a or b left", || {
        groups.iter().all(|&g| group_members(g).is_empty())
    });
    drop(reader);
}

// ---- 2. a stopped writer, block -------------------------------------------------

#[test]
fn stalled_writer_block() {
    let d = TempDir::new("lw-block");
    let log = d.join("s.log");
    let count = d.join("count");
    let pad = "b".repeat(150);
    let svc = counter_script(&d, &count, &pad, 50);
    let conf = format!(
        "[s]\nexec = {}\nlog = {}\nlog-full = block\nlog-size = 1000M\nstop-timeout = 2\n\n{}",
        s(&svc),
        s(&log),
        multi::service(&d, "c", "")
    );
    let names = ["s", "c"];
    let (mut t, sock, p) = multi::Td::up(&d, &conf, &names);
    wait_until(30.0, "2000 lines written", || {
        counter(&count).is_some_and(|n| n >= 2000)
    });
    let w = writer_of(t.pid);
    assert!(signal(w, SIGSTOP));
    wait_until(5.0, "the writer stopped", || {
        stat(w).is_some_and(|s| s.state == 'T')
    });

    // The ring and the pipe fill; then s blocks in its write.
    let n0 = wait_paused(&count, 60.0);
    let t0 = Instant::now();
    let mut bests = Vec::new();
    for _ in 0..3 {
        bests.push(best_status(&sock, &names));
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("writer stopped: s paused at line {n0}; status (best of 3) took {bests:?}");
    let worst = *bests.iter().max().unwrap();
    assert!(worst < STATUS_MAX, "status took {worst:?}: {bests:?}");
    // tinyd obeys: c is restarted while s waits.
    let tr = Instant::now();
    let o = multi::ctl(&sock, &["-w", "20", "restart", "c"]);
    let took = tr.elapsed();
    assert_eq!(o.code, Some(0), "restart c: {o:?}");
    let c2 = status_line(&sock, "c");
    assert!(
        c2.state == "running" && c2.pid.is_some() && c2.pid != Some(p[1]),
        "c runs again with a new pid: {c2:?}"
    );
    t.group(c2.pid.unwrap());
    assert!(took < Duration::from_secs(5), "restart c took {took:?}");
    let ls = status_line(&sock, "s");
    assert_eq!(
        (ls.state.as_str(), ls.pid),
        ("running", Some(p[0])),
        "s paused, not restarted: {ls:?}"
    );
    while t0.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        counter(&count),
        Some(n0),
        "s stays paused while the writer is stopped"
    );
    assert_eq!(
        stat(w).map(|s| s.state),
        Some('T'),
        "the writer still stopped"
    );

    // The writer goes on: so does s, and the log has every line once.
    assert!(signal(w, SIGCONT));
    let target = n0 + 2000;
    wait_until(30.0, "s goes on after SIGCONT", || {
        counter(&count).is_some_and(|n| n >= target)
    });
    let f = wait_for(30.0, &format!("line {target} in the log"), || {
        let f = flood(&file_rests(&log), "s", "line ", &pad, &[]);
        (f.nums.last().is_some_and(|&n| n >= target)).then_some(f)
    });
    assert!(f.notes.is_empty(), "block loses nothing: {:?}", f.notes);
    assert_every_line_once(&f.nums, "log-full = block, writer stopped");
    eprintln!("after SIGCONT: {} lines, every one once", f.nums.len());

    // Stopped again, s paused again: SIGTERM is obeyed all the same.
    assert!(signal(w, SIGSTOP));
    wait_paused(&count, 60.0);
    let t0 = Instant::now();
    assert!(signal(t.pid, SIGTERM));
    let st = t.wait_exit(15.0);
    let took = t0.elapsed();
    eprintln!("SIGTERM with the writer stopped: exited after {took:?}");
    assert_eq!(st.code(), Some(0), "stderr: {}", t.stderr());
    assert!(took < Duration::from_secs(5), "stop took {took:?}");
    wait_until(5.0, "the writer is gone", || !alive(w));
    for g in [p[0], p[1], c2.pid.unwrap()] {
        wait_until(5.0, "no process of s or c left", || {
            group_members(g).is_empty()
        });
    }
}

// ---- 3. the writer SIGKILLed during a flood ----------------------------------------

/// A flood of `n N PAD` lines, `burst` at a time with `pause` seconds
/// between bursts, until the file `stop` exists; then `flood-done`. The
/// writer is SIGKILLed `kills` times meanwhile, some right after it was
/// replaced; every line must be in the log once, in order.
fn flood_through_kills(tag: &str, extra: &[&str], burst: u32, pause: &str, kills: usize) {
    let d = TempDir::new(tag);
    let log = d.join("fl.log");
    let stop = d.join("stop");
    let pad = "y".repeat(40);
    let mark = launch::uniq_in(9);
    let cmd = d.script(
        "flood.sh",
        &format!(
            "awk 'BEGIN {{ i = 0; while (1) {{ i++; print \"n \" i \" {pad}\"; if (i % {burst} == 0) {{ fflush(); if (system(\"sleep {pause}; test -e {stop}\") == 0) break }} }} }}'\necho flood-done\nexec sleep {mark}",
            stop = s(&stop)
        ),
    );
    let mut args = vec!["-f", "-n", "fl", "--log-size", "100M"];
    args.extend_from_slice(extra);
    let (l, c) = (s(&log), s(&cmd));
    args.extend(["-o", l.as_str(), c.as_str()]);
    let mut t = Tinyd::spawn(&d, &args);
    t.marker(&mark);
    let pid = wait_starts(&log, "fl", 1, 20.0)[0].1;
    t.group(pid);
    let mut w = writer_of(t.pid);
    let mut killed = Vec::new();
    for k in 0..kills {
        if k % 2 == 0 {
            // Lines flowing (not right after the last restart).
            let n = len(&log);
            wait_until(20.0, "the flood goes on", || len(&log) >= n + 32 * 1024);
        }
        assert!(
            !tail(&log, 4096).contains(" fl: flood-done\n"),
            "the flood goes on"
        );
        assert!(signal(w, SIGKILL));
        killed.push(w);
        w = new_writer(t.pid, w, 5.0);
        assert_eq!(stat(w).map(|s| s.ppid), Some(t.pid), "a child of tinyd");
    }
    fs::write(&stop, "").unwrap();
    wait_until(60.0, "the flood ends", || {
        tail(&log, 4096).contains(" fl: flood-done\n")
    });
    assert_eq!(writers(t.pid), vec![w], "one writer");
    wait_until(5.0, "the killed writers are reaped", || {
        zombies_of(t.pid).is_empty()
    });
    let f = flood(&file_rests(&log), "fl", "n ", &pad, &["flood-done"]);
    eprintln!(
        "{tag}: {} lines through {} writers ({killed:?}, then {w})",
        f.nums.len(),
        kills + 1
    );
    assert!(f.notes.is_empty(), "lines lost: {:?}", f.notes);
    assert_eq!(f.other, ["flood-done"]);
    assert!(f.nums.len() >= 1000, "a flood: {} lines", f.nums.len());
    assert_every_line_once(&f.nums, tag);
    let ev = writer_events(&t.stderr()).max(writer_events(&fs::read_to_string(&log).unwrap()));
    assert!(
        ev >= kills,
        "each restart of the writer is an event: {ev} for {kills} kills; stderr: {}",
        t.stderr()
    );
    t.stop(10.0);
    wait_until(5.0, "the writer is gone", || !alive(w));
    assert!(group_members(pid).is_empty(), "the service is gone");
}

#[test]
fn writer_sigkill_during_flood_loses_nothing() {
    // Drop (the default): about 1000 lines a second, which any writer
    // restart keeps up with.
    flood_through_kills("lw-kill", &[], 50, "0.05", 6);
}

#[test]
fn writer_sigkill_during_fast_flood_with_block_loses_nothing() {
    // Block: about 20000 lines a second (500 at a time, 20 ms apart),
    // more than a writer restart absorbs without pausing the service.
    flood_through_kills("lw-kill-block", &["--log-full", "block"], 500, "0.02", 6);
}

// ---- 4. a full disk, block ---------------------------------------------------------

#[test]
fn full_disk_block() {
    let d = TempDir::new("lw-full");
    let count = d.join("count");
    let pad = "f".repeat(200);
    // 500 lines a second at most: the log does not fill the disk itself
    // before the test does.
    let svc = counter_script(&d, &count, &pad, 5);
    // A 1 MiB tmpfs in a mount namespace of tinyd's own.
    let (mut t, root) = on_small_tmpfs(&d, "1m", "--log-full=block --log-size 100M", &svc);
    let log = root.join("out.log");
    let pid = wait_for(10.0, "the service runs", || {
        cmdline(t.pid).join(" ").contains("tinyd").then_some(())?;
        starts(&log, "full").first().map(|s| s.1)
    });
    t.group(pid);
    wait_until(10.0, "20 lines", || {
        counter(&count).is_some_and(|n| n >= 20)
    });
    let w = writer_of(t.pid);
    fill_disk(&root);
    let n0 = wait_paused(&count, 60.0);
    let (c0, t0) = (cpu(t.pid) + cpu(w), Instant::now());
    std::thread::sleep(Duration::from_secs(2));
    let (dc, dt) = (cpu(t.pid) + cpu(w) - c0, t0.elapsed().as_secs_f64());
    let pct = dc as f64 / dt;
    eprintln!("disk full, block: paused at line {n0}; tinyd and writer CPU {dc} ticks = {pct:.2}%");
    assert_eq!(counter(&count), Some(n0), "the service stays paused");
    assert!(
        pct < 5.0,
        "tinyd or its writer busy while the disk is full: {pct:.2}%"
    );
    assert!(alive(pid) && alive(t.pid), "still supervising");
    assert_eq!(writers(t.pid), vec![w], "the same writer");

    // Space is back: the writer's next try gets through.
    fs::remove_file(root.join("filler")).unwrap();
    let t1 = Instant::now();
    wait_until(10.0, "the service goes on", || {
        counter(&count).is_some_and(|n| n > n0)
    });
    let resumed = t1.elapsed();
    eprintln!("space back: the service went on after {resumed:?}");
    assert!(
        resumed < Duration::from_secs(4),
        "retried about once a second: {resumed:?}"
    );
    let target = n0 + 200;
    wait_until(20.0, &format!("line {target} logged"), || {
        flood(&file_rests(&log), "full", "line ", &pad, &[])
            .nums
            .last()
            .is_some_and(|&n| n >= target)
    });
    // The log goes with tinyd's mount namespace: keep a copy.
    let copy = d.join("out.log.copy");
    fs::copy(&log, &copy).unwrap();
    assert_eq!(starts(&copy, "full").len(), 1, "no restart");
    assert!(t.stop(10.0) < Duration::from_secs(5));
    let f = flood(&file_rests(&copy), "full", "line ", &pad, &[]);
    assert!(f.notes.is_empty(), "block loses nothing: {:?}", f.notes);
    assert_every_line_once(&f.nums, "log-full = block, disk full");
    wait_until(5.0, "the writer is gone", || !alive(w));
    assert!(group_members(pid).is_empty(), "the service is gone");
}

// ---- 5. a deleted or replaced log file ------------------------------------------------

#[test]
fn deleted_log_file_reopened_nothing_lost_into_it() {
    let d = TempDir::new("lw-del");
    let log = d.join("out.log");
    let cmd = d.script(
        "cmd.sh",
        "i=0\nwhile :; do echo \"tick $i\"; i=$((i+1)); sleep 0.01; done",
    );
    let mut t = Tinyd::spawn(&d, &["-f", "-n", "del", "-o", &s(&log), &s(&cmd)]);
    let ticks_in = |text: &str| -> Vec<u32> {
        rests(text)
            .iter()
            .filter_map(|r| r.strip_prefix("del: tick ")?.parse().ok())
            .collect()
    };
    let ticks = |p: &Path| ticks_in(&String::from_utf8_lossy(&fs::read(p).unwrap_or_default()));
    let pid = wait_starts(&log, "del", 1, 20.0)[0].1;
    t.group(pid);
    let mut all = Vec::new();
    for round in ["deleted", "replaced"] {
        wait_until(20.0, "ticks in FILE", || ticks(&log).len() >= 5);
        // Keep the file readable once it is gone from its path.
        let mut old = File::open(&log).unwrap();
        let t0 = Instant::now();
        if round == "deleted" {
            fs::remove_file(&log).unwrap();
        } else {
            let new = d.join("new.log");
            fs::write(&new, "").unwrap();
            fs::rename(&new, &log).unwrap();
        }
        let took = wait_for(10.0, "a new FILE with ticks", || {
            (!ticks(&log).is_empty()).then(|| t0.elapsed())
        });
        let size = old.metadata().unwrap().len();
        let n = ticks(&log).len();
        wait_until(20.0, "30 more ticks in the new FILE", || {
            ticks(&log).len() >= n + 30
        });
        let mut text = String::new();
        old.read_to_string(&mut text).unwrap();
        eprintln!("FILE {round}: lines in a new FILE after {took:?}");
        assert!(
            took < Duration::from_secs(3),
            "FILE {round}: noticed after {took:?}"
        );
        assert_eq!(
            old.metadata().unwrap().len(),
            size,
            "FILE {round}: nothing more goes into the old file once the new one has lines"
        );
        let o = ticks_in(&text);
        assert!(!o.is_empty(), "the old file had ticks: {text:?}");
        all.extend(o);
    }
    all.extend(ticks(&log));
    for (k, &n) in all.iter().enumerate() {
        assert_eq!(
            n as usize, k,
            "ticks of the old files and FILE go on by one (none lost, none twice): {all:?}"
        );
    }
    assert!(
        alive(t.pid) && alive(pid),
        "neither tinyd nor COMMAND stopped"
    );
    t.stop(10.0);
}

// ---- 6. the writer process ------------------------------------------------------------

/// What a descriptor of the service's stdout points to (`pipe:[N]`).
fn stdout_of(pid: i32) -> String {
    s(&fs::read_link(format!("/proc/{pid}/fd/1")).unwrap())
}

#[test]
fn writer_is_named_and_supervised() {
    let d = TempDir::new("lw-named");
    let log = d.join("w.log");
    let sock = d.join("ctl.sock");
    let pf = d.join("tinyd.pid");
    let cmd = d.script(
        "tick.sh",
        "i=0\nwhile :; do echo \"tick $i\"; i=$((i+1)); sleep 0.1; done",
    );
    let mut t = Tinyd::spawn(
        &d,
        &[
            "-f",
            "-p",
            &s(&pf),
            "--control",
            &s(&sock),
            "-n",
            "w",
            "-o",
            &s(&log),
            &s(&cmd),
        ],
    );
    let pid = wait_starts(&log, "w", 1, 20.0)[0].1;
    t.group(pid);
    wait_output(&log, "w", "tick 1", 20.0);
    let w = writer_of(t.pid);
    assert_eq!(stat(w).map(|s| s.ppid), Some(t.pid), "a child of tinyd");
    let argv = cmdline(w).join(" ");
    assert!(argv.starts_with("tinyd-log"), "its command line: {argv:?}");
    let f = fds(w);
    eprintln!("the writer {w}: {f:?}");
    assert!(f.len() <= 8, "the writer holds few descriptors: {f:?}");
    assert!(
        f.iter().all(|(_, t)| !t.starts_with("socket:")),
        "no socket (the control socket) in the writer: {f:?}"
    );
    let pipe = stdout_of(pid);
    assert!(pipe.starts_with("pipe:"), "the service's stdout: {pipe}");
    assert!(
        f.iter().all(|(_, t)| *t != pipe),
        "the writer holds no end of the service's pipe {pipe}: {f:?}"
    );
    let (pidfile, logfile) = (launch::canon(&pf), launch::canon(&log));
    assert!(
        f.iter().all(|(_, t)| *t != pidfile),
        "the writer holds no pidfile (nor its lock): {f:?}"
    );
    assert!(
        f.iter().any(|(_, t)| *t == logfile),
        "the writer holds the log file: {f:?}"
    );
    let o = multi::ctl(&sock, &["-w", "10", "status"]);
    assert_eq!(o.code, Some(0), "control answers: {o:?}");

    // SIGKILLed: logged, and another writer takes over at once.
    assert!(signal(w, SIGKILL));
    let w2 = new_writer(t.pid, w, 5.0);
    assert_eq!(comm(w2), "tinyd-log");
    assert_eq!(stat(w2).map(|s| s.ppid), Some(t.pid), "a child of tinyd");
    wait_until(10.0, "the writer's restart is logged", || {
        writer_events(&t.stderr()) >= 1
    });
    let n = output(&log, "w").len();
    wait_until(10.0, "ticks go on into the log", || {
        output(&log, "w").len() >= n + 3
    });
    t.stop(10.0);
    wait_until(5.0, "the writer is gone", || !alive(w2));
    assert!(group_members(pid).is_empty(), "the service is gone");

    // `[tinyd] log` alone (no service has a log): a writer too.
    let d2 = TempDir::new("lw-named-conf");
    let text = format!(
        "[tinyd]\nlog = {}\n\n{}",
        s(&d2.join("tinyd.log")),
        multi::service(&d2, "q", "")
    );
    let (mut td, sock2, _) = multi::Td::up(&d2, &text, &["q"]);
    let w3 = writer_of(td.pid);
    assert!(cmdline(w3).join(" ").starts_with("tinyd-log"));
    td.shutdown(&sock2);
    wait_until(5.0, "the writer is gone", || !alive(w3));
}

#[test]
fn no_log_file_no_writer() {
    // Nothing to write: no writer, on the command line nor in a file.
    let d = TempDir::new("lw-none");
    let ran = d.join("ran");
    let cmd = d.script(
        "quiet.sh",
        &format!(
            "echo $$ > '{}'\nwhile :; do echo tick; sleep 0.1; done",
            s(&ran)
        ),
    );
    let mut t = Tinyd::spawn(&d, &["-f", "-n", "quiet", &s(&cmd)]);
    let pid = wait_for(20.0, "the service runs", || read_pid(&ran));
    t.group(pid);
    let tp = t.pid;
    let sample = |what: &str| {
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(1) {
            let w = writers(tp);
            assert!(w.is_empty(), "{what}: a log writer {w:?} with no log file");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    sample("command line");
    assert_eq!(
        children(t.pid),
        vec![pid],
        "tinyd's only child: the service"
    );
    t.stop(10.0);

    let d2 = TempDir::new("lw-none-conf");
    let (mut td, sock, _) = multi::Td::up(&d2, &multi::service(&d2, "q", ""), &["q"]);
    let tp = td.pid;
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(1) {
        let w = writers(tp);
        assert!(w.is_empty(), "config: a log writer {w:?} with no log file");
        std::thread::sleep(Duration::from_millis(50));
    }
    td.shutdown(&sock);
}

/// The pids of every service in `status`, by name.
fn all_pids(sock: &Path) -> Vec<(String, Option<i32>)> {
    let (_, lines) = multi::status(sock).expect("status");
    lines.into_iter().map(|l| (l.name, l.pid)).collect()
}

#[test]
fn reload_needing_more_log_rings_than_free_is_refused_whole() {
    // 64 services, each logging to its own file. With the writer stopped,
    // the rings of replaced instances keep their last lines (stopping,
    // stopped), so they stay in use: two reloads that change all 64 take
    // 3 x 64 of the 193 rings, and a third finds 1 free. It is refused
    // whole (exit 1, nothing changed); once the writer runs again, the same
    // reload goes through.
    let d = TempDir::new("lw-rings");
    let names: Vec<String> = (0..64).map(|k| format!("s{k}")).collect();
    let conf = |g: u32| -> String {
        names
            .iter()
            .map(|n| {
                multi::service(
                    &d,
                    n,
                    &format!("log = {}\nenv = GEN={g}", s(&d.join(&format!("{n}.log")))),
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let (mut t, sock, _) = multi::Td::up(&d, &conf(0), &refs);
    let w = writer_of(t.pid);
    wait_until(10.0, "every log has its first line", || {
        names.iter().all(|n| len(&d.join(&format!("{n}.log"))) > 0)
    });
    assert!(signal(w, SIGSTOP));
    let conf_path = d.join("t.conf");
    let reload = |g: u32| -> multi::Out {
        fs::write(&conf_path, conf(g)).unwrap();
        multi::ctl(&sock, &["-w", "30", "reload"])
    };
    for g in 1..=2 {
        let o = reload(g);
        assert_eq!(o.code, Some(0), "reload {g}: {o:?}");
        let p = t.running(&sock, &refs);
        assert_eq!(p.len(), 64);
    }
    let before = all_pids(&sock);
    let o = reload(3);
    assert_eq!(o.code, Some(1), "reload 3 refused: {o:?}");
    assert!(
        o.stderr.contains("64 log files need a ring, 1 are free")
            && o.stderr.contains("nothing was changed"),
        "the reason: {o:?}"
    );
    assert_eq!(all_pids(&sock), before, "nothing changed");
    // The writer runs again: the rings are written out and free.
    assert!(signal(w, SIGCONT));
    wait_until(20.0, "a reload goes through", || reload(3).code == Some(0));
    let p = t.running(&sock, &refs);
    assert!(
        p.iter()
            .all(|pid| !before.iter().any(|(_, b)| *b == Some(*pid))),
        "every service restarted with the new file"
    );
    // The writer writes the last start soon after it.
    wait_until(10.0, "s0's log has its four starts", || {
        fs::read_to_string(d.join("s0.log")).is_ok_and(|ev| ev.matches("started pid").count() >= 4)
    });
    assert!(signal(t.pid, SIGTERM));
    assert!(t.wait_exit(20.0).success());
}
