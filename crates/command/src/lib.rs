//! The business rules of Gongji: `decide` and the decision `State` it reads.
//!
//! Owns every rule of domain.md: binding checks, the settlement split and its `explain`,
//! holds, captures, refunds, premiums, rule versions. `decide(&State, &Command, now)` is pure:
//! no IO, no clock (time is the `now` argument), no async, no hash-map iteration, so replay and
//! `explain` are byte-identical run to run. `State::evolve` folds a recorded event in and cannot
//! fail. Depends only on `domain`.

mod decide;
mod records;
mod split;
mod state;

pub use decide::{binding_usage, check_shape, decide};
pub use records::{Persons, Records};
pub use split::{pro_rata_fen, split, Split};
pub use state::{
    family_available, splits_of, Account, Binding, EndReason, Institution, Map, Person, PersonNo,
    PremiumRecord, RefundRecord, Settlement, SettlementStatus, State,
};
