//! A CQL lexer (nom): just enough tokens to find a statement's table and its partition-key
//! restrictions. Comments and whitespace are skipped; string, number, UUID, blob and boolean
//! literals are recognised as literals.

use nom::branch::alt;
use nom::bytes::complete::{tag, take_until, take_while, take_while1};
use nom::character::complete::{char, multispace1};
use nom::combinator::{opt, recognize};
use nom::sequence::{delimited, pair, preceded};
use nom::{IResult, Parser};

/// One lexical token of a CQL statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// An unquoted identifier or keyword, lowercased (CQL folds them).
    Word(String),
    /// A double-quoted identifier, case kept, `""` unescaped.
    Quoted(String),
    /// A literal, kept as its CQL text form (for strings: the unescaped contents).
    Literal(Literal),
    /// An anonymous bind marker `?`.
    Marker,
    /// A named bind marker `:name`.
    NamedMarker(String),
    /// Punctuation and operators: `(`, `)`, `,`, `.`, `;`, `=`, `<`, `>`, `<=`, `>=`, `!=`,
    /// `[`, `]`, `{`, `}`, `:`, `+`, `-`, `*`.
    Symbol(&'static str),
}

/// A literal in CQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'` or `$$text$$`, unescaped.
    String(String),
    /// An integer, as written (with its sign).
    Integer(String),
    /// A floating-point number (or NaN/Infinity), as written.
    Float(String),
    /// A UUID, as written.
    Uuid(String),
    /// `0x...`: the hex digits.
    Blob(String),
    /// `true` / `false`.
    Boolean(bool),
    /// `null`.
    Null,
}

/// Why a statement could not be lexed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot read CQL at byte {offset}")]
pub struct LexError {
    /// Where the unreadable text starts.
    pub offset: usize,
}

/// Splits a CQL statement into tokens.
pub fn tokenize(text: &str) -> Result<Vec<Token>, LexError> {
    let mut rest = text;
    let mut tokens = Vec::new();
    loop {
        rest = skip_trivia(rest);
        if rest.is_empty() {
            return Ok(tokens);
        }
        match token(rest) {
            Ok((next, tok)) => {
                tokens.push(tok);
                rest = next;
            }
            Err(_) => {
                return Err(LexError {
                    offset: text.len() - rest.len(),
                });
            }
        }
    }
}

/// The first word of a statement, past whitespace and comments, as written (not folded);
/// `None` when it starts with anything else. Reads no further than that word.
pub fn first_word(text: &str) -> Option<&str> {
    let rest = skip_trivia(text);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    (end > 0 && rest.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)).then(|| &rest[..end])
}

fn skip_trivia(mut input: &str) -> &str {
    loop {
        let before = input.len();
        if let Ok((rest, _)) = trivia(input) {
            input = rest;
        }
        if input.len() == before {
            return input;
        }
    }
}

fn trivia(input: &str) -> IResult<&str, &str> {
    alt((
        multispace1,
        recognize(pair(alt((tag("--"), tag("//"))), take_while(|c| c != '\n'))),
        recognize(delimited(tag("/*"), take_until("*/"), tag("*/"))),
    ))
    .parse(input)
}

fn token(input: &str) -> IResult<&str, Token> {
    alt((
        string_literal.map(|s| Token::Literal(Literal::String(s))),
        dollar_string.map(|s| Token::Literal(Literal::String(s))),
        quoted_identifier.map(Token::Quoted),
        blob.map(|h| Token::Literal(Literal::Blob(h.to_owned()))),
        uuid.map(|u| Token::Literal(Literal::Uuid(u.to_owned()))),
        number,
        word,
        preceded(char(':'), identifier_chars).map(|n| Token::NamedMarker(n.to_lowercase())),
        char('?').map(|_| Token::Marker),
        symbol.map(Token::Symbol),
    ))
    .parse(input)
}

fn string_literal(input: &str) -> IResult<&str, String> {
    let (mut rest, _) = char('\'').parse(input)?;
    let mut out = String::new();
    loop {
        let (r, chunk) = take_while(|c| c != '\'').parse(rest)?;
        out.push_str(chunk);
        let (r, _) = char('\'').parse(r)?;
        // `''` inside a string is one quote.
        match char::<&str, nom::error::Error<&str>>('\'').parse(r) {
            Ok((r, _)) => {
                out.push('\'');
                rest = r;
            }
            Err(_) => return Ok((r, out)),
        }
    }
}

fn dollar_string(input: &str) -> IResult<&str, String> {
    delimited(tag("$$"), take_until("$$"), tag("$$"))
        .map(str::to_owned)
        .parse(input)
}

/// A double-quoted identifier (`"Name"`, with `""` for a quote), case kept.
pub(crate) fn quoted_identifier(input: &str) -> IResult<&str, String> {
    let (mut rest, _) = char('"').parse(input)?;
    let mut out = String::new();
    loop {
        let (r, chunk) = take_while(|c| c != '"').parse(rest)?;
        out.push_str(chunk);
        let (r, _) = char('"').parse(r)?;
        match char::<&str, nom::error::Error<&str>>('"').parse(r) {
            Ok((r, _)) => {
                out.push('"');
                rest = r;
            }
            Err(_) => return Ok((r, out)),
        }
    }
}

fn blob(input: &str) -> IResult<&str, &str> {
    preceded(
        alt((tag("0x"), tag("0X"))),
        take_while(|c: char| c.is_ascii_hexdigit()),
    )
    .parse(input)
}

fn hex(n: usize) -> impl Fn(&str) -> IResult<&str, &str> {
    move |input: &str| {
        let (rest, digits) = take_while1(|c: char| c.is_ascii_hexdigit()).parse(input)?;
        if digits.len() == n {
            Ok((rest, digits))
        } else {
            Err(nom::Err::Error(nom::error::Error::new(
                input,
                nom::error::ErrorKind::Verify,
            )))
        }
    }
}

fn uuid(input: &str) -> IResult<&str, &str> {
    let (rest, u) = recognize((
        hex(8),
        char('-'),
        hex(4),
        char('-'),
        hex(4),
        char('-'),
        hex(4),
        char('-'),
        hex(12),
    ))
    .parse(input)?;
    // A UUID must not run on into an identifier.
    if rest.starts_with(is_identifier_char) {
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        )));
    }
    Ok((rest, u))
}

fn digits(input: &str) -> IResult<&str, &str> {
    take_while1(|c: char| c.is_ascii_digit()).parse(input)
}

fn number(input: &str) -> IResult<&str, Token> {
    let (rest, text) = recognize((
        opt(char('-')),
        digits,
        opt(pair(char('.'), take_while(|c: char| c.is_ascii_digit()))),
        opt((
            alt((char('e'), char('E'))),
            opt(alt((char('+'), char('-')))),
            digits,
        )),
    ))
    .parse(input)?;
    if rest.starts_with(is_identifier_char) {
        // `123abc` is not a number (it may be the start of a UUID handled elsewhere).
        return Err(nom::Err::Error(nom::error::Error::new(
            input,
            nom::error::ErrorKind::Verify,
        )));
    }
    let literal = if text.contains(['.', 'e', 'E']) {
        Literal::Float(text.to_owned())
    } else {
        Literal::Integer(text.to_owned())
    };
    Ok((rest, Token::Literal(literal)))
}

fn is_identifier_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn identifier_chars(input: &str) -> IResult<&str, &str> {
    take_while1(is_identifier_char).parse(input)
}

fn word(input: &str) -> IResult<&str, Token> {
    let (rest, w) = recognize(pair(
        take_while1(|c: char| c.is_alphabetic() || c == '_'),
        take_while(is_identifier_char),
    ))
    .parse(input)?;
    let lower = w.to_lowercase();
    let token = match lower.as_str() {
        "true" => Token::Literal(Literal::Boolean(true)),
        "false" => Token::Literal(Literal::Boolean(false)),
        "null" => Token::Literal(Literal::Null),
        "nan" | "infinity" => Token::Literal(Literal::Float(w.to_owned())),
        _ => Token::Word(lower),
    };
    Ok((rest, token))
}

fn symbol(input: &str) -> IResult<&str, &'static str> {
    alt((
        tag("<=").map(|_| "<="),
        tag(">=").map(|_| ">="),
        tag("!=").map(|_| "!="),
        alt((
            char('(').map(|_| "("),
            char(')').map(|_| ")"),
            char(',').map(|_| ","),
            char('.').map(|_| "."),
            char(';').map(|_| ";"),
            char('=').map(|_| "="),
            char('<').map(|_| "<"),
            char('>').map(|_| ">"),
            char('[').map(|_| "["),
            char(']').map(|_| "]"),
            char('{').map(|_| "{"),
            char('}').map(|_| "}"),
            char(':').map(|_| ":"),
            char('+').map(|_| "+"),
            char('-').map(|_| "-"),
            char('*').map(|_| "*"),
        )),
    ))
    .parse(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<Token> {
        tokenize(text).unwrap()
    }

    #[test]
    fn literals_markers_and_identifiers() {
        use super::Literal::{Blob, Boolean, Float, Integer, String, Uuid};
        use Token::{Literal, Marker, NamedMarker, Quoted, Symbol, Word};
        assert_eq!(
            words(
                "SELECT \"MyCol\" FROM ks.t WHERE a = 'it''s' AND b = -12 AND c = 1.5e3 \
                 AND d = 0xCAFE AND e = ? AND f = :Name AND g = TRUE AND h = \
                 123e4567-e89b-12d3-a456-426614174000; -- done"
            ),
            vec![
                Word("select".into()),
                Quoted("MyCol".into()),
                Word("from".into()),
                Word("ks".into()),
                Symbol("."),
                Word("t".into()),
                Word("where".into()),
                Word("a".into()),
                Symbol("="),
                Literal(String("it's".into())),
                Word("and".into()),
                Word("b".into()),
                Symbol("="),
                Literal(Integer("-12".into())),
                Word("and".into()),
                Word("c".into()),
                Symbol("="),
                Literal(Float("1.5e3".into())),
                Word("and".into()),
                Word("d".into()),
                Symbol("="),
                Literal(Blob("CAFE".into())),
                Word("and".into()),
                Word("e".into()),
                Symbol("="),
                Marker,
                Word("and".into()),
                Word("f".into()),
                Symbol("="),
                NamedMarker("name".into()),
                Word("and".into()),
                Word("g".into()),
                Symbol("="),
                Literal(Boolean(true)),
                Word("and".into()),
                Word("h".into()),
                Symbol("="),
                Literal(Uuid("123e4567-e89b-12d3-a456-426614174000".into())),
                Symbol(";"),
            ]
        );
    }

    #[test]
    fn comments_and_dollar_strings() {
        assert_eq!(
            words("/* c */ INSERT // x\n $$a'b$$"),
            vec![
                Token::Word("insert".into()),
                Token::Literal(Literal::String("a'b".into()))
            ]
        );
    }

    #[test]
    fn unterminated_input_is_an_error_not_a_panic() {
        assert!(tokenize("SELECT 'abc").is_err());
        assert!(tokenize("SELECT \"abc").is_err());
        assert!(tokenize("SELECT /* abc").is_err());
        assert!(tokenize("SELECT #").is_err());
    }

    #[test]
    fn a_quoted_quote_inside_an_identifier() {
        assert_eq!(words("\"a\"\"b\""), vec![Token::Quoted("a\"b".into())]);
    }
}
