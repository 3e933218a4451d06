//! STARTUP (§4.1.1): the options a client opens a connection with.

use bytes::{Bytes, BytesMut};

use crate::primitives::{self, DecodeError, EncodeError, decode_all};

/// The `CQL_VERSION` option (mandatory; `"3.0.0"`).
pub const CQL_VERSION: &str = "CQL_VERSION";
/// The `COMPRESSION` option (`"lz4"`, or `"snappy"` before v5).
pub const COMPRESSION: &str = "COMPRESSION";
/// The `DRIVER_NAME` option.
pub const DRIVER_NAME: &str = "DRIVER_NAME";
/// The `DRIVER_VERSION` option.
pub const DRIVER_VERSION: &str = "DRIVER_VERSION";
/// The `THROW_ON_OVERLOAD` option (v4+; `"1"` asks for Overloaded errors).
pub const THROW_ON_OVERLOAD: &str = "THROW_ON_OVERLOAD";

/// A STARTUP body: a `[string map]` of options, kept in wire order.
///
/// ```
/// use ringgate_protocol::message::Startup;
/// let s = Startup::new().with_option("COMPRESSION", "lz4");
/// assert_eq!(s.cql_version(), Some("3.0.0"));
/// assert_eq!(s.compression(), Some("lz4"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Startup {
    /// The options, as (name, value) pairs.
    pub options: Vec<(String, String)>,
}

impl Startup {
    /// A STARTUP with `CQL_VERSION` 3.0.0 and nothing else.
    pub fn new() -> Self {
        Self::default().with_option(CQL_VERSION, "3.0.0")
    }

    /// Sets option `name` (replacing an earlier value).
    pub fn with_option(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.options.retain(|(k, _)| *k != name);
        self.options.push((name, value.into()));
        self
    }

    /// The value of option `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `CQL_VERSION` option.
    pub fn cql_version(&self) -> Option<&str> {
        self.get(CQL_VERSION)
    }

    /// The `COMPRESSION` option.
    pub fn compression(&self) -> Option<&str> {
        self.get(COMPRESSION)
    }

    /// Decodes a STARTUP body.
    pub fn decode(body: &Bytes) -> Result<Self, DecodeError> {
        let map = decode_all(body, primitives::string_map)?;
        let options = map
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok(Self { options })
    }

    /// Encodes a STARTUP body.
    pub fn encode(&self, buf: &mut BytesMut) -> Result<(), EncodeError> {
        primitives::put_string_map(buf, &self.options)
    }
}
