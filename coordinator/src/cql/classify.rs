//! Classifies a CQL statement: which table a SELECT, INSERT, UPDATE or DELETE touches, and the
//! columns it fixes by equality to a literal or a bind marker. With the table's partition key
//! from the schema, that is enough to route a plain QUERY by token.

use super::lexer::{Literal, Token, tokenize};

/// The statements the classifier understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatementKind {
    /// `SELECT`.
    Select,
    /// `INSERT`.
    Insert,
    /// `UPDATE`.
    Update,
    /// `DELETE`.
    Delete,
}

/// What a column is set equal to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Term {
    /// A literal in the statement's text.
    Literal(Literal),
    /// The `n`th anonymous bind marker `?` of the statement (0-based, in text order).
    Marker(usize),
    /// A named bind marker `:name`.
    NamedMarker(String),
}

/// A statement's table and the columns it fixes by equality.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    /// The kind of statement.
    pub kind: StatementKind,
    /// The keyspace named in the statement, if any (otherwise the session's).
    pub keyspace: Option<String>,
    /// The table.
    pub table: String,
    /// `column = term` restrictions of the WHERE clause, or INSERT's column/value pairs.
    pub equalities: Vec<(String, Term)>,
}

impl Classified {
    /// The term a column is fixed to, if exactly one equality names it.
    pub fn term_of(&self, column: &str) -> Option<&Term> {
        let mut found = self.equalities.iter().filter(|(c, _)| c == column);
        let first = found.next()?;
        found.next().is_none().then_some(&first.1)
    }
}

/// Classifies `text`; `None` for anything that is not a single SELECT, INSERT, UPDATE or DELETE
/// the classifier can read (DDL, BATCH, USE, INSERT JSON, unreadable text, …).
pub fn classify(text: &str) -> Option<Classified> {
    classify_tokens(&tokenize(text).ok()?)
}

/// As [`classify`], for a statement already split into tokens.
pub fn classify_tokens(tokens: &[Token]) -> Option<Classified> {
    let mut p = Cursor::new(tokens);
    let classified = match p.word()?.as_str() {
        "select" => select(&mut p),
        "insert" => insert(&mut p),
        "update" => update(&mut p),
        "delete" => delete(&mut p),
        _ => None,
    }?;
    Some(classified)
}

fn select(p: &mut Cursor<'_>) -> Option<Classified> {
    // Selectors may hold anything, even markers: skip to FROM at depth 0.
    p.skip_until_keyword(&["from"])?;
    p.expect_word("from")?;
    let (keyspace, table) = p.table_name()?;
    let equalities = if p.eat_word("where") {
        p.conditions()
    } else {
        Vec::new()
    };
    Some(Classified {
        kind: StatementKind::Select,
        keyspace,
        table,
        equalities,
    })
}

fn insert(p: &mut Cursor<'_>) -> Option<Classified> {
    p.expect_word("into")?;
    let (keyspace, table) = p.table_name()?;
    p.expect_symbol("(")?;
    let mut columns = vec![p.identifier()?];
    while p.eat_symbol(",") {
        columns.push(p.identifier()?);
    }
    p.expect_symbol(")")?;
    p.expect_word("values")?;
    p.expect_symbol("(")?;
    let mut equalities = Vec::with_capacity(columns.len());
    for (i, column) in columns.into_iter().enumerate() {
        if i > 0 {
            p.expect_symbol(",")?;
        }
        match p.term() {
            Some(term) => equalities.push((column, term)),
            // A value that is not a plain term (a collection, a function call): skip it.
            None => p.skip_value()?,
        }
    }
    p.expect_symbol(")")?;
    Some(Classified {
        kind: StatementKind::Insert,
        keyspace,
        table,
        equalities,
    })
}

fn update(p: &mut Cursor<'_>) -> Option<Classified> {
    let (keyspace, table) = p.table_name()?;
    p.skip_until_keyword(&["where"])?;
    p.expect_word("where")?;
    Some(Classified {
        kind: StatementKind::Update,
        keyspace,
        table,
        equalities: p.conditions(),
    })
}

fn delete(p: &mut Cursor<'_>) -> Option<Classified> {
    p.skip_until_keyword(&["from"])?;
    p.expect_word("from")?;
    let (keyspace, table) = p.table_name()?;
    p.skip_until_keyword(&["where"])?;
    p.expect_word("where")?;
    Some(Classified {
        kind: StatementKind::Delete,
        keyspace,
        table,
        equalities: p.conditions(),
    })
}

/// Keywords that end a WHERE clause.
const CLAUSE_END: &[&str] = &["order", "group", "limit", "per", "allow", "if", "using"];

struct Cursor<'a> {
    tokens: &'a [Token],
    pos: usize,
    /// Anonymous markers before each token.
    markers_before: Vec<usize>,
}

impl<'a> Cursor<'a> {
    fn new(tokens: &'a [Token]) -> Self {
        let mut seen = 0;
        let markers_before = tokens
            .iter()
            .map(|t| {
                let before = seen;
                seen += usize::from(*t == Token::Marker);
                before
            })
            .collect();
        Cursor {
            tokens,
            pos: 0,
            markers_before,
        }
    }

    fn peek(&self) -> Option<&'a Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<&'a Token> {
        let t = self.tokens.get(self.pos)?;
        self.pos += 1;
        Some(t)
    }

    fn word(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) => Some(w.clone()),
            _ => None,
        }
    }

    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(x)) if x == w)
    }

    fn eat_word(&mut self, w: &str) -> bool {
        let yes = self.is_word(w);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_word(&mut self, w: &str) -> Option<()> {
        self.eat_word(w).then_some(())
    }

    fn eat_symbol(&mut self, s: &str) -> bool {
        let yes = matches!(self.peek(), Some(Token::Symbol(x)) if *x == s);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect_symbol(&mut self, s: &str) -> Option<()> {
        self.eat_symbol(s).then_some(())
    }

    fn identifier(&mut self) -> Option<String> {
        match self.next()? {
            Token::Word(w) => Some(w.clone()),
            Token::Quoted(q) => Some(q.clone()),
            _ => None,
        }
    }

    fn table_name(&mut self) -> Option<(Option<String>, String)> {
        let first = self.identifier()?;
        if self.eat_symbol(".") {
            Some((Some(first), self.identifier()?))
        } else {
            Some((None, first))
        }
    }

    /// A plain term: a literal (a sign folded into numbers) or a bind marker.
    fn term(&mut self) -> Option<Term> {
        let start = self.pos;
        let term = match self.next()? {
            Token::Literal(l) => Term::Literal(l.clone()),
            Token::Marker => Term::Marker(*self.markers_before.get(start)?),
            Token::NamedMarker(n) => Term::NamedMarker(n.clone()),
            _ => {
                self.pos = start;
                return None;
            }
        };
        // `1 + 2`, `f(x)`, `[...]`: not a plain term.
        if matches!(
            self.peek(),
            Some(Token::Symbol("+" | "-" | "(" | "[" | "."))
        ) {
            self.pos = start;
            return None;
        }
        Some(term)
    }

    /// Skips one value of any shape (to the next `,` or `)` at depth 0).
    fn skip_value(&mut self) -> Option<()> {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Token::Symbol("(" | "[" | "{") => depth += 1,
                Token::Symbol(")" | "]" | "}") if depth == 0 => return Some(()),
                Token::Symbol(")" | "]" | "}") => depth -= 1,
                Token::Symbol(",") if depth == 0 => return Some(()),
                _ => {}
            }
            self.pos += 1;
        }
        None
    }

    /// Skips tokens at bracket depth 0 until one of `keywords` (not consumed).
    fn skip_until_keyword(&mut self, keywords: &[&str]) -> Option<()> {
        let mut depth = 0usize;
        while let Some(t) = self.peek() {
            match t {
                Token::Word(w) if depth == 0 && keywords.contains(&w.as_str()) => return Some(()),
                Token::Symbol("(" | "[" | "{") => depth += 1,
                Token::Symbol(")" | "]" | "}") => depth = depth.checked_sub(1)?,
                _ => {}
            }
            self.pos += 1;
        }
        None
    }

    /// `rel AND rel AND ...`, keeping the `column = term` relations.
    fn conditions(&mut self) -> Vec<(String, Term)> {
        let mut out = Vec::new();
        loop {
            let start = self.pos;
            if let Some(eq) = self.equality() {
                out.push(eq);
            } else {
                self.pos = start;
            }
            // Skip the rest of this relation, up to AND or the clause's end.
            let mut depth = 0usize;
            while let Some(t) = self.peek() {
                match t {
                    Token::Word(w) if depth == 0 && w == "and" => break,
                    Token::Word(w) if depth == 0 && CLAUSE_END.contains(&w.as_str()) => {
                        return out;
                    }
                    Token::Symbol(";") if depth == 0 => return out,
                    Token::Symbol("(" | "[" | "{") => depth += 1,
                    Token::Symbol(")" | "]" | "}") => match depth.checked_sub(1) {
                        Some(d) => depth = d,
                        None => return out,
                    },
                    _ => {}
                }
                self.pos += 1;
            }
            if !self.eat_word("and") {
                return out;
            }
        }
    }

    fn equality(&mut self) -> Option<(String, Term)> {
        let column = self.identifier()?;
        self.expect_symbol("=")?;
        let term = self.term()?;
        // The relation must end here: `a = 1 AND`, the clause's end, or the statement's.
        match self.peek() {
            None | Some(Token::Symbol(";")) => {}
            Some(Token::Word(w)) if w == "and" || CLAUSE_END.contains(&w.as_str()) => {}
            _ => return None,
        }
        Some((column, term))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit_int(s: &str) -> Term {
        Term::Literal(Literal::Integer(s.into()))
    }

    #[test]
    fn select_with_literal_and_marker_keys() {
        let c = classify(
            "SELECT a, count(?) FROM Ks.\"Tbl\" WHERE id = ? AND name = 'x' AND ck > ? \
             AND z IN (1, 2) LIMIT ?",
        )
        .unwrap();
        assert_eq!(c.kind, StatementKind::Select);
        assert_eq!(c.keyspace.as_deref(), Some("ks"));
        assert_eq!(c.table, "Tbl");
        assert_eq!(
            c.equalities,
            vec![
                ("id".into(), Term::Marker(1)),
                ("name".into(), Term::Literal(Literal::String("x".into()))),
            ]
        );
    }

    #[test]
    fn insert_pairs_columns_with_values() {
        let c = classify(
            "INSERT INTO t (k1, k2, v, m) VALUES (?, -5, now(), {'a': 1}) USING TTL ? IF NOT EXISTS",
        )
        .unwrap();
        assert_eq!(c.keyspace, None);
        assert_eq!(
            c.equalities,
            vec![("k1".into(), Term::Marker(0)), ("k2".into(), lit_int("-5"))]
        );
    }

    #[test]
    fn update_counts_markers_in_set_and_using() {
        let c = classify(
            "UPDATE ks.t USING TTL ? SET v = ?, c = c + ? WHERE k = ? AND ck = :ck IF v = ?",
        )
        .unwrap();
        assert_eq!(c.kind, StatementKind::Update);
        assert_eq!(
            c.equalities,
            vec![
                ("k".into(), Term::Marker(3)),
                ("ck".into(), Term::NamedMarker("ck".into()))
            ]
        );
    }

    #[test]
    fn delete_with_selection_and_timestamp() {
        let c = classify("DELETE m['x'] FROM t USING TIMESTAMP 5 WHERE k = 0x00ff;").unwrap();
        assert_eq!(c.kind, StatementKind::Delete);
        assert_eq!(
            c.equalities,
            vec![("k".into(), Term::Literal(Literal::Blob("00ff".into())))]
        );
    }

    #[test]
    fn non_equalities_and_expressions_are_not_equalities() {
        let c = classify("SELECT * FROM t WHERE token(k) > 5 AND k = 1 + 1 AND (a, b) = (1, 2)")
            .unwrap();
        assert!(c.equalities.is_empty(), "{:?}", c.equalities);
        let c = classify("SELECT * FROM t WHERE k = 1 AND k = 2").unwrap();
        assert_eq!(c.term_of("k"), None, "ambiguous: two equalities");
    }

    #[test]
    fn statements_it_does_not_route() {
        for text in [
            "CREATE TABLE t (k int PRIMARY KEY)",
            "USE ks",
            "BEGIN BATCH INSERT INTO t (k) VALUES (1); APPLY BATCH",
            "INSERT INTO t JSON '{\"k\": 1}'",
            "SELECT * FROM",
            "SELECT 'unterminated FROM t",
            "",
        ] {
            assert_eq!(classify(text), None, "{text}");
        }
    }

    #[test]
    fn unbalanced_brackets_do_not_panic() {
        for text in [
            "SELECT ) FROM t WHERE k = 1",
            "SELECT * FROM t WHERE k = 1 )))",
            "UPDATE t SET a = ((( WHERE k = 1",
            "DELETE FROM t WHERE ) k = 1",
        ] {
            let _ = classify(text);
        }
    }

    proptest::proptest! {
        /// Client text never panics the classifier, whatever it holds.
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = classify(&text);
        }

        /// Statements built from random parts are classified with the parts they hold.
        #[test]
        fn generated_selects_are_read_back(
            ks in "[a-z][a-z0-9_]{0,8}",
            table in "[a-z][a-z0-9_]{0,8}",
            key in "[a-z][a-z0-9_]{0,8}",
            n in proptest::prelude::any::<i64>(),
            extra_markers in 0usize..4,
        ) {
            let selectors = vec!["?"; extra_markers].join(", ");
            let selectors = if selectors.is_empty() { "*".to_owned() } else { selectors };
            let text = format!("SELECT {selectors} FROM {ks}.{table} WHERE {key} = ? AND \"X\" = {n}");
            let c = classify(&text).unwrap();
            proptest::prop_assert_eq!(c.keyspace.as_deref(), Some(ks.as_str()));
            proptest::prop_assert_eq!(&c.table, &table);
            proptest::prop_assert_eq!(c.term_of(&key), Some(&Term::Marker(extra_markers)));
            proptest::prop_assert_eq!(c.term_of("X"), Some(&lit_int(&n.to_string())));
        }
    }
}
