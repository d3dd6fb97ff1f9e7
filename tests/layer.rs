//! `aurora-migrate layer`, run for real: the zip is byte-identical for the same scripts whatever their
//! times, modes and creation order, and independent readers (Python's `zipfile`, `unzip` when
//! installed) read back exactly the scripts under `migrations/`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command as Process;
use std::time::{Duration, SystemTime};

mod common;

use common::{fixture, run_cli as run};
use serde_json::Value;

fn path_str(path: &Path) -> &str {
    path.to_str().expect("utf-8 temp path")
}

/// Runs `aurora-migrate layer DIR --output OUTPUT`, expects success, returns the zip's bytes.
fn layer(dir: &Path, output: &Path) -> Vec<u8> {
    let (code, out, err) = run(&["layer", path_str(dir), "--output", path_str(output)]);
    assert_eq!(code, 0, "{out}{err}");
    std::fs::read(output).expect("the zip was written")
}

fn hash(dir: &Path) -> String {
    let (code, out, err) = run(&["hash", path_str(dir)]);
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

/// The scripts of the `ok` fixture plus a CRLF and a BOM script: (relative path, bytes), sorted.
fn scripts() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (dir, prefix) in [(fixture("ok"), ""), (fixture("ok/inventory"), "inventory/")] {
        for entry in std::fs::read_dir(&dir).expect("fixture") {
            let path = entry.expect("entry").path();
            if path.is_file() {
                let name = path.file_name().expect("name").to_str().expect("utf-8").to_owned();
                files.push((format!("{prefix}{name}"), std::fs::read(&path).expect("read")));
            }
        }
    }
    files.push(("V2__crlf.sql".into(), std::fs::read(fixture("crlf/V1__a.sql")).expect("read")));
    files.push(("inventory/V3__bom.sql".into(), b"\xEF\xBB\xBFSELECT 1;\n".to_vec()));
    files.sort();
    assert!(files.len() >= 6, "{files:?}");
    files
}

/// Writes `files` below `dir` in the given order, every file with modification time `mtime` and
/// mode `file_mode`, every folder with mode `dir_mode`.
fn write_tree(dir: &Path, files: &[(String, Vec<u8>)], mtime: SystemTime, file_mode: u32, dir_mode: u32) {
    for (relative, bytes) in files {
        let path = dir.join(relative);
        let parent = path.parent().expect("parent");
        std::fs::create_dir_all(parent).expect("mkdir");
        std::fs::write(&path, bytes).expect("write");
        let file = std::fs::File::options().write(true).open(&path).expect("open");
        file.set_modified(mtime).expect("set mtime");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file_mode)).expect("chmod");
        if parent != dir {
            std::fs::set_permissions(parent, std::fs::Permissions::from_mode(dir_mode)).expect("chmod");
        }
    }
}

fn python_available() -> bool {
    Process::new("python3").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// What Python's `zipfile` reads in `zip`: `testzip()` (the first entry whose CRC or size is wrong,
/// or null) and every entry with its attributes and bytes (hex).
fn read_with_python(zip: &Path) -> Value {
    assert!(python_available(), "python3 is needed to read the zip back (dev/setup installs it)");
    const SCRIPT: &str = r#"
import json, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    print(json.dumps({
        "bad": z.testzip(),
        "comment": z.comment.decode(),
        "entries": [{
            "name": i.filename,
            "is_dir": i.is_dir(),
            "date_time": list(i.date_time),
            "mode": oct(i.external_attr >> 16),
            "create_system": i.create_system,
            "method": i.compress_type,
            "extra": i.extra.hex(),
            "comment": i.comment.decode(),
            "size": i.file_size,
            "compressed": i.compress_size,
            "hex": z.read(i).hex(),
        } for i in z.infolist()],
    }))
"#;
    let out = Process::new("python3").args(["-c", SCRIPT, path_str(zip)]).output().expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 could not read {}: {}",
        zip.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("python printed JSON")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn entry_names(read: &Value) -> Vec<String> {
    read["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn copies_of_the_same_scripts_with_other_times_modes_and_order_give_byte_identical_zips() {
    let files = scripts();
    let a = tempfile::tempdir().expect("temp dir");
    let b = tempfile::tempdir().expect("temp dir");
    let epoch = SystemTime::UNIX_EPOCH;
    write_tree(a.path(), &files, epoch + Duration::from_secs(1_000_000_000), 0o644, 0o755);
    let reversed: Vec<_> = files.iter().rev().cloned().collect();
    write_tree(b.path(), &reversed, epoch + Duration::from_secs(1_900_000_000), 0o600, 0o700);
    // Things the content hash ignores must not reach the zip either.
    std::fs::write(b.path().join(".DS_Store"), b"finder").expect("write");
    std::fs::write(b.path().join("README.txt"), b"notes").expect("write");
    std::fs::create_dir_all(b.path().join(".git")).expect("mkdir");
    std::fs::write(b.path().join(".git/V99__stash.sql"), b"SELECT 99;").expect("write");
    std::fs::create_dir_all(b.path().join("empty")).expect("mkdir");
    assert_eq!(hash(a.path()), hash(b.path()));

    let out = tempfile::tempdir().expect("temp dir");
    let zip_a = layer(a.path(), &out.path().join("a.zip"));
    let zip_b = layer(b.path(), &out.path().join("build/b.zip"));
    assert_eq!(zip_a, zip_b, "the two zips differ");
    // And again later: nothing depends on the time of the run.
    assert_eq!(layer(a.path(), &out.path().join("again.zip")), zip_a);
}

#[test]
fn changing_one_byte_of_a_script_changes_the_zip_and_the_hash() {
    let mut files = scripts();
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(dir.path(), &files, SystemTime::now(), 0o644, 0o755);
    let out = tempfile::tempdir().expect("temp dir");
    let before = layer(dir.path(), &out.path().join("before.zip"));
    let hash_before = hash(dir.path());

    let (name, bytes) =
        files.iter_mut().find(|(name, _)| name.starts_with("inventory/V1__")).expect("script");
    let at = bytes.iter().position(|b| b.is_ascii_lowercase()).expect("a lower-case letter");
    bytes[at] = bytes[at].to_ascii_uppercase();
    std::fs::write(dir.path().join(&*name), &*bytes).expect("write");

    let after = layer(dir.path(), &out.path().join("after.zip"));
    assert_eq!(before.len(), after.len());
    assert_ne!(before, after);
    assert_ne!(hash_before, hash(dir.path()));
    let read = read_with_python(&out.path().join("after.zip"));
    let entry = read["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["name"] == format!("migrations/{name}"))
        .expect("the changed script is in the zip");
    assert_eq!(entry["hex"], hex(bytes));
}

#[test]
fn python_zipfile_reads_back_exactly_the_scripts_under_migrations() {
    let files = scripts();
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(dir.path(), &files, SystemTime::now(), 0o640, 0o750);
    let out = tempfile::tempdir().expect("temp dir");
    let zip = out.path().join("layer.zip");
    layer(dir.path(), &zip);
    let read = read_with_python(&zip);

    assert_eq!(read["bad"], Value::Null, "testzip found a bad CRC or size");
    assert_eq!(read["comment"], "");
    let mut expected: Vec<String> = files.iter().map(|(name, _)| format!("migrations/{name}")).collect();
    expected.extend(["migrations/".to_owned(), "migrations/inventory/".to_owned()]);
    expected.sort();
    assert_eq!(entry_names(&read), expected);

    for entry in read["entries"].as_array().expect("entries") {
        let name = entry["name"].as_str().expect("name");
        assert_eq!(entry["date_time"], serde_json::json!([1980, 1, 1, 0, 0, 0]), "{name}");
        assert_eq!(entry["create_system"], 3, "{name}: made by Unix, so the modes apply");
        assert_eq!(entry["method"], 0, "{name}: stored");
        assert_eq!(entry["extra"], "", "{name}");
        assert_eq!(entry["comment"], "", "{name}");
        assert_eq!(entry["size"], entry["compressed"], "{name}");
        if entry["is_dir"] == true {
            assert_eq!(entry["mode"], "0o40755", "{name}");
            assert_eq!(entry["hex"], "", "{name}");
        } else {
            assert_eq!(entry["mode"], "0o100644", "{name}");
            let relative = name.strip_prefix("migrations/").expect("under migrations/");
            let (_, bytes) = files.iter().find(|(n, _)| n == relative).expect("a script");
            assert_eq!(entry["hex"], hex(bytes), "{name}");
            assert_eq!(entry["size"], bytes.len(), "{name}");
        }
    }
}

#[test]
fn unzip_tests_the_zip_and_shows_unix_modes_when_it_is_installed() {
    if Process::new("unzip").arg("-v").output().is_err() {
        eprintln!("skipped: unzip is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    write_tree(dir.path(), &scripts(), SystemTime::now(), 0o600, 0o700);
    let zip = dir.path().join("out/layer.zip");
    layer(dir.path(), &zip);

    let test = Process::new("unzip").args(["-t", path_str(&zip)]).output().expect("unzip runs");
    let text = String::from_utf8_lossy(&test.stdout);
    assert!(test.status.success(), "{text}{}", String::from_utf8_lossy(&test.stderr));
    assert!(text.contains("No errors detected"), "{text}");
    assert!(text.contains("testing: migrations/inventory/V1__items.sql"), "{text}");

    let info = Process::new("unzip").args(["-Z", path_str(&zip)]).output().expect("zipinfo runs");
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{text}");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("migrations/")).collect();
    assert_eq!(lines.len(), scripts().len() + 2, "{text}");
    for line in lines {
        let expected = if line.ends_with('/') { "drwxr-xr-x" } else { "-rw-r--r--" };
        assert!(line.starts_with(expected), "{line}");
        assert!(line.contains(" unx "), "{line}");
        assert!(line.contains(" stor "), "{line}");
        assert!(line.contains("80-Jan-01 00:00") || line.contains("1980"), "{line}");
    }
}

#[test]
fn a_crlf_script_keeps_its_crlf_bytes_in_the_zip_but_hashes_like_its_lf_twin() {
    let crlf = std::fs::read(fixture("crlf/V1__a.sql")).expect("fixture");
    assert!(crlf.windows(2).any(|w| w == b"\r\n"), "the fixture lost its CRLF (see .gitattributes)");
    let out = tempfile::tempdir().expect("temp dir");
    let zip = out.path().join("crlf.zip");
    layer(&fixture("crlf"), &zip);
    let read = read_with_python(&zip);
    assert_eq!(entry_names(&read), ["migrations/", "migrations/V1__a.sql"]);
    assert_eq!(read["entries"][1]["hex"], hex(&crlf));

    let lf = tempfile::tempdir().expect("temp dir");
    let lf_bytes: Vec<u8> = crlf.iter().copied().filter(|&b| b != b'\r').collect();
    std::fs::write(lf.path().join("V1__a.sql"), lf_bytes).expect("write");
    assert_eq!(hash(lf.path()), hash(&fixture("crlf")));
    assert_ne!(layer(lf.path(), &out.path().join("lf.zip")), std::fs::read(&zip).expect("zip"));
}

#[test]
fn an_empty_scripts_folder_gives_a_zip_with_only_the_migrations_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    let zip = dir.path().join("layer.zip");
    let (code, out, err) = run(&["layer", path_str(dir.path()), "--output", path_str(&zip)]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(": 0 script(s), sha256:"), "{out}");
    let read = read_with_python(&zip);
    assert_eq!(read["bad"], Value::Null);
    assert_eq!(entry_names(&read), ["migrations/"]);
    assert_eq!(read["entries"][0]["mode"], "0o40755");
}

#[test]
fn the_layer_command_prints_the_file_the_script_count_and_the_content_hash() {
    let dir = fixture("ok");
    let out_dir = tempfile::tempdir().expect("temp dir");
    let zip = out_dir.path().join("build/layer.zip");
    let (code, out, err) = run(&["layer", path_str(&dir), "--output", path_str(&zip)]);
    assert_eq!(code, 0, "{err}");
    // 5 files: the four migrations and the ignored .down.sql, which the content hash covers too.
    assert_eq!(out, format!("{}: 5 script(s), {}\n", zip.display(), hash(&dir)));

    let (code, out, err) = run(&["--format", "json", "layer", path_str(&dir), "-o", path_str(&zip)]);
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(summary["files"], 5);
    assert_eq!(summary["content_hash"], hash(&dir));
}

#[test]
fn a_failed_run_names_the_path_keeps_the_old_zip_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let scripts = dir.path().join("scripts");
    std::fs::create_dir(&scripts).expect("mkdir");
    std::fs::write(scripts.join("V1__a.sql"), b"SELECT 1;\n").expect("write");
    std::os::unix::fs::symlink(dir.path().join("nowhere.sql"), scripts.join("V2__gone.sql"))
        .expect("symlink");
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let zip = out.join("layer.zip");
    std::fs::write(&zip, b"the previous layer").expect("write");

    let (code, stdout, err) = run(&["layer", path_str(&scripts), "--output", path_str(&zip)]);
    assert_eq!(code, 2, "{stdout}");
    assert!(err.contains(&scripts.join("V2__gone.sql").display().to_string()), "{err}");
    let (code, _, err) = run(&["layer", path_str(&dir.path().join("missing")), "--output", path_str(&zip)]);
    assert_eq!(code, 2);
    assert!(err.contains(&dir.path().join("missing").display().to_string()), "{err}");

    assert_eq!(std::fs::read(&zip).expect("zip"), b"the previous layer");
    let left: Vec<_> = std::fs::read_dir(&out).expect("out").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left, ["layer.zip"]);

    // A zip that cannot be written (the output is a folder) names the output.
    std::fs::remove_file(scripts.join("V2__gone.sql")).expect("rm");
    let (code, _, err) = run(&["layer", path_str(&scripts), "--output", path_str(&out)]);
    assert_eq!(code, 2);
    assert!(err.contains(&format!("{}: cannot write it", out.display())), "{err}");
    let left: Vec<_> =
        std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(left.len(), 2, "a temporary file was left: {left:?}");
}
