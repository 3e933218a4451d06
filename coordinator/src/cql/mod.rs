//! CQL text: a lexer and a statement classifier that finds the table and the partition-key
//! equalities of SELECT, INSERT, UPDATE and DELETE statements, so plain QUERY messages can be
//! routed by token.

mod classify;
mod lexer;

pub use classify::{Classified, StatementKind, Term, classify, classify_tokens};
pub(crate) use lexer::quoted_identifier;
pub use lexer::{LexError, Literal, Token, first_word, tokenize};

/// Whether a statement is a `SELECT` (so only reads, and may safely run twice), by its first
/// word past any comment.
pub fn is_select(cql: &str) -> bool {
    first_word(cql).is_some_and(|w| w.eq_ignore_ascii_case("select"))
}

/// Whether a statement's first word, past any comment, is `USE` (well formed or not).
pub fn starts_with_use(cql: &str) -> bool {
    first_word(cql).is_some_and(|w| w.eq_ignore_ascii_case("use"))
}

/// The keyspace a `USE` statement switches to, as CQL folds its name; `None` for any other
/// statement.
pub fn use_keyspace(cql: &str) -> Option<String> {
    use_keyspace_of(&tokenize(cql).ok()?)
}

/// As [`use_keyspace`], for a statement already split into tokens.
pub fn use_keyspace_of(tokens: &[Token]) -> Option<String> {
    match tokens {
        [
            Token::Word(u),
            Token::Word(name) | Token::Quoted(name),
            rest @ ..,
        ] if u == "use" && rest.iter().all(|t| *t == Token::Symbol(";")) => Some(name.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_words_skip_comments_and_whitespace() {
        assert_eq!(first_word("  SELECT * FROM t"), Some("SELECT"));
        assert_eq!(first_word("-- note\n/* more */ select 1"), Some("select"));
        assert_eq!(first_word("// x\nUSE ks"), Some("USE"));
        assert_eq!(first_word("'select'"), None);
        assert_eq!(first_word(""), None);
        assert_eq!(first_word("/* unclosed"), None);
        assert!(is_select("/* a read */ SELECT k FROM t"));
        assert!(!is_select("selective"), "a word is read whole");
        assert!(!is_select("INSERT INTO t (k) VALUES (1)"));
        assert!(!is_select("ñ"));
        assert!(starts_with_use("-- switch\nuse ks"));
        assert!(starts_with_use("USE"), "a malformed USE too");
        assert!(!starts_with_use("user"));
    }

    #[test]
    fn use_statements_name_their_keyspace() {
        assert_eq!(use_keyspace("USE ks"), Some("ks".into()));
        assert_eq!(use_keyspace("use MyKs;"), Some("myks".into()));
        assert_eq!(use_keyspace("USE \"MyKs\""), Some("MyKs".into()));
        assert_eq!(use_keyspace("USE ks.t"), None);
        assert_eq!(use_keyspace("SELECT * FROM ks.t"), None);
        assert_eq!(use_keyspace("USE"), None);
    }
}
