//! The answers of the API as types: the success bodies of mutating requests, rendered from the
//! events a request wrote, and the bodies of the reads that are not a projection's view. The
//! OpenAPI document describes each answer from its type here (`utoipa::ToSchema`).
//!
//! Because a mutation's answer depends only on its events (and on facts that never change
//! afterwards), a replayed request renders the same bytes as the first answer.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::{PartialSchema, ToSchema};

use domain::{
    BindingId, Charge, Code, Event, Explain, InstitutionId, InstitutionKind, Money, PersonId, PersonStatus,
    RefundId, Region, Relation, RuleSet, Scheme, SettlementId, Timestamp,
};
use engine::Recorded;
use projection::SplitView;

/// Whom a binding joins and how: (authorizer, beneficiary, relation).
pub type Parties = (PersonId, PersonId, Relation);

/// The sequence number of the last event a request wrote.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl PartialSchema for Seq {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1))
            .description(Some("the sequence number of the last event written"))
            .into()
    }
}

impl ToSchema for Seq {}

/// Status values an answer can hold: each enum lists the ones its answer can carry.
macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident { $($variant:ident),+ })*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }
    )*};
}

statuses! {
    /// A person just registered.
    Registered { Active }
    /// A binding just requested: active when the rules auto-approve, else pending.
    Requested { Active, Pending }
    /// A binding approved, rejected or revoked.
    Reviewed { Active, Rejected, Revoked }
    /// A binding authorized (it is active).
    Authorized { Active }
    /// A settlement taken or held.
    Taken { Settled, Held }
    /// A settlement computed, nothing written.
    Previewed { Preview }
    /// A hold captured.
    CapturedStatus { Settled }
    /// A hold released.
    VoidedStatus { Voided }
    /// The process answers.
    Live { Ok }
    /// The log is open and projected.
    ReadyStatus { Ready }
    /// The writer has stopped after a storage failure.
    FailedStatus { Failed }
    /// An online rebuild: `idle` before any, then `running`, `done` or `failed`.
    RebuildState { Idle, Running, Done, Failed }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RulesPublished {
    pub region: Region,
    #[schema(minimum = 1)]
    pub version: u64,
    pub effective_from: Timestamp,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct InstitutionRegistered {
    pub institution_id: InstitutionId,
    pub region: Region,
    pub kind: InstitutionKind,
    pub name: String,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonRegistered {
    pub person_id: PersonId,
    pub region: Region,
    pub scheme: Scheme,
    pub status: Registered,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusChanged {
    pub person_id: PersonId,
    pub status: PersonStatus,
    /// Bindings ended by a termination.
    pub ended_bindings: usize,
    pub seq: Seq,
}

/// The account after a credit.
#[derive(Debug, Serialize, ToSchema)]
pub struct Credited {
    pub person_id: PersonId,
    pub current: Money,
    pub historic: Money,
    pub held: Money,
    pub available: Money,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct YearClosed {
    pub region: Region,
    pub year: i32,
    pub accounts: u64,
    pub moved: Money,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BindingRequested {
    pub binding_id: BindingId,
    pub authorizer: PersonId,
    pub beneficiary: PersonId,
    pub relation: Relation,
    pub status: Requested,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BindingReviewed {
    pub binding_id: BindingId,
    pub status: Reviewed,
    pub seq: Seq,
}

/// A binding as its authorization left it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizationSet {
    pub binding_id: BindingId,
    pub authorizer: PersonId,
    pub beneficiary: PersonId,
    pub relation: Relation,
    pub status: Authorized,
    #[schema(minimum = 1, maximum = 1000)]
    pub priority: Option<u32>,
    pub monthly_limit: Option<Money>,
    pub annual_limit: Option<Money>,
    /// Drawn in the current month window, net of refunds.
    pub used_month: Money,
    /// Drawn in the current year window, net of refunds.
    pub used_year: Money,
    pub seq: Seq,
}

/// A settlement taken or held.
#[derive(Debug, Serialize, ToSchema)]
pub struct Settled {
    pub settlement_id: SettlementId,
    pub status: Taken,
    pub amount: Money,
    pub splits: Vec<SplitView>,
    pub out_of_pocket: Money,
    #[schema(minimum = 1)]
    pub rule_version: u64,
    pub explain: Vec<Explain>,
    /// Present for a hold: when it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Timestamp)]
    pub expires_at: Option<Timestamp>,
    pub seq: Seq,
}

/// A settlement computed under the rules in force, nothing written.
#[derive(Debug, Serialize, ToSchema)]
pub struct Preview {
    pub settlement_id: SettlementId,
    pub status: Previewed,
    pub amount: Money,
    pub splits: Vec<SplitView>,
    pub out_of_pocket: Money,
    #[schema(minimum = 1)]
    pub rule_version: u64,
    pub explain: Vec<Explain>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Captured {
    pub settlement_id: SettlementId,
    pub status: CapturedStatus,
    pub captured: Money,
    pub splits: Vec<SplitView>,
    pub out_of_pocket: Money,
    /// Account money given back.
    pub released: Money,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Voided {
    pub settlement_id: SettlementId,
    pub status: VoidedStatus,
    pub released: Money,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Refunded {
    pub refund_id: RefundId,
    pub settlement_id: SettlementId,
    pub amount: Money,
    pub splits: Vec<SplitView>,
    pub out_of_pocket: Money,
    pub seq: Seq,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PremiumPaid {
    pub payer: PersonId,
    pub beneficiary: PersonId,
    pub year: i32,
    pub amount: Money,
    pub splits: Vec<SplitView>,
    pub seq: Seq,
}

/// The answer of a committed request: one of the answers above, by the event it began with.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Committed {
    RulesPublished(RulesPublished),
    InstitutionRegistered(InstitutionRegistered),
    PersonRegistered(PersonRegistered),
    StatusChanged(StatusChanged),
    Credited(Credited),
    YearClosed(YearClosed),
    BindingRequested(BindingRequested),
    BindingReviewed(BindingReviewed),
    AuthorizationSet(AuthorizationSet),
    Settled(Settled),
    Captured(Captured),
    Voided(Voided),
    Refunded(Refunded),
    PremiumPaid(PremiumPaid),
}

/// The body of a committed request's answer. `parties` names whom a binding joins (it never
/// changes once requested).
pub fn committed(events: &[Recorded], parties: impl FnOnce(&BindingId) -> Option<Parties>) -> Committed {
    let first = events.first().expect("a committed request wrote at least one event");
    let seq = Seq(events.last().map_or(0, |e| e.seq));
    match &first.event {
        Event::RulesPublished(e) => Committed::RulesPublished(RulesPublished {
            region: e.region,
            version: e.rules.version,
            effective_from: e.rules.effective_from,
            seq,
        }),
        Event::InstitutionRegistered(e) => Committed::InstitutionRegistered(InstitutionRegistered {
            institution_id: e.institution_id.clone(),
            region: e.region,
            kind: e.kind,
            name: e.name.clone(),
            seq,
        }),
        Event::PersonRegistered(e) => Committed::PersonRegistered(PersonRegistered {
            person_id: e.person_id.clone(),
            region: e.region,
            scheme: e.scheme,
            status: Registered::Active,
            seq,
        }),
        Event::PersonStatusChanged(e) => Committed::StatusChanged(StatusChanged {
            person_id: e.person_id.clone(),
            status: e.status,
            ended_bindings: events.len() - 1,
            seq,
        }),
        Event::Credited(e) => Committed::Credited(Credited {
            person_id: e.person_id.clone(),
            current: e.balance.current,
            historic: e.balance.historic,
            held: e.balance.held,
            available: e.balance.available(),
            seq,
        }),
        Event::YearClosed(e) => Committed::YearClosed(YearClosed {
            region: e.region,
            year: e.year,
            accounts: e.accounts,
            moved: e.moved,
            seq,
        }),
        event => binding_or_money(event, parties, seq),
    }
}

/// The answer of a request about a binding, a settlement or a premium.
fn binding_or_money(
    event: &Event,
    parties: impl FnOnce(&BindingId) -> Option<Parties>,
    seq: Seq,
) -> Committed {
    let released = |draws: &[domain::Draw]| Money::sum(draws.iter().map(|d| d.amount));
    let reviewed = |binding_id: &BindingId, status| {
        Committed::BindingReviewed(BindingReviewed { binding_id: binding_id.clone(), status, seq })
    };
    match event {
        Event::BindingRequested(e) => Committed::BindingRequested(BindingRequested {
            binding_id: e.binding_id.clone(),
            authorizer: e.authorizer.clone(),
            beneficiary: e.beneficiary.clone(),
            relation: e.relation,
            // A binding is requested pending, or active when the rules auto-approve.
            status: if e.status == domain::BindingStatus::Active {
                Requested::Active
            } else {
                Requested::Pending
            },
            seq,
        }),
        Event::BindingApproved(e) => reviewed(&e.binding_id, Reviewed::Active),
        Event::BindingRejected(e) => reviewed(&e.binding_id, Reviewed::Rejected),
        Event::BindingRevoked(e) => reviewed(&e.binding_id, Reviewed::Revoked),
        Event::AuthorizationSet(e) => {
            // Who the binding joins never changes; at the time of authorization it was active.
            let (authorizer, beneficiary, relation) =
                parties(&e.binding_id).expect("an authorized binding exists");
            Committed::AuthorizationSet(AuthorizationSet {
                binding_id: e.binding_id.clone(),
                authorizer,
                beneficiary,
                relation,
                status: Authorized::Active,
                priority: e.priority,
                monthly_limit: e.monthly_limit,
                annual_limit: e.annual_limit,
                used_month: e.used_month,
                used_year: e.used_year,
                seq,
            })
        }
        Event::Settled(charge) => Committed::Settled(settled(charge, Taken::Settled, seq)),
        Event::Held(charge) => Committed::Settled(settled(charge, Taken::Held, seq)),
        Event::Captured(e) => Committed::Captured(Captured {
            settlement_id: e.settlement_id.clone(),
            status: CapturedStatus::Settled,
            captured: e.amount,
            splits: SplitView::of(&e.draws),
            out_of_pocket: e.out_of_pocket,
            released: released(&e.released),
            seq,
        }),
        Event::Voided(e) => Committed::Voided(Voided {
            settlement_id: e.settlement_id.clone(),
            status: VoidedStatus::Voided,
            released: released(&e.released),
            seq,
        }),
        Event::Refunded(e) => Committed::Refunded(Refunded {
            refund_id: e.refund_id.clone(),
            settlement_id: e.settlement_id.clone(),
            amount: e.amount,
            splits: SplitView::of(&e.returns),
            out_of_pocket: e.out_of_pocket,
            seq,
        }),
        Event::PremiumPaid(e) => Committed::PremiumPaid(PremiumPaid {
            payer: e.payer.clone(),
            beneficiary: e.beneficiary.clone(),
            year: e.year,
            amount: e.amount,
            splits: SplitView::of(&e.draws),
            seq,
        }),
        _ => unreachable!("no request begins with {}", event.kind()),
    }
}

/// A settlement's answer when it was taken or held.
fn settled(charge: &Charge, status: Taken, seq: Seq) -> Settled {
    Settled {
        settlement_id: charge.settlement_id.clone(),
        status,
        amount: charge.amount,
        splits: SplitView::of(&charge.draws),
        out_of_pocket: charge.out_of_pocket,
        rule_version: charge.rule_version,
        explain: charge.explain.clone(),
        expires_at: charge.expires_at,
        seq,
    }
}

/// A settlement's answer when it was only computed.
pub fn preview(charge: &Charge) -> Preview {
    Preview {
        settlement_id: charge.settlement_id.clone(),
        status: Previewed::Preview,
        amount: charge.amount,
        splits: SplitView::of(&charge.draws),
        out_of_pocket: charge.out_of_pocket,
        rule_version: charge.rule_version,
        explain: charge.explain.clone(),
    }
}

// ---- errors ------------------------------------------------------------------------------------

/// The body of every error (api.md §2).
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: Code,
    pub message: String,
    /// The facts behind the error, e.g. {"field": "amount"}.
    pub details: BTreeMap<String, String>,
}

// ---- reads ---------------------------------------------------------------------------------------

/// A person (the ID number masked).
#[derive(Debug, Serialize, ToSchema)]
pub struct Person {
    pub person_id: PersonId,
    pub region: Region,
    pub scheme: Scheme,
    pub status: PersonStatus,
    pub name: Option<String>,
    /// Masked: the first 6 and last 4 characters.
    pub id_number: Option<String>,
}

/// The rule set in force, complete with defaults, and its region.
#[derive(Debug, Serialize)]
pub struct RulesInForce {
    pub region: Region,
    #[serde(flatten)]
    pub rules: RuleSet,
}

/// Its schema: the rule set's, with `region` added, every field present.
impl PartialSchema for RulesInForce {
    fn schema() -> RefOr<Schema> {
        let mut object = crate::wire::rule_set_with("region", Region::schema());
        object.required = object.properties.keys().cloned().collect();
        object.additional_properties = None;
        object.description = Some("The rule set in force, complete with defaults.".into());
        object.into()
    }
}

impl ToSchema for RulesInForce {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((RuleSet::name().into(), RuleSet::schema()));
        RuleSet::schemas(schemas);
    }
}

/// The hash chain recomputed.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    pub ok: bool,
    /// The first 16 hex digits of event 1's hash; null for an empty ledger.
    #[schema(pattern = "^[0-9a-f]{16}$")]
    pub ledger_id: Option<String>,
    pub head_seq: u64,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub head_hash: String,
    /// Present when the chain is broken: where and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Broken)]
    pub broken: Option<Broken>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Broken {
    pub seq: u64,
    pub reason: String,
}

/// `/healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: Live,
}

/// `/readyz` when ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    pub status: ReadyStatus,
    pub head_seq: u64,
}

/// `/readyz` once the writer has stopped.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotReady {
    pub status: FailedStatus,
    pub head_seq: u64,
}

/// The schema of an event's kind: one of `Event::KINDS`.
pub(crate) fn event_kind() -> utoipa::openapi::Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(Event::KINDS.iter().copied())).build()
}

/// Who the caller is: the token's role and, for an institution, its id.
#[derive(Debug, Serialize, ToSchema)]
pub struct Session {
    pub role: crate::auth::Role,
    /// The institution an institution's token acts for.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub institution: Option<InstitutionId>,
}

/// An account's balance after each event that changed it, ascending by seq.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountHistory {
    pub person_id: PersonId,
    /// The head of the log the history was read at.
    pub head_seq: u64,
    /// Whether older entries were left out: a read answers the latest 1000.
    pub truncated: bool,
    #[schema(max_items = 1000)]
    pub entries: Vec<HistoryEntry>,
}

/// The account's balance after the event `seq`, and what that event was.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryEntry {
    #[schema(minimum = 1)]
    pub seq: u64,
    pub recorded_at: Timestamp,
    #[schema(schema_with = event_kind)]
    pub kind: &'static str,
    pub current: Money,
    pub historic: Money,
    pub held: Money,
    pub available: Money,
}

/// Every region's rule versions, regions in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Regions {
    pub regions: Vec<RegionRules>,
}

/// A region's rule versions as published, complete with defaults, in version order.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegionRules {
    pub region: Region,
    pub versions: Vec<RuleSet>,
}

/// A page of settlements, in the order created.
#[derive(Debug, Serialize, ToSchema)]
pub struct Settlements {
    #[schema(max_items = 1000)]
    pub settlements: Vec<projection::SettlementView>,
    /// The seq of the last settlement the page looked at: the `after_seq` of the next page.
    pub next_after_seq: u64,
    /// Whether settlements were created after it.
    pub more: bool,
    /// The head of the log when the page was read.
    pub head_seq: u64,
}
