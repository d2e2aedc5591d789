//! Identifiers: 1–64 characters of `[A-Za-z0-9_.:-]`; regions are 6-digit codes.
//!
//! Each is a `CompactString`: up to 24 bytes (every id the ledger issues, and most callers'
//! ids) live inline, without an allocation of their own, so the states that hold millions of
//! ids as map keys and fields take less memory and clone them by copying.

use std::fmt;
use std::io;

use compact_str::CompactString;
use serde::{Deserialize, Deserializer, Serialize};

use crate::limits::ID_CHARS_MAX;

/// Identifiers: 1–64 characters of `[A-Za-z0-9_.:-]`.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,64}$";
/// Pooling regions: six digits.
pub const REGION_PATTERN: &str = "^[0-9]{6}$";
/// A resident ID number (GB 11643): 17 digits and a check character.
pub const ID_NUMBER_PATTERN: &str = "^[0-9]{17}[0-9Xx]$";

/// The schema of a string of `pattern`, for the OpenAPI document.
fn string_schema(pattern: &str) -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .pattern(Some(pattern))
}

/// Whether `text` is a valid identifier.
pub fn is_valid_id(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= ID_CHARS_MAX
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Reads an id in its binary form (a borsh string: `u32` length, then the UTF-8 bytes) and
/// checks it as `new` does. The length is checked before any byte is read, so no id takes
/// an allocation of its own beyond the `CompactString`.
fn read_id<R: io::Read>(reader: &mut R) -> io::Result<CompactString> {
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, "is not 1-64 characters of [A-Za-z0-9_.:-]");
    let length: u32 = borsh::BorshDeserialize::deserialize_reader(reader)?;
    let mut buffer = [0u8; ID_CHARS_MAX];
    let bytes = usize::try_from(length).ok().and_then(|n| buffer.get_mut(..n)).ok_or_else(invalid)?;
    reader.read_exact(bytes)?;
    let text = std::str::from_utf8(bytes).ok().filter(|text| is_valid_id(text)).ok_or_else(invalid)?;
    Ok(CompactString::from(text))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(CompactString);

        impl $name {
            /// The identifier, or `None` when `text` is not 1–64 of `[A-Za-z0-9_.:-]`.
            pub fn new(text: &str) -> Option<$name> {
                is_valid_id(text).then(|| $name(CompactString::from(text)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        /// The binary form: a borsh string (`u32` length, then the UTF-8 bytes).
        impl borsh::BorshSerialize for $name {
            fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
                borsh::BorshSerialize::serialize(self.as_str(), writer)
            }
        }

        /// Refuses, as `InvalidData`, what `new` would refuse.
        impl borsh::BorshDeserialize for $name {
            fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<$name> {
                read_id(reader).map($name)
            }
        }

        /// Its schema: 1–64 characters of `[A-Za-z0-9_.:-]`.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                string_schema(ID_PATTERN).min_length(Some(1)).max_length(Some(ID_CHARS_MAX)).into()
            }
        }

        impl utoipa::ToSchema for $name {}

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<$name, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                $name::new(&text).ok_or_else(|| {
                    serde::de::Error::custom("is not 1-64 characters of [A-Za-z0-9_.:-]")
                })
            }
        }
    };
}

id_type!(
    /// A person insured in a region (参保人).
    PersonId
);
id_type!(
    /// A designated hospital or pharmacy (定点医药机构).
    InstitutionId
);
id_type!(
    /// A settlement, named by the institution that sends it.
    SettlementId
);
id_type!(
    /// A refund of a settlement, named by the institution.
    RefundId
);
id_type!(
    /// A binding, named by the ledger (`B1`, `B2`, … in the order requested).
    BindingId
);
id_type!(
    /// The caller's idempotency key, unique across the ledger.
    RequestId
);

impl BindingId {
    /// The id of the `number`-th binding ever requested (1-based).
    pub fn from_number(number: u64) -> BindingId {
        BindingId(compact_str::format_compact!("B{number}"))
    }

    /// The 1-based number of a ledger-issued binding id.
    pub fn number(&self) -> Option<u64> {
        let digits = self.0.strip_prefix('B')?;
        if digits.starts_with('0') {
            return None;
        }
        digits.parse().ok().filter(|n| *n >= 1)
    }
}

/// A pooling region (统筹区): six digits, kept as its six ASCII bytes (every person,
/// institution and settlement names one).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region([u8; 6]);

impl Region {
    pub fn new(text: &str) -> Option<Region> {
        Region::from_digits(text.as_bytes().try_into().ok()?)
    }

    fn from_digits(digits: [u8; 6]) -> Option<Region> {
        digits.iter().all(u8::is_ascii_digit).then_some(Region(digits))
    }

    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a region is six ASCII digits")
    }

    /// The province: the first two digits.
    pub fn province(&self) -> &str {
        &self.as_str()[..2]
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Region({:?})", self.as_str())
    }
}

impl Serialize for Region {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Its schema: six digits.
impl utoipa::PartialSchema for Region {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(REGION_PATTERN).examples(["210100"]).into()
    }
}

impl utoipa::ToSchema for Region {}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Region, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Region::new(&text).ok_or_else(|| serde::de::Error::custom("is not a 6-digit region code"))
    }
}

/// The binary form: the six ASCII digits, with no length (it is always six).
impl borsh::BorshSerialize for Region {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        writer.write_all(&self.0)
    }
}

/// Refuses, as `InvalidData`, six bytes that are not all ASCII digits.
impl borsh::BorshDeserialize for Region {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Region> {
        let digits: [u8; 6] = borsh::BorshDeserialize::deserialize_reader(reader)?;
        Region::from_digits(digits)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "is not a 6-digit region code"))
    }
}

/// A resident ID number (GB 11643), validated; only its masked form is ever kept.
#[derive(Clone, PartialEq, Eq)]
pub struct IdNumber(String);

impl IdNumber {
    /// The number, or `None` when it is not 18 characters with a valid check digit.
    pub fn new(text: &str) -> Option<IdNumber> {
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        const CHECK: &[u8; 11] = b"10X98765432";
        let bytes = text.as_bytes();
        if bytes.len() != 18 || !bytes[..17].iter().all(u8::is_ascii_digit) {
            return None;
        }
        let sum: u32 = bytes[..17].iter().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
        let expected = CHECK[(sum % 11) as usize];
        (bytes[17].to_ascii_uppercase() == expected).then(|| IdNumber(text.to_ascii_uppercase()))
    }

    /// First 6 and last 4 characters, the rest starred: what may be stored or shown.
    pub fn masked(&self) -> String {
        mask_id_number(&self.0)
    }
}

/// The masked form of what was sent as a resident ID number: the first 6 and last 4
/// characters of an 18-character text, the rest starred; any other text starred whole. The
/// 8 starred characters of a valid number are its birth date, which the ledger never keeps:
/// nothing derived from them may be stored or sent (api.md §4 persons).
pub fn mask_id_number(text: &str) -> String {
    match (text.len(), text.get(..6), text.get(14..)) {
        (18, Some(head), Some(tail)) => format!("{head}********{tail}"),
        _ => "*".repeat(text.chars().count()),
    }
}

impl fmt::Debug for IdNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdNumber({})", self.masked())
    }
}

impl Serialize for IdNumber {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.masked())
    }
}

/// Its schema: the number as a caller sends it (it is never rendered in full).
impl utoipa::PartialSchema for IdNumber {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        string_schema(ID_NUMBER_PATTERN)
            .description(Some(
                "an 18-character resident ID with a valid GB 11643 check character; never echoed in full",
            ))
            .into()
    }
}

impl utoipa::ToSchema for IdNumber {}

impl<'de> Deserialize<'de> for IdNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<IdNumber, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        IdNumber::new(&text)
            .ok_or_else(|| serde::de::Error::custom("is not a valid 18-character resident ID number"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the id alphabet and length bounds.
    #[test]
    fn id_shape() {
        assert!(PersonId::new("P1").is_some());
        assert!(PersonId::new("a.b:c-d_e").is_some());
        assert!(PersonId::new("").is_none());
        assert!(PersonId::new("has space").is_none());
        assert!(PersonId::new(&"x".repeat(65)).is_none());
        assert!(PersonId::new(&"x".repeat(64)).is_some());
        assert!(Region::new("210100").is_some());
        assert!(Region::new("21010").is_none());
        assert_eq!(BindingId::from_number(7).number(), Some(7));
        assert_eq!(BindingId::new("B07").unwrap().number(), None);
    }

    // Proves ids kept inline (short) and on the heap (long) read, order, hash-compare and
    // round-trip through JSON exactly as their text, and a region as its six digits.
    #[test]
    fn ids_behave_as_their_text() {
        let short = "P1".to_owned();
        let long = format!("H{}", "9".repeat(63));
        for text in [&short, &long] {
            let id = PersonId::new(text).unwrap();
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), *text);
            let json = serde_json::to_string(&id).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<PersonId>(&json).unwrap(), id);
        }
        let mut ids: Vec<PersonId> =
            ["P10", "P2", &long, "P1"].iter().map(|t| PersonId::new(t).unwrap()).collect();
        ids.sort();
        let texts: Vec<&str> = ids.iter().map(PersonId::as_str).collect();
        assert_eq!(texts, vec![long.as_str(), "P1", "P10", "P2"], "ordered as strings");

        let region = Region::new("310100").unwrap();
        assert_eq!((region.as_str(), region.province()), ("310100", "31"));
        assert_eq!(serde_json::to_string(&region).unwrap(), "\"310100\"");
        assert_eq!(serde_json::from_str::<Region>("\"310100\"").unwrap(), region);
        assert!(serde_json::from_str::<Region>("\"31010a\"").is_err());
        assert!(Region::new("３１０１００").is_none(), "ASCII digits only");
        assert!(Region::new("210100").unwrap() < region);
    }

    // Proves the GB 11643 checksum and that only the masked form is rendered.
    #[test]
    fn id_number_checksum_and_mask() {
        let id = IdNumber::new("11010519491231002X").unwrap();
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(format!("{id:?}"), "IdNumber(110105********002X)");
        assert!(IdNumber::new("110105194912310021").is_none());
        assert!(IdNumber::new("11010519491231002").is_none());
    }
}
