//! Messages: every request and response body, in every version, both directions.
