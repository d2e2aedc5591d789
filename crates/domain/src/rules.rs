//! Rule sets: every parameter a region chooses, versioned, with the defaults of domain.md §6.
//!
//! A `RuleSet` parsed from a request is already resolved: every field left out holds its
//! default, so the stored `rules_published` event records exactly what decides commands.

use std::collections::BTreeMap;

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::limits;
use crate::money::Money;
use crate::time::Timestamp;

/// What the beneficiary is to the authorizer.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum Relation {
    Spouse,
    Parent,
    Child,
    Grandparent,
    Grandchild,
    Sibling,
}

impl Relation {
    pub fn parse(text: &str) -> Option<Relation> {
        serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
    }
}

/// The kind of care a settlement pays for.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum Category {
    Outpatient,
    ChronicOutpatient,
    Pharmacy,
    MedicalDevice,
    MedicalConsumable,
    Inpatient,
}

impl Category {
    pub const ALL: [Category; 6] = [
        Category::Outpatient,
        Category::ChronicOutpatient,
        Category::Pharmacy,
        Category::MedicalDevice,
        Category::MedicalConsumable,
        Category::Inpatient,
    ];
}

/// The two buckets of a personal account.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum Bucket {
    /// 当年账户: this year's allocations.
    Current,
    /// 历年账户: carried-over balance.
    Historic,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum CrossRegion {
    None,
    Province,
    Nation,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum FamilyOrder {
    Priority,
    BalanceDesc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum LimitWindow {
    Calendar,
    Rolling,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum RefundOrder {
    Reverse,
    ProRata,
}

/// One version of a region's rule set, complete with defaults.
#[derive(
    Clone, Debug, PartialEq, Eq, Serialize, Deserialize, BorshSerialize, BorshDeserialize, utoipa::ToSchema,
)]
#[serde(deny_unknown_fields)]
// The bounds in `#[schema]` are those of `validate` (`limits`), as literals: the test
// `schema_bounds_are_the_limits` holds them equal.
pub struct RuleSet {
    #[schema(minimum = 1, maximum = 281474976710655u64)]
    pub version: u64,
    /// A time already past means from now.
    pub effective_from: Timestamp,
    #[serde(default = "defaults::relations")]
    pub relations: Vec<Relation>,
    #[serde(default = "defaults::yes")]
    pub auto_approve: bool,
    #[serde(default = "defaults::cross_region")]
    pub cross_region: CrossRegion,
    #[serde(default)]
    pub bind_requires_balance: bool,
    #[serde(default)]
    /// null: no limit.
    #[schema(minimum = 1)]
    pub beneficiaries_per_authorizer_max: Option<u32>,
    #[serde(default)]
    /// null: no limit.
    #[schema(minimum = 1)]
    pub authorizers_per_beneficiary_max: Option<u32>,
    #[serde(default = "defaults::own_categories")]
    pub own_categories: Vec<Category>,
    #[serde(default = "defaults::family_categories")]
    pub family_categories: Vec<Category>,
    #[serde(default = "defaults::family_buckets")]
    #[schema(min_items = 1, max_items = 2)]
    pub family_buckets: Vec<Bucket>,
    #[serde(default)]
    /// null: no limit.
    #[schema(minimum = 1)]
    pub family_accounts_per_settlement: Option<u32>,
    #[serde(default = "defaults::family_order")]
    pub family_order: FamilyOrder,
    #[serde(default = "defaults::limit_window")]
    pub limit_window: LimitWindow,
    #[serde(default = "defaults::hold_timeout_minutes")]
    #[schema(minimum = 1, maximum = 10080)]
    pub hold_timeout_minutes: u32,
    #[serde(default = "defaults::refund_order")]
    pub refund_order: RefundOrder,
    #[serde(default = "defaults::premium_relatives_per_year_max")]
    pub premium_relatives_per_year_max: u32,
    #[serde(default = "defaults::resident_premium")]
    /// The resident premium per year: keys are years 1990-2200.
    #[schema(value_type = BTreeMap<String, Money>)]
    pub resident_premium: BTreeMap<i32, Money>,
}

mod defaults {
    use super::*;

    pub fn relations() -> Vec<Relation> {
        vec![Relation::Spouse, Relation::Parent, Relation::Child]
    }
    pub fn yes() -> bool {
        true
    }
    pub fn cross_region() -> CrossRegion {
        CrossRegion::None
    }
    pub fn own_categories() -> Vec<Category> {
        Category::ALL.to_vec()
    }
    pub fn family_categories() -> Vec<Category> {
        Category::ALL[..5].to_vec()
    }
    pub fn family_buckets() -> Vec<Bucket> {
        vec![Bucket::Historic, Bucket::Current]
    }
    pub fn family_order() -> FamilyOrder {
        FamilyOrder::Priority
    }
    pub fn limit_window() -> LimitWindow {
        LimitWindow::Calendar
    }
    pub fn hold_timeout_minutes() -> u32 {
        30
    }
    pub fn refund_order() -> RefundOrder {
        RefundOrder::Reverse
    }
    pub fn premium_relatives_per_year_max() -> u32 {
        12
    }
    pub fn resident_premium() -> BTreeMap<i32, Money> {
        BTreeMap::from([(2026, Money::from_fen(40_000)), (2027, Money::from_fen(42_000))])
    }
}

impl RuleSet {
    /// The rule set of domain.md §6 for `version`, in force from `effective_from`.
    pub fn with_defaults(version: u64, effective_from: Timestamp) -> RuleSet {
        let value = serde_json::json!({"version": version, "effective_from": effective_from});
        serde_json::from_value(value).expect("defaults deserialize")
    }

    /// Checks the values serde cannot: names the first offending field.
    pub fn validate(&self) -> Result<(), (&'static str, &'static str)> {
        fn unique<T: Ord>(items: &[T]) -> bool {
            let set: std::collections::BTreeSet<&T> = items.iter().collect();
            set.len() == items.len()
        }
        if self.version == 0 || self.version >= limits::RULE_VERSION_MAX {
            return Err(("version", "must be a positive integer"));
        }
        if !unique(&self.relations) {
            return Err(("relations", "must not repeat a relation"));
        }
        if !unique(&self.own_categories) {
            return Err(("own_categories", "must not repeat a category"));
        }
        if !unique(&self.family_categories) {
            return Err(("family_categories", "must not repeat a category"));
        }
        if self.family_buckets.is_empty() || !unique(&self.family_buckets) {
            return Err(("family_buckets", "must list one or both buckets, once each"));
        }
        if self.beneficiaries_per_authorizer_max == Some(0) {
            return Err(("beneficiaries_per_authorizer_max", "must be at least 1 or null"));
        }
        if self.authorizers_per_beneficiary_max == Some(0) {
            return Err(("authorizers_per_beneficiary_max", "must be at least 1 or null"));
        }
        if self.family_accounts_per_settlement == Some(0) {
            return Err(("family_accounts_per_settlement", "must be at least 1 or null"));
        }
        if self.hold_timeout_minutes == 0 || self.hold_timeout_minutes > limits::HOLD_TIMEOUT_MINUTES_MAX {
            return Err(("hold_timeout_minutes", "must be between 1 and 10080"));
        }
        if self.resident_premium.keys().any(|year| !(limits::YEAR_MIN..=limits::YEAR_MAX).contains(year)) {
            return Err(("resident_premium", "years must lie between 1990 and 2200"));
        }
        Ok(())
    }

    /// Whether the category is listed at all (for own or family payment).
    pub fn lists_category(&self, category: Category) -> bool {
        self.own_categories.contains(&category) || self.family_categories.contains(&category)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the bounds the rule set's schema states are those `validate` enforces.
    #[test]
    fn schema_bounds_are_the_limits() {
        let schema = serde_json::to_value(<RuleSet as utoipa::PartialSchema>::schema()).unwrap();
        let property = |name: &str| schema["properties"][name].clone();
        assert_eq!(property("version")["maximum"], serde_json::json!(limits::RULE_VERSION_MAX - 1));
        assert_eq!(
            property("hold_timeout_minutes")["maximum"],
            serde_json::json!(limits::HOLD_TIMEOUT_MINUTES_MAX)
        );
        let required: Vec<&str> =
            schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        assert_eq!(required, ["version", "effective_from"], "every other field has a default");
    }

    // Proves a minimal rule set resolves every default of domain.md §6 and round-trips.
    #[test]
    fn defaults_resolve() {
        let rules: RuleSet =
            serde_json::from_str(r#"{"version": 2, "effective_from": "2026-01-01T00:00:00+08:00"}"#).unwrap();
        assert_eq!(rules.relations, vec![Relation::Spouse, Relation::Parent, Relation::Child]);
        assert!(rules.auto_approve);
        assert_eq!(rules.family_buckets, vec![Bucket::Historic, Bucket::Current]);
        assert!(!rules.family_categories.contains(&Category::Inpatient));
        assert_eq!(rules.resident_premium[&2027].to_string(), "420.00");
        let text = serde_json::to_string(&rules).unwrap();
        let back: RuleSet = serde_json::from_str(&text).unwrap();
        assert_eq!(back, rules);
        assert!(rules.validate().is_ok());
    }

    // Proves unknown fields and wrong values are refused.
    #[test]
    fn refuses_unknown_and_wrong() {
        let unknown = r#"{"version": 1, "effective_from": "2026-01-01T00:00:00Z", "colour": 1}"#;
        assert!(serde_json::from_str::<RuleSet>(unknown).is_err());
        let in_law =
            r#"{"version": 1, "effective_from": "2026-01-01T00:00:00Z", "relations": ["parent_in_law"]}"#;
        assert!(serde_json::from_str::<RuleSet>(in_law).is_err());
        let zero: RuleSet = serde_json::from_str(
            r#"{"version": 1, "effective_from": "2026-01-01T00:00:00Z", "family_accounts_per_settlement": 0}"#,
        )
        .unwrap();
        assert_eq!(zero.validate().unwrap_err().0, "family_accounts_per_settlement");
    }
}
