//! JSON ↔ CQL for every CQL type, as Stargate's APIs write and read values.
//!
//! Out: numbers as JSON numbers (`varint` and `decimal` at full precision: their digits are
//! written, never converted through `f64`), counters as strings, timestamps as ISO-8601,
//! `date`/`time`/`duration`/`uuid`/`inet` as strings, blobs as base64, lists/sets/tuples/vectors
//! as arrays, UDTs as objects, maps as objects when their keys are text and as
//! `[{"key","value"}]` otherwise.
//!
//! In: the same forms, and for any type a string holding the value as a CQL literal
//! (`"42"`, `"2024-05-01T10:00:00Z"`, `"[1, 2]"`, `"{'a': 1}"`, `"0xcafe"`). Timestamps also come
//! as epoch milliseconds.

use std::net::IpAddr;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, Timelike, Utc};
use num_bigint::BigInt;
use ringgate::protocol::types::{
    ColumnType, CqlDate, CqlDecimal, CqlDuration, CqlTime, CqlTimestamp, CqlValue, CqlVarint,
};
use serde_json::{Map, Number, Value};

/// A value that does not fit its type: the message names the expected type and what came.
pub type Wrong = String;

// ---------------------------------------------------------------------------------------------
// CQL -> JSON
// ---------------------------------------------------------------------------------------------

/// A cell as JSON (`null` for a null cell).
pub fn cell_to_json(v: Option<&CqlValue>) -> Value {
    v.map_or(Value::Null, to_json)
}

/// A value as JSON.
pub fn to_json(v: &CqlValue) -> Value {
    match v {
        CqlValue::Empty => Value::Null,
        CqlValue::Ascii(s) | CqlValue::Text(s) => Value::String(s.clone()),
        CqlValue::Bigint(n) => Value::from(*n),
        CqlValue::Int(n) => Value::from(*n),
        CqlValue::Smallint(n) => Value::from(*n),
        CqlValue::Tinyint(n) => Value::from(*n),
        CqlValue::Counter(n) => Value::String(n.to_string()),
        CqlValue::Varint(n) => number(&varint_to_string(n)),
        CqlValue::Decimal(d) => number(&decimal_to_string(d)),
        CqlValue::Double(f) => float(*f, &format!("{f:?}")),
        CqlValue::Float(f) => float(f64::from(*f), &format!("{f:?}")),
        CqlValue::Boolean(b) => Value::Bool(*b),
        CqlValue::Timestamp(t) => Value::String(timestamp_to_string(*t)),
        CqlValue::Uuid(u) | CqlValue::Timeuuid(u) => {
            Value::String(uuid::Uuid::from_bytes(*u).hyphenated().to_string())
        }
        CqlValue::Inet(ip) => Value::String(ip.to_string()),
        CqlValue::Date(d) => date_to_json(*d),
        CqlValue::Time(t) => Value::String(time_to_string(*t)),
        CqlValue::Duration(d) => Value::String(duration_to_string(*d)),
        CqlValue::Blob(b) | CqlValue::Custom(b) => Value::String(BASE64.encode(b)),
        CqlValue::List(items) | CqlValue::Set(items) | CqlValue::Vector(items) => {
            Value::Array(items.iter().map(to_json).collect())
        }
        CqlValue::Tuple(items) => {
            Value::Array(items.iter().map(|v| cell_to_json(v.as_ref())).collect())
        }
        CqlValue::Udt(fields) => Value::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), cell_to_json(v.as_ref())))
                .collect(),
        ),
        CqlValue::Map(entries) => {
            let text_keys = entries
                .iter()
                .all(|(k, _)| matches!(k, CqlValue::Text(_) | CqlValue::Ascii(_)));
            if text_keys {
                Value::Object(
                    entries
                        .iter()
                        .map(|(k, v)| match k {
                            CqlValue::Text(s) | CqlValue::Ascii(s) => (s.clone(), to_json(v)),
                            _ => unreachable_key(),
                        })
                        .collect(),
                )
            } else {
                Value::Array(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            let mut entry = Map::new();
                            entry.insert("key".into(), to_json(k));
                            entry.insert("value".into(), to_json(v));
                            Value::Object(entry)
                        })
                        .collect(),
                )
            }
        }
    }
}

fn unreachable_key() -> (String, Value) {
    // Only called for text keys (checked above); kept total rather than panicking.
    (String::new(), Value::Null)
}

/// A JSON number from its text (digits that came from a CQL value, so always valid).
fn number(text: &str) -> Value {
    Number::from_str(text).map_or_else(|_| Value::String(text.to_owned()), Value::Number)
}

/// A float as a JSON number in the shortest form that reads back as the same float of its
/// own width (`1.1` for the `float` 1.1, not its `f64` widening), or as a string for NaN and the infinities, which JSON has no number for.
fn float(f: f64, text: &str) -> Value {
    if f.is_finite() {
        number(text)
    } else if f.is_nan() {
        Value::String("NaN".into())
    } else if f > 0.0 {
        Value::String("Infinity".into())
    } else {
        Value::String("-Infinity".into())
    }
}

fn varint_to_string(n: &CqlVarint) -> String {
    BigInt::from_signed_bytes_be(n.as_signed_bytes()).to_string()
}

/// A decimal in plain notation (`123.45`), or with an exponent when its scale is negative
/// (`12E+3`).
fn decimal_to_string(d: &CqlDecimal) -> String {
    let unscaled = BigInt::from_signed_bytes_be(d.unscaled.as_signed_bytes());
    let digits = unscaled.magnitude().to_string();
    let sign = if unscaled.sign() == num_bigint::Sign::Minus {
        "-"
    } else {
        ""
    };
    match usize::try_from(d.scale) {
        Ok(0) => format!("{sign}{digits}"),
        Ok(scale) if scale < digits.len() => {
            let (int, frac) = digits.split_at(digits.len() - scale);
            format!("{sign}{int}.{frac}")
        }
        Ok(scale) if scale < 1000 => {
            format!("{sign}0.{}{digits}", "0".repeat(scale - digits.len()))
        }
        _ => format!("{sign}{digits}E{}", -i64::from(d.scale)),
    }
}

/// A timestamp as ISO-8601 in UTC (`2024-05-01T10:00:00.123Z`), or as its epoch milliseconds
/// when outside chrono's range.
pub fn timestamp_to_string(t: CqlTimestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(t.0).map_or_else(
        || t.0.to_string(),
        |dt| dt.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

fn date_to_json(d: CqlDate) -> Value {
    let days = d.days_since_epoch();
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1);
    match epoch.and_then(|e| e.checked_add_signed(chrono::TimeDelta::try_days(days)?)) {
        Some(date) => Value::String(date.format("%Y-%m-%d").to_string()),
        // Out of chrono's range: the number of days since the epoch, as Cassandra prints it.
        None => Value::from(days),
    }
}

/// A time of day as `HH:MM:SS`, with the fraction in groups of three digits when not zero.
fn time_to_string(t: CqlTime) -> String {
    let n = t.nanos();
    let secs = n / 1_000_000_000;
    let frac = n % 1_000_000_000;
    let base = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    if frac == 0 {
        base
    } else if frac % 1_000_000 == 0 {
        format!("{base}.{:03}", frac / 1_000_000)
    } else if frac % 1_000 == 0 {
        format!("{base}.{:06}", frac / 1_000)
    } else {
        format!("{base}.{frac:09}")
    }
}

/// A duration as Cassandra writes it: `1y2mo3d4h5m6s7ms8us9ns`, `-` first when negative.
fn duration_to_string(d: CqlDuration) -> String {
    let negative = d.months() < 0 || d.days() < 0 || d.nanos() < 0;
    let months = i64::from(d.months()).unsigned_abs();
    let days = i64::from(d.days()).unsigned_abs();
    let mut nanos = d.nanos().unsigned_abs();
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    let mut part = |n: u64, unit: &str| {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    };
    part(months / 12, "y");
    part(months % 12, "mo");
    part(days, "d");
    for (size, unit) in [
        (3_600_000_000_000u64, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
        (1, "ns"),
    ] {
        part(nanos / size, unit);
        nanos %= size;
    }
    if out.is_empty() || out == "-" {
        return "0s".to_owned();
    }
    out
}

// ---------------------------------------------------------------------------------------------
// JSON -> CQL
// ---------------------------------------------------------------------------------------------

/// A JSON value for a column of type `typ`; `null` is `None`. The error names what was
/// expected; callers add the column's name.
pub fn from_json(typ: &ColumnType, v: &Value) -> Result<Option<CqlValue>, Wrong> {
    if v.is_null() {
        return Ok(None);
    }
    value_from_json(typ, v).map(Some)
}

fn value_from_json(typ: &ColumnType, v: &Value) -> Result<CqlValue, Wrong> {
    use ColumnType as T;
    let wrong = || Err(expected(typ, v));
    match (typ, v) {
        (_, Value::Null) => Err(format!("{} elements cannot be null", type_text(typ))),
        (T::Varchar, Value::String(s)) => Ok(CqlValue::Text(s.clone())),
        (T::Ascii, Value::String(s)) => {
            if s.is_ascii() {
                Ok(CqlValue::Ascii(s.clone()))
            } else {
                Err(format!("expected ascii, got non-ASCII text {s:?}"))
            }
        }
        (T::Varchar | T::Ascii, _) => wrong(),
        // Any other type takes its CQL literal as a string.
        (_, Value::String(s)) => from_literal(typ, s),
        (T::Boolean, Value::Bool(b)) => Ok(CqlValue::Boolean(*b)),
        (
            T::Int
            | T::Bigint
            | T::Smallint
            | T::Tinyint
            | T::Counter
            | T::Varint
            | T::Decimal
            | T::Double
            | T::Float
            | T::Timestamp
            | T::Time,
            Value::Number(n),
        ) => scalar_from_text(typ, &n.to_string()).map_err(|_| expected(typ, v)),
        (T::List(element) | T::Set(element), Value::Array(items)) => {
            let values = items
                .iter()
                .map(|item| value_from_json(element, item))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(typ, T::List(_)) {
                CqlValue::List(values)
            } else {
                CqlValue::Set(values)
            })
        }
        (T::Vector { element, dimension }, Value::Array(items)) => {
            if items.len() != *dimension as usize {
                return Err(format!(
                    "expected {} (exactly {dimension} elements), got {} elements",
                    type_text(typ),
                    items.len()
                ));
            }
            Ok(CqlValue::Vector(
                items
                    .iter()
                    .map(|item| value_from_json(element, item))
                    .collect::<Result<_, _>>()?,
            ))
        }
        (T::Tuple(types), Value::Array(items)) => {
            if items.len() > types.len() {
                return Err(format!(
                    "expected {}, got {} elements",
                    type_text(typ),
                    items.len()
                ));
            }
            Ok(CqlValue::Tuple(
                types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| match items.get(i) {
                        None => Ok(None),
                        Some(item) => from_json(t, item),
                    })
                    .collect::<Result<_, _>>()?,
            ))
        }
        (T::Map(key, value), Value::Object(entries)) => Ok(CqlValue::Map(
            entries
                .iter()
                .map(|(k, v)| Ok((from_literal(key, k)?, value_from_json(value, v)?)))
                .collect::<Result<_, Wrong>>()?,
        )),
        (T::Map(key, value), Value::Array(entries)) => Ok(CqlValue::Map(
            entries
                .iter()
                .map(|entry| match (entry.get("key"), entry.get("value")) {
                    (Some(k), Some(v)) if entry.as_object().is_some_and(|o| o.len() == 2) => {
                        Ok((value_from_json(key, k)?, value_from_json(value, v)?))
                    }
                    _ => Err(format!(
                        "expected {} entries as {{\"key\": …, \"value\": …}}, got {entry}",
                        type_text(typ)
                    )),
                })
                .collect::<Result<_, Wrong>>()?,
        )),
        (T::Udt(udt), Value::Object(given)) => {
            if let Some(unknown) = given
                .keys()
                .find(|k| !udt.fields.iter().any(|(name, _)| name == *k))
            {
                return Err(format!("user type {} has no field {unknown:?}", udt.name));
            }
            Ok(CqlValue::Udt(
                udt.fields
                    .iter()
                    .map(|(name, t)| {
                        let v = match given.get(name) {
                            None => None,
                            Some(v) => from_json(t, v).map_err(|e| format!("field {name}: {e}"))?,
                        };
                        Ok((name.clone(), v))
                    })
                    .collect::<Result<_, Wrong>>()?,
            ))
        }
        _ => wrong(),
    }
}

fn expected(typ: &ColumnType, v: &Value) -> Wrong {
    let shown = match v {
        Value::String(s) => format!("{s:?}"),
        other => {
            let text = other.to_string();
            if text.len() > 80 {
                format!("{}…", text.chars().take(80).collect::<String>())
            } else {
                text
            }
        }
    };
    format!("expected {}, got {shown}", describe(typ))
}

/// What a JSON value of this type looks like, for error messages.
fn describe(typ: &ColumnType) -> String {
    use ColumnType as T;
    let form = match typ {
        T::Varchar | T::Ascii => "a string",
        T::Int | T::Bigint | T::Smallint | T::Tinyint | T::Varint => "an integer",
        T::Decimal | T::Double | T::Float => "a number",
        T::Counter => "an integer (or its string)",
        T::Boolean => "true or false",
        T::Timestamp => "an ISO-8601 string or epoch milliseconds",
        T::Date => "a date string YYYY-MM-DD",
        T::Time => "a time string HH:MM:SS[.fffffffff]",
        T::Duration => "a duration string such as 1h30m or PT1H30M",
        T::Uuid | T::Timeuuid => "a UUID string",
        T::Inet => "an IP address string",
        T::Blob | T::Custom(_) => "a base64 string",
        T::List(_) | T::Set(_) | T::Vector { .. } | T::Tuple(_) => "an array",
        T::Map(..) => "an object, or an array of {\"key\", \"value\"} objects",
        T::Udt(_) => "an object",
    };
    format!("{} ({form})", type_text(typ))
}

/// A CQL type as CQL writes it (`map<text, int>`; user types by name).
pub fn type_text(typ: &ColumnType) -> String {
    use ColumnType as T;
    match typ {
        T::Custom(class) => format!("'{class}'"),
        T::Ascii => "ascii".into(),
        T::Bigint => "bigint".into(),
        T::Blob => "blob".into(),
        T::Boolean => "boolean".into(),
        T::Counter => "counter".into(),
        T::Decimal => "decimal".into(),
        T::Double => "double".into(),
        T::Float => "float".into(),
        T::Int => "int".into(),
        T::Timestamp => "timestamp".into(),
        T::Uuid => "uuid".into(),
        T::Varchar => "text".into(),
        T::Varint => "varint".into(),
        T::Timeuuid => "timeuuid".into(),
        T::Inet => "inet".into(),
        T::Date => "date".into(),
        T::Time => "time".into(),
        T::Smallint => "smallint".into(),
        T::Tinyint => "tinyint".into(),
        T::Duration => "duration".into(),
        T::List(e) => format!("list<{}>", type_text(e)),
        T::Set(e) => format!("set<{}>", type_text(e)),
        T::Map(k, v) => format!("map<{}, {}>", type_text(k), type_text(v)),
        T::Udt(u) => u.name.clone(),
        T::Tuple(ts) => format!(
            "tuple<{}>",
            ts.iter().map(type_text).collect::<Vec<_>>().join(", ")
        ),
        T::Vector { element, dimension } => format!("vector<{}, {dimension}>", type_text(element)),
    }
}

/// A value of type `typ` from its CQL literal (for text types: the string itself).
pub fn from_literal(typ: &ColumnType, text: &str) -> Result<CqlValue, Wrong> {
    use ColumnType as T;
    match typ {
        T::Varchar => Ok(CqlValue::Text(text.to_owned())),
        T::Ascii => value_from_json(typ, &Value::String(text.to_owned())),
        T::List(_) | T::Set(_) | T::Map(..) | T::Udt(_) | T::Tuple(_) | T::Vector { .. } => {
            let lit = Literal::parse(text)
                .map_err(|e| format!("expected {}, got {text:?}: {e}", describe(typ)))?;
            lit.to_value(typ)
        }
        _ => scalar_from_text(typ, text.trim())
            .map_err(|why| format!("expected {}, got {text:?}{why}", describe(typ))),
    }
}

/// A scalar from its text form. The error is a detail appended to "expected …, got …".
fn scalar_from_text(typ: &ColumnType, s: &str) -> Result<CqlValue, String> {
    use ColumnType as T;
    let none = || String::new();
    Ok(match typ {
        T::Varchar => CqlValue::Text(s.to_owned()),
        T::Ascii => CqlValue::Ascii(s.to_owned()),
        T::Int => CqlValue::Int(s.parse().map_err(|_| none())?),
        T::Bigint => CqlValue::Bigint(s.parse().map_err(|_| none())?),
        T::Counter => CqlValue::Counter(s.parse().map_err(|_| none())?),
        T::Smallint => CqlValue::Smallint(s.parse().map_err(|_| none())?),
        T::Tinyint => CqlValue::Tinyint(s.parse().map_err(|_| none())?),
        T::Varint => {
            let n = BigInt::from_str(s.strip_prefix('+').unwrap_or(s)).map_err(|_| none())?;
            CqlValue::Varint(
                CqlVarint::from_signed_bytes(&n.to_signed_bytes_be()).ok_or_else(none)?,
            )
        }
        T::Decimal => CqlValue::Decimal(parse_decimal(s).ok_or_else(none)?),
        T::Double => CqlValue::Double(parse_float(s).ok_or_else(none)?),
        T::Float => CqlValue::Float(match s {
            "NaN" => f32::NAN,
            "Infinity" => f32::INFINITY,
            "-Infinity" => f32::NEG_INFINITY,
            _ if looks_numeric(s) => s.parse().map_err(|_| none())?,
            _ => return Err(none()),
        }),
        T::Boolean => match s.to_ascii_lowercase().as_str() {
            "true" => CqlValue::Boolean(true),
            "false" => CqlValue::Boolean(false),
            _ => return Err(none()),
        },
        T::Timestamp => CqlValue::Timestamp(parse_timestamp(s).ok_or_else(none)?),
        T::Date => CqlValue::Date(parse_date(s).ok_or_else(none)?),
        T::Time => CqlValue::Time(parse_time(s).ok_or_else(none)?),
        T::Duration => CqlValue::Duration(parse_duration(s).ok_or_else(none)?),
        T::Uuid => CqlValue::Uuid(*uuid::Uuid::parse_str(s).map_err(|_| none())?.as_bytes()),
        T::Timeuuid => {
            let u = uuid::Uuid::parse_str(s).map_err(|_| none())?;
            if u.get_version_num() != 1 {
                return Err(": not a version 1 (time-based) UUID".into());
            }
            CqlValue::Timeuuid(*u.as_bytes())
        }
        T::Inet => CqlValue::Inet(IpAddr::from_str(s).map_err(|_| none())?),
        T::Blob | T::Custom(_) => {
            let bytes = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                Some(hex) => parse_hex(hex).ok_or_else(none)?,
                None => BASE64.decode(s).map_err(|_| none())?,
            };
            if matches!(typ, T::Blob) {
                CqlValue::Blob(bytes)
            } else {
                CqlValue::Custom(bytes)
            }
        }
        T::List(_) | T::Set(_) | T::Map(..) | T::Udt(_) | T::Tuple(_) | T::Vector { .. } => {
            return from_literal(typ, s).map_err(|e| format!(": {e}"));
        }
    })
}

fn looks_numeric(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
}

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ if looks_numeric(s) => s.parse().ok(),
        _ => None,
    }
}

fn parse_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// `[-+]digits[.digits][e[-+]digits]`, exactly.
fn parse_decimal(s: &str) -> Option<CqlDecimal> {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], s[i + 1..].parse::<i64>().ok()?),
        None => (s, 0),
    };
    let (negative, mantissa) = match mantissa.as_bytes().first() {
        Some(b'-') => (true, &mantissa[1..]),
        Some(b'+') => (false, &mantissa[1..]),
        _ => (false, mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{}{int}{frac}", if negative { "-" } else { "" });
    let unscaled = BigInt::from_str(&digits).ok()?;
    let scale = i64::try_from(frac.len()).ok()? - exponent;
    Some(CqlDecimal::new(
        CqlVarint::from_signed_bytes(&unscaled.to_signed_bytes_be())?,
        i32::try_from(scale).ok()?,
    ))
}

/// ISO-8601 (`2024-05-01T10:00:00Z`, `…+02:00`, fractions), CQL's own forms
/// (`2024-05-01 10:00:00+0000`), a date alone (midnight UTC), or epoch milliseconds.
pub fn parse_timestamp(s: &str) -> Option<CqlTimestamp> {
    if let Ok(ms) = s.parse::<i64>() {
        return Some(CqlTimestamp(ms));
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(CqlTimestamp(dt.timestamp_millis()));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%d %H:%M%z",
        "%Y-%m-%dT%H:%M%z",
        "%Y-%m-%d %H:%M:%S%.f%:z",
    ] {
        if let Ok(dt) = DateTime::parse_from_str(s, format) {
            return Some(CqlTimestamp(dt.timestamp_millis()));
        }
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(dt) = NaiveDateTime::parse_from_str(s, format) {
            return Some(CqlTimestamp(dt.and_utc().timestamp_millis()));
        }
    }
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(CqlTimestamp(
        date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis(),
    ))
}

fn parse_date(s: &str) -> Option<CqlDate> {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1)?;
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    CqlDate::from_days_since_epoch((date - epoch).num_days())
}

fn parse_time(s: &str) -> Option<CqlTime> {
    if let Ok(nanos) = s.parse::<i64>() {
        return CqlTime::from_nanos(nanos);
    }
    let t = NaiveTime::parse_from_str(s, "%H:%M:%S%.f")
        .or_else(|_| NaiveTime::parse_from_str(s, "%H:%M"))
        .ok()?;
    CqlTime::from_nanos(
        i64::from(t.num_seconds_from_midnight()) * 1_000_000_000 + i64::from(t.nanosecond()),
    )
}

/// Cassandra's duration forms: `1y2mo3w4d5h6m7s8ms9us10ns` (µs as `us` or `µs`), ISO-8601
/// `P1Y2M3DT4H5M6S` and `P2W`; `-` first for a negative duration.
pub fn parse_duration(s: &str) -> Option<CqlDuration> {
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (months, days, nanos) = if let Some(iso) = body.strip_prefix('P') {
        iso_duration(iso)?
    } else {
        unit_duration(body)?
    };
    let sign = if negative { -1 } else { 1 };
    CqlDuration::new(
        i32::try_from(months).ok()? * sign,
        i32::try_from(days).ok()? * sign,
        i64::try_from(nanos).ok()? * i64::from(sign),
    )
}

fn unit_duration(s: &str) -> Option<(u64, u64, u64)> {
    if s.is_empty() {
        return None;
    }
    let (mut months, mut days, mut nanos) = (0u64, 0u64, 0u64);
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = rest[..unit_len].to_ascii_lowercase();
        rest = &rest[unit_len..];
        match unit.as_str() {
            "y" => months = months.checked_add(n.checked_mul(12)?)?,
            "mo" => months = months.checked_add(n)?,
            "w" => days = days.checked_add(n.checked_mul(7)?)?,
            "d" => days = days.checked_add(n)?,
            "h" => nanos = nanos.checked_add(n.checked_mul(3_600_000_000_000)?)?,
            "m" => nanos = nanos.checked_add(n.checked_mul(60_000_000_000)?)?,
            "s" => nanos = nanos.checked_add(n.checked_mul(1_000_000_000)?)?,
            "ms" => nanos = nanos.checked_add(n.checked_mul(1_000_000)?)?,
            "us" | "µs" => nanos = nanos.checked_add(n.checked_mul(1_000)?)?,
            "ns" => nanos = nanos.checked_add(n)?,
            _ => return None,
        }
    }
    Some((months, days, nanos))
}

fn iso_duration(s: &str) -> Option<(u64, u64, u64)> {
    if let Some(weeks) = s.strip_suffix('W') {
        return Some((0, weeks.parse::<u64>().ok()?.checked_mul(7)?, 0));
    }
    let (date, time) = s.split_once('T').unwrap_or((s, ""));
    if date.is_empty() && time.is_empty() {
        return None;
    }
    let (mut months, mut days, mut nanos) = (0u64, 0u64, 0u64);
    let mut read = |part: &str, time: bool| -> Option<()> {
        let mut rest = part;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit())?;
            let n: u64 = rest[..digits].parse().ok()?;
            let unit = rest[digits..].chars().next()?;
            rest = &rest[digits + unit.len_utf8()..];
            match (time, unit) {
                (false, 'Y') => months = months.checked_add(n.checked_mul(12)?)?,
                (false, 'M') => months = months.checked_add(n)?,
                (false, 'D') => days = days.checked_add(n)?,
                (true, 'H') => nanos = nanos.checked_add(n.checked_mul(3_600_000_000_000)?)?,
                (true, 'M') => nanos = nanos.checked_add(n.checked_mul(60_000_000_000)?)?,
                (true, 'S') => nanos = nanos.checked_add(n.checked_mul(1_000_000_000)?)?,
                _ => return None,
            }
        }
        Some(())
    };
    read(date, false)?;
    read(time, true)?;
    Some((months, days, nanos))
}

// ---------------------------------------------------------------------------------------------
// CQL literals of collections, tuples and UDTs
// ---------------------------------------------------------------------------------------------

/// A CQL literal, parsed before its type is applied.
#[derive(Debug)]
enum Literal {
    /// `'quoted'` (quotes doubled inside).
    Quoted(String),
    /// Anything else up to a delimiter: numbers, booleans, UUIDs, `0x…`, `null`.
    Bare(String),
    /// `[a, b]`.
    List(Vec<Literal>),
    /// `{a, b}` or `{k: v, …}`.
    Braces(Vec<(Literal, Option<Literal>)>),
    /// `(a, b)`.
    Tuple(Vec<Literal>),
}

/// How deep literals may nest (input comes from the network).
const MAX_LITERAL_DEPTH: usize = 32;

impl Literal {
    fn parse(text: &str) -> Result<Literal, String> {
        let mut p = LiteralParser {
            chars: text.char_indices().peekable(),
            text,
        };
        let lit = p.value(0)?;
        p.skip_ws();
        match p.chars.peek() {
            None => Ok(lit),
            Some((i, _)) => Err(format!("unexpected text at {i}")),
        }
    }

    fn to_value(&self, typ: &ColumnType) -> Result<CqlValue, Wrong> {
        use ColumnType as T;
        let wrong = || format!("expected {}, got literal {self}", describe(typ));
        match (typ, self) {
            (_, Literal::Bare(b)) if b.eq_ignore_ascii_case("null") => {
                Err(format!("{} elements cannot be null", type_text(typ)))
            }
            (T::Varchar | T::Ascii, Literal::Quoted(s)) => from_literal(typ, s),
            (_, Literal::Quoted(s) | Literal::Bare(s))
                if !matches!(
                    typ,
                    T::List(_)
                        | T::Set(_)
                        | T::Map(..)
                        | T::Udt(_)
                        | T::Tuple(_)
                        | T::Vector { .. }
                ) =>
            {
                from_literal(typ, s)
            }
            (T::List(e) | T::Vector { element: e, .. }, Literal::List(_))
            | (T::Set(e), Literal::Braces(_) | Literal::List(_)) => {
                let items: Vec<&Literal> = match self {
                    Literal::List(items) => items.iter().collect(),
                    Literal::Braces(entries) => {
                        if entries.iter().any(|(_, v)| v.is_some()) {
                            return Err(wrong());
                        }
                        entries.iter().map(|(k, _)| k).collect()
                    }
                    _ => return Err(wrong()),
                };
                let values = items
                    .into_iter()
                    .map(|i| i.to_value(e))
                    .collect::<Result<Vec<_>, _>>()?;
                match typ {
                    T::List(_) => Ok(CqlValue::List(values)),
                    T::Set(_) => Ok(CqlValue::Set(values)),
                    T::Vector { dimension, .. } if values.len() == *dimension as usize => {
                        Ok(CqlValue::Vector(values))
                    }
                    _ => Err(wrong()),
                }
            }
            (T::Map(k, v), Literal::Braces(entries)) => Ok(CqlValue::Map(
                entries
                    .iter()
                    .map(|(key, value)| match value {
                        Some(value) => Ok((key.to_value(k)?, value.to_value(v)?)),
                        None => Err(wrong()),
                    })
                    .collect::<Result<_, Wrong>>()?,
            )),
            (T::Udt(udt), Literal::Braces(entries)) => {
                let mut fields: Vec<(String, Option<CqlValue>)> =
                    udt.fields.iter().map(|(n, _)| (n.clone(), None)).collect();
                for (key, value) in entries {
                    let (Literal::Bare(name) | Literal::Quoted(name), Some(value)) = (key, value)
                    else {
                        return Err(wrong());
                    };
                    let Some(i) = udt.fields.iter().position(|(n, _)| n == name) else {
                        return Err(format!("user type {} has no field {name:?}", udt.name));
                    };
                    let t = &udt.fields[i].1;
                    fields[i].1 = match value {
                        Literal::Bare(b) if b.eq_ignore_ascii_case("null") => None,
                        v => Some(v.to_value(t)?),
                    };
                }
                Ok(CqlValue::Udt(fields))
            }
            (T::Tuple(types), Literal::Tuple(items)) if items.len() <= types.len() => {
                Ok(CqlValue::Tuple(
                    types
                        .iter()
                        .zip(items.iter().map(Some).chain(std::iter::repeat(None)))
                        .map(|(t, item)| match item {
                            None => Ok(None),
                            Some(Literal::Bare(b)) if b.eq_ignore_ascii_case("null") => Ok(None),
                            Some(item) => item.to_value(t).map(Some),
                        })
                        .collect::<Result<_, Wrong>>()?,
                ))
            }
            _ => Err(wrong()),
        }
    }
}

impl std::fmt::Display for Literal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Literal::Quoted(s) => write!(f, "'{}'", s.replace('\'', "''")),
            Literal::Bare(s) => f.write_str(s),
            Literal::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Literal::Tuple(items) => {
                f.write_str("(")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str(")")
            }
            Literal::Braces(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}")?;
                    if let Some(v) = v {
                        write!(f, ": {v}")?;
                    }
                }
                f.write_str("}")
            }
        }
    }
}

struct LiteralParser<'a> {
    chars: std::iter::Peekable<std::str::CharIndices<'a>>,
    text: &'a str,
}

impl LiteralParser<'_> {
    fn skip_ws(&mut self) {
        while self.chars.peek().is_some_and(|(_, c)| c.is_whitespace()) {
            self.chars.next();
        }
    }

    fn value(&mut self, depth: usize) -> Result<Literal, String> {
        if depth > MAX_LITERAL_DEPTH {
            return Err("nested too deep".into());
        }
        self.skip_ws();
        match self.chars.peek().copied() {
            None => Err("a value is missing".into()),
            Some((_, '\'')) => {
                self.chars.next();
                let mut s = String::new();
                loop {
                    match self.chars.next() {
                        None => return Err("unterminated string".into()),
                        Some((_, '\'')) => {
                            if self.chars.peek().is_some_and(|(_, c)| *c == '\'') {
                                self.chars.next();
                                s.push('\'');
                            } else {
                                return Ok(Literal::Quoted(s));
                            }
                        }
                        Some((_, c)) => s.push(c),
                    }
                }
            }
            Some((_, open @ ('[' | '{' | '('))) => {
                self.chars.next();
                let close = match open {
                    '[' => ']',
                    '{' => '}',
                    _ => ')',
                };
                let mut items = Vec::new();
                self.skip_ws();
                if self.chars.peek().is_some_and(|(_, c)| *c == close) {
                    self.chars.next();
                } else {
                    loop {
                        let key = self.value(depth + 1)?;
                        self.skip_ws();
                        let value =
                            if open == '{' && self.chars.peek().is_some_and(|(_, c)| *c == ':') {
                                self.chars.next();
                                Some(self.value(depth + 1)?)
                            } else {
                                None
                            };
                        items.push((key, value));
                        self.skip_ws();
                        match self.chars.next() {
                            Some((_, ',')) => continue,
                            Some((_, c)) if c == close => break,
                            Some((i, c)) => return Err(format!("unexpected {c:?} at {i}")),
                            None => return Err(format!("missing {close:?}")),
                        }
                    }
                }
                Ok(match open {
                    '[' => Literal::List(items.into_iter().map(|(k, _)| k).collect()),
                    '(' => Literal::Tuple(items.into_iter().map(|(k, _)| k).collect()),
                    _ => Literal::Braces(items),
                })
            }
            Some((start, _)) => {
                let mut end = self.text.len();
                while let Some(&(i, c)) = self.chars.peek() {
                    if matches!(c, ',' | ']' | '}' | ')' | ':') && !self.bare_colon(start, i, c) {
                        end = i;
                        break;
                    }
                    self.chars.next();
                }
                let bare = self.text[start..end].trim();
                if bare.is_empty() {
                    return Err(format!("a value is missing at {start}"));
                }
                Ok(Literal::Bare(bare.to_owned()))
            }
        }
    }

    /// Whether a `:` at `i` belongs to a bare value (a time, an IPv6 address or a timestamp)
    /// rather than separating a map key from its value: it does when digits or hex follow it
    /// directly and the value so far has no space.
    fn bare_colon(&self, start: usize, i: usize, c: char) -> bool {
        c == ':'
            && !self.text[start..i].contains(char::is_whitespace)
            && self.text[i + 1..]
                .chars()
                .next()
                .is_some_and(|n| n.is_ascii_hexdigit() || n == ':')
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringgate::protocol::types::UdtType;

    fn json(text: &str) -> Value {
        serde_json::from_str(text).unwrap()
    }

    fn round_trip(typ: &ColumnType, text: &str) -> Value {
        to_json(&from_json(typ, &json(text)).unwrap().unwrap())
    }

    #[test]
    fn big_numbers_keep_every_digit() {
        let big = "123456789012345678901234567890123456789";
        assert_eq!(round_trip(&ColumnType::Varint, big).to_string(), big);
        let dec = "-0.000000000000000000000012345678901234567890123456789";
        assert_eq!(round_trip(&ColumnType::Decimal, dec).to_string(), dec);
        assert_eq!(round_trip(&ColumnType::Decimal, "1.50").to_string(), "1.50");
        assert_eq!(
            round_trip(&ColumnType::Decimal, "12e3").to_string(),
            "12e+3"
        );
        assert_eq!(
            round_trip(
                &ColumnType::Decimal,
                "\"3.14159265358979323846264338327950288\""
            )
            .to_string(),
            "3.14159265358979323846264338327950288"
        );
        assert_eq!(round_trip(&ColumnType::Float, "1.1").to_string(), "1.1");
        assert_eq!(round_trip(&ColumnType::Double, "0.1").to_string(), "0.1");
        assert!(from_json(&ColumnType::Int, &json("1.5")).is_err());
        assert!(from_json(&ColumnType::Int, &json("3000000000")).is_err());
        assert!(from_json(&ColumnType::Tinyint, &json("128")).is_err());
    }

    #[test]
    fn temporal_values() {
        assert_eq!(
            round_trip(&ColumnType::Timestamp, "1700000000123"),
            json("\"2023-11-14T22:13:20.123Z\"")
        );
        assert_eq!(
            round_trip(&ColumnType::Timestamp, "\"2023-11-14T23:13:20.5+01:00\""),
            json("\"2023-11-14T22:13:20.500Z\"")
        );
        assert_eq!(
            round_trip(&ColumnType::Timestamp, "\"2023-11-14 22:13:20+0000\""),
            json("\"2023-11-14T22:13:20Z\"")
        );
        assert_eq!(
            round_trip(&ColumnType::Date, "\"1969-12-31\""),
            json("\"1969-12-31\"")
        );
        assert_eq!(
            round_trip(&ColumnType::Time, "\"10:15:30.000001\""),
            json("\"10:15:30.000001\"")
        );
        assert_eq!(
            round_trip(&ColumnType::Duration, "\"1y2mo3w4d5h6m7s8ms9us10ns\""),
            json("\"1y2mo25d5h6m7s8ms9us10ns\"")
        );
        assert_eq!(
            round_trip(&ColumnType::Duration, "\"-PT1H30M\""),
            json("\"-1h30m\"")
        );
        assert!(from_json(&ColumnType::Duration, &json("\"1x\"")).is_err());
    }

    #[test]
    fn collections_and_literals() {
        let map_int = ColumnType::Map(Box::new(ColumnType::Int), Box::new(ColumnType::Varchar));
        assert_eq!(
            round_trip(&map_int, "{\"1\": \"a\", \"2\": \"b\"}"),
            json("[{\"key\":1,\"value\":\"a\"},{\"key\":2,\"value\":\"b\"}]")
        );
        assert_eq!(
            round_trip(&map_int, "[{\"key\":1,\"value\":\"a\"}]"),
            json("[{\"key\":1,\"value\":\"a\"}]")
        );
        assert_eq!(
            round_trip(&map_int, "\"{1: 'a''s', 2: 'b'}\""),
            json("[{\"key\":1,\"value\":\"a's\"},{\"key\":2,\"value\":\"b\"}]")
        );
        let list = ColumnType::List(Box::new(ColumnType::Time));
        assert_eq!(
            round_trip(&list, "\"[10:00:00, '11:00:00']\""),
            json("[\"10:00:00\", \"11:00:00\"]")
        );
        let udt = ColumnType::Udt(UdtType {
            keyspace: "ks".into(),
            name: "address".into(),
            fields: vec![
                ("street".into(), ColumnType::Varchar),
                ("zip".into(), ColumnType::Int),
            ],
        });
        assert_eq!(
            round_trip(&udt, "\"{street: 'Main', zip: 12}\""),
            json("{\"street\": \"Main\", \"zip\": 12}")
        );
        assert_eq!(
            round_trip(&udt, "{\"zip\": 12}"),
            json("{\"street\": null, \"zip\": 12}")
        );
        let err = from_json(&udt, &json("{\"city\": 1}")).unwrap_err();
        assert!(err.contains("no field \"city\""), "{err}");
        let tuple = ColumnType::Tuple(vec![ColumnType::Int, ColumnType::Inet]);
        assert_eq!(round_trip(&tuple, "\"(1, ::1)\""), json("[1, \"::1\"]"));
        let inets = ColumnType::List(Box::new(ColumnType::Inet));
        let err = from_json(&inets, &json("[1]")).unwrap_err();
        assert!(err.contains("expected inet"), "{err}");
        assert!(from_json(&list, &json("\"[[[[\"")).is_err());
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(from_json(&list, &Value::String(deep)).is_err());
    }

    #[test]
    fn blobs_uuids_and_counters() {
        assert_eq!(
            round_trip(&ColumnType::Blob, "\"0xcafe\""),
            json("\"yv4=\"")
        );
        assert_eq!(round_trip(&ColumnType::Blob, "\"yv4=\""), json("\"yv4=\""));
        assert_eq!(round_trip(&ColumnType::Counter, "5"), json("\"5\""));
        assert!(
            from_json(
                &ColumnType::Timeuuid,
                &json("\"7d444840-9dc0-41d7-8b2d-1b1ba6f0f1c1\"")
            )
            .is_err()
        );
    }
}
