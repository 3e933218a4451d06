//! What the harness asks of a target: the schema, the statements and the mix of operations
//! of each workload. The stub cluster knows the same schema and statements.

use std::fmt;
use std::str::FromStr;

/// The keyspace every workload runs in.
pub const KEYSPACE: &str = "rg_bench";

/// Point reads and writes of small values.
pub const KV_TABLE: &str = "kv";
/// Batches of rows in one partition.
pub const ROWS_TABLE: &str = "rows";
/// Point reads and writes of large values.
pub const BIG_TABLE: &str = "big";

/// A point read of `kv`.
pub const READ: &str = "SELECT v FROM rg_bench.kv WHERE k = ?";
/// A point write of `kv`.
pub const WRITE: &str = "INSERT INTO rg_bench.kv (k, v) VALUES (?, ?)";
/// One row of a batch into `rows`.
pub const BATCH_ROW: &str = "INSERT INTO rg_bench.rows (p, c, v) VALUES (?, ?, ?)";
/// A point read of `big`.
pub const BIG_READ: &str = "SELECT v FROM rg_bench.big WHERE k = ?";
/// A point write of `big`.
pub const BIG_WRITE: &str = "INSERT INTO rg_bench.big (k, v) VALUES (?, ?)";
/// The unprepared read, with the key as a literal after this prefix.
pub const LITERAL_READ_PREFIX: &str = "SELECT v FROM rg_bench.kv WHERE k = ";

/// Rows in each batch.
pub const BATCH_SIZE: i32 = 10;
/// Bytes of each value of `big`.
pub const BIG_VALUE_LEN: usize = 64 * 1024;

/// The tables, as CQL.
pub fn table_ddl() -> [String; 3] {
    [
        format!("CREATE TABLE IF NOT EXISTS {KEYSPACE}.{KV_TABLE} (k bigint PRIMARY KEY, v blob)"),
        format!(
            "CREATE TABLE IF NOT EXISTS {KEYSPACE}.{ROWS_TABLE} \
             (p bigint, c int, v blob, PRIMARY KEY (p, c))"
        ),
        format!("CREATE TABLE IF NOT EXISTS {KEYSPACE}.{BIG_TABLE} (k bigint PRIMARY KEY, v blob)"),
    ]
}

/// The keyspace, with `replication` given as a CQL map literal.
pub fn keyspace_ddl(replication: &str) -> String {
    format!("CREATE KEYSPACE IF NOT EXISTS {KEYSPACE} WITH replication = {replication}")
}

/// The mix of operations a run sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Prepared point reads.
    Read,
    /// Prepared point writes.
    Write,
    /// 90% prepared reads, 10% prepared writes.
    Mixed,
    /// Unlogged batches of [`BATCH_SIZE`] prepared writes into one partition.
    Batch,
    /// Half reads, half writes of [`BIG_VALUE_LEN`]-byte values.
    Large,
    /// Unprepared point reads: QUERY with the key as a literal.
    Unprepared,
}

impl Workload {
    /// Every workload, in the order reports list them.
    pub const ALL: [Workload; 6] = [
        Workload::Read,
        Workload::Write,
        Workload::Mixed,
        Workload::Batch,
        Workload::Large,
        Workload::Unprepared,
    ];

    /// The workload's name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Workload::Read => "read",
            Workload::Write => "write",
            Workload::Mixed => "mixed",
            Workload::Batch => "batch",
            Workload::Large => "large",
            Workload::Unprepared => "unprepared",
        }
    }

    /// The operation for the `n`th draw of a random number, over `keys` keys.
    pub fn op(self, random: u64, keys: u64) -> Op {
        let key = i64::try_from((random >> 16) % keys.max(1)).unwrap_or(0);
        // The low bits pick the kind: 90/10 and 50/50 splits.
        let pick = random % 100;
        match self {
            Workload::Read => Op::Read(key),
            Workload::Write => Op::Write(key),
            Workload::Mixed if pick < 90 => Op::Read(key),
            Workload::Mixed => Op::Write(key),
            Workload::Batch => Op::Batch(key),
            Workload::Large if pick < 50 => Op::BigRead(key % big_keys(keys)),
            Workload::Large => Op::BigWrite(key % big_keys(keys)),
            Workload::Unprepared => Op::LiteralRead(key),
        }
    }
}

/// How many keys of `big` a run over `keys` keys uses (fewer: each holds 64 KiB).
pub fn big_keys(keys: u64) -> i64 {
    i64::try_from((keys / 10).clamp(1, 1000)).unwrap_or(1)
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Workload::ALL.iter().map(|w| w.name()).collect();
                format!("unknown workload {s:?} (one of: {})", names.join(", "))
            })
    }
}

/// One request of a workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Read key `k` of `kv`.
    Read(i64),
    /// Write key `k` of `kv`.
    Write(i64),
    /// Write [`BATCH_SIZE`] rows into partition `p` of `rows`.
    Batch(i64),
    /// Read key `k` of `big`.
    BigRead(i64),
    /// Write key `k` of `big`.
    BigWrite(i64),
    /// Read key `k` of `kv` with an unprepared QUERY.
    LiteralRead(i64),
}

/// A small, fast generator of the harness's random numbers (SplitMix64): each worker has
/// its own, seeded apart.
#[derive(Debug, Clone)]
pub struct SplitMix(u64);

impl SplitMix {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix(seed)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for w in Workload::ALL {
            assert_eq!(w.name().parse::<Workload>(), Ok(w));
        }
        assert!("nope".parse::<Workload>().is_err());
    }

    #[test]
    fn mixes_hold_their_shares() {
        let mut random = SplitMix::new(7);
        let draws = 100_000;
        let mut reads = 0;
        for _ in 0..draws {
            match Workload::Mixed.op(random.next_u64(), 1000) {
                Op::Read(k) => {
                    assert!((0..1000).contains(&k));
                    reads += 1;
                }
                Op::Write(k) => assert!((0..1000).contains(&k)),
                other => panic!("mixed drew {other:?}"),
            }
        }
        let share = f64::from(reads) / f64::from(draws);
        assert!((0.88..0.92).contains(&share), "read share {share}");
        for _ in 0..1000 {
            match Workload::Large.op(random.next_u64(), 1000) {
                Op::BigRead(k) | Op::BigWrite(k) => assert!((0..big_keys(1000)).contains(&k)),
                other => panic!("large drew {other:?}"),
            }
        }
    }
}
