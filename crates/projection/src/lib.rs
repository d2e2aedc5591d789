//! Read models of Gongji, built only by applying recorded events.
//!
//! Owns `Projections`: the decision `State` (balances, bindings with limit usage, settlements
//! with holds, captures and refunds) plus the indexes that make time travel cheap — a
//! per-account history of balances by seq and the seq ↔ `recorded_at` index — and the views
//! served to callers. `apply` cannot fail; applying the log from the start gives exactly the
//! views built incrementally. Does no IO and reads no clock: the caller hands it envelopes'
//! `seq`, `recorded_at` and decoded `Event`. Depends on `domain` and `command`.

mod durable;
mod requests;
mod views;

use std::sync::Arc;

use command::{Records, State};
use domain::{Balance, Event, PersonId, RequestId, Timestamp};

pub use durable::{Durable, InFlight, SettlementsPage};
pub use requests::{fingerprint, Requests};
pub use views::{AccountView, BindingView, BindingsView, RefundView, ReplayLine, SettlementView, SplitView};

/// The rule parameters each view depends on. None caches an aggregate of them: binding usage
/// is summed from each binding's charges under the `limit_window` of the rule set in force
/// when it is read (or a command decided), and settlements show what was decided, as
/// recorded. So a new rule version never leaves a view stale: the next read already uses it.
/// Every version that changes a declared parameter is still recorded as a `RuleChange` of
/// the views it touches, so an operator sees which rule change moved which figures.
pub const RULE_DEPENDENCIES: &[(&str, &[&str])] =
    &[("balances", &[]), ("bindings", &["limit_window"]), ("settlements", &[])];

/// A rule-set version that changed parameters a view depends on.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct RuleChange {
    /// The seq of the `rules_published` event.
    pub seq: u64,
    pub region: domain::Region,
    pub version: u64,
    pub effective_from: Timestamp,
    pub view: String,
    /// The declared parameters whose value the version changed.
    pub parameters: Vec<String>,
}

/// The parameters of `RULE_DEPENDENCIES` whose value differs between two rule sets.
fn changed_parameters(before: &domain::RuleSet, after: &domain::RuleSet) -> Vec<(&'static str, Vec<String>)> {
    let (before, after) = (
        serde_json::to_value(before).expect("rule sets serialize"),
        serde_json::to_value(after).expect("rule sets serialize"),
    );
    RULE_DEPENDENCIES
        .iter()
        .filter_map(|(view, parameters)| {
            let changed: Vec<String> = parameters
                .iter()
                .filter(|p| before.get(**p) != after.get(**p))
                .map(|p| (*p).to_owned())
                .collect();
            (!changed.is_empty()).then_some((*view, changed))
        })
        .collect()
}

/// An account's balances, `(seq, balance after)`, ascending by seq; shared with snapshots.
type History = Arc<Vec<(u64, Balance)>>;

/// Every read model, kept current by `apply`, and the idempotency index of committed
/// requests. A clone is cheap: persons, bindings, settlements, balance histories and the
/// index's shards are shared (`Arc`), and the state copies one only when it changes one a
/// clone still holds (a snapshot being stored).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Projections {
    state: State,
    /// Per account, `(seq, balance after)` for every event that changed it, ascending by seq:
    /// the balance as of any seq is one binary search. At the person's place in the state's
    /// persons (`None` for a resident, and past the last employee).
    history: Records<Option<History>>,
    /// `recorded_at` of every event, indexed by seq − 1 (strictly increasing).
    recorded_at: Records<Timestamp>,
    /// Every rule version that changed a parameter a view declares, in log order.
    rule_changes: Vec<RuleChange>,
    /// The idempotency index of committed requests (no `serde(default)`: a snapshot from
    /// before it has none, and is not used).
    requests: Requests,
    /// The request that wrote the last event applied: an event of another is its request's
    /// first, which the index records.
    last_request: Option<RequestId>,
}

impl Projections {
    pub fn new() -> Projections {
        Projections::default()
    }

    /// The decision state, for `decide`.
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The projections as a reader may see them when `head` is the durable head.
    pub fn at(&self, head: u64) -> Durable<'_> {
        Durable::new(self, head)
    }

    /// The projections as a reader sees them when every event applied is durable (a ledger
    /// read offline, a replay).
    pub fn durable(&self) -> Durable<'_> {
        Durable::new(self, self.head_seq())
    }

    /// The seq of the last event applied.
    pub fn head_seq(&self) -> u64 {
        self.recorded_at.len() as u64
    }

    /// The `recorded_at` of the last event applied.
    pub fn head_time(&self) -> Option<Timestamp> {
        self.recorded_at.last().copied()
    }

    /// Applies the event recorded at `seq` (which must be the next one), written by the
    /// request `request_id` (`None`: by the engine's clock).
    pub fn apply(&mut self, seq: u64, recorded_at: Timestamp, event: &Event, request_id: Option<&RequestId>) {
        assert_eq!(seq, self.head_seq() + 1, "events are applied in order, without gaps");
        assert!(
            self.head_time().is_none_or(|last| last < recorded_at),
            "recorded_at is strictly increasing along the log"
        );
        let before = touched_before(&self.state, event);
        if let Event::RulesPublished(e) = event {
            let previous = self.state.rules.get(&e.region).and_then(|versions| versions.last());
            for (view, parameters) in previous.map(|p| changed_parameters(p, &e.rules)).unwrap_or_default() {
                self.rule_changes.push(RuleChange {
                    seq,
                    region: e.region,
                    version: e.rules.version,
                    effective_from: e.rules.effective_from,
                    view: view.to_owned(),
                    parameters,
                });
            }
        }
        self.state.evolve(event, seq, recorded_at);
        self.recorded_at.push(recorded_at);
        if self.last_request.as_ref() != request_id {
            if let Some(id) = request_id {
                self.requests.insert(id.as_str(), seq);
            }
            self.last_request = request_id.cloned();
        }
        for person in before.iter().chain(touched_after(event)) {
            let Some(number) = self.state.persons.number(person) else { continue };
            let Some(account) = &self.state.persons.record(number).account else { continue };
            let place = number.index();
            let balance = account.to_balance();
            while self.history.len() <= place {
                self.history.push(None);
            }
            let history = self.history.get_mut(place).expect("pushed up to the place");
            let entries = Arc::make_mut(history.get_or_insert_with(Default::default));
            match entries.last_mut() {
                Some((last_seq, last)) if *last_seq == seq => *last = balance,
                _ => {
                    // Grown by half, from one: most accounts keep a few entries, and a
                    // doubling from four would leave most of their room empty.
                    if entries.len() == entries.capacity() {
                        entries.reserve_exact((entries.len() / 2).max(1));
                    }
                    entries.push((seq, balance))
                }
            }
        }
    }

    /// The idempotency index of committed requests.
    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    /// The index, to change it by hand: for tests of what the writer does with a candidate
    /// that is another request's.
    #[doc(hidden)]
    pub fn requests_mut(&mut self) -> &mut Requests {
        &mut self.requests
    }

    /// Every rule version that changed a parameter a view depends on, in log order.
    pub fn rule_changes(&self) -> &[RuleChange] {
        &self.rule_changes
    }

    /// The last seq recorded at or before `at` (0 when none).
    pub fn seq_at(&self, at: Timestamp) -> u64 {
        self.recorded_at.partition_point(|t| *t <= at) as u64
    }

    /// An account's balances, `(seq, balance after)` for every event that changed it up to
    /// `head`, ascending by seq; `None` for a person with no account.
    pub fn balance_history(&self, person: &PersonId, head: u64) -> Option<&[(u64, Balance)]> {
        let entries = self.history.get(self.state.persons.number(person)?.index())?.as_ref()?;
        Some(&entries[..entries.partition_point(|(s, _)| *s <= head)])
    }

    /// The `recorded_at` of event `seq`.
    pub fn recorded_at(&self, seq: u64) -> Option<Timestamp> {
        seq.checked_sub(1).and_then(|index| self.recorded_at.get(index as usize)).copied()
    }

    /// An account's balance after event `seq`, or `None` if it did not exist then.
    pub fn balance_as_of(&self, person: &PersonId, seq: u64) -> Option<Balance> {
        let entries = self.history.get(self.state.persons.number(person)?.index())?.as_ref()?;
        let index = entries.partition_point(|(s, _)| *s <= seq);
        (index > 0).then(|| entries[index - 1].1)
    }
}

/// Accounts whose balance an event changes, known before it is applied.
fn touched_before(state: &State, event: &Event) -> Vec<PersonId> {
    let settlement_accounts = |id: &domain::SettlementId| -> Vec<PersonId> {
        state
            .settlements
            .get(id)
            .map(|s| s.draws.iter().map(|d| d.account.clone()).collect())
            .unwrap_or_default()
    };
    match event {
        Event::Captured(e) => settlement_accounts(&e.settlement_id),
        Event::Voided(e) | Event::Expired(e) => settlement_accounts(&e.settlement_id),
        Event::YearClosed(e) => state
            .persons
            .iter()
            .filter(|(_, p)| p.region == e.region && p.account.is_some())
            .map(|(id, _)| id.clone())
            .collect(),
        _ => Vec::new(),
    }
}

/// Accounts whose balance an event changes, named by the event itself (without allocating:
/// this runs for every event of a replay).
fn touched_after(event: &Event) -> impl Iterator<Item = &PersonId> {
    let (person, draws): (Option<&PersonId>, &[domain::Draw]) = match event {
        Event::PersonRegistered(e) => (Some(&e.person_id), &[]),
        Event::Credited(e) => (Some(&e.person_id), &[]),
        Event::Settled(c) | Event::Held(c) => (None, &c.draws),
        Event::Captured(e) => (None, &e.draws),
        Event::Refunded(e) => (None, &e.returns),
        Event::PremiumPaid(e) => (None, &e.draws),
        _ => (None, &[]),
    };
    person.into_iter().chain(draws.iter().map(|d| &d.account))
}
