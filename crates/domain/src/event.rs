//! Events: the facts the ledger records. Past tense, one stable snake_case `kind` each.
//!
//! Events are the schema: a stored event is never changed, so every field here is written
//! once and read forever. `version` is the payload's schema version; an upcaster goes in
//! `Event::from_json` and `Event::from_binary` when one changes. `docs/events.md` lists them
//! for readers.
//!
//! Each payload has two forms: JSON (serde), which the API serves, and a binary form (borsh),
//! which is stored and hashed. The binary form writes every field, in declaration order, and
//! an enum as its variant index: both orders are part of the stored format.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::command::{InstitutionKind, PersonStatus, Scheme};
use crate::ids::{BindingId, InstitutionId, PersonId, RefundId, Region, SettlementId};
use crate::money::Money;
use crate::rules::{Bucket, Category, Relation, RuleSet};
use crate::time::Timestamp;

/// Where money of a settlement came from.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum Source {
    /// The beneficiary's own personal account.
    Own,
    /// A bound relative's personal account (共济).
    Family,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum BindingStatus {
    Pending,
    Active,
    Rejected,
    Revoked,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum EndCause {
    AuthorizerTerminated,
    BeneficiaryTerminated,
}

/// Why an account paid less than was still owed (domain.md §8).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum Reason {
    CategoryNotForOwn,
    OwnBalanceExhausted,
    CategoryNotForFamily,
    AuthorizerSuspended,
    AuthorizerTerminated,
    BindingRevoked,
    BucketNotForFamily,
    FamilyBalanceExhausted,
    MonthlyLimitReached,
    AnnualLimitReached,
    FamilyAccountAlreadyUsed,
    NoBinding,
}

/// One movement of account money: drawn by a settlement or premium, released, or refunded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Draw {
    pub account: PersonId,
    pub source: Source,
    pub bucket: Bucket,
    pub amount: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding_id: Option<BindingId>,
}

/// One line of a settlement's explanation: an account considered and what it paid.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize, utoipa::ToSchema,
)]
pub struct Explain {
    /// null: no family account was there to consider.
    pub account: Option<PersonId>,
    pub source: Source,
    pub paid: Money,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Reason)]
    pub reason: Option<Reason>,
}

/// A balance as it stands after an event.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize,
)]
pub struct Balance {
    pub current: Money,
    pub historic: Money,
    pub held: Money,
}

impl Balance {
    /// `current + historic − held`.
    pub fn available(&self) -> Money {
        self.current.plus(self.historic).minus(self.held)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct RulesPublished {
    pub region: Region,
    pub rules: RuleSet,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct InstitutionRegistered {
    pub institution_id: InstitutionId,
    pub region: Region,
    pub kind: InstitutionKind,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PersonRegistered {
    pub person_id: PersonId,
    pub region: Region,
    pub scheme: Scheme,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Only the masked form (first 6, last 4) is ever stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_number_masked: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PersonStatusChanged {
    pub person_id: PersonId,
    pub status: PersonStatus,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BindingEnded {
    pub binding_id: BindingId,
    pub cause: EndCause,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Credited {
    pub person_id: PersonId,
    pub bucket: Bucket,
    pub amount: Money,
    pub reason: String,
    /// The account after the credit, as a statement line shows it.
    pub balance: Balance,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct YearClosed {
    pub region: Region,
    pub year: i32,
    /// Accounts whose current balance moved to historic.
    pub accounts: u64,
    /// The total moved.
    pub moved: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BindingRequested {
    pub binding_id: BindingId,
    pub authorizer: PersonId,
    pub beneficiary: PersonId,
    pub relation: Relation,
    /// `active` when the rules auto-approve, else `pending`.
    pub status: BindingStatus,
    pub rule_version: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct BindingReviewed {
    pub binding_id: BindingId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct AuthorizationSet {
    pub binding_id: BindingId,
    pub priority: Option<u32>,
    pub monthly_limit: Option<Money>,
    pub annual_limit: Option<Money>,
    /// What had been drawn in the current windows when the limits were set.
    pub used_month: Money,
    pub used_year: Money,
}

/// A settlement taken (`settled`) or reserved (`held`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Charge {
    pub settlement_id: SettlementId,
    pub institution: InstitutionId,
    pub region: Region,
    pub beneficiary: PersonId,
    pub category: Category,
    pub amount: Money,
    pub occurred_at: Timestamp,
    pub rule_version: u64,
    /// Account money, in the order drawn (own current, own historic, family by order).
    pub draws: Vec<Draw>,
    pub out_of_pocket: Money,
    pub explain: Vec<Explain>,
    /// For a hold: when it expires unless captured or voided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Captured {
    pub settlement_id: SettlementId,
    pub institution: InstitutionId,
    pub region: Region,
    /// The amount captured (account money and out of pocket).
    pub amount: Money,
    /// Account money taken, per account and bucket, in split order.
    pub draws: Vec<Draw>,
    pub out_of_pocket: Money,
    /// Account money given back.
    pub released: Vec<Draw>,
}

/// A hold released in full: `voided` by the institution or `expired` by the clock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Released {
    pub settlement_id: SettlementId,
    pub institution: InstitutionId,
    pub region: Region,
    pub released: Vec<Draw>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct Refunded {
    pub refund_id: RefundId,
    pub settlement_id: SettlementId,
    pub institution: InstitutionId,
    pub region: Region,
    pub amount: Money,
    pub reason: String,
    /// Money returned to accounts, per account and bucket.
    pub returns: Vec<Draw>,
    pub out_of_pocket: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize)]
pub struct PremiumPaid {
    pub payer: PersonId,
    pub beneficiary: PersonId,
    /// The payer's region.
    pub region: Region,
    pub year: i32,
    pub amount: Money,
    pub draws: Vec<Draw>,
}

macro_rules! events {
    ($($variant:ident($payload:ty),)*) => {
        /// A fact recorded in the log. Its kind is the variant's name in snake_case (strum).
        #[derive(Clone, Debug, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::VariantNames)]
        #[serde(untagged)]
        #[strum(serialize_all = "snake_case")]
        pub enum Event {
            $($variant($payload),)*
        }

        /// The kinds in declaration order: `Code::X as u16` is the kind code of `Event::X`.
        enum Code {
            $($variant,)*
        }

        impl Event {
            /// The stable snake_case name stored as the envelope's `kind`.
            pub fn kind(&self) -> &'static str {
                self.into()
            }

            /// Every kind, in declaration order. A kind's index here is its code in the binary
            /// envelope, so this order is stored: append new kinds at the end only.
            pub const KINDS: &'static [&'static str] = <Event as strum::VariantNames>::VARIANTS;

            /// The code of this event's kind: its index in `Event::KINDS`.
            pub fn kind_code(&self) -> u16 {
                match self {
                    $(Event::$variant(_) => Code::$variant as u16,)*
                }
            }

            /// The kind of `code`, or `None` for a code no kind has.
            pub fn kind_of_code(code: u16) -> Option<&'static str> {
                Event::KINDS.get(usize::from(code)).copied()
            }

            /// The code of `kind`, or `None` for an unknown kind.
            pub fn code_of_kind(kind: &str) -> Option<u16> {
                Event::KINDS.iter().position(|known| *known == kind).and_then(|index| u16::try_from(index).ok())
            }

            /// The payload's binary form (docs/events.md "Binary form"): the borsh bytes of the
            /// payload struct alone, without the kind, which travels beside it in the envelope
            /// as `kind_code`. Canonical: one byte string per event, which the hash chain needs.
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(Event::$variant(payload) => borsh::to_vec(payload),)*
                }
                .expect("every event encodes: its amounts lie within the stored maximum")
            }

            /// Reads a payload in its binary form, of kind `code` at schema `version`: the
            /// inverse of `encode`. Refuses an unknown code or version, bytes that stop short or
            /// run on, and any value the JSON form would refuse (an invalid id, region, amount
            /// or time). An upcaster goes here, as in `from_json`, when a version changes.
            pub fn from_binary(code: u16, version: u32, bytes: &[u8]) -> Result<Event, String> {
                let kind = Event::kind_of_code(code).ok_or_else(|| format!("unknown event kind code {code}"))?;
                if version != EVENT_VERSION {
                    return Err(format!("unknown version {version} of event kind {kind:?}"));
                }
                // `from_slice` refuses bytes left over after the payload.
                let refused = |e: borsh::io::Error| format!("event kind {kind:?}: {e}");
                match code {
                    $(code if code == Code::$variant as u16 => {
                        borsh::from_slice(bytes).map(Event::$variant).map_err(refused)
                    })*
                    _ => Err(format!("unknown event kind code {code}")),
                }
            }

            /// Reads a payload in its JSON form, of `kind` at schema `version`.
            pub fn from_json(kind: &str, version: u32, payload: &[u8]) -> Result<Event, String> {
                if version != EVENT_VERSION {
                    return Err(format!("unknown version {version} of event kind {kind:?}"));
                }
                let code = Event::code_of_kind(kind).ok_or_else(|| format!("unknown event kind {kind:?}"))?;
                match code {
                    $(code if code == Code::$variant as u16 => {
                        serde_json::from_slice(payload).map(Event::$variant).map_err(|e| e.to_string())
                    })*
                    _ => Err(format!("unknown event kind {kind:?}")),
                }
            }
        }
    };
}

/// The schema version every event is written with today.
pub const EVENT_VERSION: u32 = 1;

events! {
    RulesPublished(RulesPublished),
    InstitutionRegistered(InstitutionRegistered),
    PersonRegistered(PersonRegistered),
    PersonStatusChanged(PersonStatusChanged),
    BindingEnded(BindingEnded),
    Credited(Credited),
    YearClosed(YearClosed),
    BindingRequested(BindingRequested),
    BindingApproved(BindingReviewed),
    BindingRejected(BindingReviewed),
    BindingRevoked(BindingReviewed),
    AuthorizationSet(AuthorizationSet),
    Settled(Charge),
    Held(Charge),
    Captured(Captured),
    Voided(Released),
    Expired(Released),
    Refunded(Refunded),
    PremiumPaid(PremiumPaid),
}

impl Event {
    /// Settlement-side events go out over NATS: `(region, institution or "-", type)`.
    pub fn settlement_subject(&self) -> Option<(&Region, Option<&InstitutionId>, &'static str)> {
        match self {
            Event::Settled(c) | Event::Held(c) => Some((&c.region, Some(&c.institution), self.kind())),
            Event::Captured(c) => Some((&c.region, Some(&c.institution), self.kind())),
            Event::Voided(r) | Event::Expired(r) => Some((&r.region, Some(&r.institution), self.kind())),
            Event::Refunded(r) => Some((&r.region, Some(&r.institution), self.kind())),
            Event::PremiumPaid(p) => Some((&p.region, None, self.kind())),
            _ => None,
        }
    }
}
