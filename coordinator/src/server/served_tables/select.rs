//! Recognises the SELECTs Ringgate answers itself:
//!
//! ```text
//! SELECT ( * | column [AS alias] (, column [AS alias])* )
//!   FROM [system.]( local | peers | peers_v2 )
//!   [ WHERE <partition key column> = term [ AND peer_port = term ] ]
//!   [ LIMIT n ] [ ; ]
//! term: literal | ? | :name
//! ```
//!
//! (`peer_port`, `system.peers_v2`'s clustering column, only with its partition key: the
//! whole primary key, as the Java driver asks for one node's row.)
//!
//! and `SELECT count(*) [AS alias] FROM ...` with the same clauses. An unqualified table name
//! counts only when the statement's keyspace is `system`. Any other SELECT on these tables
//! (other functions, `JSON`, `DISTINCT`, other restrictions) is refused with an error rather than
//! sent to the cluster, whose answer would describe the replicas instead of Ringgate.

use crate::cql::{Literal, Token, tokenize};

use super::tables::SystemTable;

/// What a restricted column must equal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeyFilter {
    /// `= 'literal'` (strings are matched against the column's text form).
    Literal(String),
    /// `= 42`, for an int column.
    Integer(i32),
    /// `= ?` or `= :name`: the next bind marker.
    Marker(Option<String>),
}

/// Equalities on primary key columns, as (column index, term): the partition key first.
pub(crate) type Filters = Vec<(usize, KeyFilter)>;

/// A recognised system-table SELECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SystemSelect {
    pub(crate) table: SystemTable,
    /// The selected columns as (column index, name in the result); `None` for `*`.
    pub(crate) columns: Option<Vec<(usize, String)>>,
    /// `count(*)`: the name of the count column (then `columns` is unused).
    pub(crate) count: Option<String>,
    pub(crate) filters: Filters,
    pub(crate) limit: Option<u32>,
}

/// Why a statement that is a system-table SELECT cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SelectError {
    /// A selected column the table does not have: Cassandra's InvalidRequest text.
    UndefinedColumn { column: String, table: SystemTable },
    /// A SELECT on a Ringgate-answered table beyond the supported forms.
    Unsupported { table: SystemTable },
}

impl SelectError {
    pub(crate) fn message(&self) -> String {
        match self {
            Self::UndefinedColumn { column, table } => {
                format!(
                    "Undefined column name {column} in table system.{}",
                    table.name()
                )
            }
            Self::Unsupported { table } => format!(
                "Ringgate answers system.{} itself and supports only SELECT of columns (with \
                 aliases) or count(*), equalities on the primary key and LIMIT",
                table.name()
            ),
        }
    }
}

/// Cheap test run on every QUERY and PREPARE before lexing: a statement Ringgate answers
/// mentions `local` or `peers`.
pub(crate) fn might_be_system_select(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes
        .windows(5)
        .any(|w| w.eq_ignore_ascii_case(b"local") || w.eq_ignore_ascii_case(b"peers"))
}

/// Parses `text` as a system-table SELECT; `keyspace` is the statement's keyspace (the session's
/// or, in v5, the request's). `Ok(None)`: not a statement Ringgate answers.
pub(crate) fn parse(
    text: &str,
    keyspace: Option<&str>,
) -> Result<Option<SystemSelect>, SelectError> {
    let Ok(tokens) = tokenize(text) else {
        return Ok(None);
    };
    let mut p = Cursor {
        tokens: &tokens,
        at: 0,
    };
    let unsupported = |tokens: &[Token]| match targeted_table(tokens, keyspace) {
        Some(table) => Err(SelectError::Unsupported { table }),
        None => Ok(None),
    };
    let Some((table, selectors)) = p.head(keyspace) else {
        return unsupported(&tokens);
    };
    let Some((filters, limit)) = p.tail(table) else {
        return unsupported(&tokens);
    };
    let (selectors, count) = match selectors {
        Selected::Count(name) => (Some(Vec::new()), Some(name)),
        Selected::All => (None, None),
        Selected::Columns(list) => (Some(list), None),
    };
    let columns = match selectors {
        None => None,
        Some(list) => {
            let mut columns = Vec::with_capacity(list.len());
            for (column, alias) in list {
                let Some(index) = table.column_index(&column) else {
                    return Err(SelectError::UndefinedColumn { column, table });
                };
                columns.push((index, alias.unwrap_or(column)));
            }
            Some(columns)
        }
    };
    Ok(Some(SystemSelect {
        table,
        columns,
        count,
        filters,
        limit,
    }))
}

/// The Ringgate-answered table a `SELECT ... FROM` names, if any, however the rest reads.
fn targeted_table(tokens: &[Token], keyspace: Option<&str>) -> Option<SystemTable> {
    if !matches!(tokens.first(), Some(Token::Word(w)) if w == "select") {
        return None;
    }
    let from = tokens
        .iter()
        .position(|t| matches!(t, Token::Word(w) if w == "from"))?;
    let mut p = Cursor {
        tokens,
        at: from.saturating_add(1),
    };
    let first = p.identifier()?;
    let (ks, name) = if p.eat_symbol(".") {
        (Some(first), p.identifier()?)
    } else {
        (keyspace.map(str::to_owned), first)
    };
    if ks.as_deref() != Some("system") {
        return None;
    }
    SystemTable::from_name(&name)
}

/// What a SELECT selects.
enum Selected {
    All,
    /// (column, alias) pairs.
    Columns(Vec<(String, Option<String>)>),
    /// `count(*)` or `count(1)`, under this name.
    Count(String),
}

struct Cursor<'a> {
    tokens: &'a [Token],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.at);
        self.at = self.at.saturating_add(1);
        token
    }

    fn eat_word(&mut self, word: &str) -> bool {
        let yes = matches!(self.peek(), Some(Token::Word(w)) if w == word);
        if yes {
            self.at = self.at.saturating_add(1);
        }
        yes
    }

    fn eat_symbol(&mut self, symbol: &str) -> bool {
        let yes = matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol);
        if yes {
            self.at = self.at.saturating_add(1);
        }
        yes
    }

    fn identifier(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
            _ => None,
        }
    }

    /// `SELECT selectors FROM table`.
    fn head(&mut self, keyspace: Option<&str>) -> Option<(SystemTable, Selected)> {
        if !self.eat_word("select") {
            return None;
        }
        let selectors = if self.eat_symbol("*") {
            Selected::All
        } else if let Some(name) = self.count() {
            Selected::Count(name)
        } else {
            let mut list = Vec::new();
            loop {
                let column = self.identifier()?;
                // A plain column is followed by `,`, `AS` or `FROM`; anything else (a function
                // call, `JSON *`, `DISTINCT key`) is not answered here.
                let plain = match self.peek() {
                    Some(Token::Symbol(",")) => true,
                    Some(Token::Word(w)) => w == "as" || w == "from",
                    _ => false,
                };
                if !plain {
                    return None;
                }
                let alias = if self.eat_word("as") {
                    Some(self.identifier()?)
                } else {
                    None
                };
                list.push((column, alias));
                if !self.eat_symbol(",") {
                    break;
                }
            }
            Selected::Columns(list)
        };
        if !self.eat_word("from") {
            return None;
        }
        let first = self.identifier()?;
        let (ks, name) = if self.eat_symbol(".") {
            (Some(first), self.identifier()?)
        } else {
            (keyspace.map(str::to_owned), first)
        };
        if ks.as_deref() != Some("system") {
            return None;
        }
        Some((SystemTable::from_name(&name)?, selectors))
    }

    /// `count(*) [AS alias]` or `count(1) [AS alias]`: the result column's name.
    fn count(&mut self) -> Option<String> {
        let start = self.at;
        let counted = self.eat_word("count")
            && self.eat_symbol("(")
            && (self.eat_symbol("*")
                || matches!(self.next(), Some(Token::Literal(Literal::Integer(n))) if n == "1"))
            && self.eat_symbol(")");
        if !counted {
            self.at = start;
            return None;
        }
        if self.eat_word("as") {
            return self.identifier();
        }
        Some("count".to_owned())
    }

    /// `[WHERE key = term [AND peer_port = term]] [LIMIT n] [;]` and the end of the
    /// statement.
    fn tail(&mut self, table: SystemTable) -> Option<(Filters, Option<u32>)> {
        let mut filters = Vec::new();
        if self.eat_word("where") {
            loop {
                let column = table.column_index(&self.identifier()?)?;
                // The partition key first; then peers_v2's clustering column.
                let allowed = match filters.len() {
                    0 => column == 0,
                    1 => table == SystemTable::PeersV2 && column == 1,
                    _ => false,
                };
                if !allowed || !self.eat_symbol("=") {
                    return None;
                }
                let term = match self.next()? {
                    Token::Literal(Literal::String(s)) => KeyFilter::Literal(s.clone()),
                    Token::Literal(Literal::Integer(n)) => KeyFilter::Integer(n.parse().ok()?),
                    Token::Marker => KeyFilter::Marker(None),
                    Token::NamedMarker(name) => KeyFilter::Marker(Some(name.clone())),
                    _ => return None,
                };
                filters.push((column, term));
                if !self.eat_word("and") {
                    break;
                }
            }
        }
        let mut limit = None;
        if self.eat_word("limit") {
            match self.next()? {
                Token::Literal(Literal::Integer(n)) => limit = Some(n.parse::<u32>().ok()?),
                _ => return None,
            }
        }
        self.eat_symbol(";");
        self.peek().is_none().then_some((filters, limit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(text: &str) -> SystemSelect {
        match parse(text, None) {
            Ok(Some(s)) => s,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn what_drivers_send() {
        let s = ok("SELECT * FROM system.local WHERE key='local'");
        assert_eq!(s.table, SystemTable::Local);
        assert_eq!(s.columns, None);
        assert_eq!(s.filters, vec![(0, KeyFilter::Literal("local".into()))]);
        let s = ok(
            "SELECT host_id, peer, peer_port, native_address, native_port, schema_version FROM system.peers_v2",
        );
        assert_eq!(s.table, SystemTable::PeersV2);
        let names: Vec<_> = s.columns.unwrap().into_iter().map(|(_, n)| n).collect();
        assert_eq!(
            names,
            [
                "host_id",
                "peer",
                "peer_port",
                "native_address",
                "native_port",
                "schema_version"
            ]
        );
        assert_eq!(ok("select * from system.peers;").table, SystemTable::Peers);
    }

    #[test]
    fn aliases_markers_limit_and_quoting() {
        let s = ok(
            "SELECT rpc_address AS a, \"tokens\" FROM \"system\".\"local\" WHERE key = ? LIMIT 1",
        );
        assert_eq!(
            s.columns,
            Some(vec![(15, "a".to_owned()), (18, "tokens".to_owned())])
        );
        assert_eq!(s.filters, vec![(0, KeyFilter::Marker(None))]);
        assert_eq!(s.limit, Some(1));
        let s = ok("SELECT * FROM system.peers WHERE peer = :p");
        assert_eq!(s.filters, vec![(0, KeyFilter::Marker(Some("p".into())))]);
    }

    #[test]
    fn a_peers_whole_primary_key() {
        // What the Java driver asks to refresh one node.
        let s = ok("SELECT * FROM system.peers_v2 WHERE peer = :address and peer_port = :port");
        assert_eq!(
            s.filters,
            vec![
                (0, KeyFilter::Marker(Some("address".into()))),
                (1, KeyFilter::Marker(Some("port".into())))
            ]
        );
        let s = ok("SELECT * FROM system.peers_v2 WHERE peer = '127.0.0.1' AND peer_port = 9042");
        assert_eq!(s.filters[1], (1, KeyFilter::Integer(9042)));
        for text in [
            "SELECT * FROM system.peers_v2 WHERE peer_port = 9042",
            "SELECT * FROM system.peers_v2 WHERE peer = ? AND rack = 'r'",
            "SELECT * FROM system.peers WHERE peer = ? AND peer_port = 9042",
            "SELECT * FROM system.peers_v2 WHERE peer = ? AND peer_port = ? AND peer = ?",
        ] {
            assert!(
                matches!(parse(text, None), Err(SelectError::Unsupported { .. })),
                "{text}"
            );
        }
    }

    #[test]
    fn unqualified_only_in_keyspace_system() {
        assert_eq!(parse("SELECT * FROM local", None), Ok(None));
        assert_eq!(parse("SELECT * FROM local", Some("ks")), Ok(None));
        assert_eq!(
            parse("SELECT * FROM local", Some("system"))
                .unwrap()
                .unwrap()
                .table,
            SystemTable::Local
        );
        assert_eq!(parse("SELECT * FROM ks.local", Some("system")), Ok(None));
    }

    #[test]
    fn other_statements_are_forwarded_or_refused() {
        for text in [
            "SELECT * FROM system.size_estimates",
            "SELECT * FROM system_schema.local",
            "INSERT INTO system.local (key) VALUES ('x')",
            "SELECT 'unterminated",
            "SELECT * FROM ks.peers",
        ] {
            assert_eq!(parse(text, None), Ok(None), "{text}");
        }
        for text in [
            "SELECT max(rpc_port) FROM system.local",
            "SELECT JSON * FROM system.local",
            "SELECT DISTINCT key FROM system.local",
            "SELECT * FROM system.local WHERE bootstrapped = 'x'",
            "SELECT * FROM system.local WHERE key = 'local' AND rack = 'r'",
            "SELECT * FROM system.local ALLOW FILTERING",
            "SELECT * FROM system.local LIMIT -1",
            "SELECT count(*), key FROM system.local",
        ] {
            assert_eq!(
                parse(text, None),
                Err(SelectError::Unsupported {
                    table: SystemTable::Local
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn count() {
        let s = ok("SELECT count(*) FROM system.peers_v2 WHERE peer = ?");
        assert_eq!(
            (s.count.as_deref(), s.table),
            (Some("count"), SystemTable::PeersV2)
        );
        assert_eq!(
            ok("select COUNT(1) as n from system.peers")
                .count
                .as_deref(),
            Some("n")
        );
    }

    #[test]
    fn unknown_columns_are_an_error() {
        assert_eq!(
            parse("SELECT nope FROM system.peers", None).map_err(|e| e.message()),
            Err("Undefined column name nope in table system.peers".to_owned())
        );
    }

    #[test]
    fn quick_check() {
        assert!(might_be_system_select("select * from system.LOCAL"));
        assert!(might_be_system_select("SELECT * FROM system.peers_v2"));
        assert!(!might_be_system_select("SELECT * FROM ks.t WHERE k = 1"));
    }
}
