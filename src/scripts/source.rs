//! Finding migration scripts: names, versions, order, per-database folders, checksums and the content
//! hash. Pure file-system reading; nothing here knows SQL beyond the dbmate/goose section markers.
//!
//! Naming schemes (a `.sql` file that fits none is an error, never skipped):
//! - `V<version>__<description>.sql` (Flyway), version = integers joined by `.` or `_`;
//! - `<version>_<name>.up.sql` (golang-migrate, sqlx); its `.down.sql` twin is ignored;
//! - `<version>_<name>.sql` (sqlx, dbmate, goose), version = digits;
//! - `v<N>.sql`.
//!
//! Checksum of a file: SHA-256 of its bytes after removing a UTF-8 BOM and turning CRLF into LF,
//! written `sha256:<hex>`. Content hash of a folder: SHA-256 over the sorted lines
//! `relative/path NUL checksum LF` of every `.sql` file below it, written `sha256:<hex>`.

use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

/// A migration version: integers compared part by part (`1.10` > `1.9`; `1.0` = `1`).
#[derive(Debug, Clone, Eq)]
pub struct Version {
    parts: Vec<u64>,
    text: String,
}

impl Version {
    /// Parses `1`, `1.2`, `2024_01_15_1200`, `20220721115250`.
    pub fn parse(text: &str) -> Option<Version> {
        if text.is_empty() {
            return None;
        }
        let parts = text
            .split(['.', '_'])
            .map(|p| if p.bytes().all(|b| b.is_ascii_digit()) { p.parse().ok() } else { None })
            .collect::<Option<Vec<u64>>>()?;
        Some(Version { parts, text: text.to_owned() })
    }

    /// The version as written in the file name.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn significant(&self) -> &[u64] {
        let len = self.parts.iter().rposition(|&p| p != 0).map_or(0, |i| i + 1);
        &self.parts[..len]
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.significant() == other.significant()
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        self.significant().cmp(other.significant())
    }
}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Which naming scheme a file follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scheme {
    /// `V1__name.sql`
    Flyway,
    /// `1_name.up.sql`
    UpDown,
    /// `1_name.sql`
    Numbered,
    /// `v1.sql`
    Plain,
}

/// One migration script found on disk.
#[derive(Debug, Clone, Serialize)]
pub struct Migration {
    /// Version from the file name.
    pub version: Version,
    /// Description from the file name (underscores read as spaces).
    pub description: String,
    /// Path relative to the scripts folder, `/`-separated: the name recorded in history.
    pub script: String,
    /// Database this script applies to: its sub-folder, or `None` for the default database.
    pub database: Option<String>,
    /// `sha256:<hex>` of the normalised bytes.
    pub checksum: String,
    /// Naming scheme.
    pub scheme: Scheme,
    /// Where the file is.
    #[serde(skip)]
    pub path: PathBuf,
}

/// The scripts of a folder, in the order they apply.
#[derive(Debug, Clone, Serialize)]
pub struct Scripts {
    /// The folder.
    pub dir: PathBuf,
    /// Root scripts first (they may create databases), then each database folder by name; each
    /// group by version.
    pub migrations: Vec<Migration>,
    /// `.down.sql` files, skipped on purpose.
    pub ignored: Vec<String>,
    /// Content hash of every `.sql` file (see the module doc).
    pub content_hash: String,
}

/// A problem with one file (or two: duplicate versions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// Relative path of the file.
    pub script: String,
    /// 1-based line, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.script, self.message),
            None => write!(f, "{}: {}", self.script, self.message),
        }
    }
}

/// Why the scripts cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceError {
    /// A file or folder could not be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Files are misnamed, duplicated, empty or not UTF-8.
    #[error("{} problem(s) with the migration files:\n{}", .0.len(), list(.0))]
    Invalid(Vec<Problem>),
}

fn list(problems: &[Problem]) -> String {
    problems.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n")
}

const EXPECTED_FORMS: &str = "expected V<version>__<description>.sql, <version>_<name>.up.sql, \
     <version>_<name>.sql or v<N>.sql (version: numbers separated by . or _)";

/// Parses a file name into (scheme, version, description), `Ok(None)` for an ignored `.down.sql`.
pub fn parse_name(name: &str) -> Result<Option<(Scheme, Version, String)>, String> {
    let bad = || {
        let hint = if name.starts_with("R__") || name.starts_with("U") && name.contains("__") {
            " (repeatable R__ and undo U scripts are not supported)"
        } else {
            ""
        };
        format!("file name does not fit a migration naming scheme{hint}: {EXPECTED_FORMS}; rename it")
    };
    let stem = name.strip_suffix(".sql").ok_or_else(bad)?;
    if let Some(rest) = stem.strip_prefix('V') {
        if let Some((version, description)) = rest.split_once("__") {
            let version = Version::parse(version).ok_or_else(bad)?;
            return Ok(Some((Scheme::Flyway, version, description.replace('_', " "))));
        }
    }
    if let Some(rest) = stem.strip_prefix('v') {
        if let Some(version) = Version::parse(rest).filter(|_| rest.bytes().all(|b| b.is_ascii_digit())) {
            return Ok(Some((Scheme::Plain, version, String::new())));
        }
    }
    if stem.ends_with(".down") {
        let (digits, _) = stem.split_once('_').ok_or_else(bad)?;
        return if Version::parse(digits).is_some() && digits.bytes().all(|b| b.is_ascii_digit()) {
            Ok(None)
        } else {
            Err(bad())
        };
    }
    let (scheme, stem) = match stem.strip_suffix(".up") {
        Some(stem) => (Scheme::UpDown, stem),
        None => (Scheme::Numbered, stem),
    };
    let (digits, description) = stem.split_once('_').ok_or_else(bad)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) || description.is_empty() {
        return Err(bad());
    }
    let version = Version::parse(digits).ok_or_else(bad)?;
    Ok(Some((scheme, version, description.replace('_', " "))))
}

/// Strips a UTF-8 BOM and turns CRLF into LF.
pub fn normalise(bytes: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    if !bytes.windows(2).any(|w| w == b"\r\n") {
        return std::borrow::Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\r' && bytes.get(i + 1) == Some(&b'\n') {
            i += 1;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// `sha256:<hex>` of the normalised bytes.
pub fn checksum(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(normalise(bytes))))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Content hash over `(relative path, checksum)` pairs (sorted here).
pub fn content_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut files: Vec<_> = files.into_iter().collect();
    files.sort();
    let mut hasher = Sha256::new();
    for (path, checksum) in files {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(checksum.as_bytes());
        hasher.update([b'\n']);
    }
    format!("sha256:{}", hex(&hasher.finalize()))
}

/// Every `.sql` file below `dir` (relative `/` path, full path), sorted by relative path. Names
/// starting with `.` are skipped; a name that is not UTF-8 is an error (it could not be recorded or
/// hashed as it is on disk).
pub fn sql_files(dir: &Path) -> Result<Vec<(String, PathBuf)>, SourceError> {
    let mut out = Vec::new();
    let mut stack = vec![(String::new(), dir.to_path_buf())];
    while let Some((prefix, folder)) = stack.pop() {
        let io = |source| SourceError::Io { path: folder.clone(), source };
        for entry in std::fs::read_dir(&folder).map_err(io)? {
            let entry = entry.map_err(io)?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                return Err(SourceError::Io {
                    path,
                    source: std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        "the name is not UTF-8: rename it",
                    ),
                });
            };
            if name.starts_with('.') {
                continue;
            }
            let relative = format!("{prefix}{name}");
            let meta =
                std::fs::metadata(&path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
            if meta.is_dir() {
                stack.push((format!("{relative}/"), path));
            } else if name.ends_with(".sql") {
                out.push((relative, path));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Reads `dir` and returns its migrations in order, or every problem found.
pub fn discover(dir: &Path) -> Result<Scripts, SourceError> {
    let files = sql_files(dir)?;
    let mut problems = Vec::new();
    let mut migrations: Vec<Migration> = Vec::new();
    let mut ignored = Vec::new();
    let mut hashed = Vec::with_capacity(files.len());
    for (relative, path) in files {
        let bytes = std::fs::read(&path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
        let checksum = checksum(&bytes);
        hashed.push((relative.clone(), checksum.clone()));
        let segments: Vec<&str> = relative.split('/').collect();
        let (database, name) = match segments.as_slice() {
            [name] => (None, *name),
            [database, name] => (Some((*database).to_owned()), *name),
            _ => {
                problems.push(Problem {
                    script: relative.clone(),
                    line: None,
                    message: "scripts may sit in the folder or one sub-folder per database, not \
                              deeper: move it up"
                        .into(),
                });
                continue;
            }
        };
        let (scheme, version, description) = match parse_name(name) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => {
                ignored.push(relative);
                continue;
            }
            Err(message) => {
                problems.push(Problem { script: relative, line: None, message });
                continue;
            }
        };
        if let Some(problem) = content_problem(&relative, &bytes) {
            problems.push(problem);
            continue;
        }
        migrations.push(Migration {
            version,
            description,
            script: relative,
            database,
            checksum,
            scheme,
            path,
        });
    }
    migrations
        .sort_by(|a, b| (&a.database, &a.version, &a.script).cmp(&(&b.database, &b.version, &b.script)));
    for pair in migrations.windows(2) {
        if pair[0].database == pair[1].database && pair[0].version == pair[1].version {
            problems.push(Problem {
                script: pair[1].script.clone(),
                line: None,
                message: format!(
                    "version {} is also used by {}: give one of them another version",
                    pair[1].version, pair[0].script
                ),
            });
        }
    }
    if !problems.is_empty() {
        return Err(SourceError::Invalid(problems));
    }
    let content_hash = content_hash(hashed.iter().map(|(p, c)| (p.as_str(), c.as_str())));
    Ok(Scripts { dir: dir.to_path_buf(), migrations, ignored, content_hash })
}

/// Content hash of every `.sql` file below `dir`, whatever their names.
pub fn hash_dir(dir: &Path) -> Result<String, SourceError> {
    let mut hashed = Vec::new();
    for (relative, path) in sql_files(dir)? {
        let bytes = std::fs::read(&path).map_err(|source| SourceError::Io { path, source })?;
        hashed.push((relative, checksum(&bytes)));
    }
    Ok(content_hash(hashed.iter().map(|(p, c)| (p.as_str(), c.as_str()))))
}

fn content_problem(script: &str, bytes: &[u8]) -> Option<Problem> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = 1 + bytes[..e.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            return Some(Problem {
                script: script.to_owned(),
                line: Some(line),
                message: "the file is not valid UTF-8: save it as UTF-8".into(),
            });
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Some(Problem {
            script: script.to_owned(),
            line: None,
            message: "the file is empty: add the migration's SQL or remove the file".into(),
        });
    }
    if let Err(message) = up_section(text) {
        return Some(Problem { script: script.to_owned(), line: None, message });
    }
    None
}

/// A script's text, ready to split.
#[derive(Debug, Clone)]
pub struct Script {
    /// The file's text, BOM removed (CRLF kept: positions match the file).
    pub text: String,
    /// Byte range of the part that runs: the up section of a dbmate/goose file, else everything.
    pub run: std::ops::Range<usize>,
}

impl Script {
    /// Reads and decodes a script file.
    pub fn read(path: &Path) -> Result<Script, SourceError> {
        let bytes =
            std::fs::read(path).map_err(|source| SourceError::Io { path: path.to_path_buf(), source })?;
        Script::from_bytes(&path.to_string_lossy(), bytes)
    }

    /// Decodes a script from its bytes; `name` is used in problems.
    pub fn from_bytes(name: &str, mut bytes: Vec<u8>) -> Result<Script, SourceError> {
        if bytes.starts_with(b"\xEF\xBB\xBF") {
            bytes.drain(..3);
        }
        let text = String::from_utf8(bytes).map_err(|e| {
            let line =
                1 + e.as_bytes()[..e.utf8_error().valid_up_to()].iter().filter(|&&b| b == b'\n').count();
            SourceError::Invalid(vec![Problem {
                script: name.to_owned(),
                line: Some(line),
                message: "the file is not valid UTF-8: save it as UTF-8".into(),
            }])
        })?;
        let run = up_section(&text).map_err(|message| {
            SourceError::Invalid(vec![Problem { script: name.to_owned(), line: None, message }])
        })?;
        Ok(Script { text, run })
    }

    /// The statements that run.
    pub fn statements(&self) -> crate::sql::split::Splitter<'_> {
        crate::sql::split::split_range(&self.text, self.run.clone())
    }
}

/// The byte range that runs: for dbmate (`-- migrate:up` / `-- migrate:down`) and goose
/// (`-- +goose Up` / `-- +goose Down`) files the up section, otherwise the whole text.
pub fn up_section(text: &str) -> Result<std::ops::Range<usize>, String> {
    let mut up = None;
    let mut down = None;
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let marker = line.trim();
        let is_up = marker.starts_with("-- migrate:up") || marker.eq_ignore_ascii_case("-- +goose up");
        let is_down = marker.starts_with("-- migrate:down") || marker.eq_ignore_ascii_case("-- +goose down");
        if is_up && up.is_none() {
            up = Some(offset + line.len());
        } else if is_down && down.is_none() {
            down = Some(offset);
        }
        offset += line.len();
    }
    match (up, down) {
        (None, None) => Ok(0..text.len()),
        (Some(start), None) => Ok(start..text.len()),
        (Some(start), Some(end)) if start <= end => Ok(start..end),
        (Some(_), Some(_)) => Err("the down section comes before the up section: put `-- migrate:up` \
                                   (or `-- +goose Up`) first"
            .into()),
        (None, Some(_)) => Err("the file has a down section but no up section: add a `-- migrate:up` \
                                (or `-- +goose Up`) line before the up statements"
            .into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_into_scheme_version_and_description() {
        let cases: &[(&str, Scheme, &str, &str)] = &[
            ("V1__init.sql", Scheme::Flyway, "1", "init"),
            ("V1.2__add_index.sql", Scheme::Flyway, "1.2", "add index"),
            ("V2024_01_15_1200__big_one.sql", Scheme::Flyway, "2024_01_15_1200", "big one"),
            ("V3__.sql", Scheme::Flyway, "3", ""),
            ("20220721115250_add_test_table.up.sql", Scheme::UpDown, "20220721115250", "add test table"),
            ("0_initial.up.sql", Scheme::UpDown, "0", "initial"),
            ("001_initialize_schema.sql", Scheme::Numbered, "001", "initialize schema"),
            ("v7.sql", Scheme::Plain, "7", ""),
        ];
        for (name, scheme, version, description) in cases {
            let (s, v, d) = parse_name(name).unwrap().unwrap();
            assert_eq!((s, v.as_str(), d.as_str()), (*scheme, *version, *description), "{name}");
        }
        assert_eq!(parse_name("1_initial.down.sql"), Ok(None));
    }

    #[test]
    fn misnamed_files_are_errors_that_show_the_expected_forms() {
        for name in [
            "schema.sql",
            "V1_init.sql",
            "Vx__init.sql",
            "V1.a__init.sql",
            "v1a.sql",
            "1.sql",
            "_init.sql",
            "1a_init.sql",
            "R__views.sql",
            "init.down.sql",
        ] {
            let message = parse_name(name).expect_err(name);
            assert!(message.contains("V<version>__<description>.sql"), "{name}: {message}");
        }
        assert!(parse_name("R__views.sql").unwrap_err().contains("repeatable"));
    }

    #[test]
    fn versions_compare_numerically_part_by_part() {
        let v = |s| Version::parse(s).unwrap();
        assert!(v("1.10") > v("1.9"));
        assert!(v("2") > v("1.999"));
        assert!(v("1.2.1") > v("1.2"));
        assert_eq!(v("1.0"), v("1"));
        assert_eq!(v("001"), v("1"));
        assert!(v("2024_01_15_1200") > v("2024_01_15_900"));
        assert!(Version::parse("1..2").is_none());
        assert!(Version::parse("").is_none());
    }

    #[test]
    fn checksums_ignore_bom_and_crlf_but_nothing_else() {
        let lf = checksum(b"SELECT 1;\nSELECT 2;\n");
        assert_eq!(lf, checksum(b"SELECT 1;\r\nSELECT 2;\r\n"));
        assert_eq!(lf, checksum(b"\xEF\xBB\xBFSELECT 1;\r\nSELECT 2;\n"));
        assert_ne!(lf, checksum(b"SELECT 1;\nSELECT 2;"));
        assert_ne!(lf, checksum(b"SELECT 1;\rSELECT 2;\r"));
        assert_ne!(lf, checksum(b"select 1;\nSELECT 2;\n"));
        // The checksum is the plain SHA-256 of the normalised bytes, as `sha256sum` prints it.
        assert_eq!(checksum(b"SELECT 1;\r\n"), format!("sha256:{}", sha256_hex(b"SELECT 1;\n")));
        assert_eq!(
            checksum(b"\xEF\xBB\xBFSELECT 1;\r\n"),
            "sha256:b4e0497804e46e0a0b0b8c31975b062152d551bac49c3c2e80932567b4085dcd"
        );
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    #[test]
    fn the_content_hash_is_order_independent_and_path_sensitive() {
        let a = content_hash([("V1__a.sql", "sha256:1"), ("V2__b.sql", "sha256:2")]);
        assert_eq!(a, content_hash([("V2__b.sql", "sha256:2"), ("V1__a.sql", "sha256:1")]));
        assert_ne!(a, content_hash([("V1__a.sql", "sha256:1"), ("V2__c.sql", "sha256:2")]));
        assert_ne!(a, content_hash([("V1__a.sql", "sha256:2"), ("V2__b.sql", "sha256:1")]));
        let expected = sha256_hex(b"V1__a.sql\0sha256:1\nV2__b.sql\0sha256:2\n");
        assert_eq!(a, format!("sha256:{expected}"));
    }

    #[test]
    fn sections_select_the_up_part_of_dbmate_and_goose_files() {
        let dbmate = "-- migrate:up\ncreate table a (id int);\n\n-- migrate:down\ndrop table a;\n";
        let run = up_section(dbmate).unwrap();
        assert_eq!(&dbmate[run], "create table a (id int);\n\n");
        let goose = "-- +goose Up\nCREATE TABLE a (id int);\n-- +goose Down\nDROP TABLE a;\n";
        assert_eq!(&goose[up_section(goose).unwrap()], "CREATE TABLE a (id int);\n");
        let plain = "SELECT 1;";
        assert_eq!(up_section(plain).unwrap(), 0..plain.len());
        assert!(up_section("-- migrate:down\nDROP TABLE a;").is_err());
        assert!(up_section("-- +goose Down\nx;\n-- +goose Up\ny;").is_err());
    }
}
