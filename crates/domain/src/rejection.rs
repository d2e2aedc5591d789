//! `Rejection`: an expected business outcome, one code per spec error, mapped to HTTP once, at
//! the edge. A rejected command writes nothing.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Every error code of the contract (api.md §5), as a stable wire name: the variant's name in
/// snake_case, the same for serde (`rename_all`) and for `as_str` (strum).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Code {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    IdempotencyConflict,
    AlreadyExists,
    RegionRulesMissing,
    PersonNotActive,
    AuthorizerNotEmployee,
    NoPersonalAccount,
    RelationNotAllowed,
    CrossRegionNotAllowed,
    SelfBinding,
    BindingExists,
    BindingLimitReached,
    BeneficiaryAlreadyBound,
    AuthorizerNoBalance,
    BindingNotPending,
    BindingNotActive,
    CategoryNotAllowed,
    InsufficientFunds,
    SettlementNotHeld,
    CaptureExceedsHeld,
    RefundExceedsSettled,
    YearAlreadyClosed,
    StatusUnchanged,
    PremiumAlreadyPaid,
    PremiumRelativesLimitReached,
    PremiumYearNotOpen,
    PremiumAmountMismatch,
    BeneficiaryNotResident,
    InstitutionUnknown,
    InstitutionRegionMismatch,
    RuleVersionNotNewer,
    PayloadTooLarge,
    MethodNotAllowed,
    StorageFailure,
    /// A write sent to a follower (`gongji follow`): the primary takes writes.
    NotPrimary,
}

impl Code {
    /// Every code, in the order declared.
    pub const ALL: &'static [Code] = <Code as strum::VariantArray>::VARIANTS;

    /// The code's wire name.
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A command the rules refuse: the code, a readable sentence, and the facts behind it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub code: Code,
    pub message: String,
    #[serde(default)]
    pub details: BTreeMap<String, String>,
}

impl Rejection {
    pub fn new(code: Code, message: impl Into<String>) -> Rejection {
        Rejection { code, message: message.into(), details: BTreeMap::new() }
    }

    pub fn with(mut self, key: &str, value: impl fmt::Display) -> Rejection {
        self.details.insert(key.to_owned(), value.to_string());
        self
    }

    /// A refusal of the request's shape, naming the field.
    pub fn invalid(field: &str, problem: impl fmt::Display) -> Rejection {
        Rejection::new(Code::InvalidRequest, format!("{field} {problem}")).with("field", field)
    }

    /// Whether the outcome is remembered under the request id. Shape refusals are not, so a
    /// corrected request may be sent again under the same id.
    pub fn is_remembered(&self) -> bool {
        !matches!(
            self.code,
            Code::InvalidRequest
                | Code::Unauthorized
                | Code::Forbidden
                | Code::PayloadTooLarge
                | Code::MethodNotAllowed
                | Code::StorageFailure
                | Code::NotPrimary
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
