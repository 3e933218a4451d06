//! Paging: a stream of result pages, each request resuming where the previous page ended.

use std::sync::Arc;

use futures::Stream;

use super::{Coordinator, PreparedStatement, QueryResult, RequestError, RequestOptions, Values};

/// What to run: a CQL string or a prepared statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// CQL text, sent as a QUERY.
    Query(String),
    /// A prepared statement, sent as an EXECUTE.
    Prepared(Arc<PreparedStatement>),
}

impl From<&str> for Statement {
    fn from(cql: &str) -> Self {
        Statement::Query(cql.to_owned())
    }
}

impl From<String> for Statement {
    fn from(cql: String) -> Self {
        Statement::Query(cql)
    }
}

impl From<Arc<PreparedStatement>> for Statement {
    fn from(statement: Arc<PreparedStatement>) -> Self {
        Statement::Prepared(statement)
    }
}

impl From<&Arc<PreparedStatement>> for Statement {
    fn from(statement: &Arc<PreparedStatement>) -> Self {
        Statement::Prepared(Arc::clone(statement))
    }
}

impl Coordinator {
    /// Runs `statement` once with `options` (a query or an execute).
    pub async fn run(
        &self,
        statement: &Statement,
        values: impl Into<Values>,
        options: &RequestOptions,
    ) -> Result<QueryResult, RequestError> {
        match statement {
            Statement::Query(cql) => self.query(cql, values, options).await,
            Statement::Prepared(prepared) => self.execute(prepared, values, options).await,
        }
    }

    /// The pages of `statement`'s result, fetched one at a time as the stream is polled:
    /// each page resumes from the previous one's paging state, starting at
    /// `options.paging_state` (or the beginning). The page size is `options.page_size`, or
    /// 5,000 rows. The stream ends after the last page, or after the first error.
    ///
    /// Every page runs with the same options, so a consistency level or a keyspace holds for
    /// the whole scan; each page is routed and retried on its own.
    pub fn pages(
        &self,
        statement: impl Into<Statement>,
        values: impl Into<Values>,
        options: RequestOptions,
    ) -> impl Stream<Item = Result<QueryResult, RequestError>> + Send + 'static {
        let mut options = options;
        options.page_size.get_or_insert(DEFAULT_PAGE_SIZE);
        let state = Some(Paging {
            coordinator: self.clone(),
            statement: statement.into(),
            values: values.into(),
            options,
        });
        futures::stream::unfold(state, |state| async move {
            let mut paging = state?;
            let result = paging
                .coordinator
                .run(&paging.statement, paging.values.clone(), &paging.options)
                .await;
            let next = match &result {
                Ok(page) => page.paging_state().cloned().map(|resume| {
                    paging.options.paging_state = Some(resume);
                    paging
                }),
                Err(_) => None,
            };
            Some((result, next))
        })
    }
}

/// Rows per page when the options name no page size.
pub const DEFAULT_PAGE_SIZE: i32 = 5000;

struct Paging {
    coordinator: Coordinator,
    statement: Statement,
    values: Values,
    options: RequestOptions,
}
