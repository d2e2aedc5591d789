//! `Durable`: the one state, read only as far as the durable head.
//!
//! The writer evolves the projections as it decides, ahead of the disk by the batches in
//! flight; nothing may leave the ledger that a crash could take back. So every reader goes
//! through `Durable`, which knows the durable head and answers exactly what the state held
//! after it:
//!
//! - what is only ever appended — an account's balance history, `recorded_at`, rule changes,
//!   persons, bindings and settlements as they are created — carries its seq and is cut at
//!   the head: a thing created after it does not exist yet;
//! - a record changed in place (a person's status, a binding and its charges, a settlement,
//!   a region's rules) carries the seq of its last change; reading one changed after the head
//!   is `InFlight(seq)`, and the caller reads again once `seq` is durable (at most one fsync
//!   away; `engine::Engine::read` does this).
//!
//! A read that meets no `InFlight` saw only records unchanged since the head: exactly the
//! state after the head, consistent across every record it read.

use domain::{Balance, BindingId, PersonId, Region, Relation, RuleSet, SettlementId, Timestamp};

use crate::{AccountView, BindingsView, Projections, RuleChange, SettlementView};

/// A page of settlements (`Durable::settlements_after`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettlementsPage {
    pub settlements: Vec<SettlementView>,
    /// The seq of the last settlement the page looked at: where the next page starts.
    pub next_after_seq: u64,
    /// Whether settlements after it were created by the head.
    pub more: bool,
}

/// A record the read needs was changed by the event at this seq, not yet durable: read again
/// once it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InFlight(pub u64);

/// The projections as of a durable head (see the module's doc).
#[derive(Clone, Copy)]
pub struct Durable<'a> {
    projections: &'a Projections,
    head: u64,
}

impl<'a> Durable<'a> {
    pub(crate) fn new(projections: &'a Projections, head: u64) -> Durable<'a> {
        Durable { projections, head: head.min(projections.head_seq()) }
    }

    /// The durable head: the last seq this read may see.
    pub fn head_seq(&self) -> u64 {
        self.head
    }

    /// The `recorded_at` of the durable head.
    pub fn head_time(&self) -> Option<Timestamp> {
        self.head.checked_sub(1).and_then(|index| self.projections.recorded_at.get(index as usize)).copied()
    }

    /// The last seq recorded at or before `at`, at most the head (0 when none).
    pub fn seq_at(&self, at: Timestamp) -> u64 {
        self.projections.seq_at(at).min(self.head)
    }

    fn unchanged_since(&self, changed_seq: u64) -> Result<(), InFlight> {
        if changed_seq > self.head {
            return Err(InFlight(changed_seq));
        }
        Ok(())
    }

    /// An employee's account after `as_of_seq` (at most the head; default the head). Balances
    /// are kept by seq, so this never waits.
    pub fn account_view(&self, person: &PersonId, as_of_seq: Option<u64>) -> Option<AccountView> {
        let seq = as_of_seq.unwrap_or(self.head).min(self.head);
        self.projections.account_view(person, Some(seq))
    }

    /// An employee's balances after every event up to the head that changed them, each with
    /// its seq and `recorded_at`, ascending (only appended, so this never waits); `None` for a
    /// person with no account by the head.
    pub fn balance_history(&self, person: &PersonId) -> Option<Vec<(u64, Timestamp, Balance)>> {
        let entries = self.projections.balance_history(person, self.head)?;
        let recorded = |seq| self.projections.recorded_at(seq).expect("every applied seq has its time");
        (!entries.is_empty()).then(|| entries.iter().map(|(seq, b)| (*seq, recorded(*seq), *b)).collect())
    }

    /// Every region's rule versions published by the head, in version order, regions in order.
    pub fn rule_versions(&self) -> Result<Vec<(Region, &'a [RuleSet])>, InFlight> {
        let state = self.projections.state();
        let mut regions = Vec::with_capacity(state.rules.len());
        for (region, versions) in &state.rules {
            self.region_rules_unchanged(region)?;
            regions.push((*region, versions.as_slice()));
        }
        Ok(regions)
    }

    /// A person registered by the head.
    pub fn person(&self, person: &PersonId) -> Result<Option<&'a command::Person>, InFlight> {
        match self.projections.state().persons.get(person) {
            Some(p) if p.registered_seq <= self.head => {
                self.unchanged_since(p.changed_seq)?;
                Ok(Some(p))
            }
            _ => Ok(None),
        }
    }

    /// A region's rule set in force at `at`.
    pub fn rules_at(&self, region: &Region, at: Timestamp) -> Result<Option<&'a RuleSet>, InFlight> {
        self.region_rules_unchanged(region)?;
        Ok(self.projections.state().rules_at(region, at))
    }

    /// A region's rule set by version.
    pub fn rules_version(&self, region: &Region, version: u64) -> Result<Option<&'a RuleSet>, InFlight> {
        self.region_rules_unchanged(region)?;
        Ok(self.projections.state().rules_version(region, version))
    }

    fn region_rules_unchanged(&self, region: &Region) -> Result<(), InFlight> {
        self.unchanged_since(self.projections.state().rules_published.get(region).copied().unwrap_or(0))
    }

    /// Every rule version up to the head that changed a parameter a view depends on.
    pub fn rule_changes(&self) -> impl Iterator<Item = &'a RuleChange> + 'a {
        let head = self.head;
        self.projections.rule_changes().iter().take_while(move |change| change.seq <= head)
    }

    /// A person's bindings requested by the head, with their usage in the windows of `now`.
    pub fn bindings_view(&self, person: &PersonId, now: Timestamp) -> Result<Option<BindingsView>, InFlight> {
        if self.person(person)?.is_none() {
            return Ok(None);
        }
        let state = self.projections.state();
        let durable = state
            .bindings_of_authorizer(person)
            .chain(state.bindings_of_beneficiary(person))
            .filter(|b| b.requested_seq <= self.head);
        for binding in durable {
            self.unchanged_since(binding.changed_seq)?;
            // Usage is counted under the rules of the beneficiary's region in force at `now`.
            self.region_rules_unchanged(&state.person_numbered(binding.beneficiary).region)?;
        }
        let head = self.head;
        Ok(self.projections.bindings_view_where(person, now, |b| b.requested_seq <= head))
    }

    /// A settlement created by the head.
    pub fn settlement_view(&self, settlement: &SettlementId) -> Result<Option<SettlementView>, InFlight> {
        match self.projections.state().settlements.get(settlement) {
            Some(s) if s.seq <= self.head => {
                self.unchanged_since(s.changed_seq)?;
                Ok(self.projections.settlement_view(settlement))
            }
            _ => Ok(None),
        }
    }

    /// A page of the settlements created by the head after `after_seq`, in the order created,
    /// only `institution`'s when given: at most `limit` of them, looking at no more than
    /// `scan`. With the seq of the last settlement looked at, and whether any was left.
    pub fn settlements_after(
        &self,
        after_seq: u64,
        institution: Option<&domain::InstitutionId>,
        limit: usize,
        scan: usize,
    ) -> Result<SettlementsPage, InFlight> {
        let settlements = &self.projections.state().settlements;
        let durable = |index: usize| index < settlements.len() && settlements[index].seq <= self.head;
        // Settlements are kept in the order created, so their seqs ascend: halve to the first
        // after `after_seq`.
        let (mut low, mut high) = (0, settlements.len());
        while low < high {
            let middle = (low + high) / 2;
            if settlements[middle].seq <= after_seq {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        let mut page = SettlementsPage { settlements: Vec::new(), next_after_seq: after_seq, more: false };
        let mut index = low;
        while durable(index) && index < low + scan && page.settlements.len() < limit {
            let settlement = &settlements[index];
            index += 1;
            page.next_after_seq = settlement.seq;
            if institution.is_some_and(|institution| *institution != settlement.institution) {
                continue;
            }
            self.unchanged_since(settlement.changed_seq)?;
            let view = self.projections.settlement_view(&settlement.settlement_id);
            page.settlements.push(view.expect("a settlement kept in the state has a view"));
        }
        page.more = durable(index);
        Ok(page)
    }

    /// The institution a settlement created by the head belongs to (it never changes).
    pub fn settlement_institution(&self, settlement: &SettlementId) -> Option<&'a domain::InstitutionId> {
        let s = self.projections.state().settlements.get(settlement)?;
        (s.seq <= self.head).then_some(&s.institution)
    }

    /// Whom a binding requested by the head joins, and how (they never change).
    pub fn binding_parties(&self, binding: &BindingId) -> Option<(&'a PersonId, &'a PersonId, Relation)> {
        let state = self.projections.state();
        let b = state.binding(binding)?;
        (b.requested_seq <= self.head)
            .then(|| (state.person_id(b.authorizer), state.person_id(b.beneficiary), b.relation))
    }
}

#[cfg(test)]
mod tests {
    use domain::{
        Event, PersonRegistered, PersonStatus, PersonStatusChanged, Region, RulesPublished, Scheme,
    };

    use super::*;

    fn at(seq: u64) -> Timestamp {
        Timestamp::from_micros(seq as i64)
    }

    fn person(id: &str) -> PersonId {
        PersonId::new(id).unwrap()
    }

    fn registered(id: &str) -> Event {
        Event::PersonRegistered(PersonRegistered {
            person_id: person(id),
            region: Region::new("210100").unwrap(),
            scheme: Scheme::Employee,
            name: None,
            id_number_masked: None,
        })
    }

    // Proves the two rules of a bounded read: what was created after the head does not exist,
    // and what was changed after it is `InFlight` with the seq to wait for.
    #[test]
    fn a_read_is_cut_at_the_head() {
        let mut projections = Projections::new();
        projections.apply(1, at(1), &registered("P1"), None);
        let suspended = PersonStatusChanged {
            person_id: person("P1"),
            status: PersonStatus::Suspended,
            reason: "review".into(),
        };
        projections.apply(2, at(2), &Event::PersonStatusChanged(suspended), None);
        projections.apply(3, at(3), &registered("P2"), None);

        let status =
            |head: u64, id: &str| projections.at(head).person(&person(id)).map(|p| p.map(|p| p.status));
        assert_eq!(status(0, "P1"), Ok(None));
        assert_eq!(status(1, "P1"), Err(InFlight(2)));
        assert_eq!(status(2, "P1"), Ok(Some(PersonStatus::Suspended)));
        assert_eq!(status(2, "P2"), Ok(None));
        assert_eq!(status(3, "P2"), Ok(Some(PersonStatus::Active)));
        assert_eq!(projections.at(1).head_time(), Some(at(1)));
        assert_eq!(projections.at(9).head_seq(), 3, "the head is never past what was applied");
        assert_eq!(projections.at(1).account_view(&person("P1"), None).map(|a| a.as_of_seq), Some(1));
        assert_eq!(projections.at(2).seq_at(at(3)), 2);
    }

    // Proves an account's balance history and the regions' rule versions are cut at the head:
    // a person registered after it has no history; a region whose rules changed after it is
    // `InFlight` until that version is durable.
    #[test]
    fn history_and_rule_versions_are_cut_at_the_head() {
        let region = Region::new("210100").unwrap();
        let rules = |version| {
            Event::RulesPublished(RulesPublished { region, rules: RuleSet::with_defaults(version, at(0)) })
        };
        let mut projections = Projections::new();
        projections.apply(1, at(1), &rules(1), None);
        projections.apply(2, at(2), &registered("P1"), None);
        projections.apply(3, at(3), &rules(2), None);

        let history = |head: u64| {
            let entries = projections.at(head).balance_history(&person("P1"));
            entries.map(|entries| entries.iter().map(|(seq, time, _)| (*seq, *time)).collect::<Vec<_>>())
        };
        assert_eq!(history(1), None);
        assert_eq!(history(3), Some(vec![(2, at(2))]));
        let versions = |head: u64| {
            let regions = projections.at(head).rule_versions();
            regions.map(|regions| {
                regions.iter().map(|(region, versions)| (*region, versions.len())).collect::<Vec<_>>()
            })
        };
        assert_eq!(versions(2), Err(InFlight(3)));
        assert_eq!(versions(3), Ok(vec![(region, 2)]));
    }

    // Proves the idempotency index records each request at its first event only: a request's
    // later events, and events of the engine's clock, add nothing.
    #[test]
    fn the_index_records_a_request_at_its_first_event() {
        let id = |text: &str| domain::RequestId::new(text).unwrap();
        let mut projections = Projections::new();
        projections.apply(1, at(1), &registered("P1"), Some(&id("a")));
        projections.apply(2, at(2), &registered("P2"), Some(&id("a")));
        projections.apply(3, at(3), &registered("P3"), None);
        projections.apply(4, at(4), &registered("P4"), Some(&id("b")));
        let requests = projections.requests();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests.candidates("a"), vec![1]);
        assert_eq!(requests.candidates("b"), vec![4]);
    }
}
