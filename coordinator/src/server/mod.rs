//! The CQL front end: what drivers connect to.

pub mod system;
