//! `Records`: fixed-size records in the order added, numbered by their place, in chunks shared
//! with the state's copies; and `Persons`, the persons interned: an id's number is its place.
//!
//! A copy of the state (a snapshot being stored) copies one pointer per chunk, and the state
//! copies a chunk only when it changes a record in one a copy still holds: the first change
//! of a chunk after a snapshot costs one chunk's copy, the rest nothing.

use std::hash::BuildHasher;
use std::sync::Arc;

use hashbrown::HashTable;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use domain::PersonId;

use crate::state::{Person, PersonNo};

/// Records per chunk.
const CHUNK: usize = 1024;

/// Records in the order added (see the module's doc).
#[derive(Clone, Debug)]
pub struct Records<T> {
    chunks: Vec<Arc<Vec<T>>>,
    len: usize,
}

impl<T> Default for Records<T> {
    fn default() -> Records<T> {
        Records { chunks: Vec::new(), len: 0 }
    }
}

impl<T: Clone> Records<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn get(&self, index: usize) -> Option<&T> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)
    }

    /// The record at `index`, to change: its chunk is copied first if a copy of the state
    /// still holds it.
    pub fn get_mut(&mut self, index: usize) -> Option<&mut T> {
        Arc::make_mut(self.chunks.get_mut(index / CHUNK)?).get_mut(index % CHUNK)
    }

    pub fn push(&mut self, record: T) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        Arc::make_mut(self.chunks.last_mut().expect("a chunk with room")).push(record);
        self.len += 1;
    }

    pub fn last(&self) -> Option<&T> {
        self.chunks.last()?.last()
    }

    /// The number of leading records that satisfy `pred`, for records partitioned by it (all
    /// that satisfy it first): a binary search, as `slice::partition_point`.
    pub fn partition_point(&self, pred: impl Fn(&T) -> bool) -> usize {
        // The chunks whose last record satisfies it lie wholly before the point.
        let whole = self.chunks.partition_point(|chunk| chunk.last().is_some_and(&pred));
        match self.chunks.get(whole) {
            Some(chunk) => whole * CHUNK + chunk.partition_point(&pred),
            None => self.len,
        }
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + '_ {
        self.chunks.iter().flat_map(|chunk| chunk.iter())
    }

    /// Every record, to change: every chunk a copy still holds is copied.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> + '_ {
        self.chunks.iter_mut().flat_map(|chunk| Arc::make_mut(chunk).iter_mut())
    }
}

impl<T: Clone> std::ops::Index<usize> for Records<T> {
    type Output = T;

    fn index(&self, index: usize) -> &T {
        self.get(index).expect("a record number from the state")
    }
}

impl<T: Clone + PartialEq> PartialEq for Records<T> {
    fn eq(&self, other: &Records<T>) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<T: Clone + Eq> Eq for Records<T> {}

impl<T: Clone + Serialize> Serialize for Records<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de, T: Clone + Deserialize<'de>> Deserialize<'de> for Records<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Records<T>, D::Error> {
        let mut records = Records::default();
        for record in Vec::<T>::deserialize(deserializer)? {
            records.push(record);
        }
        Ok(records)
    }
}

/// The hasher of the persons' index: fixed, so that a lookup costs the same on every run (the
/// index is rebuilt when a snapshot is read, never stored).
type IdHasher = foldhash::fast::FixedState;

/// Shards of the persons' index: a copy of the state shares them, and the writer copies only
/// the shard it adds to (about 1/256 of the index) instead of the whole, several megabytes at
/// a million persons, under the lock a snapshot's copy is taken with.
const INDEX_SHARDS: usize = 256;

/// Every person, in the order registered: a person's number is its place. The ids are kept
/// once, here; everything else in the state refers to a person by number.
#[derive(Clone, Debug)]
pub struct Persons {
    ids: Records<PersonId>,
    records: Records<Person>,
    /// Numbers, found by the hash of the id they stand for, in shards behind `Arc`s.
    index: Vec<Arc<HashTable<u32>>>,
}

impl Default for Persons {
    fn default() -> Persons {
        Persons {
            ids: Records::default(),
            records: Records::default(),
            index: (0..INDEX_SHARDS).map(|_| Arc::new(HashTable::new())).collect(),
        }
    }
}

impl Persons {
    fn hash(id: &PersonId) -> u64 {
        IdHasher::default().hash_one(id.as_str())
    }

    /// The shard of a hash: bits the table itself does not use to place an entry (it takes
    /// the low bits for the bucket and the top seven for its tag).
    fn shard(hash: u64) -> usize {
        (hash >> 32) as usize % INDEX_SHARDS
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// A person's number, from the id.
    pub fn number(&self, id: &PersonId) -> Option<PersonNo> {
        let ids = &self.ids;
        let hash = Persons::hash(id);
        self.index[Persons::shard(hash)].find(hash, |n| &ids[*n as usize] == id).map(|n| PersonNo(*n))
    }

    pub fn contains_key(&self, id: &PersonId) -> bool {
        self.number(id).is_some()
    }

    pub fn get(&self, id: &PersonId) -> Option<&Person> {
        self.number(id).map(|n| &self.records[n.index()])
    }

    pub fn get_mut(&mut self, id: &PersonId) -> Option<&mut Person> {
        let number = self.number(id)?;
        self.records.get_mut(number.index())
    }

    /// The id of a person, from the number.
    pub fn id(&self, person: PersonNo) -> &PersonId {
        &self.ids[person.index()]
    }

    /// A person by number.
    pub fn record(&self, person: PersonNo) -> &Person {
        &self.records[person.index()]
    }

    pub fn record_mut(&mut self, person: PersonNo) -> &mut Person {
        self.records.get_mut(person.index()).expect("a person number from the state")
    }

    /// Registers a person under the next number; `None` if the id is taken.
    pub fn insert(&mut self, id: PersonId, person: Person) -> Option<PersonNo> {
        let number = u32::try_from(self.len()).expect("person numbers fit in 32 bits");
        let ids = &self.ids;
        let hash = Persons::hash(&id);
        let shard = Arc::make_mut(&mut self.index[Persons::shard(hash)]);
        match shard.entry(hash, |n| ids[*n as usize] == id, |n| Persons::hash(&ids[*n as usize])) {
            hashbrown::hash_table::Entry::Occupied(_) => return None,
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(number);
            }
        }
        self.ids.push(id);
        self.records.push(person);
        Some(PersonNo(number))
    }

    /// Every person with the id, in the order registered.
    pub fn iter(&self) -> impl Iterator<Item = (&PersonId, &Person)> + '_ {
        self.ids.iter().zip(self.records.iter())
    }

    pub fn values(&self) -> impl Iterator<Item = &Person> + '_ {
        self.records.iter()
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Person> + '_ {
        self.records.iter_mut()
    }
}

impl PartialEq for Persons {
    fn eq(&self, other: &Persons) -> bool {
        self.ids == other.ids && self.records == other.records
    }
}

impl Eq for Persons {}

/// Stored as the ids and the records, in order; the index is rebuilt on reading. One shape,
/// written from borrowed fields and read into owned ones.
#[derive(Serialize, Deserialize)]
struct StoredPersons<I, R> {
    ids: I,
    records: R,
}

impl Serialize for Persons {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        StoredPersons { ids: &self.ids, records: &self.records }.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Persons {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Persons, D::Error> {
        let stored = StoredPersons::<Records<PersonId>, Records<Person>>::deserialize(deserializer)?;
        if stored.ids.len() != stored.records.len() {
            return Err(serde::de::Error::custom("persons: as many ids as records"));
        }
        let mut persons = Persons::default();
        for (id, record) in stored.ids.iter().zip(stored.records.iter()) {
            if persons.insert(id.clone(), record.clone()).is_none() {
                return Err(serde::de::Error::custom(format!("persons: {id} twice")));
            }
        }
        Ok(persons)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a copy shares the chunks until one side changes a record: the change is the
    // changer's alone, and the copy still reads what it held.
    #[test]
    fn a_copy_is_shared_until_changed() {
        let mut records: Records<u64> = Records::default();
        for n in 0..(CHUNK as u64 * 2 + 5) {
            records.push(n);
        }
        let copy = records.clone();
        assert!(Arc::ptr_eq(&records.chunks[1], &copy.chunks[1]));
        *records.get_mut(CHUNK + 3).unwrap() = 7;
        assert!(!Arc::ptr_eq(&records.chunks[1], &copy.chunks[1]), "the changed chunk is copied");
        assert!(Arc::ptr_eq(&records.chunks[0], &copy.chunks[0]), "the others stay shared");
        assert_eq!((records[CHUNK + 3], copy[CHUNK + 3]), (7, CHUNK as u64 + 3));
        assert_eq!(records.len(), CHUNK * 2 + 5);
        assert_eq!(records.iter().count(), records.len());
        assert!(records.get(CHUNK * 2 + 5).is_none());
        assert_eq!(records.last(), Some(&(CHUNK as u64 * 2 + 4)));
    }

    // Proves a copy of the persons shares the index's shards, an insert copies only the
    // shard it lands in, and both sides find what they hold and nothing more.
    #[test]
    fn persons_share_their_index_until_one_adds() {
        let id = |n: u32| PersonId::new(&format!("P{n}")).unwrap();
        let mut persons = Persons::default();
        for n in 0..3000 {
            assert_eq!(persons.insert(id(n), Person::sample()), Some(PersonNo(n)));
        }
        assert_eq!(persons.insert(id(17), Person::sample()), None, "an id registers once");
        let copy = persons.clone();
        assert!(persons.index.iter().zip(&copy.index).all(|(a, b)| Arc::ptr_eq(a, b)));
        assert_eq!(persons.insert(id(5000), Person::sample()), Some(PersonNo(3000)));
        let copied = persons.index.iter().zip(&copy.index).filter(|(a, b)| !Arc::ptr_eq(a, b)).count();
        assert_eq!(copied, 1);
        assert_eq!((persons.number(&id(5000)), copy.number(&id(5000))), (Some(PersonNo(3000)), None));
        for n in (0..3000).step_by(7) {
            assert_eq!(copy.number(&id(n)), Some(PersonNo(n)));
            assert_eq!(persons.id(PersonNo(n)), &id(n));
        }
        assert_eq!(persons.len(), 3001);
    }

    // Proves the binary search agrees with a slice's at every point, across chunk edges.
    #[test]
    fn partition_point_is_a_slices() {
        let mut records: Records<u64> = Records::default();
        let mut slice = Vec::new();
        for n in 0..(CHUNK as u64 * 3) {
            records.push(n * 2);
            slice.push(n * 2);
        }
        for at in [0, 1, 2, CHUNK as u64 * 2 - 1, CHUNK as u64 * 2, CHUNK as u64 * 6 - 2, CHUNK as u64 * 9] {
            assert_eq!(records.partition_point(|t| *t <= at), slice.partition_point(|t| *t <= at), "at {at}");
        }
        assert_eq!(Records::<u64>::default().partition_point(|_| true), 0);
    }
}
