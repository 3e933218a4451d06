//! The schema change description shared by RESULT Schema_change (§4.2.5.5) and the
//! SCHEMA_CHANGE event (§4.2.6): `<change_type><target><options>`.
//!
//! v3 knows the targets KEYSPACE, TABLE and TYPE; v4 adds FUNCTION and AGGREGATE.

use bytes::BytesMut;

use crate::ProtocolVersion;
use crate::primitives::{self, DecodeError, EncodeError, Parsed, fail};

/// What happened to the schema object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaChangeType {
    /// `CREATED`.
    Created,
    /// `UPDATED`.
    Updated,
    /// `DROPPED`.
    Dropped,
}

impl SchemaChangeType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "CREATED",
            Self::Updated => "UPDATED",
            Self::Dropped => "DROPPED",
        }
    }
}

/// The schema object that changed, with the fields its target carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SchemaChangeTarget {
    /// `KEYSPACE`: the keyspace.
    Keyspace(String),
    /// `TABLE`: a table (index changes are reported as their table's).
    Table {
        /// The keyspace.
        keyspace: String,
        /// The table.
        table: String,
    },
    /// `TYPE`: a user-defined type.
    Type {
        /// The keyspace.
        keyspace: String,
        /// The type.
        name: String,
    },
    /// `FUNCTION` (v4+): a user-defined function.
    Function {
        /// The keyspace.
        keyspace: String,
        /// The function.
        name: String,
        /// Its argument types, as CQL types.
        arg_types: Vec<String>,
    },
    /// `AGGREGATE` (v4+): a user-defined aggregate.
    Aggregate {
        /// The keyspace.
        keyspace: String,
        /// The aggregate.
        name: String,
        /// Its argument types, as CQL types.
        arg_types: Vec<String>,
    },
}

impl SchemaChangeTarget {
    /// The wire name of the target.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Keyspace(_) => "KEYSPACE",
            Self::Table { .. } => "TABLE",
            Self::Type { .. } => "TYPE",
            Self::Function { .. } => "FUNCTION",
            Self::Aggregate { .. } => "AGGREGATE",
        }
    }

    /// The keyspace the change happened in.
    pub fn keyspace(&self) -> &str {
        match self {
            Self::Keyspace(k) => k,
            Self::Table { keyspace, .. }
            | Self::Type { keyspace, .. }
            | Self::Function { keyspace, .. }
            | Self::Aggregate { keyspace, .. } => keyspace,
        }
    }
}

/// A schema change: what happened, to what.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SchemaChange {
    /// Created, updated or dropped.
    pub change_type: SchemaChangeType,
    /// The object.
    pub target: SchemaChangeTarget,
}

fn ks_name(input: &[u8]) -> Parsed<'_, (String, String)> {
    let (rest, ks) = primitives::string(input)?;
    let (rest, name) = primitives::string(rest)?;
    Ok((rest, (ks.to_owned(), name.to_owned())))
}

fn ks_name_args(input: &[u8]) -> Parsed<'_, (String, String, Vec<String>)> {
    let (rest, (ks, name)) = ks_name(input)?;
    let (rest, args) = primitives::string_list(rest)?;
    Ok((
        rest,
        (ks, name, args.into_iter().map(str::to_owned).collect()),
    ))
}

impl SchemaChange {
    /// Parses `<change_type><target><options>`.
    pub(crate) fn parse(input: &[u8], version: ProtocolVersion) -> Parsed<'_, Self> {
        let (rest, change) = primitives::string(input)?;
        let change_type = match change {
            "CREATED" => SchemaChangeType::Created,
            "UPDATED" => SchemaChangeType::Updated,
            "DROPPED" => SchemaChangeType::Dropped,
            _ => return Err(fail(DecodeError::Malformed("schema change type"))),
        };
        let (rest, target) = primitives::string(rest)?;
        let v4 = version >= ProtocolVersion::V4;
        let (rest, target) = match target {
            "KEYSPACE" => {
                let (rest, ks) = primitives::string(rest)?;
                (rest, SchemaChangeTarget::Keyspace(ks.to_owned()))
            }
            "TABLE" => {
                let (rest, (keyspace, table)) = ks_name(rest)?;
                (rest, SchemaChangeTarget::Table { keyspace, table })
            }
            "TYPE" => {
                let (rest, (keyspace, name)) = ks_name(rest)?;
                (rest, SchemaChangeTarget::Type { keyspace, name })
            }
            "FUNCTION" if v4 => {
                let (rest, (keyspace, name, arg_types)) = ks_name_args(rest)?;
                let t = SchemaChangeTarget::Function {
                    keyspace,
                    name,
                    arg_types,
                };
                (rest, t)
            }
            "AGGREGATE" if v4 => {
                let (rest, (keyspace, name, arg_types)) = ks_name_args(rest)?;
                let t = SchemaChangeTarget::Aggregate {
                    keyspace,
                    name,
                    arg_types,
                };
                (rest, t)
            }
            _ => return Err(fail(DecodeError::Malformed("schema change target"))),
        };
        Ok((
            rest,
            Self {
                change_type,
                target,
            },
        ))
    }

    /// Writes `<change_type><target><options>`; functions and aggregates need v4.
    pub fn encode(&self, version: ProtocolVersion, buf: &mut BytesMut) -> Result<(), EncodeError> {
        use SchemaChangeTarget as T;
        if matches!(self.target, T::Function { .. } | T::Aggregate { .. })
            && version < ProtocolVersion::V4
        {
            return Err(EncodeError::Invalid {
                what: "schema change target",
                reason: "functions and aggregates need protocol v4 or later",
            });
        }
        primitives::put_string(buf, self.change_type.as_str())?;
        primitives::put_string(buf, self.target.as_str())?;
        match &self.target {
            T::Keyspace(ks) => primitives::put_string(buf, ks),
            T::Table {
                keyspace,
                table: name,
            }
            | T::Type { keyspace, name } => {
                primitives::put_string(buf, keyspace)?;
                primitives::put_string(buf, name)
            }
            T::Function {
                keyspace,
                name,
                arg_types,
            }
            | T::Aggregate {
                keyspace,
                name,
                arg_types,
            } => {
                primitives::put_string(buf, keyspace)?;
                primitives::put_string(buf, name)?;
                primitives::put_string_list(buf, arg_types)
            }
        }
    }
}
