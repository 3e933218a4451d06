//! CQL text: a lexer and a statement classifier that finds the table and the partition-key
//! equalities of SELECT, INSERT, UPDATE and DELETE statements, so plain QUERY messages can be
//! routed by token.

mod classify;
mod lexer;

pub use classify::{Classified, StatementKind, Term, classify, classify_tokens};
pub(crate) use lexer::quoted_identifier;
pub use lexer::{LexError, Literal, Token, tokenize};
