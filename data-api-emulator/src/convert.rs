//! MySQL result values and column definitions → Data API `Field`s, `ColumnMetadata` and
//! `formattedRecords`.
//!
//! Values arrive over the text protocol, so temporal and DECIMAL values are already in MySQL's own
//! formatting. The mapping follows the Data API for MySQL, which is built on MySQL Connector/J:
//! integers → `longValue` (BIGINT UNSIGNED beyond i64 → `stringValue`), DECIMAL → `stringValue`,
//! FLOAT/DOUBLE → `doubleValue`, TINYINT(1) and BIT(1) → `booleanValue` (Connector/J's
//! `tinyInt1isBit`), other BIT, BINARY, VARBINARY and BLOB → `blobValue`, dates and times →
//! `stringValue`, everything else → `stringValue`, NULL → `isNull`.

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::{Column, Value};

use crate::wire::{ColumnMetadata, Field, ResultSetOptions};

/// The `binary` character set number: the column holds bytes, not text.
const BINARY_CHARSET: u16 = 63;

/// How values should be returned (`resultSetOptions`).
#[derive(Debug, Clone, Copy, Default)]
pub struct ValueOptions {
    pub decimal_as_number: bool,
    pub long_as_string: bool,
}

impl ValueOptions {
    pub fn from_wire(options: Option<&ResultSetOptions>) -> ValueOptions {
        let Some(o) = options else { return ValueOptions::default() };
        ValueOptions {
            decimal_as_number: o.decimal_return_type.as_deref() == Some("DOUBLE_OR_LONG"),
            long_as_string: o.long_return_type.as_deref() == Some("STRING"),
        }
    }
}

fn is_bool_column(c: &Column) -> bool {
    (c.column_type() == ColumnType::MYSQL_TYPE_TINY && c.column_length() == 1)
        || (c.column_type() == ColumnType::MYSQL_TYPE_BIT && c.column_length() == 1)
}

fn is_binary(c: &Column) -> bool {
    c.character_set() == BINARY_CHARSET
}

/// One value of column `c` as a `Field`.
pub fn field(c: &Column, value: Value, opts: ValueOptions) -> Field {
    let bytes = match value {
        Value::NULL => return Field::IsNull(true),
        Value::Bytes(b) => b,
        // The text protocol only yields bytes; keep other variants sensible anyway.
        Value::Int(n) => n.to_string().into_bytes(),
        Value::UInt(n) => n.to_string().into_bytes(),
        Value::Float(f) => return Field::DoubleValue(f64::from(f)),
        Value::Double(d) => return Field::DoubleValue(d),
        other => other.as_sql(true).into_bytes(),
    };
    let text = || String::from_utf8_lossy(&bytes).into_owned();
    use ColumnType::*;
    match c.column_type() {
        MYSQL_TYPE_BIT if is_bool_column(c) => Field::BooleanValue(bytes.iter().any(|b| *b != 0)),
        MYSQL_TYPE_BIT => Field::BlobValue(bytes),
        MYSQL_TYPE_TINY if is_bool_column(c) => Field::BooleanValue(text() != "0"),
        MYSQL_TYPE_TINY | MYSQL_TYPE_SHORT | MYSQL_TYPE_INT24 | MYSQL_TYPE_LONG | MYSQL_TYPE_LONGLONG
        | MYSQL_TYPE_YEAR => {
            let t = text();
            match t.parse::<i64>() {
                Ok(n) if !opts.long_as_string => Field::LongValue(n),
                _ => Field::StringValue(t),
            }
        }
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
            let t = text();
            if opts.decimal_as_number {
                if c.decimals() == 0 {
                    if let Ok(n) = t.parse::<i64>() {
                        return Field::LongValue(n);
                    }
                }
                if let Ok(d) = t.parse::<f64>() {
                    return Field::DoubleValue(d);
                }
            }
            Field::StringValue(t)
        }
        MYSQL_TYPE_FLOAT | MYSQL_TYPE_DOUBLE => match text().parse::<f64>() {
            Ok(d) => Field::DoubleValue(d),
            Err(_) => Field::StringValue(text()),
        },
        MYSQL_TYPE_GEOMETRY => Field::BlobValue(bytes),
        MYSQL_TYPE_STRING
        | MYSQL_TYPE_VAR_STRING
        | MYSQL_TYPE_VARCHAR
        | MYSQL_TYPE_TINY_BLOB
        | MYSQL_TYPE_MEDIUM_BLOB
        | MYSQL_TYPE_LONG_BLOB
        | MYSQL_TYPE_BLOB
            if is_binary(c) =>
        {
            Field::BlobValue(bytes)
        }
        _ => Field::StringValue(text()),
    }
}

/// `(JDBC type code, type name)` for a column, as Connector/J reports them.
fn jdbc_type(c: &Column) -> (i32, String) {
    use ColumnType::*;
    let flags = c.flags();
    let unsigned = flags.contains(ColumnFlags::UNSIGNED_FLAG);
    let int =
        |code: i32, name: &str| (code, if unsigned { format!("{name} UNSIGNED") } else { name.to_string() });
    let binary = is_binary(c);
    match c.column_type() {
        _ if is_bool_column(c) => (-7, "BIT".into()),
        MYSQL_TYPE_BIT => (-7, "BIT".into()),
        MYSQL_TYPE_TINY => int(-6, "TINYINT"),
        MYSQL_TYPE_SHORT => int(5, "SMALLINT"),
        MYSQL_TYPE_INT24 => int(4, "MEDIUMINT"),
        MYSQL_TYPE_LONG => int(4, "INT"),
        MYSQL_TYPE_LONGLONG => int(-5, "BIGINT"),
        MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => int(3, "DECIMAL"),
        MYSQL_TYPE_FLOAT => int(7, "FLOAT"),
        MYSQL_TYPE_DOUBLE => int(8, "DOUBLE"),
        MYSQL_TYPE_NULL => (0, "NULL".into()),
        MYSQL_TYPE_DATE | MYSQL_TYPE_NEWDATE => (91, "DATE".into()),
        MYSQL_TYPE_TIME | MYSQL_TYPE_TIME2 => (92, "TIME".into()),
        MYSQL_TYPE_DATETIME | MYSQL_TYPE_DATETIME2 => (93, "DATETIME".into()),
        MYSQL_TYPE_TIMESTAMP | MYSQL_TYPE_TIMESTAMP2 => (93, "TIMESTAMP".into()),
        MYSQL_TYPE_YEAR => (91, "YEAR".into()),
        MYSQL_TYPE_JSON => (-1, "JSON".into()),
        MYSQL_TYPE_GEOMETRY => (-2, "GEOMETRY".into()),
        MYSQL_TYPE_ENUM => (1, "ENUM".into()),
        MYSQL_TYPE_SET => (1, "SET".into()),
        _ if flags.contains(ColumnFlags::ENUM_FLAG) => (1, "ENUM".into()),
        _ if flags.contains(ColumnFlags::SET_FLAG) => (1, "SET".into()),
        MYSQL_TYPE_STRING if binary => (-2, "BINARY".into()),
        MYSQL_TYPE_STRING => (1, "CHAR".into()),
        MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR if binary => (-3, "VARBINARY".into()),
        MYSQL_TYPE_VAR_STRING | MYSQL_TYPE_VARCHAR => (12, "VARCHAR".into()),
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB if binary => {
            (-4, "BLOB".into())
        }
        MYSQL_TYPE_TINY_BLOB | MYSQL_TYPE_MEDIUM_BLOB | MYSQL_TYPE_LONG_BLOB | MYSQL_TYPE_BLOB => {
            (-1, "TEXT".into())
        }
        _ => (1111, "UNKNOWN".into()),
    }
}

/// `ColumnMetadata` for one column.
pub fn metadata(c: &Column) -> ColumnMetadata {
    let (type_code, type_name) = jdbc_type(c);
    let flags = c.flags();
    let numeric = matches!(type_code, -7 | -6 | 5 | 4 | -5 | 3 | 7 | 8);
    let text = matches!(type_code, 1 | 12 | -1);
    ColumnMetadata {
        name: c.name_str().into_owned(),
        type_code,
        type_name,
        label: c.name_str().into_owned(),
        schema_name: c.schema_str().into_owned(),
        table_name: c.table_str().into_owned(),
        is_auto_increment: flags.contains(ColumnFlags::AUTO_INCREMENT_FLAG),
        is_signed: numeric && !flags.contains(ColumnFlags::UNSIGNED_FLAG),
        is_currency: false,
        is_case_sensitive: !text || flags.contains(ColumnFlags::BINARY_FLAG),
        nullable: if flags.contains(ColumnFlags::NOT_NULL_FLAG) { 0 } else { 1 },
        precision: i32::try_from(c.column_length()).unwrap_or(i32::MAX),
        scale: if matches!(type_code, 3 | 7 | 8) && c.decimals() < 0x1f {
            i32::from(c.decimals())
        } else {
            0
        },
        array_base_column_type: 0,
    }
}

/// `formattedRecords`: a JSON array with one object per row, keyed by column label.
pub fn formatted_records(columns: &[Column], rows: &[Vec<Field>]) -> String {
    use base64::Engine as _;
    let records: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            let mut object = serde_json::Map::with_capacity(columns.len());
            for (c, f) in columns.iter().zip(row) {
                let v = match f {
                    Field::IsNull(_) => serde_json::Value::Null,
                    Field::BooleanValue(b) => serde_json::Value::Bool(*b),
                    Field::LongValue(n) => serde_json::Value::from(*n),
                    Field::DoubleValue(d) => serde_json::Value::from(*d),
                    Field::StringValue(s) => serde_json::Value::String(s.clone()),
                    Field::BlobValue(b) => {
                        serde_json::Value::String(base64::engine::general_purpose::STANDARD.encode(b))
                    }
                    Field::ArrayValue(v) => v.clone(),
                };
                object.insert(c.name_str().into_owned(), v);
            }
            serde_json::Value::Object(object)
        })
        .collect();
    serde_json::Value::Array(records).to_string()
}
