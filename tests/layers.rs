//! The source layout holds its rules (src/lib.rs): each layer uses only the
//! layers before it, the pure layers make no syscall, and every folder
//! says what it is for and what it must never do. Unsafe code is held by
//! the compiler (`deny(unsafe_code)` in lib.rs).

use std::fs;
use std::path::{Path, PathBuf};

/// The layers, in the order imports may point: each one may use those
/// before it, never one after it.
const ORDER: &[&str] = &["util", "pure", "arch", "os", "log", "sup", "app"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Each file's layer, and the code of it (comments dropped).
fn sources() -> Vec<(usize, PathBuf, String)> {
    let mut v = Vec::new();
    for (rank, layer) in ORDER.iter().enumerate() {
        let mut fs_ = Vec::new();
        files(&src().join(layer), &mut fs_);
        assert!(!fs_.is_empty(), "src/{layer}/ has no files");
        for f in fs_ {
            let code: String = fs::read_to_string(&f)
                .unwrap()
                .lines()
                .map(|l| match l.find("//") {
                    Some(i) => &l[..i],
                    None => l,
                })
                .collect::<Vec<_>>()
                .join("\n");
            v.push((rank, f, code));
        }
    }
    v
}

#[test]
fn imports_point_one_way() {
    let mut bad = Vec::new();
    for (rank, f, code) in sources() {
        for layer in &ORDER[rank + 1..] {
            for prefix in ["crate::", "super::super::"] {
                let used = format!("{prefix}{layer}::");
                if code.contains(&used) {
                    bad.push(format!("{} uses {layer} (a later layer)", f.display()));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn pure_and_util_make_no_syscall() {
    let mut bad = Vec::new();
    for (rank, f, code) in sources() {
        if ORDER[rank] != "pure" && ORDER[rank] != "util" {
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            // rustix's Errno is a value (to print or return), not a call.
            if line.contains("rustix") && !line.contains("rustix::io::Errno") {
                bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
            if line.contains("crate::arch") || line.contains("sc::") {
                bad.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_folder_says_what_it_is_for_and_must_never_do() {
    for layer in ORDER {
        let m = src().join(layer).join("mod.rs");
        let text = fs::read_to_string(&m).unwrap_or_else(|e| panic!("{}: {e}", m.display()));
        let doc: String = text
            .lines()
            .take_while(|l| l.starts_with("//!"))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(doc.len() > 100, "{} opens with what it is for", m.display());
        assert!(
            doc.contains("Never") || doc.contains("never") || doc.contains("must not"),
            "{} says what it must never do",
            m.display()
        );
    }
    // No module outside the layers, but the entry point and the crate root.
    let top: Vec<String> = fs::read_dir(src())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rs"))
        .collect();
    let mut top = top;
    top.sort();
    assert_eq!(top, ["lib.rs", "main.rs"]);
}
