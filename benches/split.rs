//! Splitting and checking throughput, and the peak memory of `aurora-migrate check`.
//!
//! Prints, for a generated 50 MB file of multi-row INSERTs and for the real-world corpus (`AURORA_MIGRATE_CORPUS`):
//! sqlparser's bare tokenizer over the same text, split only, and split + check (parse, limits), in
//! MB/s, with the split's cost as a ratio of the tokenizer's; then the peak RSS of the release
//! `aurora-migrate check` on the 50 MB file beside the file's size. Run with `cargo bench --bench split`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use aurora_migrate::check_migration;
use aurora_migrate::Script;
use sqlparser::dialect::MySqlDialect;
use sqlparser::tokenizer::Tokenizer;

const TARGET_MB: usize = 50;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("split benchmark: skipped (run it with `cargo bench --bench split`)");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let big = dir.path().join("V1__data.sql");
    std::fs::write(&big, generate(TARGET_MB << 20)).expect("write");
    let size = std::fs::metadata(&big).expect("stat").len() as usize;

    // First, while this process is small: a child's peak RSS starts from its parent's at fork.
    let peak = peak_rss_of_check(dir.path());

    println!(
        "{:<28} {:>10} {:>12} {:>12} {:>14} {:>12}",
        "input", "MB", "tokenizer", "split", "split+check", "split/tok"
    );
    row("generated multi-row INSERTs", std::slice::from_ref(&big));
    let corpus = match std::env::var_os("AURORA_MIGRATE_CORPUS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus"),
    };
    if corpus.is_dir() {
        row("corpus (120 files)", &sql_files(&corpus));
    } else {
        println!("corpus: SKIPPED (no corpus at {}; set AURORA_MIGRATE_CORPUS)", corpus.display());
    }

    println!(
        "\npeak RSS of `aurora-migrate check` on the {:.1} MB file: {:.1} MB ({:.2}x the input; target <= 3x)",
        size as f64 / 1e6,
        peak as f64 / 1e6,
        peak as f64 / size as f64
    );
}

/// About `bytes` of `INSERT ... VALUES` statements, 500 rows each, with quotes, escapes and comments.
fn generate(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes + 100_000);
    out.push_str("-- generated data\nSET NAMES utf8mb4;\n");
    let mut id = 0u64;
    while out.len() < bytes {
        out.push_str("INSERT INTO `payment` (`id`, `customer`, `amount`, `note`, `paid_at`) VALUES\n");
        for r in 0..500 {
            id += 1;
            if r > 0 {
                out.push_str(",\n");
            }
            out.push_str(&format!(
                "({id}, {}, {}.{:02}, 'note for {id}: it''s paid; \\'ok\\' /* not a comment */', '2024-01-{:02} 10:{:02}:00')",
                id % 599,
                id % 100,
                id % 97,
                1 + id % 28,
                id % 60
            ));
        }
        out.push_str(";\n");
    }
    out
}

fn sql_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(sql_files(&path));
        } else if path.extension().is_some_and(|e| e == "sql") {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// Best of three runs of `f`, in seconds.
fn best<F: FnMut()>(mut f: F) -> f64 {
    (0..3)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn row(label: &str, files: &[PathBuf]) {
    let scripts: Vec<Script> = files.iter().map(|f| Script::read(f).expect("script reads")).collect();
    let bytes: usize = scripts.iter().map(|s| s.text.len()).sum();
    let mb = bytes as f64 / 1e6;
    let dialect = MySqlDialect {};
    let tokenizer = best(|| {
        for s in &scripts {
            // Some corpus files hold constructs sqlparser cannot tokenize; count what it does.
            let _ = std::hint::black_box(
                Tokenizer::new(&dialect, &s.text).with_unescape(false).tokenize_with_location(),
            );
        }
    });
    let split = best(|| {
        for s in &scripts {
            std::hint::black_box(s.statements().filter_map(Result::ok).count());
        }
    });
    let check = best(|| {
        for s in &scripts {
            std::hint::black_box(check_migration("bench.sql", s));
        }
    });
    println!(
        "{label:<28} {mb:>10.1} {:>9.1} MB/s {:>7.1} MB/s {:>9.1} MB/s {:>11.3}x",
        mb / tokenizer,
        mb / split,
        mb / check,
        split / tokenizer
    );
}

/// Peak resident memory of the release binary checking `dir`, from the kernel's accounting.
// The child is reaped by `wait4` (which also returns its rusage), not by `Child::wait`.
#[allow(clippy::zombie_processes)]
fn peak_rss_of_check(dir: &Path) -> u64 {
    // Reaped with wait4 (for its resource usage), not with Child::wait.
    let id = std::process::Command::new(env!("CARGO_BIN_EXE_aurora-migrate"))
        .arg("check")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("aurora-migrate runs")
        .id();
    let mut status = 0;
    // SAFETY: wait4 on our own child's pid with valid pointers to a status and an rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(id as i32, &mut status, 0, &mut usage) };
    assert_eq!(pid, id as i32, "wait4");
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "check failed: status {status}");
    usage.ru_maxrss as u64 * 1024
}
