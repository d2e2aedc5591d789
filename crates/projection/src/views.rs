//! The views served to callers, rendered from the projections. Each is a plain serializable
//! struct whose JSON is the wire form of api.md §4.

use serde::Serialize;

use command::{splits_of, Binding};
use domain::{
    BindingId, BindingStatus, Category, Draw, Explain, InstitutionId, Money, PersonId, RefundId, Relation,
    SettlementId, Source, Timestamp,
};

use crate::Projections;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub person_id: PersonId,
    pub current: Money,
    pub historic: Money,
    pub held: Money,
    /// current + historic − held.
    pub available: Money,
    pub as_of_seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BindingView {
    pub binding_id: BindingId,
    pub authorizer: PersonId,
    pub beneficiary: PersonId,
    pub relation: Relation,
    pub status: BindingStatus,
    /// Lower is drawn first; null: the default order.
    #[schema(minimum = 1, maximum = 1000)]
    pub priority: Option<u32>,
    /// null: no limit.
    pub monthly_limit: Option<Money>,
    /// null: no limit.
    pub annual_limit: Option<Money>,
    /// Drawn in the current month window, net of refunds.
    pub used_month: Money,
    /// Drawn in the current year window, net of refunds.
    pub used_year: Money,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BindingsView {
    pub as_authorizer: Vec<BindingView>,
    pub as_beneficiary: Vec<BindingView>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SplitView {
    pub account: PersonId,
    pub source: Source,
    pub amount: Money,
}

impl SplitView {
    /// Draws grouped by account and source, in the order first drawn.
    pub fn of(draws: &[Draw]) -> Vec<SplitView> {
        splits_of(draws)
            .into_iter()
            .map(|(account, source, amount)| SplitView { account, source, amount })
            .collect()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RefundView {
    pub refund_id: RefundId,
    pub amount: Money,
    pub reason: String,
    pub splits: Vec<SplitView>,
    pub out_of_pocket: Money,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SettlementView {
    pub settlement_id: SettlementId,
    pub institution: InstitutionId,
    pub beneficiary: PersonId,
    pub category: Category,
    pub amount: Money,
    /// Present once a hold was captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Money)]
    pub captured: Option<Money>,
    #[schema(schema_with = settlement_status)]
    pub status: &'static str,
    pub splits: Vec<SplitView>,
    pub out_of_pocket: Money,
    #[schema(minimum = 1)]
    pub rule_version: u64,
    pub explain: Vec<Explain>,
    pub occurred_at: Timestamp,
    /// Present for a hold.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Timestamp)]
    pub expires_at: Option<Timestamp>,
    pub refunds: Vec<RefundView>,
    pub refunded_total: Money,
}

/// The schema of a settlement's status: the wire names of `command::SettlementStatus`.
fn settlement_status() -> utoipa::openapi::Object {
    let statuses = <command::SettlementStatus as strum::VariantArray>::VARIANTS;
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(statuses.iter().map(|status| status.as_str())))
        .build()
}

/// One line of a replay: a balance or a binding as of a point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReplayLine {
    Balance(AccountView),
    Binding(BindingView),
}

impl Projections {
    /// An employee's account after event `as_of_seq` (default: now); `None` for a resident or
    /// a person not registered by then.
    pub fn account_view(&self, person: &PersonId, as_of_seq: Option<u64>) -> Option<AccountView> {
        let seq = as_of_seq.unwrap_or(self.head_seq()).min(self.head_seq());
        let balance = self.balance_as_of(person, seq)?;
        Some(AccountView {
            person_id: person.clone(),
            current: balance.current,
            historic: balance.historic,
            held: balance.held,
            available: balance.available(),
            as_of_seq: seq,
        })
    }

    /// One binding with its usage in the windows containing `now`.
    pub fn binding_view(&self, binding: &Binding, now: Timestamp) -> BindingView {
        let state = self.state();
        let (used_month, used_year) = command::binding_usage(state, binding, now);
        BindingView {
            binding_id: binding.binding_id(),
            authorizer: state.person_id(binding.authorizer).clone(),
            beneficiary: state.person_id(binding.beneficiary).clone(),
            relation: binding.relation,
            status: binding.status,
            priority: binding.priority,
            monthly_limit: binding.monthly_limit,
            annual_limit: binding.annual_limit,
            used_month,
            used_year,
        }
    }

    /// A person's bindings that pass `keep`, in the order requested; `None` for an unknown
    /// person.
    pub(crate) fn bindings_view_where(
        &self,
        person: &PersonId,
        now: Timestamp,
        keep: impl Fn(&Binding) -> bool,
    ) -> Option<BindingsView> {
        let state = self.state();
        state.persons.get(person)?;
        let view = |bindings: &mut dyn Iterator<Item = &Binding>| {
            bindings.filter(|b| keep(b)).map(|b| self.binding_view(b, now)).collect()
        };
        Some(BindingsView {
            as_authorizer: view(&mut state.bindings_of_authorizer(person)),
            as_beneficiary: view(&mut state.bindings_of_beneficiary(person)),
        })
    }

    pub fn settlement_view(&self, settlement_id: &SettlementId) -> Option<SettlementView> {
        let s = self.state().settlements.get(settlement_id)?;
        Some(SettlementView {
            settlement_id: s.settlement_id.clone(),
            institution: s.institution.clone(),
            beneficiary: s.beneficiary.clone(),
            category: s.category,
            amount: s.amount,
            captured: s.captured,
            status: s.status.as_str(),
            splits: SplitView::of(&s.draws),
            out_of_pocket: s.out_of_pocket,
            rule_version: s.rule_version,
            explain: s.explain.clone(),
            occurred_at: s.occurred_at,
            expires_at: s.expires_at,
            refunds: s
                .refunds
                .iter()
                .map(|r| RefundView {
                    refund_id: r.refund_id.clone(),
                    amount: r.amount,
                    reason: r.reason.clone(),
                    splits: SplitView::of(&r.returns),
                    out_of_pocket: r.out_of_pocket,
                    seq: r.seq,
                })
                .collect(),
            refunded_total: s.refunded_total(),
        })
    }

    /// Every balance and binding now, as sorted JSON lines; binding usage is counted in the
    /// windows containing `now`.
    pub fn replay_lines(&self, now: Timestamp) -> Vec<String> {
        let state = self.state();
        let balances = state
            .persons
            .iter()
            .filter_map(|(person, _)| self.account_view(person, None))
            .map(ReplayLine::Balance);
        let bindings = state.bindings.iter().map(|b| ReplayLine::Binding(self.binding_view(b, now)));
        let mut lines: Vec<String> = balances
            .chain(bindings)
            .map(|line| serde_json::to_string(&line).expect("views serialize"))
            .collect();
        lines.sort();
        lines
    }
}
