//! The Lambda layer zip: every `.sql` file of a scripts folder under `migrations/`, so that Lambda
//! unpacks it to `/opt/migrations` (the function's default `AURORA_MIGRATE_MIGRATIONS_DIR`).
//!
//! The zip is a function of the scripts alone, byte for byte, so that Terraform's `source_code_hash`
//! or SAM only publish a new layer version when a script changes: entries sorted by name in byte
//! order, a folder entry for `migrations/` and each folder below it, the DOS epoch
//! (1980-01-01 00:00:00) as every timestamp, fixed Unix modes (files 0644, folders 0755), no extra
//! fields, no comments, no compression (method 0: layers of SQL are small, and a hand-written stored
//! zip has no compressor version to pin). File times, modes, the order files were created in and
//! hidden files do not reach the zip.
//!
//! The files are stored exactly as on disk: the checksums normalise a BOM and CRLF, the layer carries
//! the real file. So a CRLF checkout has the same content hash but a different zip. The set of files
//! is the one [`hash_dir`](crate::scripts::source::hash_dir) covers, and [`LayerSummary::content_hash`] is
//! computed from the very bytes put in the zip. Zip64 is not written: a layer is limited to 250 MB
//! unpacked anyway (<https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html>).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::scripts::source::{checksum, content_hash, SourceError};

/// The folder of the layer that holds the scripts: Lambda unpacks layers to `/opt`.
pub const LAYER_FOLDER: &str = "migrations";

/// What [`write_layer_zip`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct LayerSummary {
    /// Number of script files in the zip.
    pub files: usize,
    /// Content hash of the scripts (the same as `aurora-migrate hash`).
    pub content_hash: String,
}

/// A layer zip built in memory.
#[derive(Debug, Clone)]
pub struct Layer {
    /// The zip file's bytes.
    pub zip: Vec<u8>,
    /// What is in it.
    pub summary: LayerSummary,
}

/// One entry of the zip: a folder (`name` ends with `/`, no contents) or a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    name: String,
    contents: Option<Vec<u8>>,
}

/// Writes the layer zip for the scripts in `dir` to `output`, creating `output`'s folder if needed.
///
/// The zip is written to a hidden temporary file beside `output` and renamed over it, so a failed
/// run leaves `output` as it was.
pub fn write_layer_zip(dir: &Path, output: &Path) -> Result<LayerSummary, SourceError> {
    let layer = build_layer(dir)?;
    let Some(name) = output.file_name() else {
        let cause = std::io::Error::from(std::io::ErrorKind::InvalidInput);
        return Err(write_error(output, "the output is not a file name: name a .zip file", cause));
    };
    let parent = match output.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(parent).map_err(|e| write_error(parent, "cannot create the folder", e))?;
    let temp = parent.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
    let written = write_file(&temp, &layer.zip).and_then(|()| std::fs::rename(&temp, output));
    if let Err(e) = written {
        // Best effort: the error that matters is the write's, not the clean-up's.
        let _ = std::fs::remove_file(&temp);
        return Err(write_error(output, "cannot write it", e));
    }
    Ok(layer.summary)
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Builds the layer zip for the scripts in `dir` in memory.
pub fn build_layer(dir: &Path) -> Result<Layer, SourceError> {
    let files = read_sql_files(dir)?;
    let summary = LayerSummary {
        files: files.len(),
        content_hash: {
            let sums: Vec<(&str, String)> =
                files.iter().map(|(name, _, bytes)| (name.as_str(), checksum(bytes))).collect();
            content_hash(sums.iter().map(|(name, sum)| (*name, sum.as_str())))
        },
    };
    for (_, path, bytes) in &files {
        if u32::try_from(bytes.len()).is_err() {
            return Err(too_big(
                path,
                "the file is larger than 4 GiB, more than a layer can hold (250 MB unpacked)",
            ));
        }
    }
    let entries = layer_entries(files.into_iter().map(|(name, _, bytes)| (name, bytes)));
    let zip = zip_stored(&entries).map_err(|message| too_big(dir, message))?;
    Ok(Layer { zip, summary })
}

/// Every `.sql` file below `dir` as (relative `/` path, path, bytes), sorted by relative path: the
/// files `source::sql_files` lists, which the content hash covers too.
fn read_sql_files(dir: &Path) -> Result<Vec<(String, PathBuf, Vec<u8>)>, SourceError> {
    crate::scripts::source::sql_files(dir)?
        .into_iter()
        .map(|(relative, path)| {
            let bytes =
                std::fs::read(&path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
            Ok((relative, path, bytes))
        })
        .collect()
}

/// The zip's entries, sorted by name: `migrations/`, a folder entry for every folder that holds a
/// script, and every script under `migrations/`.
fn layer_entries(files: impl IntoIterator<Item = (String, Vec<u8>)>) -> Vec<Entry> {
    let mut entries = vec![Entry { name: format!("{LAYER_FOLDER}/"), contents: None }];
    for (relative, bytes) in files {
        let name = format!("{LAYER_FOLDER}/{relative}");
        for (i, _) in relative.match_indices('/') {
            entries.push(Entry { name: format!("{LAYER_FOLDER}/{}", &relative[..=i]), contents: None });
        }
        entries.push(Entry { name, contents: Some(bytes) });
    }
    entries.sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
    entries.dedup_by(|a, b| a.name == b.name);
    entries
}

fn too_big(path: &Path, message: impl Into<String>) -> SourceError {
    SourceError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, message.into()),
    }
}

/// `SourceError` has no write variant; this keeps the cause chained: "cannot read OUT: cannot write
/// it: <os error>".
fn write_error(path: &Path, what: &'static str, source: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(source.kind(), WriteError { what, source }),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{what}")]
struct WriteError {
    what: &'static str,
    #[source]
    source: std::io::Error,
}

// Zip format constants (PKWARE APPNOTE.TXT, sections 4.3 and 4.4).
const LOCAL_HEADER: u32 = 0x0403_4b50;
const CENTRAL_HEADER: u32 = 0x0201_4b50;
const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
/// "Version made by": high byte 3 = Unix, so unzip and Lambda apply the modes in the external
/// attributes; low byte 20 = spec 2.0.
const MADE_BY_UNIX: u16 = (3 << 8) | 20;
/// Version needed to extract: 1.0 for a stored file, 2.0 for a folder entry (APPNOTE 4.4.3.2).
const NEEDED_FILE: u16 = 10;
const NEEDED_FOLDER: u16 = 20;
/// General purpose flag bit 11: the name is UTF-8 (set only for non-ASCII names).
const FLAG_UTF8: u16 = 1 << 11;
/// 1980-01-01 00:00:00, the earliest DOS time: day 1, month 1, year 1980 + 0.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// External attributes: the Unix mode in the high 16 bits; folders also carry the MS-DOS
/// directory bit (0x10) for DOS-minded readers.
const FILE_ATTRIBUTES: u32 = 0o100_644 << 16;
const FOLDER_ATTRIBUTES: u32 = (0o040_755 << 16) | 0x10;

/// A stored (uncompressed) zip of `entries`, in the given order; an error when it would need Zip64.
fn zip_stored(entries: &[Entry]) -> Result<Vec<u8>, String> {
    let count = u16::try_from(entries.len()).map_err(|_| {
        format!("{} zip entries are more than a zip without Zip64 holds (65,535)", entries.len())
    })?;
    let too_large =
        || "the scripts are larger than 4 GiB, more than a layer can hold (250 MB unpacked)".to_owned();
    let mut zip = Vec::new();
    let mut central = Vec::new();
    for entry in entries {
        let offset = u32::try_from(zip.len()).map_err(|_| too_large())?;
        let contents = entry.contents.as_deref().unwrap_or_default();
        let size = u32::try_from(contents.len()).map_err(|_| too_large())?;
        let name = entry.name.as_bytes();
        let name_len = u16::try_from(name.len())
            .map_err(|_| format!("the name {} is too long for a zip", entry.name))?;
        let flags = if entry.name.is_ascii() { 0 } else { FLAG_UTF8 };
        let (needed, attributes) = match entry.contents {
            Some(_) => (NEEDED_FILE, FILE_ATTRIBUTES),
            None => (NEEDED_FOLDER, FOLDER_ATTRIBUTES),
        };
        let crc = crc32(contents);

        put32(&mut zip, LOCAL_HEADER);
        put16(&mut zip, needed);
        put16(&mut zip, flags);
        put16(&mut zip, 0); // method: stored
        put16(&mut zip, DOS_TIME);
        put16(&mut zip, DOS_DATE);
        put32(&mut zip, crc);
        put32(&mut zip, size); // compressed size
        put32(&mut zip, size); // uncompressed size
        put16(&mut zip, name_len);
        put16(&mut zip, 0); // extra field length
        zip.extend_from_slice(name);
        zip.extend_from_slice(contents);

        put32(&mut central, CENTRAL_HEADER);
        put16(&mut central, MADE_BY_UNIX);
        put16(&mut central, needed);
        put16(&mut central, flags);
        put16(&mut central, 0); // method: stored
        put16(&mut central, DOS_TIME);
        put16(&mut central, DOS_DATE);
        put32(&mut central, crc);
        put32(&mut central, size);
        put32(&mut central, size);
        put16(&mut central, name_len);
        put16(&mut central, 0); // extra field length
        put16(&mut central, 0); // comment length
        put16(&mut central, 0); // disk number start
        put16(&mut central, 0); // internal attributes
        put32(&mut central, attributes);
        put32(&mut central, offset);
        central.extend_from_slice(name);
    }
    let central_offset = u32::try_from(zip.len()).map_err(|_| too_large())?;
    let central_size = u32::try_from(central.len()).map_err(|_| too_large())?;
    zip.extend_from_slice(&central);
    put32(&mut zip, END_OF_CENTRAL_DIRECTORY);
    put16(&mut zip, 0); // this disk
    put16(&mut zip, 0); // disk with the central directory
    put16(&mut zip, count); // entries on this disk
    put16(&mut zip, count); // entries in all
    put32(&mut zip, central_size);
    put32(&mut zip, central_offset);
    put16(&mut zip, 0); // comment length
    Ok(zip)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// CRC-32 as zip, gzip and PNG use it (reflected polynomial 0xEDB88320), table-driven.
fn crc32(bytes: &[u8]) -> u32 {
    !bytes.iter().fold(!0u32, |crc, &b| CRC_TABLE[usize::from((crc as u8) ^ b)] ^ (crc >> 8))
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 { 0xEDB8_8320 ^ (crc >> 1) } else { crc >> 1 };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn file(name: &str, contents: &[u8]) -> (String, Vec<u8>) {
        (name.to_owned(), contents.to_vec())
    }

    fn names(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.name.as_str()).collect()
    }

    #[test]
    fn crc32_matches_the_standard_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn entries_are_sorted_by_name_with_one_folder_entry_per_folder() {
        let entries = layer_entries([
            file("inventory/V1__items.sql", b"a"),
            file("V2__b.sql", b"b"),
            file("inventory/V1.1__sku.sql", b"c"),
            file("V1__a.sql", b"d"),
            file("inventory.sql", b"e"),
            file("deep/er/V1__x.sql", b"f"),
        ]);
        assert_eq!(
            names(&entries),
            [
                "migrations/",
                "migrations/V1__a.sql",
                "migrations/V2__b.sql",
                "migrations/deep/",
                "migrations/deep/er/",
                "migrations/deep/er/V1__x.sql",
                "migrations/inventory.sql",
                "migrations/inventory/",
                "migrations/inventory/V1.1__sku.sql",
                "migrations/inventory/V1__items.sql",
            ]
        );
        assert!(entries.iter().all(|e| e.name.ends_with('/') == e.contents.is_none()));
    }

    #[test]
    fn no_scripts_give_only_the_migrations_folder() {
        assert_eq!(names(&layer_entries([])), ["migrations/"]);
    }

    /// The exact bytes of a small layer are pinned: a change to the format would republish every
    /// user's layer, so it must be deliberate. (Python's zipfile and unzip read this zip back in
    /// tests/layer.rs.)
    #[test]
    fn the_zip_format_is_pinned_byte_for_byte() {
        let zip = zip_stored(&layer_entries([file("V1__a.sql", b"SELECT 1;\n")])).expect("small zip");
        let local = |name: &str, needed: u16, crc: u32, size: u32| {
            let mut out = Vec::new();
            put32(&mut out, LOCAL_HEADER);
            out.extend_from_slice(&[needed as u8, 0, 0, 0, 0, 0, 0, 0, 0x21, 0]);
            put32(&mut out, crc);
            put32(&mut out, size);
            put32(&mut out, size);
            put16(&mut out, name.len() as u16);
            put16(&mut out, 0);
            out.extend_from_slice(name.as_bytes());
            out
        };
        let folder = local("migrations/", 20, 0, 0);
        let mut script = local("migrations/V1__a.sql", 10, crc32(b"SELECT 1;\n"), 10);
        script.extend_from_slice(b"SELECT 1;\n");
        assert_eq!(&zip[..folder.len()], folder.as_slice());
        assert_eq!(&zip[folder.len()..folder.len() + script.len()], script.as_slice());
        // The central directory: Unix "made by", modes 040755 and 100644.
        let central = &zip[folder.len() + script.len()..];
        assert_eq!(&central[..6], &[0x50, 0x4b, 0x01, 0x02, 20, 3]);
        assert_eq!(&central[38..42], &[0x10, 0, 0xed, 0x41]);
        let end = &zip[zip.len() - 22..];
        assert_eq!(&end[..4], &[0x50, 0x4b, 0x05, 0x06]);
        assert_eq!(&end[8..12], &[2, 0, 2, 0]);
        assert_eq!(
            format!("{:x}", Sha256::digest(&zip)),
            "72b2ce38ea445cd90b2b4a5a733c5d02551679a93400398ae2f461c890d9c60c",
            "the zip bytes changed"
        );
    }

    #[test]
    fn non_ascii_names_are_flagged_as_utf8() {
        let zip =
            zip_stored(&[Entry { name: "migrations/V1__é.sql".into(), contents: Some(b"x".to_vec()) }])
                .expect("zip");
        assert_eq!(u16::from_le_bytes([zip[6], zip[7]]), FLAG_UTF8);
        let zip = zip_stored(&[Entry { name: "migrations/V1__e.sql".into(), contents: Some(b"x".to_vec()) }])
            .expect("zip");
        assert_eq!(u16::from_le_bytes([zip[6], zip[7]]), 0);
    }

    #[test]
    fn the_summary_hash_is_hash_dir_and_skips_hidden_and_other_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("db/.hidden")).expect("mkdir");
        std::fs::create_dir_all(root.join(".git")).expect("mkdir");
        for (name, contents) in [
            ("V1__a.sql", "SELECT 1;\r\n"),
            ("db/V1__b.sql", "\u{feff}SELECT 2;\n"),
            ("db/1_c.down.sql", "SELECT 3;\n"),
            ("db/.hidden/V9__x.sql", "SELECT 9;\n"),
            (".git/V8__y.sql", "SELECT 8;\n"),
            (".V7__z.sql", "SELECT 7;\n"),
            ("notes.txt", "not a script"),
        ] {
            std::fs::write(root.join(name), contents).expect("write");
        }
        let layer = build_layer(root).expect("layer");
        assert_eq!(layer.summary.files, 3);
        assert_eq!(layer.summary.content_hash, crate::scripts::source::hash_dir(root).expect("hash"));
        let text = String::from_utf8_lossy(&layer.zip);
        for absent in ["V9__x", "V8__y", "V7__z", "notes.txt", "/.git/"] {
            assert!(!text.contains(absent), "{absent} is in the zip");
        }
        assert!(text.contains("migrations/db/1_c.down.sql"));
    }
}
