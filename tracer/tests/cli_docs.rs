//! `tracer completions` and `tracer man`, checked by the programs that will read them: the
//! bash, zsh and fish scripts must parse (`bash -n`, `zsh -n`, `fish -n`), and every man page
//! must render with `man -l` without a single groff warning. `cargo xtask setup` installs zsh,
//! fish and man-db; a missing one fails the test (it cannot pass without checking).
use std::{
    path::{Path, PathBuf},
    process::Command,
};

const TRACER: &str = env!("CARGO_BIN_EXE_tracer");
const SUBCOMMANDS: &[&str] = &[
    "record",
    "report",
    "compare",
    "agent",
    "targets",
    "completions",
    "man",
];

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tracer-issue-17-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn tracer(args: &[&str]) -> Vec<u8> {
    let output = Command::new(TRACER)
        .args(args)
        .output()
        .expect("tracer runs");
    assert!(
        output.status.success(),
        "tracer {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Runs `program args file`; fails on a non-zero exit or anything on stderr.
fn check_quietly(program: &str, args: &[&str], file: &Path, env: &[(&str, &str)]) -> String {
    let output = Command::new(program)
        .args(args)
        .arg(file)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|error| panic!("{program} must be installed (cargo xtask setup): {error}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stderr.is_empty(),
        "{program} {args:?} {}: {}\n{stderr}",
        file.display(),
        output.status
    );
    plain(&String::from_utf8_lossy(&output.stdout))
}

/// The text of nroff output without its overstrikes (`X\bX` is bold X, `_\bX` underlined).
fn plain(nroff: &str) -> String {
    let mut text = String::with_capacity(nroff.len());
    let mut chars = nroff.chars();
    while let Some(c) = chars.next() {
        if c == '\u{8}' {
            text.pop();
            if let Some(next) = chars.next() {
                text.push(next);
            }
        } else {
            text.push(c);
        }
    }
    text
}

#[test]
fn completion_scripts_parse_in_their_shells() {
    let dir = scratch("completions");
    for (shell, checker, file) in [
        ("bash", "bash", "tracer.bash"),
        ("zsh", "zsh", "_tracer"),
        ("fish", "fish", "tracer.fish"),
    ] {
        let script = tracer(&["completions", shell]);
        let text = String::from_utf8_lossy(&script);
        for sub in SUBCOMMANDS {
            assert!(text.contains(sub), "{shell} completions lack `{sub}`");
        }
        assert!(
            text.contains("duration"),
            "{shell} completions lack record's flags"
        );
        let path = dir.join(file);
        std::fs::write(&path, &script).expect("write script");
        check_quietly(checker, &["-n"], &path, &[]);
    }
    for shell in ["elvish", "powershell"] {
        let script = String::from_utf8(tracer(&["completions", shell])).expect("utf-8");
        assert!(
            script.contains("record") && script.contains("--duration"),
            "{shell}"
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_broken_script_is_caught_by_the_syntax_checks() {
    // The checks above can fail: each shell refuses a script with a syntax error.
    let dir = scratch("broken");
    let path = dir.join("broken");
    std::fs::write(&path, "if then fi (\n").expect("write");
    for shell in ["bash", "zsh", "fish"] {
        let status = Command::new(shell)
            .arg("-n")
            .arg(&path)
            .output()
            .expect("shell runs");
        assert!(
            !status.status.success(),
            "{shell} -n accepted a broken script"
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn every_man_page_renders_without_warnings() {
    let dir = scratch("man");
    tracer(&["man", "--dir", dir.to_str().expect("utf-8 temp dir")]);
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .expect("list pages")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .into_string()
                .expect("utf-8")
        })
        .collect();
    pages.sort();
    let mut expected: Vec<String> = SUBCOMMANDS
        .iter()
        .map(|sub| format!("tracer-{sub}.1"))
        .collect();
    expected.push("tracer.1".into());
    expected.sort();
    assert_eq!(pages, expected);
    let env = [("MANWIDTH", "80"), ("MAN_KEEP_FORMATTING", "0")];
    for page in &pages {
        let text = check_quietly(
            "man",
            &["--warnings", "-E", "UTF-8", "-l"],
            &dir.join(page),
            &env,
        );
        let name = page.trim_end_matches(".1");
        assert!(
            text.contains(&name.to_uppercase()) || text.contains(name),
            "{page}: {text}"
        );
    }
    let record = check_quietly(
        "man",
        &["--warnings", "-E", "UTF-8", "-l"],
        &dir.join("tracer-record.1"),
        &env,
    );
    assert!(
        record.contains("--duration"),
        "the record page lists --duration:\n{record}"
    );
    // `tracer man` without --dir prints tracer.1 itself.
    assert_eq!(
        tracer(&["man"]),
        std::fs::read(dir.join("tracer.1")).expect("tracer.1")
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn a_page_with_an_unknown_macro_is_caught() {
    let dir = scratch("bad-man");
    let path = dir.join("bad.1");
    std::fs::write(&path, ".TH BAD 1\n.SH NAME\nbad \\- page\n.NOSUCHMACRO x\n").expect("write");
    let output = Command::new("man")
        .args(["--warnings", "-E", "UTF-8", "-l"])
        .arg(&path)
        .env("MANWIDTH", "80")
        .output()
        .expect("man runs");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("warning"),
        "man --warnings reports an undefined macro"
    );
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
