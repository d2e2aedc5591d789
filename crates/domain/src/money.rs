//! `Money`: an amount in yuan with exactly two decimal places, never negative.
//!
//! Held as a whole number of fen (0.01 yuan) in a `u64`, so arithmetic and comparisons are
//! integer operations; every operation is checked. `rust_decimal` is used only at the edge, to
//! read a string in `Money::parse`; rendering is by hand. Parsing and rendering happen here and
//! only here, so the rest of the code never sees a string or a float.

use std::fmt;
use std::io;

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::limits;

/// Amounts a caller sends: yuan with at most two decimals (`Money::parse`).
pub const MONEY_PATTERN: &str = r"^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$";
/// Amounts the ledger renders: always exactly two decimals (`Money`'s `Display`).
pub const MONEY_RENDERED_PATTERN: &str = r"^(0|[1-9][0-9]*)\.[0-9]{2}$";

/// A non-negative amount with exactly two decimal places (fen precision), held in fen.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Money(u64);

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
    pub const ZERO: Money = Money(0);

    /// An amount from a whole number of fen (0.01 yuan).
    pub const fn from_fen(fen: u64) -> Money {
        Money(fen)
    }

    /// The amount in fen.
    pub const fn fen(self) -> u64 {
        self.0
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
        // rust_decimal reads the digits. They are well formed (checked above), so a refusal
        // can only be a whole part too long for it (above about 7.9 * 10^28): too large.
        let mut d: Decimal = text.parse().map_err(|_| MoneyError::TooLarge)?;
        d.rescale(2);
        // At scale 2 the mantissa is the amount in fen. An amount too large to be held at scale
        // 2 keeps a smaller scale, and is far above the stored maximum anyway.
        match u64::try_from(d.mantissa()) {
            Ok(fen) if d.scale() == 2 && fen <= limits::MONEY_STORED_FEN_MAX => Ok(Money(fen)),
            _ => Err(MoneyError::TooLarge),
        }
    }

    /// Parses an amount of one operation: as `parse`, and at most `1000000.00`.
    pub fn parse_amount(text: &str) -> Result<Money, MoneyError> {
        let money = Money::parse(text)?;
        if money.0 > limits::AMOUNT_PER_OPERATION_FEN_MAX {
            return Err(MoneyError::TooLarge);
        }
        Ok(money)
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` where that would go above the stored maximum.
    pub fn checked_add(self, other: Money) -> Option<Money> {
        let sum = self.0.checked_add(other.0)?;
        (sum <= limits::MONEY_STORED_FEN_MAX).then_some(Money(sum))
    }

    /// `self - other`, or `None` where that would go below zero.
    pub fn checked_sub(self, other: Money) -> Option<Money> {
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
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
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

/// Its schema as the ledger renders it: yuan, always two decimals.
impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(MONEY_RENDERED_PATTERN))
            .description(Some("yuan, always two decimals"))
            .examples(["12.30"])
            .into()
    }
}

impl utoipa::ToSchema for Money {}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Money, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Money::parse(&text).map_err(|e| serde::de::Error::custom(format!("amount {e}")))
    }
}

/// The binary form (docs/events.md "Binary form"): the amount in fen as an `i64`,
/// little-endian. Fixed width and one encoding per amount, which the hash chain needs.
/// An amount above the stored maximum is refused here as it is when read back, so the ledger
/// never writes bytes it could not read.
impl borsh::BorshSerialize for Money {
    fn serialize<W: io::Write>(&self, writer: &mut W) -> io::Result<()> {
        if self.0 > limits::MONEY_STORED_FEN_MAX {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "amount is above the stored maximum"));
        }
        let fen = i64::try_from(self.0).expect("the stored maximum fits i64 fen");
        borsh::BorshSerialize::serialize(&fen, writer)
    }
}

/// Reads the `i64` fen back as an amount of exactly two places; a negative amount or one above
/// the stored maximum is refused, as `Money::parse` refuses them.
impl borsh::BorshDeserialize for Money {
    fn deserialize_reader<R: io::Read>(reader: &mut R) -> io::Result<Money> {
        let fen: i64 = borsh::BorshDeserialize::deserialize_reader(reader)?;
        u64::try_from(fen).ok().filter(|&fen| fen <= limits::MONEY_STORED_FEN_MAX).map(Money).ok_or_else(
            || io::Error::new(io::ErrorKind::InvalidData, "amount is negative or above the stored maximum"),
        )
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
        // Well-formed amounts too large for any store are too large, however many digits.
        for digits in [20, 29, 30, 100, 10_000] {
            assert_eq!(Money::parse(&"9".repeat(digits)), Err(MoneyError::TooLarge), "{digits} digits");
            assert_eq!(Money::parse(&format!("{}.5", "1".repeat(digits))), Err(MoneyError::TooLarge));
        }
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

    // Proves the edge values read and render back exactly, in fen and as text.
    #[test]
    fn edge_values_round_trip() {
        for (text, fen, rendered) in [
            ("0", 0, "0.00"),
            ("0.01", 1, "0.01"),
            ("0.1", 10, "0.10"),
            ("1.5", 150, "1.50"),
            ("1000000", limits::AMOUNT_PER_OPERATION_FEN_MAX, "1000000.00"),
            ("10000000000000", limits::MONEY_STORED_FEN_MAX, "10000000000000.00"),
            ("9999999999999.99", limits::MONEY_STORED_FEN_MAX - 1, "9999999999999.99"),
        ] {
            let money = Money::parse(text).unwrap();
            assert_eq!(money.fen(), fen, "{text:?}");
            assert_eq!(money.to_string(), rendered, "{text:?}");
            assert_eq!(Money::parse(rendered), Ok(money), "{rendered:?}");
            assert_eq!(Money::from_fen(fen), money, "{text:?}");
        }
        assert_eq!(Money::ZERO, Money::default());
        assert_eq!(Money::ZERO.to_string(), "0.00");
        assert!(Money::ZERO.is_zero() && !Money::from_fen(1).is_zero());
        assert_eq!(Money::parse_amount("1000000.00").unwrap().fen(), limits::AMOUNT_PER_OPERATION_FEN_MAX);
        assert_eq!(Money::parse("10000000000000.01"), Err(MoneyError::TooLarge));
        // On either side of rust_decimal's own maximum (about 7.9 * 10^28) a well-formed amount
        // is too large (once named malformed beyond it, where rust_decimal refuses the digits).
        assert_eq!(Money::parse("79228162514264337593543950335"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse("79228162514264337593543950336"), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse(&"9".repeat(40)), Err(MoneyError::TooLarge));
        assert_eq!(Money::parse(&format!("{}.999", "9".repeat(40))), Err(MoneyError::TooManyDecimals));
        // Rendering by hand matches rust_decimal's rendering of the same amount at two places,
        // including amounts no ledger would hold.
        for fen in (0..=2_000).chain([
            limits::AMOUNT_PER_OPERATION_FEN_MAX,
            limits::MONEY_STORED_FEN_MAX,
            i64::MAX as u64,
            u64::MAX,
        ]) {
            let mut decimal = Decimal::from(fen);
            decimal.set_scale(2).unwrap();
            assert_eq!(Money::from_fen(fen).to_string(), decimal.to_string(), "{fen}");
        }
    }

    // Proves addition refuses to go above the stored maximum and subtraction below zero.
    #[test]
    fn checked_bounds() {
        let max = Money::from_fen(limits::MONEY_STORED_FEN_MAX);
        let fen = Money::from_fen(1);
        assert_eq!(max.checked_add(Money::ZERO), Some(max));
        assert_eq!(max.checked_add(fen), None);
        assert_eq!(fen.checked_add(max), None);
        assert_eq!(Money::from_fen(u64::MAX).checked_add(fen), None);
        assert_eq!(max.minus(fen).checked_add(fen), Some(max));
        assert_eq!(Money::ZERO.checked_sub(fen), None);
        assert_eq!(fen.checked_sub(fen), Some(Money::ZERO));
        assert_eq!(Money::from_fen(5).checked_sub(Money::from_fen(6)), None);
        assert_eq!(Money::from_fen(5).saturating_sub(Money::from_fen(6)), Money::ZERO);
        assert_eq!(Money::sum([fen, fen, Money::from_fen(98)]).to_string(), "1.00");
        assert_eq!(Money::sum([]), Money::ZERO);
    }

    // Proves amounts order by value, whatever text they were read from.
    #[test]
    fn ordering() {
        let read = |text| Money::parse(text).unwrap();
        assert_eq!(read("1.5"), read("1.50"));
        assert!(read("0") < read("0.01"));
        assert!(read("0.99") < read("1"));
        assert!(read("2") > read("1.99"));
        assert!(read("10") > read("9.99"));
        assert!(read("100.00") > read("99.9"));
        let mut amounts = [read("12.3"), read("0.05"), read("100"), read("0"), read("12.29")];
        amounts.sort();
        let rendered: Vec<String> = amounts.iter().map(Money::to_string).collect();
        assert_eq!(rendered, ["0.00", "0.05", "12.29", "12.30", "100.00"]);
        assert_eq!(amounts.iter().max(), Some(&read("100")));
    }
}
