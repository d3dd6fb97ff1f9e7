//! Plain-text tables for the reports' `Display` (the offline `list` and the runner's status).

use std::fmt;

/// Writes a left-aligned table with a header row, each line prefixed by `indent`.
pub(crate) fn table<const N: usize>(
    f: &mut fmt::Formatter<'_>,
    indent: &str,
    header: [&str; N],
    rows: &[[String; N]],
) -> fmt::Result {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let header = header.map(String::from);
    for row in std::iter::once(&header).chain(rows) {
        let line: Vec<String> = row.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
        writeln!(f, "{indent}{}", line.join("  ").trim_end())?;
    }
    Ok(())
}
