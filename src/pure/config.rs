//! The configuration file: `[NAME]` sections of `key = value` lines, one per
//! service, plus an optional `[tinyd]` section for tinyd's own settings.
//! Checked completely, without any I/O, before anything starts.
//!
//! No heap: the parser works in place on the caller's buffer holding the
//! file. Each value is moved left to where its `=` was and a NUL is written
//! after it, so that it can be handed out as a `&CStr` borrowed from the
//! buffer (this works even for a last line with no newline). `exec` is unquoted in place the same
//! way into consecutive NUL-terminated words. Errors are collected (up to
//! `CONFIG_MAX_ERRORS`) with their line numbers and the offending text,
//! which is always the text as it was in the file.
//!
//! ```text
//! [tinyd]
//! pidfile = /var/run/tinyd.pid
//!
//! [web]
//! exec = /usr/sbin/httpd -f -p 8080 -h "/srv/www root"
//! user = www
//! env = LANG=C
//! ```
//!
//! Keys are the long options of the command line, with the same defaults
//! (a `[NAME]` section's, but `exec`, are the rows of `settings::SETTINGS`);
//! `#` starts a comment line (only as the first non-blank character).
//! `needs =` and `after =` (file only) name other services of the file,
//! separated by blanks; they become `Global.deps`, with every name known
//! and no cycle through either kind of edge.

use core::ffi::CStr;

use crate::pure::settings::{self, Bad, SETTINGS, Settings};
use crate::util::limits::{
    CONFIG_LINE_MAX, CONFIG_MAX, CONFIG_MAX_ERRORS, MAX_SERVICES, MAX_WORDS,
};

pub use crate::util::words::{WordIter, Words};

/// One `[NAME]` section, validated, with the command line's defaults for
/// what it does not say.
#[derive(Clone, Copy, Debug)]
pub struct Service<'a> {
    /// Line of the `[NAME]` header.
    pub line: u32,
    pub exec: Words<'a>,
    /// The line of each setting given, by index in `SETTINGS` (0: not
    /// given), for the caller's messages about a value (an unknown user).
    pub lines: [u32; settings::COUNT],
    /// Everything else, the name first.
    pub set: Settings<'a>,
}

impl<'a> Service<'a> {
    /// A service with every default (those of `args::parse`).
    pub fn new(name: &'a [u8], line: u32) -> Service<'a> {
        Service {
            line,
            exec: Words::EMPTY,
            lines: [0; settings::COUNT],
            set: Settings::new(name),
        }
    }

    /// USER[:GROUP] as written and the line of its key.
    pub fn user(&self) -> Option<(&'a CStr, u32)> {
        const USER: usize = settings::index("user");
        self.set.user.map(|u| (u, self.lines[USER]))
    }
}

/// The services a service waits for, as bits of their positions in the
/// file (bit `j`: the file's `j`-th service).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Deps {
    /// `needs =`: started once they are ready, stopped before them.
    pub needs: u64,
    /// `after =`: started once they are ready or have given up.
    pub after: u64,
}

/// The `[tinyd]` section.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Global<'a> {
    pub pidfile: Option<&'a CStr>,
    /// The control socket's path.
    pub control: Option<&'a CStr>,
    /// tinyd's own log file.
    pub log: Option<&'a CStr>,
    pub foreground: bool,
    /// Each service's dependencies, by its position in the file (checked:
    /// every name exists, no cycle).
    pub deps: [Deps; MAX_SERVICES],
}

impl Global<'_> {
    pub const fn new() -> Self {
        Global {
            pidfile: None,
            control: None,
            log: None,
            foreground: false,
            deps: [Deps { needs: 0, after: 0 }; MAX_SERVICES],
        }
    }
}

impl Default for Global<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// A whole file. Big (tens of KiB): meant for static storage, filled by
/// `parse_into`.
pub struct Config<'a> {
    pub global: Global<'a>,
    /// The first `count` are the services, in file order.
    pub services: [Service<'a>; MAX_SERVICES],
    pub count: usize,
}

impl<'a> Config<'a> {
    pub fn new() -> Self {
        Config {
            global: Global::new(),
            services: [Service::new(b"", 0); MAX_SERVICES],
            count: 0,
        }
    }
    pub fn services(&self) -> &[Service<'a>] {
        &self.services[..self.count.min(MAX_SERVICES)]
    }
}

impl Default for Config<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// One problem: the caller prints `tinyd: FILE:LINE: msg: text`. Line 0 is
/// about the whole file. `text` may be up to `CONFIG_LINE_MAX` bytes long.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Error<'a> {
    pub line: u32,
    pub msg: &'static str,
    pub text: &'a [u8],
}

/// Room in `Errors` for texts made by the parser rather than found in the
/// file (a cycle's `a -> b -> a`), and at most how much of it one takes.
const MADE_MAX: usize = 192;
const MADE_ONE: usize = 96;
const _: () = assert!(MADE_MAX <= u8::MAX as usize && MADE_ONE <= MADE_MAX);

/// The problems of a file, by line; `more` if some were left out.
#[derive(Debug)]
pub struct Errors<'a> {
    /// The errors; one whose text was made (see `iter`) has an empty text
    /// here.
    pub list: [Error<'a>; CONFIG_MAX_ERRORS],
    pub len: usize,
    pub more: bool,
    /// Where each error's made text is in `made` (start, length; length
    /// 0: none), kept beside `list` when it is sorted.
    made_at: [(u8, u8); CONFIG_MAX_ERRORS],
    made: [u8; MADE_MAX],
    made_len: usize,
}

impl<'a> Errors<'a> {
    const fn new() -> Self {
        Errors {
            list: [Error {
                line: 0,
                msg: "",
                text: b"",
            }; CONFIG_MAX_ERRORS],
            len: 0,
            more: false,
            made_at: [(0, 0); CONFIG_MAX_ERRORS],
            made: [0; MADE_MAX],
            made_len: 0,
        }
    }
    /// The errors as stored: a made text (a cycle's) is empty here.
    pub fn as_slice(&self) -> &[Error<'a>] {
        &self.list[..self.len.min(CONFIG_MAX_ERRORS)]
    }
    /// The errors, each with its whole text (a made one borrowed from
    /// `self`, since `Error.text` cannot own it). What a caller prints.
    pub fn iter(&self) -> impl Iterator<Item = Error<'_>> + '_ {
        self.as_slice()
            .iter()
            .zip(&self.made_at)
            .map(|(&e, &(start, len))| {
                let mut e: Error<'_> = e;
                if len > 0 {
                    let (s, n) = (start as usize, len as usize);
                    e.text = self.made.get(s..s + n).unwrap_or_default();
                }
                e
            })
    }
    fn push(&mut self, line: u32, msg: &'static str, text: &'a [u8]) {
        match self.list.get_mut(self.len) {
            Some(slot) => {
                *slot = Error { line, msg, text };
                self.made_at[self.len] = (0, 0);
                self.len += 1;
            }
            None => self.more = true,
        }
    }
    /// Pushes an error whose text is copied into `made`; if it does not
    /// fit there (or `cut`: it was cut already), it ends with "...".
    fn push_made(&mut self, line: u32, msg: &'static str, text: &[u8], cut: bool) {
        let start = self.made_len.min(MADE_MAX);
        let n = text.len().min(MADE_MAX - start);
        let i = self.len;
        self.push(line, msg, b"");
        if self.len == i || n == 0 {
            return;
        }
        let out = &mut self.made[start..start + n];
        out.copy_from_slice(&text[..n]);
        if (cut || n < text.len()) && n >= 3 {
            out[n - 3..].copy_from_slice(b"...");
        }
        self.made_len = start + n;
        self.made_at[i] = (start as u8, n as u8);
    }
    /// Stable sort by line ("missing exec" is found at the section's end
    /// but is about its header).
    fn sort(&mut self) {
        let n = self.len.min(CONFIG_MAX_ERRORS);
        for i in 1..n {
            let mut j = i;
            while j > 0 && self.list[j - 1].line > self.list[j].line {
                self.list.swap(j - 1, j);
                self.made_at.swap(j - 1, j);
                j -= 1;
            }
        }
    }
}

/// Whether two services have the same settings (name, command, user, ...),
/// compared by value; where they are in their files does not matter.
pub fn same(a: &Service, b: &Service) -> bool {
    a.exec == b.exec && a.set == b.set
}

/// Parses a file into a new `Config` (on the stack: prefer `parse_into`).
// Errors is big (a fixed list) but there is no heap to box it in, and it is
// returned once.
#[allow(clippy::result_large_err)]
pub fn parse<'a>(text: &'a mut [u8]) -> Result<Config<'a>, Errors<'a>> {
    let mut cfg = Config::new();
    parse_into(text, &mut cfg).map(|()| cfg)
}

/// Parses a whole file, modifying `text` in place, into `cfg` (whose
/// previous contents are dropped). On error `cfg` holds a partial result
/// that must not be used.
#[allow(clippy::result_large_err)]
pub fn parse_into<'a>(text: &'a mut [u8], cfg: &mut Config<'a>) -> Result<(), Errors<'a>> {
    cfg.count = 0;
    let mut keep = |s: &Service<'a>| {
        if cfg.count < MAX_SERVICES {
            cfg.services[cfg.count] = *s;
            cfg.count += 1;
        }
        None
    };
    cfg.global = Global::new();
    let global = parse_each(text, &mut keep)?;
    cfg.global = global;
    Ok(())
}

/// Parses a whole file, modifying `text` in place, handing each service to
/// `each` as soon as its section is complete and valid, so that no table
/// of every service is needed. `each` may refuse a service with an error
/// (an unknown user, say), which joins the others. The caller must not act
/// on any service before the whole file turned out valid (`Ok`).
#[allow(clippy::result_large_err)]
pub fn parse_each<'a>(
    text: &'a mut [u8],
    each: &mut dyn FnMut(&Service<'a>) -> Option<Error<'a>>,
) -> Result<Global<'a>, Errors<'a>> {
    let mut p = Parser {
        each,
        global: Global::new(),
        names: [b""; MAX_SERVICES],
        wants: [Wants::NONE; MAX_SERVICES],
        count: 0,
        errs: Errors::new(),
        section: Section::None,
        cur: Service::new(b"", 0),
        store: false,
        seen: 0,
        exec_seen: false,
        global_seen: false,
        too_many: false,
        lost: false,
    };
    if text.len() > CONFIG_MAX {
        p.errs.push(0, "file too large (at most 32 KiB)", b"");
        return Err(p.errs);
    }
    let mut rest: &'a mut [u8] = text;
    // A UTF-8 byte order mark (some editors write one) is not text.
    if rest.starts_with(b"\xef\xbb\xbf") {
        rest = &mut core::mem::take(&mut rest)[3..];
    }
    let mut n: u32 = 0;
    while !rest.is_empty() {
        n += 1;
        let all = core::mem::take(&mut rest);
        let (line, tail) = match all.iter().position(|&c| c == b'\n') {
            Some(i) => {
                let (line, tail) = all.split_at_mut(i);
                (line, &mut tail[1..])
            }
            None => (all, Default::default()),
        };
        rest = tail;
        p.line(n, line);
    }
    p.end_section();
    // Checked against the names kept, unless a service's name was lost
    // (then a reference to it would read as unknown): other errors do not
    // matter to the graph.
    if !p.lost {
        p.graph();
    }
    if p.errs.len > 0 || p.errs.more {
        p.errs.sort();
        return Err(p.errs);
    }
    Ok(p.global)
}

// The keys of `[tinyd]`; the index is the bit in `Parser::seen`. (A
// `[NAME]` section's are `exec` and those of `SETTINGS`.)
const GLOBAL_KEYS: [&str; 4] = ["pidfile", "control", "log", "foreground"];

const BAD_NAME: &str = "bad service name (1-64 printable characters, no '/')";

const NEEDS: usize = settings::index("needs");
const AFTER: usize = settings::index("after");

/// A kept service's `needs` and `after` (in that order) as written, and
/// the lines of their keys, to be resolved once every name is known.
#[derive(Clone, Copy)]
struct Wants<'a> {
    text: [&'a [u8]; 2],
    line: [u32; 2],
}

impl Wants<'_> {
    const NONE: Self = Wants {
        text: [b""; 2],
        line: [0; 2],
    };
}

const UNKNOWN: [&str; 2] = ["unknown service in needs", "unknown service in after"];
const CYCLE: &str = "dependency cycle";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Section {
    /// Before the first section.
    None,
    /// After a malformed header: keys are ignored.
    Skip,
    Global,
    Service,
}

struct Parser<'a, 'c> {
    each: &'c mut dyn FnMut(&Service<'a>) -> Option<Error<'a>>,
    global: Global<'a>,
    /// The names of the services kept so far, for duplicates and the
    /// graph; their positions are those of `Global.deps`.
    names: [&'a [u8]; MAX_SERVICES],
    wants: [Wants<'a>; MAX_SERVICES],
    count: usize,
    errs: Errors<'a>,
    section: Section,
    /// The service being read.
    cur: Service<'a>,
    /// Whether `cur` is kept at the section's end (a good, new name).
    store: bool,
    /// Keys met in the current section, by index in its key table
    /// (`SETTINGS` in a `[NAME]` section).
    seen: u32,
    /// `exec` was met in the current section.
    exec_seen: bool,
    global_seen: bool,
    /// "too many services" was reported.
    too_many: bool,
    /// A section's name was not kept (a bad header or name, too many).
    lost: bool,
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\x0b' | b'\x0c')
}

/// `buf[s..e]` without leading and trailing whitespace, as indices.
fn trim(buf: &[u8], mut s: usize, mut e: usize) -> (usize, usize) {
    while s < e && buf.get(s).is_some_and(|&c| is_space(c)) {
        s += 1;
    }
    while e > s && buf.get(e - 1).is_some_and(|&c| is_space(c)) {
        e -= 1;
    }
    (s, e)
}

/// Moves `v[s..e]` to the start of `v` and terminates it with a NUL; needs
/// `1 <= s <= e <= v.len()` and no NUL in `v[s..e]`.
fn terminate(v: &mut [u8], s: usize, e: usize) -> &CStr {
    if s == 0 || s > e || e > v.len() {
        return c"";
    }
    v.copy_within(s..e, 0);
    v[e - s] = 0;
    CStr::from_bytes_with_nul(&v[..=e - s]).unwrap_or(c"")
}

/// Splits `v[s..e]` into words like sh (quotes and backslashes, nothing
/// else). With `write`, stores them at the start of `v` as NUL-terminated
/// words: needs `s >= 1`, then the output stays behind the input (each
/// byte written consumes at least one byte read, and the final NUL uses
/// the spare byte). Returns the word count and the bytes used.
fn split_words(
    v: &mut [u8],
    s: usize,
    e: usize,
    write: bool,
) -> Result<(usize, usize), &'static str> {
    if s == 0 || s > e || e > v.len() {
        return Err("empty value");
    }
    let mut w = 0;
    macro_rules! put {
        ($c:expr) => {{
            let c = $c;
            if write {
                v[w] = c;
            }
            w += 1;
        }};
    }
    let mut r = s;
    let mut count = 0;
    let mut in_word = false;
    let mut start = 0; // where the current word's output starts
    loop {
        let c = if r < e { v[r] } else { b' ' };
        if r >= e || is_space(c) {
            if in_word {
                if count == 0 && w == start {
                    return Err("empty command in exec");
                }
                if count == MAX_WORDS {
                    return Err("too many words in exec (at most 64)");
                }
                put!(0);
                count += 1;
                in_word = false;
            }
            if r >= e {
                break;
            }
            r += 1;
            continue;
        }
        if !in_word {
            in_word = true;
            start = w;
        }
        r += 1;
        match c {
            b'\'' => loop {
                if r >= e {
                    return Err("unterminated quote in exec");
                }
                let c = v[r];
                r += 1;
                if c == b'\'' {
                    break;
                }
                put!(c);
            },
            b'"' => loop {
                if r >= e {
                    return Err("unterminated quote in exec");
                }
                let c = v[r];
                r += 1;
                match c {
                    b'"' => break,
                    b'\\' if r < e && matches!(v[r], b'"' | b'\\' | b'$' | b'`') => {
                        let c = v[r];
                        r += 1;
                        put!(c);
                    }
                    _ => put!(c),
                }
            },
            b'\\' => {
                if r >= e {
                    return Err("backslash at end of exec");
                }
                let c = v[r];
                r += 1;
                put!(c);
            }
            _ => put!(c),
        }
    }
    if count == 0 {
        return Err("empty value");
    }
    Ok((count, w))
}

impl<'a> Parser<'a, '_> {
    fn err(&mut self, line: u32, msg: &'static str, text: &'a [u8]) {
        self.errs.push(line, msg, text);
    }

    fn line(&mut self, n: u32, line: &'a mut [u8]) {
        if line.len() > CONFIG_LINE_MAX {
            let line: &'a [u8] = line;
            return self.err(n, "line too long (at most 1024 bytes)", &line[..64]);
        }
        if line.contains(&0) {
            return self.err(n, "NUL byte in line", b"");
        }
        let (s, e) = trim(line, 0, line.len());
        if s == e || line[s] == b'#' {
            return;
        }
        if line[s] == b'[' {
            let line: &'a [u8] = line;
            return self.header(n, &line[s..e]);
        }
        let Some(eq) = line[s..e].iter().position(|&c| c == b'=') else {
            let line: &'a [u8] = line;
            return self.err(n, "expected key = value or [section]", &line[s..e]);
        };
        let eq = s + eq;
        let (ks, ke) = trim(line, s, eq);
        let (vs, ve) = trim(line, eq + 1, e);
        if ks == ke {
            let line: &'a [u8] = line;
            return self.err(n, "expected key = value or [section]", &line[s..e]);
        }
        let (key, value) = line.split_at_mut(eq);
        let key: &'a [u8] = key;
        self.key(n, &key[ks..ke], value, vs - eq, ve - eq);
    }

    fn header(&mut self, n: u32, h: &'a [u8]) {
        self.end_section();
        self.seen = 0;
        self.exec_seen = false;
        if h.len() < 2 || h[h.len() - 1] != b']' {
            self.section = Section::Skip;
            self.lost = true;
            return self.err(n, "bad section header", h);
        }
        let name = &h[1..h.len() - 1];
        if name == b"tinyd" {
            if self.global_seen {
                self.err(n, "duplicate section", name);
            }
            self.global_seen = true;
            self.section = Section::Global;
            return;
        }
        self.section = Section::Service;
        self.cur = Service::new(name, n);
        self.store = false;
        if !settings::valid_name(name) {
            self.lost = true;
            self.err(n, BAD_NAME, name);
        } else if self.names[..self.count].contains(&name) {
            self.err(n, "duplicate service", name);
        } else if self.count >= MAX_SERVICES {
            self.lost = true;
            if !self.too_many {
                self.too_many = true;
                self.err(n, "too many services (at most 64)", name);
            }
        } else {
            self.store = true;
        }
    }

    fn end_section(&mut self) {
        if self.section == Section::Service {
            let name = self.cur.set.name;
            if !self.exec_seen {
                self.err(self.cur.line, "missing exec", name);
            }
            if self.store && self.count < MAX_SERVICES {
                self.names[self.count] = name;
                let (set, lines) = (&self.cur.set, &self.cur.lines);
                self.wants[self.count] = Wants {
                    text: [set.needs, set.after],
                    line: [lines[NEEDS], lines[AFTER]],
                };
                self.count += 1;
                if self.exec_seen
                    && let Some(e) = (self.each)(&self.cur)
                {
                    self.errs.push(e.line, e.msg, e.text);
                }
            }
        }
        self.section = Section::None;
    }

    /// `value[0]` is the `=`; the value is `value[vs..ve]`, `vs >= 1`.
    fn key(&mut self, n: u32, key: &'a [u8], value: &'a mut [u8], vs: usize, ve: usize) {
        match self.section {
            Section::None => return self.err(n, "key outside a section", key),
            Section::Skip => return,
            Section::Global => return self.global_key(n, key, terminate(value, vs, ve)),
            Section::Service => {}
        }
        if key == b"exec" {
            if self.exec_seen {
                return self.err(n, "duplicate key", key);
            }
            self.exec_seen = true;
            return self.exec(n, value, vs, ve);
        }
        let Some(i) = settings::by_key(key) else {
            return self.err(n, "unknown key", key);
        };
        let row = &SETTINGS[i];
        if !row.repeat && self.seen & (1 << i) != 0 {
            return self.err(n, "duplicate key", key);
        }
        self.seen |= 1 << i;
        let c = terminate(value, vs, ve);
        let excluded = !row.excl.is_empty()
            && (0..SETTINGS.len())
                .any(|j| j != i && self.seen & (1 << j) != 0 && SETTINGS[j].excl == row.excl);
        if excluded {
            // An empty value is said first (and nothing is kept).
            let mut scratch = self.cur.set;
            return match (row.parse)(&mut scratch, c) {
                Err(Bad::Empty) => self.err(n, "empty value", key),
                _ => self.err(n, row.excl, key),
            };
        }
        match (row.parse)(&mut self.cur.set, c) {
            Ok(()) => self.cur.lines[i] = n,
            Err(Bad::Empty) => self.err(n, "empty value", key),
            Err(Bad::Value) => self.err(n, row.bad, c.to_bytes()),
            Err(Bad::Said(_, msg)) => self.err(n, msg, c.to_bytes()),
        }
    }

    fn global_key(&mut self, n: u32, key: &'a [u8], c: &'a CStr) {
        let Some(index) = GLOBAL_KEYS.iter().position(|k| k.as_bytes() == key) else {
            return self.err(n, "unknown key", key);
        };
        if self.seen & (1 << index) != 0 {
            return self.err(n, "duplicate key", key);
        }
        self.seen |= 1 << index;
        let v = c.to_bytes();
        let g = &mut self.global;
        if key == b"foreground" {
            g.foreground = match v {
                b"yes" | b"true" | b"1" => true,
                b"no" | b"false" | b"0" => false,
                _ => return self.err(n, "bad foreground (yes or no)", v),
            };
            return;
        }
        if v.is_empty() {
            return self.err(n, "empty value", key);
        }
        match key {
            b"pidfile" => g.pidfile = Some(c),
            b"control" => g.control = Some(c),
            _ => g.log = Some(c),
        }
    }

    fn exec(&mut self, n: u32, value: &'a mut [u8], vs: usize, ve: usize) {
        // Check first, without writing, so that errors show the text as
        // written.
        if let Err(msg) = split_words(value, vs, ve, false) {
            let value: &'a [u8] = value;
            let text = if vs == ve {
                &b"exec"[..]
            } else {
                &value[vs..ve]
            };
            return self.err(n, msg, text);
        }
        let (count, len) = split_words(value, vs, ve, true).unwrap_or_default();
        let value: &'a [u8] = value;
        self.cur.exec = Words {
            bytes: &value[..len],
            count,
        };
    }
}

impl<'a> Parser<'a, '_> {
    /// Resolves each kept service's `needs` and `after` into
    /// `global.deps`, then reports the cycles.
    fn graph(&mut self) {
        for i in 0..self.count.min(MAX_SERVICES) {
            let w = self.wants[i];
            let needs = self.resolve(w.text[0], w.line[0], 0);
            let after = self.resolve(w.text[1], w.line[1], 1);
            self.global.deps[i] = Deps { needs, after };
        }
        self.cycles();
    }

    /// The positions of the names in `text`, a `needs` (`kind` 0) or
    /// `after` (1) whose key is on `line`; the others are reported.
    fn resolve(&mut self, text: &'a [u8], line: u32, kind: usize) -> u64 {
        let mut mask = 0;
        let words = text.split(|&c| c == b' ' || c == b'\t');
        for name in words.filter(|w| !w.is_empty()) {
            let known = &self.names[..self.count.min(MAX_SERVICES)];
            if !settings::valid_name(name) {
                self.err(line, BAD_NAME, name);
            } else if let Some(j) = known.iter().position(|&n| n == name) {
                mask |= bit(j);
            } else {
                self.err(line, UNKNOWN[kind], name);
            }
        }
        mask
    }

    /// Reports each cycle of `needs` and `after` edges once: one for each
    /// strongly connected part of the graph (another cycle through the
    /// same services shows once this one is broken), from the part's
    /// first service in the file, at its key that makes the first edge.
    fn cycles(&mut self) {
        let n = self.count.min(MAX_SERVICES);
        let mut edges = [0u64; MAX_SERVICES];
        for (e, d) in edges.iter_mut().zip(&self.global.deps).take(n) {
            *e = d.needs | d.after;
        }
        let reach = closure(&edges, n);
        let mut done = 0u64;
        for s in 0..n {
            if reach[s] & bit(s) == 0 || done & bit(s) != 0 {
                continue;
            }
            let part = (0..n)
                .filter(|&j| reach[s] & bit(j) != 0 && reach[j] & bit(s) != 0)
                .fold(0, |m, j| m | bit(j));
            done |= part;
            let (path, len) = shortest_cycle(&edges, part, s);
            let to = if len > 1 { path[1] as usize } else { s };
            // Its key: `needs` if that names `to`, else `after`.
            let kind = usize::from(self.global.deps[s].needs & bit(to) == 0);
            let line = self.wants[s].line[kind];
            let mut text = [0u8; MADE_ONE];
            let (k, cut) = cycle_text(&self.names[..n], &path[..len], &mut text);
            self.errs.push_made(line, CYCLE, &text[..k], cut);
        }
    }
}

/// Bit `j` of a mask of services (none past the last).
fn bit(j: usize) -> u64 {
    1u64.checked_shl(j as u32).unwrap_or(0)
}

/// For each of the first `n` services, those it reaches in one step or
/// more (Warshall's, one word per row).
fn closure(edges: &[u64; MAX_SERVICES], n: usize) -> [u64; MAX_SERVICES] {
    let mut reach = *edges;
    for k in 0..n.min(MAX_SERVICES) {
        let via = reach[k];
        for r in reach.iter_mut().take(n) {
            if *r & bit(k) != 0 {
                *r |= via;
            }
        }
    }
    reach
}

/// A shortest cycle from `s` back to it along `edges` within `part` (its
/// strongly connected part), as the services from `s` on: fewest steps,
/// then lowest positions first. Length 1 is a self-dependency.
fn shortest_cycle(edges: &[u64; MAX_SERVICES], part: u64, s: usize) -> ([u8; MAX_SERVICES], usize) {
    let mut path = [0u8; MAX_SERVICES];
    let mut parent = [0u8; MAX_SERVICES];
    let mut queue = [0u8; MAX_SERVICES];
    let s = s.min(MAX_SERVICES - 1);
    queue[0] = s as u8;
    let (mut head, mut tail) = (0, 1);
    let mut seen = bit(s);
    while head < tail {
        let u = queue[head] as usize;
        head += 1;
        if edges[u] & bit(s) != 0 {
            // Back from `u` to `s` through the parents.
            let (mut len, mut v) = (0, u);
            while len < MAX_SERVICES {
                path[len] = v as u8;
                len += 1;
                if v == s {
                    break;
                }
                v = parent[v] as usize;
            }
            path[..len].reverse();
            return (path, len);
        }
        let mut next = edges[u] & part & !seen;
        while next != 0 && tail < MAX_SERVICES {
            let v = next.trailing_zeros() as usize;
            next &= next - 1;
            seen |= bit(v);
            parent[v] = u as u8;
            queue[tail] = v as u8;
            tail += 1;
        }
    }
    // Not reached: `s` is on a cycle, which stays within its part.
    path[0] = s as u8;
    (path, 1)
}

/// `a -> b -> a`: the names of `path` and its first again, cut to fit
/// `out`. Returns the length and whether it was cut.
fn cycle_text(names: &[&[u8]], path: &[u8], out: &mut [u8]) -> (usize, bool) {
    let (mut len, mut cut) = (0, false);
    let first = path.first().copied().unwrap_or(0);
    for (k, &v) in path.iter().chain([first].iter()).enumerate() {
        let name = names.get(v as usize).copied().unwrap_or(b"?");
        let arrow: &[u8] = if k > 0 { b" -> " } else { b"" };
        for part in [arrow, name] {
            let m = part.len().min(out.len() - len);
            out[len..len + m].copy_from_slice(&part[..m]);
            len += m;
            cut |= m < part.len();
        }
    }
    (len, cut)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::pure::settings::{Output, Restart};
    use crate::util::limits::MAX_ENV;
    use std::boxed::Box;
    use std::string::String;
    use std::vec::Vec;
    use std::{format, vec};

    const EXAMPLE: &str = "\
# /etc/tinyd.conf
[tinyd]
pidfile = /var/run/tinyd.pid
control = /var/run/tinyd.sock
log = /var/log/tinyd.log

[web]
exec = /usr/sbin/httpd -f -p 8080 -h \"/srv/www root\"
user = www
chdir = /srv/www
restart = always
restart-delay = 1:60
stop-timeout = 5
log = /var/log/web.log
log-size = 256k
log-keep = 2
env = LANG=C
after = ntp

[ntp]
exec = ntpd -n -p 127.0.0.1
syslog = ntpd
restart = on-failure
";

    type Errs = Vec<(u32, &'static str, String)>;

    fn leak(text: &[u8]) -> &'static mut [u8] {
        Box::leak(text.to_vec().into_boxed_slice())
    }

    fn show(e: &Errors) -> Errs {
        e.iter()
            .map(|e| (e.line, e.msg, String::from_utf8_lossy(e.text).into_owned()))
            .collect()
    }

    fn ok(text: &str) -> Box<Config<'static>> {
        let mut cfg = Box::new(Config::new());
        if let Err(e) = parse_into(leak(text.as_bytes()), &mut cfg) {
            panic!("errors in {text:?}: {:?}", show(&e));
        }
        cfg
    }

    fn errors_more(text: &[u8]) -> (Errs, bool) {
        let mut cfg = Box::new(Config::new());
        match parse_into(leak(text), &mut cfg) {
            Ok(()) => panic!("accepted {:?}", String::from_utf8_lossy(text)),
            Err(e) => (show(&e), e.more),
        }
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        // It made line 1 "expected key = value or [section]" (issue 8,
        // defect 18).
        let cfg = ok("\u{feff}[web]\nexec = httpd\n");
        assert_eq!(cfg.services()[0].set.name, b"web");
        // Only at the start of the file: anywhere else it is text.
        assert_eq!(
            errors("[web]\nexec = httpd\n\u{feff}[ntp]\nexec = ntpd\n"),
            [
                e(3, "expected key = value or [section]", "\u{feff}[ntp]"),
                e(4, "duplicate key", "exec")
            ]
        );
    }

    fn errors(text: &str) -> Errs {
        let (list, more) = errors_more(text.as_bytes());
        assert!(!more);
        list
    }

    fn e(line: u32, msg: &'static str, text: &str) -> (u32, &'static str, String) {
        (line, msg, text.into())
    }

    fn words(w: &Words) -> Vec<String> {
        let v: Vec<String> = w
            .iter()
            .map(|c| String::from_utf8_lossy(c.to_bytes()).into_owned())
            .collect();
        assert_eq!(v.len(), w.count);
        v
    }

    /// The words of `exec = VALUE` in a one-service file.
    fn exec(value: &str) -> Vec<String> {
        let cfg = ok(&format!("[s]\nexec = {value}\n"));
        words(&cfg.services()[0].exec)
    }

    fn exec_error(value: &str) -> (&'static str, String) {
        let list = errors(&format!("[s]\nexec = {value}\n"));
        assert_eq!(list.len(), 1, "{list:?}");
        assert_eq!(list[0].0, 2);
        (list[0].1, list[0].2.clone())
    }

    #[test]
    fn example() {
        let cfg = ok(EXAMPLE);
        assert_eq!(
            cfg.global,
            Global {
                pidfile: Some(c"/var/run/tinyd.pid"),
                control: Some(c"/var/run/tinyd.sock"),
                log: Some(c"/var/log/tinyd.log"),
                foreground: false,
                deps: {
                    let mut d = Global::new().deps;
                    d[0].after = 0b10;
                    d
                },
            }
        );
        assert_eq!(cfg.services().len(), 2);
        let web = &cfg.services()[0];
        assert_eq!((web.set.name, web.line), (&b"web"[..], 7));
        assert_eq!(
            words(&web.exec),
            ["/usr/sbin/httpd", "-f", "-p", "8080", "-h", "/srv/www root"]
        );
        assert_eq!(web.exec.first(), c"/usr/sbin/httpd");
        assert_eq!(web.user(), Some((c"www", 9)));
        assert_eq!(web.set.chdir, c"/srv/www");
        assert_eq!(web.set.umask, 0o022);
        assert_eq!(web.set.policy.restart, Restart::Always);
        assert_eq!(
            (
                web.set.policy.delay_min,
                web.set.policy.delay_max,
                web.set.policy.stop_timeout
            ),
            (
                crate::pure::time::Ms(1000),
                crate::pure::time::Ms(60_000),
                crate::pure::time::Ms(5000)
            )
        );
        assert_eq!(web.set.output, Output::File(c"/var/log/web.log"));
        assert_eq!((web.set.log_size, web.set.log_keep), (256 * 1024, 2));
        assert_eq!(web.set.env[0], Some(c"LANG=C"));
        assert!(web.set.env[1..].iter().all(Option::is_none));
        let ntp = &cfg.services()[1];
        assert_eq!((ntp.set.name, ntp.line), (&b"ntp"[..], 20));
        assert_eq!(words(&ntp.exec), ["ntpd", "-n", "-p", "127.0.0.1"]);
        assert_eq!(ntp.set.output, Output::Syslog(b"ntpd"));
        assert_eq!(ntp.set.policy.restart, Restart::OnFailure);
        assert_eq!((ntp.user(), ntp.set.chdir), (None, c"/"));
        // parse() gives the same.
        let mut text = EXAMPLE.as_bytes().to_vec();
        let cfg2 = parse(&mut text).unwrap_or_else(|e| panic!("{:?}", show(&e)));
        assert!(same(&cfg2.services()[0], web) && same(&cfg2.services()[1], ntp));
        assert!(!same(web, ntp));
    }

    #[test]
    fn defaults_are_the_command_line_ones() {
        // No final newline, no spaces: the value ends the buffer.
        let cfg = ok("[a]\nexec=x");
        assert_eq!(cfg.global, Global::new());
        let s = &cfg.services()[0];
        assert_eq!(words(&s.exec), ["x"]);
        assert_eq!((s.set.name, s.line, s.user()), (&b"a"[..], 1, None));
        assert_eq!((s.set.chdir, s.set.umask), (c"/", 0o022));
        assert!(s.set.env.iter().all(Option::is_none));
        assert_eq!(s.set.output, Output::Inherit);
        assert_eq!((s.set.log_size, s.set.log_keep), (1 << 20, 2));
        assert_eq!(s.set.policy.restart, Restart::Always);
        assert_eq!(
            (
                s.set.policy.delay_min,
                s.set.policy.delay_max,
                s.set.policy.stop_timeout
            ),
            (
                crate::pure::time::Ms(1000),
                crate::pure::time::Ms(60_000),
                crate::pure::time::Ms(5000)
            )
        );
        // An empty file is fine: no services.
        assert_eq!(ok("").services().len(), 0);
        assert_eq!(ok("\n  \n# c\n\t# c\n").services().len(), 0);
    }

    #[test]
    fn every_key() {
        let cfg = ok("\r\n[tinyd]\r\nforeground=yes\r\n\
            [s]\r\n  \texec\t=  a  b\t\r\n umask = 0027\nuser=nobody:nogroup\n\
            env = A=1\nenv=B=\nenv = C=x # not a comment\nsyslog =\nlog-size = 1M\n\
            log-keep = 0\nrestart = never\nrestart-delay = 0.5\nstop-timeout = 2.5\n\
            chdir = /tmp/a b\n[t]\nexec=y\nsyslog=tag\n[tinyd2]\nexec=z");
        assert!(cfg.global.foreground);
        assert_eq!(cfg.services().len(), 3);
        let s = &cfg.services()[0];
        assert_eq!(words(&s.exec), ["a", "b"]);
        assert_eq!(s.line, 4);
        assert_eq!(s.set.umask, 0o027);
        assert_eq!(s.user(), Some((c"nobody:nogroup", 7)));
        assert_eq!(
            &s.set.env[..4],
            [
                Some(c"A=1"),
                Some(c"B="),
                Some(c"C=x # not a comment"),
                None
            ]
        );
        assert_eq!(s.set.output, Output::Syslog(b""));
        assert_eq!((s.set.log_size, s.set.log_keep), (1 << 20, 0));
        assert_eq!(s.set.policy.restart, Restart::Never);
        assert_eq!(
            (
                s.set.policy.delay_min,
                s.set.policy.delay_max,
                s.set.policy.stop_timeout
            ),
            (
                crate::pure::time::Ms(500),
                crate::pure::time::Ms(500),
                crate::pure::time::Ms(2500)
            )
        );
        assert_eq!(s.set.chdir, c"/tmp/a b");
        assert_eq!(cfg.services()[1].set.output, Output::Syslog(b"tag"));
        assert_eq!(cfg.services()[2].set.name, b"tinyd2");
        for (v, f) in [
            ("no", false),
            ("false", false),
            ("0", false),
            ("true", true),
            ("1", true),
        ] {
            assert_eq!(
                ok(&format!("[tinyd]\nforeground = {v}")).global.foreground,
                f
            );
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(
            exec(r#"a 'b c' "d \" e" f\ g"#),
            ["a", "b c", "d \" e", "f g"]
        );
        assert_eq!(
            exec(r#"x "a\b" 'a\"' "\$\`\\" a"b c"d "" '' \'"#),
            ["x", "a\\b", "a\\\"", "$`\\", "ab cd", "", "", "'"]
        );
        assert_eq!(exec("'x'"), ["x"]);
        assert_eq!(exec("a\t\tb  "), ["a", "b"]);
        assert_eq!(
            exec(r#""a'b" 'a"b' \\ \" \a"#),
            ["a'b", "a\"b", "\\", "\"", "a"]
        );
        assert_eq!(exec("'  '"), ["  "]);
        assert_eq!(
            exec_error("a 'b"),
            ("unterminated quote in exec", "a 'b".into())
        );
        assert_eq!(
            exec_error(r#"a "b\""#),
            ("unterminated quote in exec", r#"a "b\""#.into())
        );
        assert_eq!(
            exec_error("a\\"),
            ("backslash at end of exec", "a\\".into())
        );
        assert_eq!(
            exec_error("\"\" a"),
            ("empty command in exec", "\"\" a".into())
        );
        assert_eq!(exec_error("''"), ("empty command in exec", "''".into()));
        assert_eq!(exec_error(""), ("empty value", "exec".into()));
        assert_eq!(exec_error(" \t "), ("empty value", "exec".into()));
    }

    #[test]
    fn errors_with_lines() {
        let text = "\
foo = bar
[web]
exec = x
bogus = 1
exec = y
umask = 999
just text
= value
[web]
exec = z
[a/b]
[bad
restart = ignored
[tinyd]
foreground = maybe
exec = x
[tinyd]
[]
[with space]
exec = x";
        assert_eq!(
            errors(text),
            [
                e(1, "key outside a section", "foo"),
                e(4, "unknown key", "bogus"),
                e(5, "duplicate key", "exec"),
                e(6, "bad umask (octal, at most 0777)", "999"),
                e(7, "expected key = value or [section]", "just text"),
                e(8, "expected key = value or [section]", "= value"),
                e(9, "duplicate service", "web"),
                e(11, BAD_NAME, "a/b"),
                e(11, "missing exec", "a/b"),
                e(12, "bad section header", "[bad"),
                e(15, "bad foreground (yes or no)", "maybe"),
                e(16, "unknown key", "exec"),
                e(17, "duplicate section", "tinyd"),
                e(18, BAD_NAME, ""),
                e(18, "missing exec", ""),
                e(19, BAD_NAME, "with space"),
            ]
        );
        let text = "[s]
log-size = 10
log-keep = 100
restart = sometimes
restart-delay = 5:1
stop-timeout = abc
env = NOEQUALS
env = =v
user =
chdir =
log = /x
syslog = tag
pidfile = /p
exec = a\0b
[tinyd]
pidfile =
control = \t
[t]
exec = x
log =
syslog = x
log-size = 1023
umask=
restart-delay = 1:
log-keep = -1";
        let (list, more) = errors_more(text.as_bytes());
        assert!(more);
        assert_eq!(
            list,
            [
                e(1, "missing exec", "s"),
                e(2, "bad log-size (bytes, suffix k or M, at least 1k)", "10"),
                e(3, "bad log-keep (0 to 99)", "100"),
                e(4, "bad restart (always, on-failure or never)", "sometimes"),
                e(5, "bad restart-delay (seconds: MIN[:MAX])", "5:1"),
                e(6, "bad stop-timeout (seconds)", "abc"),
                e(7, "expected NAME=VALUE", "NOEQUALS"),
                e(8, "expected NAME=VALUE", "=v"),
                e(9, "empty value", "user"),
                e(10, "empty value", "chdir"),
                e(12, "log and syslog are exclusive", "syslog"),
                e(13, "unknown key", "pidfile"),
                e(14, "NUL byte in line", ""),
                e(16, "empty value", "pidfile"),
                e(17, "empty value", "control"),
                e(20, "empty value", "log"),
            ]
        );
        // The rest of it. `log =` is an error but still counts for
        // exclusivity.
        let rest = text.split('\n').skip(17).collect::<Vec<_>>().join("\n");
        assert_eq!(
            errors(&rest),
            [
                e(3, "empty value", "log"),
                e(4, "log and syslog are exclusive", "syslog"),
                e(
                    5,
                    "bad log-size (bytes, suffix k or M, at least 1k)",
                    "1023"
                ),
                e(6, "bad umask (octal, at most 0777)", ""),
                e(7, "bad restart-delay (seconds: MIN[:MAX])", "1:"),
                e(8, "bad log-keep (0 to 99)", "-1"),
            ]
        );
    }

    #[test]
    fn syslog_tags_are_names() {
        let long = "t".repeat(65);
        let text = std::format!("[a]\nexec = x\nsyslog = {long}\n[b]\nexec = y\nsyslog = a b\n");
        let bad = "bad syslog tag (1-64 printable characters, no '/')";
        assert_eq!(
            errors_more(text.as_bytes()).0,
            [e(3, bad, &long), e(6, bad, "a b")]
        );
        assert_eq!(
            ok("[a]\nexec = x\nsyslog = ntp").services()[0].set.output,
            Output::Syslog(b"ntp")
        );
    }

    #[test]
    fn names_are_printable_ascii() {
        // Found by fuzz/fuzz_targets/config.rs (corpus non-ascii-name.conf):
        // a service `tinyd ctl` cannot name (not printable ASCII) was
        // accepted.
        assert_eq!(
            errors_more(b"[\xe1[s]\nexec = x\n[a\x7f]\nexec = y\n[~b!]\nexec = z\n").0,
            [e(1, BAD_NAME, "\u{fffd}[s"), e(3, BAD_NAME, "a\x7f")]
        );
        assert_eq!(ok("[~b!]\nexec = z").services()[0].set.name, b"~b!");
    }

    #[test]
    fn more_errors_than_kept() {
        let mut text = String::from("[a]\nexec=x\n");
        for _ in 0..20 {
            text.push_str("bogus\n");
        }
        let (list, more) = errors_more(text.as_bytes());
        assert!(more);
        assert_eq!(list.len(), CONFIG_MAX_ERRORS);
        assert_eq!(
            list[15],
            e(18, "expected key = value or [section]", "bogus")
        );
        // Exactly 16: not "more".
        let text = "[a]\nexec=x\n".to_string() + &"bogus\n".repeat(16);
        let (list, more) = errors_more(text.as_bytes());
        assert_eq!((list.len(), more), (16, false));
    }

    #[test]
    fn service_limit() {
        let mut text = String::new();
        for i in 0..MAX_SERVICES {
            text.push_str(&format!("[s{i}]\nexec = x\n"));
        }
        let cfg = ok(&text);
        assert_eq!(cfg.services().len(), MAX_SERVICES);
        assert_eq!(cfg.services()[63].set.name, b"s63");
        text.push_str("[s64]\nexec = x\n[s65]\nexec = x\n[s0]\nexec = x\n");
        assert_eq!(
            errors(&text),
            [
                e(129, "too many services (at most 64)", "s64"),
                e(133, "duplicate service", "s0")
            ]
        );
    }

    #[test]
    fn word_and_env_limits() {
        let w64 = vec!["w"; MAX_WORDS].join(" ");
        assert_eq!(exec(&w64).len(), MAX_WORDS);
        let w65 = format!("{w64} w");
        assert_eq!(
            exec_error(&w65),
            ("too many words in exec (at most 64)", w65)
        );
        let mut text = String::from("[s]\nexec = x\n");
        for i in 0..MAX_ENV {
            text.push_str(&format!("env = V{i}=1\n"));
        }
        let cfg = ok(&text);
        assert_eq!(cfg.services()[0].set.env[MAX_ENV - 1], Some(c"V31=1"));
        text.push_str("env = X=1\n");
        assert_eq!(errors(&text), [e(35, "too many env (at most 32)", "X=1")]);
    }

    #[test]
    fn line_and_file_limits() {
        let long = "a".repeat(CONFIG_LINE_MAX - "exec = ".len());
        assert_eq!(exec(&long), [long.as_str()]);
        let text = format!("[s]\nexec = {long}b\n");
        assert_eq!(
            errors(&text),
            [
                e(1, "missing exec", "s"),
                e(
                    2,
                    "line too long (at most 1024 bytes)",
                    &format!("exec = {}", &long[..57])
                ),
            ]
        );
        // A file of exactly CONFIG_MAX bytes is read; one more is refused.
        let mut text = String::from("[s]\nexec = x\n");
        while text.len() < CONFIG_MAX {
            let n = (CONFIG_MAX - text.len()).min(100);
            text.push_str(&"#".repeat(n - 1));
            text.push('\n');
        }
        assert_eq!(text.len(), CONFIG_MAX);
        assert_eq!(ok(&text).services().len(), 1);
        text.push('\n');
        assert_eq!(errors(&text), [e(0, "file too large (at most 32 KiB)", "")]);
    }

    #[test]
    fn same_settings() {
        let a = ok("[w]\nexec = /bin/httpd -p 80\nuser = www\nenv = A=1\nlog = /l\n");
        let b = ok(
            "# moved\n\n[x]\nexec=y\n[w]\n  log=/l\nenv=A=1\nuser =www\n\
            exec = \"/bin/httpd\" '-p' 8\\0\numask = 022\n",
        );
        let (a, b) = (&a.services()[0], &b.services()[1]);
        assert_ne!((a.line, a.user().unwrap().1), (b.line, b.user().unwrap().1));
        assert!(same(a, b) && same(b, a) && same(a, a));
        let changes: [fn(&mut Service<'static>); 15] = [
            |s| s.set.name = b"v",
            |s| s.exec.bytes = b"/bin/httpd\0-p\080\0\0",
            |s| {
                s.exec = Words {
                    bytes: b"/bin/httpd\0-p 80\0",
                    count: 2,
                }
            },
            |s| s.set.user = Some(c"www2"),
            |s| s.set.user = None,
            |s| s.set.chdir = c"/tmp",
            |s| s.set.umask = 0o027,
            |s| s.set.env[1] = Some(c"B=2"),
            |s| s.set.output = Output::File(c"/l2"),
            |s| s.set.output = Output::Syslog(b""),
            |s| s.set.log_size = 4096,
            |s| s.set.log_keep = 3,
            |s| s.set.policy.restart = Restart::Never,
            |s| s.set.policy.delay_max = crate::pure::time::Ms(1000),
            |s| s.set.policy.stop_timeout = crate::pure::time::Ms(1),
        ];
        for (i, change) in changes.iter().enumerate() {
            let mut c = *a;
            change(&mut c);
            assert!(!same(a, &c) && !same(&c, a), "change {i}");
        }
        let mut c = *a;
        c.set.policy.delay_min = crate::pure::time::Ms(2000);
        assert!(!same(a, &c));
    }

    /// Each service's `(needs, after)` masks.
    fn deps(text: &str) -> Vec<(u64, u64)> {
        let cfg = ok(text);
        let (used, rest) = cfg.global.deps.split_at(cfg.count);
        assert!(rest.iter().all(|d| *d == Deps::default()));
        used.iter().map(|d| (d.needs, d.after)).collect()
    }

    #[test]
    fn dependencies_by_position() {
        // Backward and forward references, both kinds, a name twice,
        // blanks of both kinds.
        assert_eq!(
            deps(
                "[db]\nexec = x\n[web]\nexec = y\nneeds = db cache\nafter = log\t db\n\
                 [cache]\nexec = z\nafter =  db db \n[log]\nexec = w\n"
            ),
            [(0, 0), (0b101, 0b1001), (0, 0b1), (0, 0)]
        );
        // The same service in both lists.
        assert_eq!(
            deps("[a]\nexec = x\n[b]\nexec = y\nneeds = a\nafter = a\n"),
            [(0, 0), (1, 1)]
        );
        let cfg = ok("[a]\nexec = x\nneeds = b\n[b]\nexec = y\n");
        assert_eq!(cfg.services()[0].lines[NEEDS], 3);
        assert_eq!(cfg.services()[0].set.needs, b"b");
    }

    #[test]
    fn unknown_services() {
        let text = "[a]\nexec = x\nneeds = b zz\n[b]\nexec = y\nafter = c z tinyd\n\n\
                    [c]\nexec = z\nafter = d/e\nneeds = c\n";
        assert_eq!(
            errors(text),
            [
                e(3, "unknown service in needs", "zz"),
                e(6, "unknown service in after", "z"),
                e(6, "unknown service in after", "tinyd"),
                e(10, BAD_NAME, "d/e"),
                e(11, "dependency cycle", "c -> c"),
            ]
        );
        // Checked along with other errors...
        assert_eq!(
            errors("[a]\nexec = x\nneeds = b\numask = 9\n[a]\nexec = y\n"),
            [
                e(3, "unknown service in needs", "b"),
                e(4, "bad umask (octal, at most 0777)", "9"),
                e(5, "duplicate service", "a"),
            ]
        );
        // ...but not when a name was lost: it might be the one named.
        assert_eq!(
            errors("[a]\nexec = x\nneeds = b c\n[b/]\nexec = y\n"),
            [e(4, BAD_NAME, "b/")]
        );
        assert_eq!(
            errors("[a]\nexec = x\nafter = b\n[b\nexec = y\n"),
            [e(4, "bad section header", "[b")]
        );
    }

    #[test]
    fn cycles_are_reported_once() {
        assert_eq!(
            errors("[a]\nexec = x\nafter = a\n"),
            [e(3, "dependency cycle", "a -> a")]
        );
        // At the key that makes the first edge, in the cycle's first
        // service in the file.
        assert_eq!(
            errors(
                "[a]\nexec = x\nneeds = z\nafter = b\n[b]\nexec = y\nneeds = a\n[z]\nexec = z\n"
            ),
            [e(4, "dependency cycle", "a -> b -> a")]
        );
        let three = "[x]\nexec = x\n[c]\nexec = c\nneeds = a\n[a]\nexec = a\nneeds = x\n\
                     after = b\n[b]\nexec = b\nneeds = c\n";
        assert_eq!(
            errors(three),
            [e(5, "dependency cycle", "c -> a -> b -> c")]
        );
        // Two cycles through the same services: the shortest from the
        // first, once. Disjoint ones: each.
        assert_eq!(
            errors(
                "[a]\nexec = x\nneeds = c b\n[b]\nexec = y\nneeds = a\n[c]\nexec = z\nneeds = b\n"
            ),
            [e(3, "dependency cycle", "a -> b -> a")]
        );
        assert_eq!(
            errors(
                "[a]\nexec = x\nneeds = b\n[b]\nexec = y\nafter = a\n[c]\nexec = z\nneeds = c\n"
            ),
            [
                e(3, "dependency cycle", "a -> b -> a"),
                e(9, "dependency cycle", "c -> c")
            ]
        );
    }

    /// A file of services `s0`, `s1`... whose `[needs, after]` are these
    /// positions, and the line of each key (0: not given).
    fn render(lists: &[[Vec<usize>; 2]]) -> (String, Vec<[u32; 2]>) {
        let (mut text, mut line, mut lines) = (String::new(), 0, Vec::new());
        for (i, l) in lists.iter().enumerate() {
            text += &format!("[s{i}]\nexec = x\n");
            line += 2;
            let mut at = [0; 2];
            for (kind, key) in ["needs", "after"].iter().enumerate() {
                if !l[kind].is_empty() {
                    let names: Vec<String> = l[kind].iter().map(|j| format!("s{j}")).collect();
                    text += &format!("{key} = {}\n", names.join(" "));
                    line += 1;
                    at[kind] = line;
                }
            }
            lines.push(at);
        }
        (text, lines)
    }

    fn masks(lists: &[[Vec<usize>; 2]]) -> Vec<(u64, u64)> {
        let m = |l: &Vec<usize>| l.iter().fold(0, |m, &j| m | bit(j));
        lists.iter().map(|l| (m(&l[0]), m(&l[1]))).collect()
    }

    #[test]
    fn long_chains() {
        // Each after the one after it; each needs the one before it.
        let mut lists = vec![[Vec::new(), Vec::new()]; MAX_SERVICES];
        for (i, l) in lists.iter_mut().enumerate().take(MAX_SERVICES - 1) {
            l[1].push(i + 1);
        }
        assert_eq!(deps(&render(&lists).0), masks(&lists));
        let mut lists = vec![[Vec::new(), Vec::new()]; MAX_SERVICES];
        for (i, l) in lists.iter_mut().enumerate().skip(1) {
            l[0].push(i - 1);
        }
        assert_eq!(deps(&render(&lists).0), masks(&lists));
        // Closed: one cycle through all 64, its text cut.
        lists[0][0].push(MAX_SERVICES - 1);
        let (text, lines) = render(&lists);
        let all: Vec<String> = (0..MAX_SERVICES).rev().map(|i| format!("s{i}")).collect();
        let full = format!("s0 -> {} -> s0", all.join(" -> "));
        let cut = format!("{}...", &full[..MADE_ONE - 3]);
        assert_eq!(errors(&text), [e(lines[0][0], "dependency cycle", &cut)]);
        // Texts past the room kept for them are cut, then empty.
        let long = |c: char, i: u8| format!("{}{i}", String::from(c).repeat(60));
        let mut text = String::new();
        for c in ['a', 'b', 'c'] {
            let (x, y) = (long(c, 1), long(c, 2));
            text += &format!("[{x}]\nexec = x\nneeds = {y}\n[{y}]\nexec = x\nneeds = {x}\n");
        }
        let (x, y) = (long('a', 1), long('a', 2));
        let first = format!("{x} -> {y} -> {x}");
        let first = format!("{}...", &first[..MADE_ONE - 3]);
        let second = first.replace('a', "b");
        assert_eq!(
            errors(&text),
            [
                e(3, "dependency cycle", &first),
                e(9, "dependency cycle", &second),
                e(15, "dependency cycle", ""),
            ]
        );
    }

    /// The result of parsing `text`, or its errors.
    fn attempt(text: &str) -> Result<Box<Config<'static>>, Errs> {
        let mut cfg = Box::new(Config::new());
        match parse_into(leak(text.as_bytes()), &mut cfg) {
            Ok(()) => Ok(cfg),
            Err(e) => Err(show(&e)),
        }
    }

    #[test]
    fn random_graphs() {
        let mut whole = 0;
        for seed in 1..=400u64 {
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            // Edges from later to earlier positions only: no cycle.
            let n = 1 + rng.below(MAX_SERVICES);
            let mut lists = vec![[Vec::new(), Vec::new()]; n];
            for (i, l) in lists.iter_mut().enumerate().skip(1) {
                for _ in 0..rng.below(5) {
                    l[rng.below(2)].push(rng.below(i));
                }
            }
            let (text, _) = render(&lists);
            let cfg = attempt(&text).unwrap_or_else(|e| panic!("seed {seed}: {e:?}"));
            let got: Vec<_> = cfg.global.deps[..n]
                .iter()
                .map(|d| (d.needs, d.after))
                .collect();
            assert_eq!(got, masks(&lists), "seed {seed}");
            // One edge back from `k` to `i` (`k <= i`, reached from `i`)
            // closes a cycle, found from `k` (the first on it) going to
            // `i`, then as few steps as there are back to `k`.
            let i = rng.below(n);
            let mut dist = vec![usize::MAX; n];
            dist[i] = 0;
            for v in (0..=i).rev() {
                for &j in lists[v].iter().flatten() {
                    if dist[v] != usize::MAX {
                        dist[j] = dist[j].min(dist[v] + 1);
                    }
                }
            }
            let reached: Vec<usize> = (0..n).filter(|&v| dist[v] != usize::MAX).collect();
            let k = reached[rng.below(reached.len())];
            let kind = rng.below(2);
            lists[k][kind].push(i);
            let (text, lines) = render(&lists);
            let list = attempt(&text)
                .err()
                .unwrap_or_else(|| panic!("seed {seed}: accepted"));
            assert_eq!(list.len(), 1, "seed {seed}: {list:?}");
            let (line, msg, cycle) = &list[0];
            assert_eq!(
                (*line, *msg),
                (lines[k][kind], "dependency cycle"),
                "seed {seed}"
            );
            if cycle.ends_with("...") {
                assert_eq!(cycle.len(), MADE_ONE, "seed {seed}");
                assert!(cycle.starts_with(&format!("s{k} -> ")), "seed {seed}");
                continue;
            }
            let path: Vec<usize> = cycle
                .split(" -> ")
                .map(|s| s[1..].parse().unwrap())
                .collect();
            assert_eq!(path.len(), dist[k] + 2, "seed {seed}: {cycle}");
            assert_eq!(
                (path[0], path[1], path[path.len() - 1]),
                (k, i, k),
                "seed {seed}"
            );
            for w in path.windows(2) {
                assert!(
                    lists[w[0]].iter().flatten().any(|&j| j == w[1]),
                    "seed {seed}: {cycle}"
                );
            }
            whole += (path.len() > 3) as usize;
        }
        assert!(whole > 50, "{whole}");
    }

    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// Parses without panicking; on success checks what can be checked.
    fn survive(text: &[u8]) -> bool {
        let mut buf = text.to_vec();
        let mut cfg = Box::new(Config::new());
        match parse_into(&mut buf, &mut cfg) {
            Ok(()) => {
                for s in cfg.services() {
                    assert!(s.exec.count >= 1 && s.exec.count <= MAX_WORDS);
                    assert_eq!(s.exec.iter().count(), s.exec.count);
                    assert!(!s.exec.first().is_empty());
                }
                let all = bit(cfg.count).wrapping_sub(1);
                for (i, d) in cfg.global.deps.iter().enumerate() {
                    let m = d.needs | d.after;
                    assert!(m & !all == 0 && m & bit(i) == 0);
                    assert!(i < cfg.count || m == 0);
                }
                true
            }
            Err(e) => {
                assert!(e.len >= 1 && e.len <= CONFIG_MAX_ERRORS);
                assert!(e.iter().all(|e| e.text.len() <= CONFIG_LINE_MAX));
                assert!(e.as_slice().windows(2).all(|w| w[0].line <= w[1].line));
                false
            }
        }
    }

    #[test]
    fn fuzz_never_panics() {
        let ex = EXAMPLE.as_bytes();
        for i in 0..=ex.len() {
            survive(&ex[..i]);
        }
        for i in 0..ex.len() {
            for b in [
                0, b'\n', b'"', b'\'', b'\\', b'=', b'[', b']', b' ', b'#', 0xff, b'\t',
            ] {
                let mut m = ex.to_vec();
                m[i] = b;
                survive(&m);
                m.insert(i, b);
                survive(&m);
                m.remove(i);
                m.remove(i);
                survive(&m);
            }
        }
        let pieces: [&[u8]; 27] = [
            b"[", b"]", b"=", b" ", b"\n", b"\t", b"\"", b"'", b"\\", b"#", b"exec", b"env",
            b"log", b"syslog", b"tinyd", b"user", b"a", b"A=1", b"1:60", b"\0", b"\r", b"k",
            b"restart", b"\xff", b"needs", b"after", b"b",
        ];
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut accepted = 0;
        for _ in 0..20_000 {
            let mut t = Vec::new();
            for _ in 0..rng.below(60) {
                t.extend_from_slice(pieces[rng.below(pieces.len())]);
            }
            accepted += survive(&t) as usize;
        }
        for _ in 0..2_000 {
            let t: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
            survive(&t);
        }
        assert!(accepted > 0);
    }

    /// sh-like splitting with std, to check the in-place one against.
    fn reference(s: &[u8]) -> Option<Vec<Vec<u8>>> {
        let mut words = Vec::new();
        let mut cur: Option<Vec<u8>> = None;
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            i += 1;
            match c {
                b' ' | b'\t' => words.extend(cur.take()),
                b'\'' => {
                    let w = cur.get_or_insert_with(Vec::new);
                    loop {
                        let c = *s.get(i)?;
                        i += 1;
                        if c == b'\'' {
                            break;
                        }
                        w.push(c);
                    }
                }
                b'"' => {
                    let w = cur.get_or_insert_with(Vec::new);
                    loop {
                        let c = *s.get(i)?;
                        i += 1;
                        match c {
                            b'"' => break,
                            b'\\' if matches!(s.get(i), Some(b'"' | b'\\' | b'$' | b'`')) => {
                                w.push(s[i]);
                                i += 1;
                            }
                            _ => w.push(c),
                        }
                    }
                }
                b'\\' => {
                    cur.get_or_insert_with(Vec::new).push(*s.get(i)?);
                    i += 1;
                }
                _ => cur.get_or_insert_with(Vec::new).push(c),
            }
        }
        words.extend(cur);
        Some(words)
    }

    #[test]
    fn unquoting_matches_reference() {
        let alphabet = b"ab $`\t\"'\\";
        let mut rng = Rng(12345);
        let mut checked = 0;
        for _ in 0..20_000 {
            let value: Vec<u8> = (0..rng.below(24))
                .map(|_| alphabet[rng.below(alphabet.len())])
                .collect();
            let (s, e) = trim(&value, 0, value.len());
            let value = &value[s..e];
            let mut text = b"[s]\nexec =".to_vec();
            text.extend_from_slice(&[b' '; 3][..rng.below(4)]);
            text.extend_from_slice(value);
            let mut cfg = Box::new(Config::new());
            let got = parse_into(&mut text, &mut cfg).ok().map(|()| {
                let w = &cfg.services()[0].exec;
                w.iter().map(|c| c.to_bytes().to_vec()).collect::<Vec<_>>()
            });
            let want = reference(value)
                .filter(|w| !w.is_empty() && !w[0].is_empty() && w.len() <= MAX_WORDS);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(value));
            checked += want.is_some() as usize;
        }
        assert!(checked > 1000);
    }

    #[test]
    fn every_key_reads_as_in_the_table() {
        for (i, row) in SETTINGS.iter().enumerate() {
            if row.on == settings::On::Line {
                assert_eq!(
                    errors(&format!("[x]\nexec = x\n{} = a\n", row.key)),
                    [e(3, "unknown key", row.key)]
                );
                continue;
            }
            let v = settings::example(row.key).to_str().unwrap();
            let mut want = Settings::new(b"x");
            assert_eq!((row.parse)(&mut want, settings::example(row.key)), Ok(()));
            // The services the examples of needs and after name.
            let named = "[db]\nexec = d\n[net]\nexec = n\n[fw]\nexec = f\n";
            let cfg = ok(&format!("[x]\nexec = x\n\n{} = {v}\n{named}", row.key));
            let s = &cfg.services()[0];
            assert_eq!(s.set, want, "{}", row.key);
            assert_eq!(s.lines[i], 4);
            assert!(s.lines.iter().enumerate().all(|(j, &n)| j == i || n == 0));
            let twice = format!("[x]\nexec = x\n{0} = {v}\n{0} = {v}\n{named}", row.key);
            if row.repeat {
                ok(&twice);
            } else {
                assert_eq!(errors(&twice), [e(4, "duplicate key", row.key)]);
            }
        }
    }

    #[test]
    fn config_size() {
        // For the record: it lives in static storage, not on the stack.
        assert!(core::mem::size_of::<Config>() < 56 * 1024);
        assert!(core::mem::size_of::<Errors>() < 1024);
    }
}
