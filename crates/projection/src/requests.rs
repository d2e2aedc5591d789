//! The idempotency index of committed requests: for each request id that wrote events, the
//! seq of the first one. It is part of the one state, so that it is applied with the events,
//! copied with a snapshot and rebuilt by a replay, like every other index: the log is its
//! source of truth (each event carries the request id that wrote it).
//!
//! It holds 16 bytes per request: a 64-bit fingerprint of the id and the seq, in a hash table
//! without the id itself. A fingerprint names candidates, never an answer: the caller reads the
//! candidate's first event from the log and compares its request id, so two ids with the same
//! fingerprint only cost a second read. The fingerprint is stored in snapshots, so its function
//! is fixed (`FINGERPRINT`) and named in them: a snapshot made with another is not used.
//!
//! The table is split in shards by the fingerprint's bits, each behind an `Arc`: a copy (a
//! snapshot being stored) shares them, and the writer copies a shard, a small fraction of the
//! index, only when it adds to one a copy still holds.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The name of the fingerprint function, stored with the index.
const FINGERPRINT: &str = "fnv1a64+splitmix64";
const SHARD_BITS: u32 = 10;
const SHARDS: usize = 1 << SHARD_BITS;

/// The fingerprint of a request id: FNV-1a (64-bit) of its bytes, then the finalizer of
/// splitmix64 to spread every input bit over the output. Fixed: snapshots store it.
pub fn fingerprint(request_id: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in request_id.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

/// `(fingerprint, first seq)`; the same fingerprint may appear more than once.
type Shard = hashbrown::HashTable<(u64, u64)>;

#[derive(Clone)]
pub struct Requests {
    shards: Vec<Arc<Shard>>,
    len: usize,
}

impl Default for Requests {
    fn default() -> Requests {
        Requests { shards: (0..SHARDS).map(|_| Arc::new(Shard::new())).collect(), len: 0 }
    }
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests").field("len", &self.len).finish_non_exhaustive()
    }
}

/// The shard of a fingerprint: bits the hash table itself does not use to place an entry (it
/// uses the low bits and the top seven).
fn shard_of(fingerprint: u64) -> usize {
    (fingerprint >> 32) as usize & (SHARDS - 1)
}

impl Requests {
    /// Records that the request `request_id` wrote events from `first_seq` on.
    pub fn insert(&mut self, request_id: &str, first_seq: u64) {
        self.insert_fingerprint(fingerprint(request_id), first_seq);
    }

    /// As `insert`, by fingerprint: what a replay of the index does, and what a test uses to
    /// make two ids share one.
    pub fn insert_fingerprint(&mut self, fingerprint: u64, first_seq: u64) {
        let shard = Arc::make_mut(&mut self.shards[shard_of(fingerprint)]);
        shard.insert_unique(fingerprint, (fingerprint, first_seq), |(f, _)| *f);
        self.len += 1;
    }

    /// The first seqs of the requests whose id has the fingerprint of `request_id`, ascending:
    /// each is this request or another with the same fingerprint, as its first event's
    /// request id tells.
    pub fn candidates(&self, request_id: &str) -> Vec<u64> {
        let fingerprint = fingerprint(request_id);
        let mut seqs: Vec<u64> = self.shards[shard_of(fingerprint)]
            .iter_hash(fingerprint)
            .filter(|(f, _)| *f == fingerprint)
            .map(|(_, seq)| *seq)
            .collect();
        seqs.sort_unstable();
        seqs
    }

    /// The number of requests indexed.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Every entry, ascending by seq: the order a replay adds them in.
    fn entries(&self) -> Vec<(u64, u64)> {
        let mut entries: Vec<(u64, u64)> =
            self.shards.iter().flat_map(|shard| shard.iter().copied()).collect();
        entries.sort_unstable_by_key(|(fingerprint, seq)| (*seq, *fingerprint));
        entries
    }
}

impl PartialEq for Requests {
    fn eq(&self, other: &Requests) -> bool {
        self.len == other.len && self.entries() == other.entries()
    }
}

impl Eq for Requests {}

/// The stored form: the fingerprint's name, then every `(fingerprint, first seq)`.
#[derive(Serialize, Deserialize)]
struct Stored {
    fingerprint: String,
    entries: Vec<(u64, u64)>,
}

impl Serialize for Requests {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Stored { fingerprint: FINGERPRINT.to_owned(), entries: self.entries() }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Requests {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Requests, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        if stored.fingerprint != FINGERPRINT {
            return Err(serde::de::Error::custom(format!(
                "the request index was made with fingerprint {:?}, not {FINGERPRINT:?}",
                stored.fingerprint
            )));
        }
        let mut requests = Requests::default();
        for (fingerprint, seq) in stored.entries {
            requests.insert_fingerprint(fingerprint, seq);
        }
        Ok(requests)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_is_the_fixed_function_snapshots_store() {
        // Pinned values (computed apart from this code): a change of function must come with
        // a new `FINGERPRINT` name, or snapshots would answer with the wrong candidates.
        assert_eq!(fingerprint(""), 0xf52a_15e9_a9b5_e89b);
        assert_eq!(fingerprint("r1"), 0x15d7_ff2b_7619_7532);
        assert_eq!(fingerprint("settle-000042"), 0x296a_0d60_6d3c_69f6);
    }

    #[test]
    fn candidates_name_every_request_with_the_fingerprint() {
        let mut requests = Requests::default();
        requests.insert("a", 7);
        requests.insert("b", 9);
        assert_eq!(requests.candidates("a"), vec![7]);
        assert_eq!(requests.candidates("c"), Vec::<u64>::new());
        // Another id with the same fingerprint: both are candidates, in seq order.
        requests.insert_fingerprint(fingerprint("a"), 3);
        assert_eq!(requests.candidates("a"), vec![3, 7]);
        assert_eq!(requests.len(), 3);
    }

    #[test]
    fn a_copy_is_unchanged_by_what_is_added_after_it() {
        let mut requests = Requests::default();
        requests.insert("a", 1);
        let copy = requests.clone();
        requests.insert("b", 2);
        assert_eq!(copy.candidates("b"), Vec::<u64>::new());
        assert_eq!(requests.candidates("b"), vec![2]);
        assert!(copy != requests);
    }

    #[test]
    fn the_stored_form_round_trips_and_names_its_fingerprint() {
        let mut requests = Requests::default();
        for n in 1..=2000u64 {
            requests.insert(&format!("r{n}"), n * 2);
        }
        let json = serde_json::to_value(&requests).unwrap();
        assert_eq!(json["fingerprint"], FINGERPRINT);
        let back: Requests = serde_json::from_value(json.clone()).unwrap();
        assert!(back == requests);
        assert_eq!(back.candidates("r1000"), vec![2000]);
        let mut other = json;
        other["fingerprint"] = "another".into();
        assert!(serde_json::from_value::<Requests>(other).is_err(), "another function's index is refused");
    }
}
