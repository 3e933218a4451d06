//! Cassandra's marshal class names (`org.apache.cassandra.db.marshal.*`), as custom types carry
//! them on the wire.
//!
//! A custom `[option]` names its type by a class name with parameters, e.g.
//! `org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)`
//! (Cassandra 5's vectors) or `org.apache.cassandra.db.marshal.DurationType` (durations in
//! v3/v4). The grammar is Cassandra's type-parser grammar: an identifier, optionally followed by
//! a parenthesised parameter list; names without a package are in the marshal package; blanks
//! may surround separators. `FrozenType(..)` and `ReversedType(..)` only wrap another type and
//! are unwrapped; a `UserType` carries its type and field names hex-encoded.
//!
//! Classes this crate does not model become [`ColumnType::Custom`] with their text, also when
//! nested (a list of an unknown type is a list of a custom type).

use nom::Parser;
use nom::bytes::complete::{tag, take_while1};
use nom::character::complete::digit1;

use super::column_type::{ColumnType, MAX_TYPE_DEPTH, UdtType};
use crate::primitives::DecodeError;

/// The package of Cassandra's marshal types.
const PACKAGE: &str = "org.apache.cassandra.db.marshal.";

type Res<'a, T> = nom::IResult<&'a str, T, DecodeError>;

/// The type a custom class name describes, when it is one this crate models (e.g.
/// `VectorType(FloatType, 3)`); `Ok(None)` leaves it a [`ColumnType::Custom`] with the class
/// text as it came. `depth` is the nesting depth of the `[option]` that carried the name;
/// nesting beyond [`MAX_TYPE_DEPTH`] is an error, as it is for `[option]`s.
pub(crate) fn from_class_name(
    class: &str,
    depth: usize,
) -> Result<Option<ColumnType>, DecodeError> {
    match marshal_type(class, depth) {
        Ok((rest, t)) if blank(rest).0.is_empty() => match t {
            ColumnType::Custom(_) => Ok(None),
            t => Ok(Some(t)),
        },
        Err(nom::Err::Error(e @ DecodeError::LimitExceeded { .. }))
        | Err(nom::Err::Failure(e @ DecodeError::LimitExceeded { .. })) => Err(e),
        // Anything this grammar cannot read stays an opaque custom type.
        _ => Ok(None),
    }
}

/// The marshal class name Cassandra uses for a type, e.g.
/// `org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)`
/// for `vector<float, 3>`: what a custom `[option]` carries for a vector.
///
/// Collections and UDTs that are a vector's elements are frozen and written inside
/// `FrozenType(..)`, as Cassandra writes them. [`ColumnType`] does not record frozenness, so
/// any other type is written as the inside of a frozen value: no `FrozenType(..)` anywhere
/// (Cassandra would wrap the frozen parts of a non-frozen collection); readers, this crate's
/// included, treat both spellings alike.
pub fn class_name(t: &ColumnType) -> String {
    let mut out = String::new();
    // A top-level vector prints its element with the freezing wrapper; any other top-level
    // type prints itself and its parts as the inside of a frozen value.
    let ignore_freezing = !matches!(t, ColumnType::Vector { .. });
    write_class_name(t, ignore_freezing, &mut out);
    out
}

fn write_class_name(t: &ColumnType, ignore_freezing: bool, out: &mut String) {
    let simple = |name: &str, out: &mut String| {
        out.push_str(PACKAGE);
        out.push_str(name);
    };
    // Collections and UDTs show their frozenness unless told to ignore it; their parts are
    // always written without it (inside a frozen value everything is frozen).
    let frozen_open = |out: &mut String| {
        if !ignore_freezing {
            simple("FrozenType(", out);
        }
    };
    let frozen_close = |out: &mut String| {
        if !ignore_freezing {
            out.push(')');
        }
    };
    match t {
        ColumnType::Custom(class) => out.push_str(class),
        ColumnType::Ascii => simple("AsciiType", out),
        ColumnType::Bigint => simple("LongType", out),
        ColumnType::Blob => simple("BytesType", out),
        ColumnType::Boolean => simple("BooleanType", out),
        ColumnType::Counter => simple("CounterColumnType", out),
        ColumnType::Decimal => simple("DecimalType", out),
        ColumnType::Double => simple("DoubleType", out),
        ColumnType::Float => simple("FloatType", out),
        ColumnType::Int => simple("Int32Type", out),
        ColumnType::Timestamp => simple("TimestampType", out),
        ColumnType::Uuid => simple("UUIDType", out),
        ColumnType::Varchar => simple("UTF8Type", out),
        ColumnType::Varint => simple("IntegerType", out),
        ColumnType::Timeuuid => simple("TimeUUIDType", out),
        ColumnType::Inet => simple("InetAddressType", out),
        ColumnType::Date => simple("SimpleDateType", out),
        ColumnType::Time => simple("TimeType", out),
        ColumnType::Smallint => simple("ShortType", out),
        ColumnType::Tinyint => simple("ByteType", out),
        ColumnType::Duration => simple("DurationType", out),
        ColumnType::List(e) => {
            frozen_open(out);
            simple("ListType(", out);
            write_class_name(e, true, out);
            out.push(')');
            frozen_close(out);
        }
        ColumnType::Set(e) => {
            frozen_open(out);
            simple("SetType(", out);
            write_class_name(e, true, out);
            out.push(')');
            frozen_close(out);
        }
        ColumnType::Map(k, v) => {
            frozen_open(out);
            simple("MapType(", out);
            write_class_name(k, true, out);
            out.push(',');
            write_class_name(v, true, out);
            out.push(')');
            frozen_close(out);
        }
        ColumnType::Tuple(elems) => {
            // A tuple is always frozen and never written with the wrapper.
            simple("TupleType(", out);
            for (i, e) in elems.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_class_name(e, true, out);
            }
            out.push(')');
        }
        ColumnType::Udt(udt) => {
            frozen_open(out);
            simple("UserType(", out);
            out.push_str(&udt.keyspace);
            out.push(',');
            push_hex(udt.name.as_bytes(), out);
            for (name, t) in &udt.fields {
                out.push(',');
                push_hex(name.as_bytes(), out);
                out.push(':');
                write_class_name(t, true, out);
            }
            out.push(')');
            frozen_close(out);
        }
        ColumnType::Vector { element, dimension } => {
            simple("VectorType(", out);
            write_class_name(element, ignore_freezing, out);
            out.push_str(" , ");
            out.push_str(&dimension.to_string());
            out.push(')');
        }
    }
}

fn push_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        for nibble in [b >> 4, b & 0x0F] {
            if let Some(&d) = DIGITS.get(usize::from(nibble)) {
                out.push(char::from(d));
            }
        }
    }
}

fn hex_value(d: u8) -> Option<u8> {
    match d {
        b'0'..=b'9' => Some(d - b'0'),
        b'a'..=b'f' => Some(d - b'a' + 10),
        b'A'..=b'F' => Some(d - b'A' + 10),
        _ => None,
    }
}

/// Decodes hex-encoded UTF-8, as UDT names are written.
fn unhex_utf8(hex: &str) -> Option<String> {
    let digits = hex.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    let bytes = digits
        .chunks_exact(2)
        .map(|pair| match pair {
            [hi, lo] => Some(hex_value(*hi)? << 4 | hex_value(*lo)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

fn syntax() -> nom::Err<DecodeError> {
    nom::Err::Error(DecodeError::Malformed("marshal class name"))
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n')
}

fn is_identifier_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.' | '_' | '&')
}

fn blank(i: &str) -> (&str, ()) {
    (i.trim_start_matches(is_blank), ())
}

fn identifier(i: &str) -> Res<'_, &str> {
    take_while1(is_identifier_char).parse(i)
}

/// `symbol` with blanks before it.
fn symbol<'a>(i: &'a str, symbol: &'static str) -> Res<'a, ()> {
    let (i, ()) = blank(i);
    let (i, _) = tag(symbol).parse(i)?;
    Ok((i, ()))
}

/// A class name with its parameters.
fn marshal_type(input: &str, depth: usize) -> Res<'_, ColumnType> {
    if depth > MAX_TYPE_DEPTH {
        return Err(nom::Err::Error(DecodeError::LimitExceeded {
            what: "type nesting depth",
            limit: MAX_TYPE_DEPTH,
        }));
    }
    let (start, ()) = blank(input);
    let (after_name, name) = identifier(start)?;
    let short = if name.contains('.') {
        name.strip_prefix(PACKAGE).filter(|s| !s.contains('.'))
    } else {
        Some(name)
    };
    let (after_blank, ()) = blank(after_name);
    let has_params = after_blank.starts_with('(');
    let inner = |i| marshal_type(i, depth + 1);

    let known = match (short, has_params) {
        (Some(short), false) => simple_type(short).map(|t| (after_name, t)),
        (Some("ListType"), true) => {
            let (i, e) = one_param(after_blank, inner)?;
            Some((i, ColumnType::List(Box::new(e))))
        }
        (Some("SetType"), true) => {
            let (i, e) = one_param(after_blank, inner)?;
            Some((i, ColumnType::Set(Box::new(e))))
        }
        (Some("FrozenType" | "ReversedType"), true) => Some(one_param(after_blank, inner)?),
        (Some("MapType"), true) => {
            let (i, mut params) = type_params(after_blank, inner)?;
            match (params.pop(), params.pop(), params.is_empty()) {
                (Some(v), Some(k), true) => Some((i, ColumnType::Map(Box::new(k), Box::new(v)))),
                _ => return Err(syntax()),
            }
        }
        (Some("TupleType"), true) => {
            let (i, elems) = type_params(after_blank, inner)?;
            Some((i, ColumnType::Tuple(elems)))
        }
        (Some("UserType"), true) => Some(user_type(after_blank, depth)?),
        (Some("VectorType"), true) => Some(vector_type(after_blank, depth)?),
        _ => None,
    };
    match known {
        Some(found) => Ok(found),
        None => {
            // Unknown: keep its whole text, parameters included, as a custom type.
            let end = if has_params {
                skip_balanced(after_blank)?.0
            } else {
                after_name
            };
            let text_len = start.len() - end.len();
            let text = start.get(..text_len).ok_or_else(syntax)?;
            Ok((end, ColumnType::Custom(text.to_owned())))
        }
    }
}

/// The types named by a class without parameters.
fn simple_type(short: &str) -> Option<ColumnType> {
    Some(match short {
        "AsciiType" => ColumnType::Ascii,
        "LongType" => ColumnType::Bigint,
        "BytesType" => ColumnType::Blob,
        "BooleanType" => ColumnType::Boolean,
        "CounterColumnType" => ColumnType::Counter,
        "DecimalType" => ColumnType::Decimal,
        "DoubleType" => ColumnType::Double,
        "FloatType" => ColumnType::Float,
        "Int32Type" => ColumnType::Int,
        // `DateType` is the pre-2.0 name of the timestamp type; same encoding.
        "TimestampType" | "DateType" => ColumnType::Timestamp,
        "UUIDType" => ColumnType::Uuid,
        "UTF8Type" => ColumnType::Varchar,
        "IntegerType" => ColumnType::Varint,
        "TimeUUIDType" => ColumnType::Timeuuid,
        "InetAddressType" => ColumnType::Inet,
        "SimpleDateType" => ColumnType::Date,
        "TimeType" => ColumnType::Time,
        "ShortType" => ColumnType::Smallint,
        "ByteType" => ColumnType::Tinyint,
        "DurationType" => ColumnType::Duration,
        _ => return None,
    })
}

/// `( type , type ... )`: types separated by commas.
fn type_params<'a>(
    i: &'a str,
    mut inner: impl FnMut(&'a str) -> Res<'a, ColumnType>,
) -> Res<'a, Vec<ColumnType>> {
    let (mut i, ()) = symbol(i, "(")?;
    let mut out = Vec::new();
    if let Ok((rest, ())) = symbol(i, ")") {
        return Ok((rest, out));
    }
    loop {
        let (rest, t) = inner(i)?;
        out.push(t);
        if let Ok((rest, ())) = symbol(rest, ")") {
            return Ok((rest, out));
        }
        let (rest, ()) = symbol(rest, ",")?;
        i = rest;
    }
}

fn one_param<'a>(
    i: &'a str,
    inner: impl FnMut(&'a str) -> Res<'a, ColumnType>,
) -> Res<'a, ColumnType> {
    let (i, mut params) = type_params(i, inner)?;
    match (params.pop(), params.is_empty()) {
        (Some(t), true) => Ok((i, t)),
        _ => Err(syntax()),
    }
}

/// `(keyspace,hex(name),hex(field):type,...)`.
fn user_type(i: &str, depth: usize) -> Res<'_, ColumnType> {
    let (i, ()) = symbol(i, "(")?;
    let (i, ()) = blank(i);
    let (i, keyspace) = identifier(i)?;
    let (i, ()) = symbol(i, ",")?;
    let (i, ()) = blank(i);
    let (mut i, name) = identifier(i)?;
    let name = unhex_utf8(name).ok_or_else(syntax)?;
    let mut fields = Vec::new();
    loop {
        if let Ok((rest, ())) = symbol(i, ")") {
            let udt = UdtType {
                keyspace: keyspace.to_owned(),
                name,
                fields,
            };
            return Ok((rest, ColumnType::Udt(udt)));
        }
        let (rest, ()) = symbol(i, ",")?;
        let (rest, ()) = blank(rest);
        let (rest, field) = identifier(rest)?;
        let field = unhex_utf8(field).ok_or_else(syntax)?;
        let (rest, ()) = symbol(rest, ":")?;
        let (rest, t) = marshal_type(rest, depth + 1)?;
        fields.push((field, t));
        i = rest;
    }
}

/// `(element , dimension)`; the dimension is positive, as Cassandra requires.
fn vector_type(i: &str, depth: usize) -> Res<'_, ColumnType> {
    let (i, ()) = symbol(i, "(")?;
    let (i, element) = marshal_type(i, depth + 1)?;
    let (i, ()) = symbol(i, ",")?;
    let (i, ()) = blank(i);
    let (i, digits) = digit1(i)?;
    let dimension: u32 = digits.parse().map_err(|_| syntax())?;
    if dimension == 0 {
        return Err(syntax());
    }
    let (i, ()) = symbol(i, ")")?;
    let t = ColumnType::Vector {
        element: Box::new(element),
        dimension,
    };
    Ok((i, t))
}

/// Skips a parenthesised parameter list of a class this crate does not model, returning what
/// follows its closing parenthesis. Iterative, so hostile nesting costs no stack.
fn skip_balanced(i: &str) -> Res<'_, ()> {
    let mut open = 0usize;
    for (at, c) in i.char_indices() {
        match c {
            '(' => open += 1,
            ')' => {
                open = open.checked_sub(1).ok_or_else(syntax)?;
                if open == 0 {
                    let rest = i.get(at + 1..).ok_or_else(syntax)?;
                    return Ok((rest, ()));
                }
            }
            _ => {}
        }
    }
    Err(syntax())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Option<ColumnType> {
        from_class_name(s, 0).unwrap()
    }

    fn m(s: &str) -> String {
        format!("{PACKAGE}{s}")
    }

    #[test]
    fn cassandra_vector_spelling() {
        let s = "org.apache.cassandra.db.marshal.VectorType(org.apache.cassandra.db.marshal.FloatType , 3)";
        let t = ColumnType::Vector {
            element: Box::new(ColumnType::Float),
            dimension: 3,
        };
        assert_eq!(parse(s), Some(t.clone()));
        assert_eq!(class_name(&t), s);
        // Blanks are optional, short names are in the marshal package.
        assert_eq!(parse("VectorType(FloatType,3)"), Some(t));
    }

    #[test]
    fn nested_and_wrapped_types() {
        let s = m(&format!(
            "VectorType({} , 2)",
            m(&format!(
                "FrozenType({})",
                m(&format!("ListType({})", m("Int32Type")))
            ))
        ));
        let t = ColumnType::Vector {
            element: Box::new(ColumnType::List(Box::new(ColumnType::Int))),
            dimension: 2,
        };
        assert_eq!(parse(&s), Some(t.clone()));
        assert_eq!(class_name(&t), s);
        assert_eq!(
            parse(&m(
                "ReversedType(org.apache.cassandra.db.marshal.DurationType)"
            )),
            Some(ColumnType::Duration)
        );
        assert_eq!(
            parse("MapType(UTF8Type, TupleType(Int32Type,BooleanType))"),
            Some(ColumnType::Map(
                Box::new(ColumnType::Varchar),
                Box::new(ColumnType::Tuple(vec![
                    ColumnType::Int,
                    ColumnType::Boolean
                ]))
            ))
        );
    }

    #[test]
    fn user_type_names_are_hex() {
        // keyspace ks, type "addr", fields "street": text, "n": int
        let s = m(
            "UserType(ks,61646472,737472656574:org.apache.cassandra.db.marshal.UTF8Type,6e:org.apache.cassandra.db.marshal.Int32Type)",
        );
        let t = ColumnType::Udt(UdtType {
            keyspace: "ks".into(),
            name: "addr".into(),
            fields: vec![
                ("street".into(), ColumnType::Varchar),
                ("n".into(), ColumnType::Int),
            ],
        });
        assert_eq!(parse(&s), Some(t.clone()));
        assert_eq!(class_name(&t), s);
        assert_eq!(parse(&m("UserType(ks,6,6e:Int32Type)")), None, "odd hex");
    }

    #[test]
    fn unknown_classes_stay_custom() {
        assert_eq!(parse("com.example.Thing"), None);
        assert_eq!(parse(&m("DynamicCompositeType(a=>UTF8Type)")), None);
        assert_eq!(
            parse("ListType(com.example.Thing(x,(y)))"),
            Some(ColumnType::List(Box::new(ColumnType::Custom(
                "com.example.Thing(x,(y))".into()
            ))))
        );
        for bad in [
            "VectorType(FloatType, 0)",
            "VectorType(FloatType, -1)",
            "VectorType(FloatType, 99999999999)",
            "ListType(Int32Type",
            "MapType(Int32Type)",
            "ListType(Int32Type) x",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "ListType(".repeat(10_000) + "Int32Type" + &")".repeat(10_000);
        assert!(matches!(
            from_class_name(&deep, 0),
            Err(DecodeError::LimitExceeded { .. })
        ));
        let ok = "ListType(".repeat(MAX_TYPE_DEPTH) + "Int32Type" + &")".repeat(MAX_TYPE_DEPTH);
        assert!(from_class_name(&ok, 0).unwrap().is_some());
    }

    #[test]
    fn class_names_roundtrip_through_the_parser() {
        let udt = ColumnType::Udt(UdtType {
            keyspace: "k_s".into(),
            name: "t ü".into(),
            fields: vec![("a b".into(), ColumnType::Set(Box::new(ColumnType::Inet)))],
        });
        for t in [
            ColumnType::Duration,
            ColumnType::Map(Box::new(ColumnType::Date), Box::new(udt.clone())),
            ColumnType::Vector {
                element: Box::new(udt),
                dimension: 7,
            },
            ColumnType::Vector {
                element: Box::new(ColumnType::Vector {
                    element: Box::new(ColumnType::Tuple(vec![ColumnType::Time])),
                    dimension: 2,
                }),
                dimension: 1,
            },
        ] {
            assert_eq!(
                parse(&class_name(&t)),
                Some(t.clone()),
                "{}",
                class_name(&t)
            );
        }
    }
}
