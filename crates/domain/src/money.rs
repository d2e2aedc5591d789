//! `Money`: an amount in yuan with exactly two decimal places, never negative.
//!
//! Backed by `rust_decimal::Decimal`; every operation is checked. Parsing and rendering happen
//! here and only here, so the rest of the code never sees a string or a float.

use std::fmt;
use std::io;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits;

/// A non-negative amount with exactly two decimal places (fen precision).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(Decimal);

/// Why a money string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    Malformed,
    Negative,
    TooManyDecimals,
    TooLarge,
}

impl fmt::Display for MoneyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MoneyError::Malformed => "is not a decimal amount in yuan",
            MoneyError::Negative => "must not be negative",
            MoneyError::TooManyDecimals => "has more than 2 decimal places",
            MoneyError::TooLarge => "is above 1000000.00",
        })
    }
}

impl Money {
    pub const ZERO: Money = Money(Decimal::from_parts(0, 0, 0, false, 2));

    /// An amount from a whole number of fen (0.01 yuan).
    pub fn from_fen(fen: u64) -> Money {
        let mut d = Decimal::from(fen);
        d.set_scale(2).expect("scale 2 is valid");
        Money(d)
    }

    /// The amount in fen.
    pub fn fen(self) -> u64 {
        let mut d = self.0;
        d.rescale(2);
        u64::try_from(d.mantissa()).expect("money is non-negative and fits u64 fen")
    }

    /// Parses an amount in the contract's form (api.md §2), `^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$`:
    /// `"5"`, `"12.3"`, `"12.30"`; not `"1.500"`, `".5"`, `"5."`, `"007"`, `"+1"`, `"1e3"`.
    /// Not negative; no upper bound beyond what a balance may hold.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        // A minus sign before an amount that is otherwise well-formed is named as such.
        let (unsigned, negative) = match text.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (text, false),
        };
        let (whole, fraction) = match unsigned.split_once('.') {
            Some((whole, fraction)) => (whole, Some(fraction)),
            None => (unsigned, None),
        };
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || (whole.len() > 1 && whole.starts_with('0')) {
            return Err(MoneyError::Malformed);
        }
        if let Some(fraction) = fraction {
            if !digits(fraction) {
                return Err(MoneyError::Malformed);
            }
            if fraction.len() > 2 && !negative {
                return Err(MoneyError::TooManyDecimals);
            }
        }
        if negative {
            return Err(MoneyError::Negative);
        }
        let mut d: Decimal = text.parse().map_err(|_| MoneyError::Malformed)?;
        d.rescale(2);
        if d > limits::money_stored_max() {
            return Err(MoneyError::TooLarge);
        }
        Ok(Money(d))
    }

    /// Parses an amount of one operation: as `parse`, and at most `1000000.00`.
    pub fn parse_amount(text: &str) -> Result<Money, MoneyError> {
        let money = Money::parse(text)?;
        if money.0 > limits::amount_per_operation_max() {
            return Err(MoneyError::TooLarge);
        }
        Ok(money)
    }

    pub fn is_zero(self) -> bool {
        self.0.is_zero()
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        let sum = self.0.checked_add(other.0)?;
        (sum <= limits::money_stored_max()).then_some(Money(sum))
    }

    /// `self - other`, or `None` where that would go below zero.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
        if other.0 > self.0 {
            return None;
        }
        self.0.checked_sub(other.0).map(Money)
    }

    /// `self - other`, or zero where that would go below zero.
    pub fn saturating_sub(self, other: Money) -> Money {
        self.checked_sub(other).unwrap_or(Money::ZERO)
    }

    /// Addition that the caller has proven cannot overflow (sums of stored balances).
    pub fn plus(self, other: Money) -> Money {
        self.checked_add(other).expect("money sum stays within the stored maximum")
    }

    /// Subtraction that the caller has proven cannot go negative.
    pub fn minus(self, other: Money) -> Money {
        self.checked_sub(other).expect("money difference stays non-negative")
    }

    pub fn sum<I: IntoIterator<Item = Money>>(items: I) -> Money {
        items.into_iter().fold(Money::ZERO, Money::plus)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = self.0;
        d.rescale(2);
        write!(f, "{d}")
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Money({self})")
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Money::parse(&text).map_err(|e| serde::de::Error::custom(format!("amount {e}")))
    }
}

/// The binary form (docs/events.md "Binary form"): the amount in fen as an `i64`,
/// little-endian. Fixed width and one encoding per amount, which the hash chain needs; a
/// decimal's own bytes would not do (scale and mantissa can spell one amount several ways).
/// An amount above the stored maximum is refused here as it is when read back, so the ledger
/// never writes bytes it could not read.
impl borsh::BorshSerialize for Money {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        if self.0 > limits::money_stored_max() {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "amount is above the stored maximum"));
        }
        let fen = i64::try_from(self.fen()).expect("the stored maximum fits i64 fen");
        borsh::BorshSerialize::serialize(&fen, writer)
    }
}

/// Reads the `i64` fen back as an amount of exactly two places; a negative amount or one above
/// the stored maximum is refused, as `Money::parse` refuses them.
impl borsh::BorshDeserialize for Money {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Money> {
        let fen: i64 = borsh::BorshDeserialize::deserialize_reader(reader)?;
        u64::try_from(fen)
            .ok()
            .map(Money::from_fen)
            .filter(|money| money.0 <= limits::money_stored_max())
            .ok_or_else(|| {
                io::Error::new(io::ErrorKind::InvalidData, "amount is negative or above the stored maximum")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the accepted and refused forms of an amount, and that rendering is always 2 places.
    #[test]
    fn parse_and_render() {
        assert_eq!(Money::parse("5").unwrap().to_string(), "5.00");
        assert_eq!(Money::parse("12.3").unwrap().to_string(), "12.30");
        assert_eq!(Money::parse("0.01").unwrap().fen(), 1);
        assert_eq!(Money::parse("0").unwrap().to_string(), "0.00");
        assert_eq!(Money::parse("0.5").unwrap().to_string(), "0.50");
        assert_eq!(Money::parse("100").unwrap().to_string(), "100.00");
        assert_eq!(Money::parse("1.001"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("1.500"), Err(MoneyError::TooManyDecimals));
        assert_eq!(Money::parse("1.0000"), Err(MoneyError::TooManyDecimals));
        for malformed in
            [".5", "5.", "007", "00", "01.00", "+1", "1.2.3", "1,00", "٣", "1 ", "-", "-.5", "0x10"]
        {
            assert_eq!(Money::parse(malformed), Err(MoneyError::Malformed), "{malformed:?}");
        }
        assert_eq!(Money::parse("-0"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("-1.234"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("--1"), Err(MoneyError::Malformed));
        // Any number of signs is refused at once, without recursion (64 KiB of them once
        // overflowed the stack).
        assert_eq!(Money::parse(&format!("{}5", "-".repeat(65_536))), Err(MoneyError::Malformed));
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("abc"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse(" 1"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse("1e3"), Err(MoneyError::Malformed));
        assert_eq!(Money::parse(""), Err(MoneyError::Malformed));
        assert!(Money::parse_amount("1000000.00").is_ok());
        assert_eq!(Money::parse_amount("1000000.01"), Err(MoneyError::TooLarge));
        assert_eq!(Money::from_fen(12345).to_string(), "123.45");
    }

    // Proves arithmetic never goes negative silently.
    #[test]
    fn checked_arithmetic() {
        let a = Money::parse("1.10").unwrap();
        let b = Money::parse("2.00").unwrap();
        assert_eq!(a.checked_sub(b), None);
        assert_eq!(b.checked_sub(a).unwrap().to_string(), "0.90");
        assert_eq!(a.saturating_sub(b), Money::ZERO);
        assert_eq!(a.plus(b).to_string(), "3.10");
    }
}
