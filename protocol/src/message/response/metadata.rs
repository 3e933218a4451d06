//! Result metadata (§4.2.5.2) and prepared-statement metadata (§4.2.5.4): column specs with
//! their types, paging state, and the v5 metadata id.

use bytes::{BufMut, Bytes, BytesMut};

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, fail};
use crate::types::{ColumnType, class_name, column_type, put_column_type};

/// Metadata flag: one table spec for all columns.
const GLOBAL_TABLES_SPEC: i32 = 0x0001;
/// Metadata flag: a paging state follows; more pages remain.
const HAS_MORE_PAGES: i32 = 0x0002;
/// Metadata flag: no column specs.
const NO_METADATA: i32 = 0x0004;
/// Metadata flag (v5): the result metadata changed; a new id follows.
const METADATA_CHANGED: i32 = 0x0008;

/// A keyspace and table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TableSpec {
    /// The keyspace.
    pub keyspace: String,
    /// The table.
    pub table: String,
}

/// One column (or bind marker): its table, name and type.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColumnSpec {
    /// The column's keyspace (from the global table spec when there is one).
    pub keyspace: String,
    /// The column's table (from the global table spec when there is one).
    pub table: String,
    /// The column name, alias or bind marker name.
    pub name: String,
    /// The column's type.
    pub typ: ColumnType,
}

/// The metadata of a Rows result, or the result metadata of a Prepared result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RowsMetadata {
    /// How many columns each row has (also when the specs are left out).
    pub column_count: usize,
    /// Present when more pages remain: pass it back to get the next one.
    pub paging_state: Option<Bytes>,
    /// v5: the new result metadata id when the metadata changed since the client's.
    pub new_metadata_id: Option<Bytes>,
    /// When set, the wire carries this one table spec instead of one per column. Without
    /// column specs (No_metadata), `Some` of an empty spec records that the node set the
    /// Global_tables_spec flag all the same (Cassandra does, for EXECUTE with skip_metadata),
    /// so that re-encoding gives the bytes that came.
    pub global_table_spec: Option<TableSpec>,
    /// The column specs; `None` when the result has no metadata (No_metadata).
    pub columns: Option<Vec<ColumnSpec>>,
}

/// The metadata of a prepared statement's bind markers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PreparedMetadata {
    /// For each partition key column in order, the index of its bind marker (v4+; empty when
    /// some partition key column has no plain marker, and always in v3).
    pub pk_indexes: Vec<u16>,
    /// When set, the wire carries this one table spec instead of one per marker.
    pub global_table_spec: Option<TableSpec>,
    /// The bind markers.
    pub columns: Vec<ColumnSpec>,
}

fn table_spec(input: &[u8]) -> Parsed<'_, TableSpec> {
    let (rest, keyspace) = primitives::string(input)?;
    let (rest, table) = primitives::string(rest)?;
    Ok((
        rest,
        TableSpec {
            keyspace: keyspace.to_owned(),
            table: table.to_owned(),
        },
    ))
}

/// `[<global_table_spec>]<col_spec_1>...<col_spec_n>`.
fn column_specs(
    input: &[u8],
    n: usize,
    global: bool,
) -> Parsed<'_, (Option<TableSpec>, Vec<ColumnSpec>)> {
    let (mut rest, global) = if global {
        let (rest, spec) = table_spec(input)?;
        (rest, Some(spec))
    } else {
        (input, None)
    };
    let min = if global.is_some() { 4 } else { 8 };
    let mut specs = Vec::with_capacity(primitives::bounded_capacity(n, rest.len(), min));
    for _ in 0..n {
        let (r, table) = match &global {
            Some(g) => (rest, g.clone()),
            None => table_spec(rest)?,
        };
        let (r, name) = primitives::string(r)?;
        let (r, typ) = column_type(r)?;
        specs.push(ColumnSpec {
            keyspace: table.keyspace,
            table: table.table,
            name: name.to_owned(),
            typ,
        });
        rest = r;
    }
    Ok((rest, (global, specs)))
}

/// Writes `t` as `version` can express it. Types the version does not define (`duration`
/// before v5; `date`, `time`, `smallint` and `tinyint` in v3) are written, wherever they
/// nest, as custom types naming their marshal class, as Cassandra sends them to such clients
/// (and as [`column_type`] reads them back).
fn put_type(
    buf: &mut BytesMut,
    t: &ColumnType,
    version: ProtocolVersion,
) -> Result<(), EncodeError> {
    let custom = |buf: &mut BytesMut| {
        buf.put_u16(0x0000);
        primitives::put_string(buf, &class_name(t))
    };
    match t {
        ColumnType::Duration if version < ProtocolVersion::V5 => custom(buf),
        ColumnType::Date | ColumnType::Time | ColumnType::Smallint | ColumnType::Tinyint
            if version < ProtocolVersion::V4 =>
        {
            custom(buf)
        }
        ColumnType::List(e) => {
            buf.put_u16(0x0020);
            put_type(buf, e, version)
        }
        ColumnType::Set(e) => {
            buf.put_u16(0x0022);
            put_type(buf, e, version)
        }
        ColumnType::Map(k, v) => {
            buf.put_u16(0x0021);
            put_type(buf, k, version)?;
            put_type(buf, v, version)
        }
        ColumnType::Udt(udt) => {
            buf.put_u16(0x0030);
            primitives::put_string(buf, &udt.keyspace)?;
            primitives::put_string(buf, &udt.name)?;
            primitives::put_count_u16(buf, "UDT fields", udt.fields.len())?;
            for (name, field) in &udt.fields {
                primitives::put_string(buf, name)?;
                put_type(buf, field, version)?;
            }
            Ok(())
        }
        ColumnType::Tuple(elems) => {
            buf.put_u16(0x0031);
            primitives::put_count_u16(buf, "tuple elements", elems.len())?;
            elems.iter().try_for_each(|e| put_type(buf, e, version))
        }
        // Native everywhere, custom, or (vectors) always spelled as a marshal class.
        other => put_column_type(buf, other),
    }
}

fn put_column_specs(
    buf: &mut BytesMut,
    global: Option<&TableSpec>,
    specs: &[ColumnSpec],
    version: ProtocolVersion,
) -> Result<(), EncodeError> {
    if let Some(g) = global {
        primitives::put_string(buf, &g.keyspace)?;
        primitives::put_string(buf, &g.table)?;
    }
    for c in specs {
        if global.is_none() {
            primitives::put_string(buf, &c.keyspace)?;
            primitives::put_string(buf, &c.table)?;
        }
        primitives::put_string(buf, &c.name)?;
        put_type(buf, &c.typ, version)?;
    }
    Ok(())
}

fn metadata_flags(input: &[u8], allowed: i32) -> Parsed<'_, i32> {
    let (rest, bits) = primitives::int(input)?;
    if bits & !allowed != 0 {
        return Err(fail(DecodeError::InvalidValue {
            what: "metadata flags",
            value: i64::from(bits),
        }));
    }
    Ok((rest, bits))
}

impl RowsMetadata {
    /// Parses `<metadata>`; blobs are slices of `body`.
    pub(crate) fn parse<'a>(
        input: &'a [u8],
        body: &Bytes,
        version: ProtocolVersion,
    ) -> Parsed<'a, Self> {
        let mut allowed = GLOBAL_TABLES_SPEC | HAS_MORE_PAGES | NO_METADATA;
        if version >= ProtocolVersion::V5 {
            allowed |= METADATA_CHANGED;
        }
        let (rest, bits) = metadata_flags(input, allowed)?;
        let (mut rest, column_count) = primitives::count(rest)?;
        let mut md = Self {
            column_count,
            ..Self::default()
        };
        if bits & HAS_MORE_PAGES != 0 {
            let (r, state) = primitives::bytes(rest)?;
            md.paging_state = state.map(|s| body.slice_ref(s));
            rest = r;
        }
        if bits & METADATA_CHANGED != 0 {
            let (r, id) = primitives::short_bytes(rest)?;
            md.new_metadata_id = Some(body.slice_ref(id));
            rest = r;
        }
        if bits & NO_METADATA == 0 {
            let (r, (global, specs)) =
                column_specs(rest, column_count, bits & GLOBAL_TABLES_SPEC != 0)?;
            md.global_table_spec = global;
            md.columns = Some(specs);
            rest = r;
        } else if bits & GLOBAL_TABLES_SPEC != 0 {
            md.global_table_spec = Some(TableSpec::default());
        }
        Ok((rest, md))
    }

    /// Writes `<metadata>`.
    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if self.new_metadata_id.is_some() && version < ProtocolVersion::V5 {
            return Err(EncodeError::Invalid {
                what: "new metadata id",
                reason: "needs protocol v5",
            });
        }
        if let Some(cols) = &self.columns
            && cols.len() != self.column_count
        {
            return Err(EncodeError::Invalid {
                what: "rows metadata",
                reason: "column_count differs from the number of column specs",
            });
        }
        let mut bits = 0;
        if self.paging_state.is_some() {
            bits |= HAS_MORE_PAGES;
        }
        if self.new_metadata_id.is_some() {
            bits |= METADATA_CHANGED;
        }
        if self.columns.is_none() {
            bits |= NO_METADATA;
        }
        if self.global_table_spec.is_some() {
            bits |= GLOBAL_TABLES_SPEC;
        }
        buf.put_i32(bits);
        primitives::put_count_i32(buf, "columns", self.column_count)?;
        if let Some(state) = &self.paging_state {
            primitives::put_bytes(buf, Some(state))?;
        }
        if let Some(id) = &self.new_metadata_id {
            primitives::put_short_bytes(buf, id)?;
        }
        if let Some(cols) = &self.columns {
            put_column_specs(buf, self.global_table_spec.as_ref(), cols, version)?;
        }
        Ok(())
    }
}

impl PreparedMetadata {
    /// Parses a Prepared result's `<metadata>`: pk indexes from v4.
    pub(crate) fn parse(input: &[u8], version: ProtocolVersion) -> Parsed<'_, Self> {
        let (rest, bits) = metadata_flags(input, GLOBAL_TABLES_SPEC)?;
        let (mut rest, column_count) = primitives::count(rest)?;
        let mut pk_indexes = Vec::new();
        if version >= ProtocolVersion::V4 {
            let (r, n) = primitives::count(rest)?;
            rest = r;
            pk_indexes.reserve(primitives::bounded_capacity(n, rest.len(), 2));
            for _ in 0..n {
                let (r, i) = primitives::short(rest)?;
                pk_indexes.push(i);
                rest = r;
            }
        }
        let (rest, (global_table_spec, columns)) =
            column_specs(rest, column_count, bits & GLOBAL_TABLES_SPEC != 0)?;
        Ok((
            rest,
            Self {
                pk_indexes,
                global_table_spec,
                columns,
            },
        ))
    }

    /// Writes a Prepared result's `<metadata>`; v3 has no pk indexes.
    pub(crate) fn encode(
        &self,
        version: ProtocolVersion,
        buf: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        if !self.pk_indexes.is_empty() && version < ProtocolVersion::V4 {
            return Err(EncodeError::Invalid {
                what: "pk indexes",
                reason: "need protocol v4 or later",
            });
        }
        let bits = if self.global_table_spec.is_some() {
            GLOBAL_TABLES_SPEC
        } else {
            0
        };
        buf.put_i32(bits);
        primitives::put_count_i32(buf, "bind markers", self.columns.len())?;
        if version >= ProtocolVersion::V4 {
            primitives::put_count_i32(buf, "pk indexes", self.pk_indexes.len())?;
            for i in &self.pk_indexes {
                buf.put_u16(*i);
            }
        }
        put_column_specs(buf, self.global_table_spec.as_ref(), &self.columns, version)
    }
}
