//! The token ring: which node owns which token, with each node's datacenter and rack.
//!
//! Nodes are indexed densely ([`NodeIndex`]) so that replica sets are small integer arrays; the
//! ring keeps the ids, datacenters and racks the indexes stand for.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

/// One node as the cluster describes it (`system.local` / `system.peers_v2`): its id (the
/// address or host id the caller uses to name it), datacenter, rack, and Murmur3 tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NodeInfo {
    /// The caller's name for the node; replica lists are made of these.
    pub id: String,
    /// The node's datacenter.
    pub dc: String,
    /// The node's rack within its datacenter.
    pub rack: String,
    /// The tokens the node owns (one per vnode).
    pub tokens: Vec<i64>,
}

/// A node's position in a [`TokenRing`]'s node list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeIndex(u16);

impl NodeIndex {
    pub(crate) fn from_raw(raw: u16) -> Self {
        Self(raw)
    }

    /// The index as a `usize`, for the caller's own per-node tables.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// The most nodes a ring can hold, so that a [`NodeIndex`] fits in 16 bits.
pub const MAX_NODES: usize = 1 << 16;

/// A node of a built [`TokenRing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RingNode {
    id: String,
    dc: String,
    rack: String,
    dc_index: usize,
    rack_index: usize,
    token_count: usize,
}

impl RingNode {
    /// The node's id, as given when the ring was built.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The node's datacenter.
    pub fn dc(&self) -> &str {
        &self.dc
    }

    /// The node's rack.
    pub fn rack(&self) -> &str {
        &self.rack
    }

    /// How many ring tokens the node owns; a node without tokens never holds a replica.
    pub fn token_count(&self) -> usize {
        self.token_count
    }
}

/// A datacenter of a [`TokenRing`], counted over the nodes that own tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datacenter {
    name: String,
    nodes: usize,
    racks: usize,
}

impl Datacenter {
    /// The datacenter's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// How many of its nodes own tokens.
    pub fn node_count(&self) -> usize {
        self.nodes
    }

    /// How many distinct racks those nodes are in.
    pub fn rack_count(&self) -> usize {
        self.racks
    }
}

/// Why a ring could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RingError {
    /// Two nodes were given the same id.
    #[error("node {0:?} appears twice")]
    DuplicateNode(String),
    /// Two nodes (or one node twice) claim the same token.
    #[error("token {token} is claimed by both {first:?} and {second:?}")]
    DuplicateToken {
        /// The token, in its text form.
        token: String,
        /// One claimant.
        first: String,
        /// The other.
        second: String,
    },
    /// More nodes than [`MAX_NODES`].
    #[error("a ring holds at most {MAX_NODES} nodes")]
    TooManyNodes,
    /// More tokens than fit a 32-bit ring position.
    #[error("a ring holds at most 2^32 - 1 tokens")]
    TooManyTokens,
}

/// A token ring: sorted distinct tokens, each owned by one node. The owner of a token `t` is
/// the node of the first ring token ≥ `t`, wrapping past the largest to the smallest; that
/// ring token's position is where every replica walk starts.
#[derive(Debug, Clone)]
pub struct TokenRing<T = i64> {
    tokens: Vec<T>,
    owners: Vec<NodeIndex>,
    index: BucketIndex,
    nodes: Vec<RingNode>,
    /// Per node: its datacenter index and its (datacenter, rack) index, packed for the walk.
    locations: Vec<Location>,
    /// Per datacenter: the ring positions its nodes own, ascending.
    dc_positions: Vec<Vec<u32>>,
    datacenters: Vec<Datacenter>,
    rack_count: usize,
    owner_count: usize,
    by_id: HashMap<String, NodeIndex>,
}

impl TokenRing<i64> {
    /// The Murmur3 ring of `nodes`.
    pub fn new(nodes: &[NodeInfo]) -> Result<Self, RingError> {
        let mut builder = RingBuilder::new();
        for node in nodes {
            builder.add_node(&node.id, &node.dc, &node.rack, node.tokens.iter().copied())?;
        }
        builder.build()
    }
}

/// Where a node is, as dense indexes: `dc` into [`TokenRing::datacenters`], `rack` over all
/// (datacenter, rack) pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Location {
    pub(crate) dc: u16,
    pub(crate) rack: u16,
}

/// A token type a ring can hold. Its [`RingToken::prefix`] lets the ring jump close to a
/// token's position before the binary search.
pub trait RingToken: Ord + Clone + fmt::Debug {
    /// A 64-bit summary that never decreases as the token increases (`a < b` implies
    /// `a.prefix() <= b.prefix()`).
    fn prefix(&self) -> u64;
}

impl RingToken for i64 {
    fn prefix(&self) -> u64 {
        (*self as u64) ^ (1 << 63)
    }
}

/// Splits the 64-bit prefix space into `2^bits` equal buckets and records, per bucket, the
/// first ring position whose token falls in it or later; a lookup then binary-searches only
/// the few tokens of one bucket (cache-friendly on large vnode rings).
#[derive(Debug, Clone, Default)]
struct BucketIndex {
    shift: u32,
    starts: Vec<u32>,
}

impl BucketIndex {
    fn new<T: RingToken>(tokens: &[T]) -> Self {
        // About two tokens per bucket, at least one bucket.
        let bits = (tokens.len() / 2)
            .max(1)
            .next_power_of_two()
            .trailing_zeros()
            .min(24);
        let buckets = 1usize << bits;
        let shift = 64 - bits;
        let bucket_of = |t: &T| {
            if bits == 0 {
                0
            } else {
                (t.prefix() >> shift) as usize
            }
        };
        let mut starts = Vec::with_capacity(buckets + 1);
        let mut at = 0usize;
        for bucket in 0..=buckets {
            while at < tokens.len() && bucket_of(&tokens[at]) < bucket {
                at += 1;
            }
            // `build` refuses rings with more tokens than u32 can count.
            starts.push(at as u32);
        }
        Self { shift, starts }
    }

    /// The range of positions that can hold the first token ≥ `token`.
    fn candidates<T: RingToken>(&self, token: &T) -> (usize, usize) {
        let bucket = if self.shift == 64 {
            0
        } else {
            (token.prefix() >> self.shift) as usize
        };
        (
            self.starts[bucket] as usize,
            self.starts[bucket + 1] as usize,
        )
    }
}

impl<T: RingToken> TokenRing<T> {
    /// A builder for a ring of any token type.
    pub fn builder() -> RingBuilder<T> {
        RingBuilder::new()
    }

    /// The ring's tokens, sorted ascending.
    pub fn tokens(&self) -> &[T] {
        &self.tokens
    }

    /// The owner of each ring token, position by position.
    pub fn owners(&self) -> &[NodeIndex] {
        &self.owners
    }

    /// How many tokens the ring has.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the ring has no tokens (then nothing has replicas).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// Every node, tokens or not, in the order they were added; [`NodeIndex`] indexes this.
    pub fn nodes(&self) -> &[RingNode] {
        &self.nodes
    }

    /// The node at `index`.
    ///
    /// # Panics
    /// If `index` does not come from this ring.
    pub fn node(&self, index: NodeIndex) -> &RingNode {
        &self.nodes[index.get()]
    }

    /// The index of the node with this id.
    pub fn node_index(&self, id: &str) -> Option<NodeIndex> {
        self.by_id.get(id).copied()
    }

    /// The datacenters, in the order their first node was added.
    pub fn datacenters(&self) -> &[Datacenter] {
        &self.datacenters
    }

    /// How many nodes own at least one token.
    pub fn owner_count(&self) -> usize {
        self.owner_count
    }

    /// The number of distinct (datacenter, rack) pairs.
    pub(crate) fn rack_count(&self) -> usize {
        self.rack_count
    }

    /// Every node's location, indexed by [`NodeIndex`].
    pub(crate) fn locations(&self) -> &[Location] {
        &self.locations
    }

    /// The ring positions owned by nodes of datacenter `dc`, ascending.
    pub(crate) fn dc_positions(&self, dc: usize) -> &[u32] {
        &self.dc_positions[dc]
    }

    /// The position of the first ring token ≥ `token`, wrapping to 0; `None` on an empty ring.
    /// A bucket jump and a binary search over a few tokens; no allocation.
    pub fn position(&self, token: &T) -> Option<usize> {
        if self.tokens.is_empty() {
            return None;
        }
        let (low, high) = self.index.candidates(token);
        let within = self.tokens.get(low..high).unwrap_or_default();
        let at = low + within.partition_point(|t| t < token);
        Some(if at == self.tokens.len() { 0 } else { at })
    }

    /// The node that owns `token` (the primary replica's range owner).
    pub fn owner(&self, token: &T) -> Option<NodeIndex> {
        self.position(token).map(|at| self.owners[at])
    }

    /// Heap bytes held by the ring's token, owner and index arrays (not the node names).
    pub fn token_bytes(&self) -> usize {
        self.tokens.capacity() * std::mem::size_of::<T>()
            + self.owners.capacity() * std::mem::size_of::<NodeIndex>()
            + self.index.starts.capacity() * std::mem::size_of::<u32>()
            + self.locations.capacity() * std::mem::size_of::<Location>()
            + self
                .dc_positions
                .iter()
                .map(|p| p.capacity() * std::mem::size_of::<u32>())
                .sum::<usize>()
    }
}

/// Builds a [`TokenRing`] node by node.
#[derive(Debug)]
pub struct RingBuilder<T> {
    entries: Vec<(T, NodeIndex)>,
    nodes: Vec<RingNode>,
    datacenters: Vec<Datacenter>,
    dc_index: HashMap<String, usize>,
    /// Per datacenter: rack name to its index over all (datacenter, rack) pairs.
    racks: Vec<HashMap<String, usize>>,
    rack_total: usize,
    by_id: HashMap<String, NodeIndex>,
}

impl<T: RingToken> Default for RingBuilder<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: RingToken> RingBuilder<T> {
    /// An empty builder.
    pub fn new() -> Self {
        Self {
            entries: Vec::new(),
            nodes: Vec::new(),
            datacenters: Vec::new(),
            dc_index: HashMap::new(),
            racks: Vec::new(),
            rack_total: 0,
            by_id: HashMap::new(),
        }
    }

    /// Adds a node and its tokens. A node with no tokens is known by id but holds no replicas
    /// and does not count towards its datacenter's nodes or racks.
    pub fn add_node(
        &mut self,
        id: &str,
        dc: &str,
        rack: &str,
        tokens: impl IntoIterator<Item = T>,
    ) -> Result<NodeIndex, RingError> {
        let raw = u16::try_from(self.nodes.len()).map_err(|_| RingError::TooManyNodes)?;
        let index = NodeIndex(raw);
        match self.by_id.entry(id.to_owned()) {
            Entry::Occupied(_) => return Err(RingError::DuplicateNode(id.to_owned())),
            Entry::Vacant(slot) => slot.insert(index),
        };
        let before = self.entries.len();
        self.entries.extend(tokens.into_iter().map(|t| (t, index)));
        let token_count = self.entries.len() - before;

        // Look names up by reference first: most nodes share a known datacenter and rack.
        let dc_index = match self.dc_index.get(dc) {
            Some(&known) => known,
            None => {
                let new = self.datacenters.len();
                self.dc_index.insert(dc.to_owned(), new);
                self.datacenters.push(Datacenter {
                    name: dc.to_owned(),
                    nodes: 0,
                    racks: 0,
                });
                self.racks.push(HashMap::new());
                new
            }
        };
        let rack_index = match self.racks[dc_index].get(rack) {
            Some(&known) => known,
            None => {
                let new = self.rack_total;
                self.racks[dc_index].insert(rack.to_owned(), new);
                self.rack_total += 1;
                new
            }
        };
        self.nodes.push(RingNode {
            id: id.to_owned(),
            dc: dc.to_owned(),
            rack: rack.to_owned(),
            dc_index,
            rack_index,
            token_count,
        });
        Ok(index)
    }

    /// The ring, or an error if two nodes claim one token.
    pub fn build(self) -> Result<TokenRing<T>, RingError> {
        let Self {
            mut entries,
            nodes,
            mut datacenters,
            rack_total,
            by_id,
            ..
        } = self;
        if u32::try_from(entries.len()).is_err() {
            return Err(RingError::TooManyTokens);
        }
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        if let Some(pair) = entries.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            return Err(RingError::DuplicateToken {
                token: format!("{:?}", pair[0].0),
                first: nodes[pair[0].1.get()].id.clone(),
                second: nodes[pair[1].1.get()].id.clone(),
            });
        }
        let mut rack_has_owner = vec![false; rack_total];
        let mut owner_count = 0;
        for node in nodes.iter().filter(|n| n.token_count > 0) {
            owner_count += 1;
            datacenters[node.dc_index].nodes += 1;
            if !std::mem::replace(&mut rack_has_owner[node.rack_index], true) {
                datacenters[node.dc_index].racks += 1;
            }
        }
        let (tokens, owners): (Vec<T>, Vec<NodeIndex>) = entries.into_iter().unzip();
        let index = BucketIndex::new(&tokens);
        // Both indexes are below the node count, which `add_node` keeps within u16.
        let locations = nodes
            .iter()
            .map(|n| Location {
                dc: u16::try_from(n.dc_index).unwrap_or(u16::MAX),
                rack: u16::try_from(n.rack_index).unwrap_or(u16::MAX),
            })
            .collect();
        let mut dc_positions = vec![Vec::new(); datacenters.len()];
        for (position, owner) in owners.iter().enumerate() {
            let dc = nodes[owner.get()].dc_index;
            // Checked above: every position fits in u32.
            dc_positions[dc].push(position as u32);
        }
        Ok(TokenRing {
            tokens,
            owners,
            index,
            nodes,
            locations,
            dc_positions,
            datacenters,
            rack_count: rack_total,
            owner_count,
            by_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, dc: &str, rack: &str, tokens: &[i64]) -> NodeInfo {
        NodeInfo {
            id: id.into(),
            dc: dc.into(),
            rack: rack.into(),
            tokens: tokens.to_vec(),
        }
    }

    #[test]
    fn owner_is_the_first_token_at_or_after_wrapping() {
        let ring = TokenRing::new(&[
            node("n2", "dc", "r", &[100]),
            node("n1", "dc", "r", &[0]),
            node("n3", "dc", "r", &[200]),
        ])
        .unwrap();
        assert_eq!(ring.tokens(), &[0, 100, 200]);
        let owner = |t: i64| ring.node(ring.owner(&t).unwrap()).id().to_owned();
        assert_eq!(owner(0), "n1");
        assert_eq!(owner(1), "n2");
        assert_eq!(owner(100), "n2");
        assert_eq!(owner(150), "n3");
        assert_eq!(owner(201), "n1");
        assert_eq!(owner(i64::MIN), "n1");
        assert_eq!(owner(i64::MAX), "n1");
    }

    #[test]
    fn counts_only_token_owners_per_datacenter() {
        let ring = TokenRing::new(&[
            node("a", "dc1", "r1", &[1, 5]),
            node("b", "dc1", "r2", &[]),
            node("c", "dc2", "r1", &[3]),
            node("d", "dc1", "r1", &[7]),
        ])
        .unwrap();
        let dc1 = &ring.datacenters()[0];
        assert_eq!(
            (dc1.name(), dc1.node_count(), dc1.rack_count()),
            ("dc1", 2, 1)
        );
        let dc2 = &ring.datacenters()[1];
        assert_eq!(
            (dc2.name(), dc2.node_count(), dc2.rack_count()),
            ("dc2", 1, 1)
        );
        assert_eq!(ring.owner_count(), 3);
        assert_eq!(ring.node(ring.node_index("b").unwrap()).token_count(), 0);
    }

    #[test]
    fn rejects_duplicates() {
        assert_eq!(
            TokenRing::new(&[node("a", "d", "r", &[1]), node("a", "d", "r", &[2])]).unwrap_err(),
            RingError::DuplicateNode("a".into())
        );
        assert!(matches!(
            TokenRing::new(&[node("a", "d", "r", &[1]), node("b", "d", "r", &[1])]),
            Err(RingError::DuplicateToken { .. })
        ));
    }

    #[test]
    fn empty_ring_has_no_owner() {
        let ring = TokenRing::new(&[]).unwrap();
        assert!(ring.is_empty());
        assert_eq!(ring.owner(&0), None);
    }
}
