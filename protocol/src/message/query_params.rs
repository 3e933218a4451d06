//! `<query_parameters>`: what follows the query string of a QUERY and the ids of an EXECUTE
//! (the spec's section 4.1.4), and the flags word they share with BATCH.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, fail};

use super::consistency::{
    Consistency, SerialConsistency, consistency, put_consistency, serial_consistency,
};
use super::value::{Value, Values, put_values, values};

/// The flag bits of QUERY, EXECUTE and BATCH (a `[byte]` in v3/v4, an `[int]` in v5).
pub mod flags {
    /// Values follow (QUERY/EXECUTE only).
    pub const VALUES: u32 = 0x0001;
    /// The result should carry no metadata (QUERY/EXECUTE only).
    pub const SKIP_METADATA: u32 = 0x0002;
    /// A page size follows (QUERY/EXECUTE only).
    pub const PAGE_SIZE: u32 = 0x0004;
    /// A paging state follows (QUERY/EXECUTE only).
    pub const PAGING_STATE: u32 = 0x0008;
    /// A serial consistency follows.
    pub const SERIAL_CONSISTENCY: u32 = 0x0010;
    /// A default timestamp follows.
    pub const TIMESTAMP: u32 = 0x0020;
    /// Each value is preceded by its marker's name.
    pub const NAMES_FOR_VALUES: u32 = 0x0040;
    /// A keyspace follows (v5).
    pub const KEYSPACE: u32 = 0x0080;
    /// A "now in seconds" follows (v5).
    pub const NOW_IN_SECONDS: u32 = 0x0100;

    /// Every bit defined for QUERY and EXECUTE in v3 and v4.
    pub const ALL_V4: u32 = 0x007F;
    /// Every bit defined for QUERY and EXECUTE in v5.
    pub const ALL_V5: u32 = 0x01FF;
}

/// Parses the flags word: a `[byte]` before v5, an `[int]` from v5. Bits the version does not
/// define, or bits outside `allowed`, are an error.
pub(crate) fn query_flags(input: &[u8], version: ProtocolVersion, allowed: u32) -> Parsed<'_, u32> {
    let (rest, bits) = if version >= ProtocolVersion::V5 {
        let (rest, bits) = primitives::int(input)?;
        (rest, bits as u32)
    } else {
        let (rest, bits) = primitives::byte(input)?;
        (rest, u32::from(bits))
    };
    let defined = if version >= ProtocolVersion::V5 {
        flags::ALL_V5
    } else {
        flags::ALL_V4
    };
    if bits & !(allowed & defined) != 0 {
        return Err(fail(DecodeError::InvalidValue {
            what: "flags",
            value: i64::from(bits),
        }));
    }
    Ok((rest, bits))
}

/// Writes the flags word in the version's width.
pub(crate) fn put_query_flags(buf: &mut BytesMut, version: ProtocolVersion, bits: u32) {
    if version >= ProtocolVersion::V5 {
        buf.put_u32(bits);
    } else {
        // Only v5 bits exceed a byte and those are refused before this is called.
        buf.put_u8(bits as u8);
    }
}

/// Refuses a v5-only field when encoding for an older version.
pub(crate) fn require_v5(
    version: ProtocolVersion,
    present: bool,
    what: &'static str,
) -> Result<(), EncodeError> {
    if present && version < ProtocolVersion::V5 {
        Err(EncodeError::Invalid {
            what,
            reason: "needs protocol v5",
        })
    } else {
        Ok(())
    }
}

/// The parameters of a QUERY or EXECUTE: consistency, bound values, paging and the optional
/// fields the flags announce. Build with [`QueryParameters::new`] and the `with_*` methods.
///
/// ```
/// use ringgate_protocol::message::{Consistency, QueryParameters, Value};
/// let params = QueryParameters::new(Consistency::LocalQuorum)
///     .with_values(vec![Value::from(vec![0, 0, 0, 7])])
///     .with_page_size(5000);
/// assert_eq!(params.page_size, Some(5000));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct QueryParameters {
    /// The consistency level.
    pub consistency: Consistency,
    /// Bound values, positional or named.
    pub values: Values,
    /// Ask for a result without metadata (the client has it from PREPARE).
    pub skip_metadata: bool,
    /// Rows per page.
    pub page_size: Option<i32>,
    /// Where to resume paging (as a previous page's result gave it).
    pub paging_state: Option<Bytes>,
    /// The consistency of the Paxos phase of a conditional update.
    pub serial_consistency: Option<SerialConsistency>,
    /// The default timestamp, in microseconds.
    pub timestamp: Option<i64>,
    /// The keyspace to run in, overriding the connection's (v5).
    pub keyspace: Option<String>,
    /// The time "now" for TTLs and tombstones, in seconds (v5; meant for tests).
    pub now_in_seconds: Option<i32>,
}

impl QueryParameters {
    /// Parameters with `consistency` and nothing else.
    pub fn new(consistency: Consistency) -> Self {
        Self {
            consistency,
            ..Self::default()
        }
    }

    /// Binds `values` by position.
    pub fn with_values(mut self, values: Vec<Value>) -> Self {
        self.values = Values::Positional(values);
        self
    }

    /// Binds `values` by marker name.
    pub fn with_named_values(mut self, values: Vec<(String, Value)>) -> Self {
        self.values = Values::Named(values);
        self
    }

    /// Asks for a result without metadata.
    pub fn with_skip_metadata(mut self, skip: bool) -> Self {
        self.skip_metadata = skip;
        self
    }

    /// Sets the page size.
    pub fn with_page_size(mut self, rows: i32) -> Self {
        self.page_size = Some(rows);
        self
    }

    /// Resumes paging from `state`.
    pub fn with_paging_state(mut self, state: Bytes) -> Self {
        self.paging_state = Some(state);
        self
    }

    /// Sets the serial consistency.
    pub fn with_serial_consistency(mut self, serial: SerialConsistency) -> Self {
        self.serial_consistency = Some(serial);
        self
    }

    /// Sets the default timestamp (microseconds).
    pub fn with_timestamp(mut self, micros: i64) -> Self {
        self.timestamp = Some(micros);
        self
    }

    /// Runs in `keyspace` (v5).
    pub fn with_keyspace(mut self, keyspace: impl Into<String>) -> Self {
        self.keyspace = Some(keyspace.into());
        self
    }

    /// Sets "now" in seconds (v5).
    pub fn with_now_in_seconds(mut self, now: i32) -> Self {
        self.now_in_seconds = Some(now);
        self
    }

    /// The flags word these parameters encode to.
    pub fn flags(&self) -> u32 {
        let mut bits = 0;
        let mut set = |cond: bool, bit: u32| {
            if cond {
                bits |= bit;
            }
        };
        // Named values are flagged even when empty, so that they decode as named again.
        set(
            !self.values.is_empty() || matches!(self.values, Values::Named(_)),
            flags::VALUES,
        );
        set(
            matches!(self.values, Values::Named(_)),
            flags::NAMES_FOR_VALUES,
        );
        set(self.skip_metadata, flags::SKIP_METADATA);
        set(self.page_size.is_some(), flags::PAGE_SIZE);
        set(self.paging_state.is_some(), flags::PAGING_STATE);
        set(self.serial_consistency.is_some(), flags::SERIAL_CONSISTENCY);
        set(self.timestamp.is_some(), flags::TIMESTAMP);
        set(self.keyspace.is_some(), flags::KEYSPACE);
        set(self.now_in_seconds.is_some(), flags::NOW_IN_SECONDS);
        bits
    }

    /// Parses `<query_parameters>`; owned blobs are slices of `body`, which `input` lies in.
    pub(crate) fn parse<'a>(
        input: &'a [u8],
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Parsed<'a, Self> {
        let (rest, consistency) = consistency(input)?;
        let (mut rest, bits) = query_flags(rest, version, flags::ALL_V5)?;
        let has = |bit: u32| bits & bit != 0;
        let mut p = Self::new(consistency);
        if has(flags::VALUES) {
            let (r, v) = values(rest, body, version, has(flags::NAMES_FOR_VALUES))?;
            p.values = v;
            rest = r;
        }
        p.skip_metadata = has(flags::SKIP_METADATA);
        if has(flags::PAGE_SIZE) {
            let (r, n) = primitives::int(rest)?;
            p.page_size = Some(n);
            rest = r;
        }
        if has(flags::PAGING_STATE) {
            let (r, state) = primitives::bytes(rest)?;
            p.paging_state = state.map(|s| body.slice_ref(s));
            rest = r;
        }
        if has(flags::SERIAL_CONSISTENCY) {
            let (r, s) = serial_consistency(rest)?;
            p.serial_consistency = Some(s);
            rest = r;
        }
        if has(flags::TIMESTAMP) {
            let (r, t) = primitives::long(rest)?;
            p.timestamp = Some(t);
            rest = r;
        }
        if has(flags::KEYSPACE) {
            let (r, k) = primitives::string(rest)?;
            p.keyspace = Some(k.to_owned());
            rest = r;
        }
        if has(flags::NOW_IN_SECONDS) {
            let (r, n) = primitives::int(rest)?;
            p.now_in_seconds = Some(n);
            rest = r;
        }
        Ok((rest, p))
    }

    /// Writes `<query_parameters>` for `version`; v5-only fields are refused before v5.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        require_v5(version, self.keyspace.is_some(), "keyspace")?;
        require_v5(version, self.now_in_seconds.is_some(), "now_in_seconds")?;
        put_consistency(buf, self.consistency);
        let bits = self.flags();
        put_query_flags(buf, version, bits);
        if bits & flags::VALUES != 0 {
            put_values(buf, version, &self.values)?;
        }
        if let Some(n) = self.page_size {
            buf.put_i32(n);
        }
        if let Some(state) = &self.paging_state {
            primitives::put_bytes(buf, Some(state))?;
        }
        if let Some(s) = self.serial_consistency {
            put_consistency(buf, s.into());
        }
        if let Some(t) = self.timestamp {
            buf.put_i64(t);
        }
        if let Some(k) = &self.keyspace {
            primitives::put_string(buf, k)?;
        }
        if let Some(n) = self.now_in_seconds {
            buf.put_i32(n);
        }
        Ok(())
    }
}
