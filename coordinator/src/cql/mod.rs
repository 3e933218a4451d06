//! CQL text: a lexer and a statement classifier that finds the table and the partition-key
//! equalities of SELECT, INSERT, UPDATE and DELETE statements, so plain QUERY messages can be
//! routed by token.

mod classify;
mod lexer;

pub use classify::{Classified, StatementKind, Term, classify, classify_tokens};
pub(crate) use lexer::quoted_identifier;
pub use lexer::{LexError, Literal, Token, tokenize};

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
    fn use_statements_name_their_keyspace() {
        assert_eq!(use_keyspace("USE ks"), Some("ks".into()));
        assert_eq!(use_keyspace("use MyKs;"), Some("myks".into()));
        assert_eq!(use_keyspace("USE \"MyKs\""), Some("MyKs".into()));
        assert_eq!(use_keyspace("USE ks.t"), None);
        assert_eq!(use_keyspace("SELECT * FROM ks.t"), None);
        assert_eq!(use_keyspace("USE"), None);
    }
}
