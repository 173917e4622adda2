//! The house rules that a compiler cannot check, checked over the source tree: time comes
//! from the injected clock, every module says why it exists, and no file grows past about
//! 600 lines without saying why at its top.

use std::path::{Path, PathBuf};

/// Past this many lines a file must carry a `//! Size:` line in its opening comment.
const MAX_LINES: usize = 600;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 50, "only {} files read", files.len());
    files
        .into_iter()
        .map(|f| {
            let text = std::fs::read_to_string(&f).unwrap();
            (f, text)
        })
        .collect()
}

/// The opening `//!` comment of a file.
fn opening_comment(text: &str) -> Vec<&str> {
    text.lines().take_while(|l| l.starts_with("//!")).collect()
}

/// Time comes from a `Clock`, so tests move it instead of sleeping: nothing else in the
/// service reads the wall clock.
#[test]
fn no_module_but_the_clock_reads_the_wall_clock() {
    let forbidden = [concat!("Utc::", "now()"), concat!("SystemTime::", "now()")];
    let mut found = Vec::new();
    for (f, text) in sources() {
        if f.ends_with("src/clock.rs") {
            continue;
        }
        for (n, line) in text.lines().enumerate() {
            if forbidden.iter().any(|w| line.contains(w)) {
                found.push(format!("{}:{}", f.display(), n + 1));
            }
        }
    }
    assert!(found.is_empty(), "read the injected Clock instead: {found:?}");
}

#[test]
fn every_module_opens_with_a_comment_saying_why_it_exists() {
    let bare: Vec<_> = sources()
        .into_iter()
        .filter(|(_, text)| opening_comment(text).iter().all(|l| l.trim_start_matches("//!").trim().is_empty()))
        .map(|(f, _)| f.display().to_string())
        .collect();
    assert!(bare.is_empty(), "modules without a why-comment: {bare:?}");
}

#[test]
fn no_file_grows_past_the_size_rule_without_a_reason_at_its_top() {
    let mut over = Vec::new();
    for (f, text) in sources() {
        let lines = text.lines().count();
        let reasoned = opening_comment(&text).iter().any(|l| l.starts_with("//! Size: "));
        if lines > MAX_LINES && !reasoned {
            over.push(format!("{} ({lines} lines)", f.display()));
        }
    }
    assert!(over.is_empty(), "split these or say why at the top (`//! Size: …`): {over:?}");
}
