//! `Rejection`: an expected business outcome, one code per spec error, mapped to HTTP once, at
//! the edge. A rejected command writes nothing.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! codes {
    ($($variant:ident = $code:literal,)*) => {
        /// Every error code of the contract (api.md §5), as a stable wire name.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $code,)*
                }
            }

            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];
        }
    };
}

codes! {
    InvalidRequest = "invalid_request",
    Unauthorized = "unauthorized",
    Forbidden = "forbidden",
    NotFound = "not_found",
    IdempotencyConflict = "idempotency_conflict",
    AlreadyExists = "already_exists",
    RegionRulesMissing = "region_rules_missing",
    PersonNotActive = "person_not_active",
    AuthorizerNotEmployee = "authorizer_not_employee",
    NoPersonalAccount = "no_personal_account",
    RelationNotAllowed = "relation_not_allowed",
    CrossRegionNotAllowed = "cross_region_not_allowed",
    SelfBinding = "self_binding",
    BindingExists = "binding_exists",
    BindingLimitReached = "binding_limit_reached",
    BeneficiaryAlreadyBound = "beneficiary_already_bound",
    AuthorizerNoBalance = "authorizer_no_balance",
    BindingNotPending = "binding_not_pending",
    BindingNotActive = "binding_not_active",
    CategoryNotAllowed = "category_not_allowed",
    InsufficientFunds = "insufficient_funds",
    SettlementNotHeld = "settlement_not_held",
    CaptureExceedsHeld = "capture_exceeds_held",
    RefundExceedsSettled = "refund_exceeds_settled",
    YearAlreadyClosed = "year_already_closed",
    StatusUnchanged = "status_unchanged",
    PremiumAlreadyPaid = "premium_already_paid",
    PremiumRelativesLimitReached = "premium_relatives_limit_reached",
    PremiumYearNotOpen = "premium_year_not_open",
    PremiumAmountMismatch = "premium_amount_mismatch",
    BeneficiaryNotResident = "beneficiary_not_resident",
    InstitutionUnknown = "institution_unknown",
    InstitutionRegionMismatch = "institution_region_mismatch",
    RuleVersionNotNewer = "rule_version_not_newer",
    PayloadTooLarge = "payload_too_large",
    MethodNotAllowed = "method_not_allowed",
    StorageFailure = "storage_failure",
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
        )
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}
