//! The vocabulary of Gongji: ids, `Money`, `Timestamp`, rule sets, commands, events and
//! rejections.
//!
//! Owns the types every other crate speaks in and their wire forms: JSON (serde) and the
//! binary form of events (borsh). Does no IO, reads no clock, holds no state. Depends on
//! serde, borsh, rust_decimal (reading amounts only), chrono (parsing and +08:00 calendars
//! only) and sha2 (command digests).

pub mod command;
pub mod event;
pub mod ids;
pub mod limits;
pub mod money;
pub mod rejection;
pub mod rules;
pub mod time;

pub use command::{Command, InstitutionKind, Origin, PersonStatus, Request, Scheme, SettleMode};
pub use event::{
    AuthorizationSet, Balance, BindingEnded, BindingRequested, BindingReviewed, BindingStatus, Captured,
    Charge, Credited, Draw, EndCause, Event, Explain, InstitutionRegistered, PersonRegistered,
    PersonStatusChanged, PremiumPaid, Reason, Refunded, Released, RulesPublished, Source, YearClosed,
    EVENT_VERSION,
};
pub use ids::{BindingId, IdNumber, InstitutionId, PersonId, RefundId, Region, RequestId, SettlementId};
pub use money::Money;
pub use rejection::{Code, Rejection};
pub use rules::{Bucket, Category, CrossRegion, FamilyOrder, LimitWindow, RefundOrder, Relation, RuleSet};
pub use time::Timestamp;
