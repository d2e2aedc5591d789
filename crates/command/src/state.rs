//! `State`: everything `decide` needs to know, and `evolve`, which folds one event into it:
//! a dispatch table over one `apply_*` function per event.
//!
//! `evolve` cannot fail: events are facts already decided. It asserts what must hold (money is
//! conserved, nothing goes negative) and panics if a stored event contradicts the state, which
//! can only mean a corrupt log or a bug — never a business outcome.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use domain::{
    AuthorizationSet, Balance, BindingEnded, BindingId, BindingRequested, BindingReviewed, BindingStatus,
    Bucket, Captured, Category, Charge, Credited, Draw, EndCause, Event, Explain, InstitutionId,
    InstitutionKind, InstitutionRegistered, LimitWindow, Money, PersonId, PersonRegistered, PersonStatus,
    PersonStatusChanged, PremiumPaid, RefundId, Refunded, Region, Relation, Released, RuleSet,
    RulesPublished, Scheme, SettlementId, Source, Timestamp,
};

use domain::time::MICROS_PER_DAY;

use crate::records::{Persons, Records};

/// A personal account (个人账户): two buckets and what is reserved in each.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub current: Money,
    pub historic: Money,
    pub held_current: Money,
    pub held_historic: Money,
}

impl Account {
    pub fn balance(&self, bucket: Bucket) -> Money {
        match bucket {
            Bucket::Current => self.current,
            Bucket::Historic => self.historic,
        }
    }

    pub fn held(&self, bucket: Bucket) -> Money {
        match bucket {
            Bucket::Current => self.held_current,
            Bucket::Historic => self.held_historic,
        }
    }

    /// What may still be drawn from a bucket: its balance minus what is held in it.
    pub fn available(&self, bucket: Bucket) -> Money {
        self.balance(bucket).minus(self.held(bucket))
    }

    pub fn to_balance(&self) -> Balance {
        Balance {
            current: self.current,
            historic: self.historic,
            held: self.held_current.plus(self.held_historic),
        }
    }

    fn balance_mut(&mut self, bucket: Bucket) -> &mut Money {
        match bucket {
            Bucket::Current => &mut self.current,
            Bucket::Historic => &mut self.historic,
        }
    }

    fn held_mut(&mut self, bucket: Bucket) -> &mut Money {
        match bucket {
            Bucket::Current => &mut self.held_current,
            Bucket::Historic => &mut self.held_historic,
        }
    }

    fn hold(&mut self, bucket: Bucket, amount: Money) {
        let held = self.held(bucket).plus(amount);
        assert!(held <= self.balance(bucket), "a hold never exceeds the bucket's balance");
        *self.held_mut(bucket) = held;
    }

    fn release(&mut self, bucket: Bucket, amount: Money) {
        let held = self.held_mut(bucket);
        *held = held.minus(amount);
    }

    fn debit(&mut self, bucket: Bucket, amount: Money) {
        let balance = self.balance_mut(bucket);
        *balance = balance.minus(amount);
        assert!(self.held(bucket) <= self.balance(bucket), "a debit never eats held money");
    }

    fn credit(&mut self, bucket: Bucket, amount: Money) {
        let balance = self.balance_mut(bucket);
        *balance = balance.plus(amount);
    }
}

/// A person's number: the person's place in the order registered. The state refers to
/// persons by it (ids interned to integers); `State::person_id` gives the id back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PersonNo(pub u32);

impl PersonNo {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// A person: a fixed-size record, at the person's number in `State::persons` (keyed there by
/// the person's id). What varies in size, the name and the masked id number, is kept apart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub region: Region,
    pub scheme: Scheme,
    pub status: PersonStatus,
    /// Employees only.
    pub account: Option<Account>,
    /// The seq of the event that registered the person.
    pub registered_seq: u64,
    /// The seq of the last event that changed what the person view shows (registration,
    /// status): a reader bounded by the durable head waits for it (see `projection::Durable`).
    pub changed_seq: u64,
    /// The name and masked id number, where either was given (shared with snapshots).
    details: Option<Arc<PersonDetails>>,
    /// The person's bindings as authorizer, a list threaded through the bindings.
    as_authorizer: Chain,
    /// The person's bindings as beneficiary, likewise.
    as_beneficiary: Chain,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct PersonDetails {
    name: Option<String>,
    id_number_masked: Option<String>,
}

impl Person {
    /// The person `e` registers at `seq`: active, an employee with an empty account.
    fn registered(e: &PersonRegistered, seq: u64) -> Person {
        let details = (e.name.is_some() || e.id_number_masked.is_some()).then(|| {
            Arc::new(PersonDetails { name: e.name.clone(), id_number_masked: e.id_number_masked.clone() })
        });
        Person {
            region: e.region,
            scheme: e.scheme,
            status: PersonStatus::Active,
            account: (e.scheme == Scheme::Employee).then(Account::default),
            registered_seq: seq,
            changed_seq: seq,
            details,
            as_authorizer: Chain::default(),
            as_beneficiary: Chain::default(),
        }
    }

    /// A resident with no name, registered at seq 1, for tests.
    #[cfg(test)]
    pub(crate) fn sample() -> Person {
        let registered = PersonRegistered {
            person_id: domain::PersonId::new("P1").expect("an id"),
            region: Region::new("210100").expect("a region"),
            scheme: Scheme::Resident,
            name: None,
            id_number_masked: None,
        };
        Person::registered(&registered, 1)
    }

    pub fn name(&self) -> Option<&str> {
        self.details.as_ref()?.name.as_deref()
    }

    pub fn id_number_masked(&self) -> Option<&str> {
        self.details.as_ref()?.id_number_masked.as_deref()
    }
}

/// A list of bindings threaded through them, in the order requested: the numbers of its first
/// and last binding (`Bn` is number n; 0 is none). Each binding holds the number of the next
/// one on each of its two lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Chain {
    first: u32,
    last: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Institution {
    pub institution_id: InstitutionId,
    pub region: Region,
    pub kind: InstitutionKind,
    pub name: String,
}

/// A binding between an authorizer (共济人) and a beneficiary, with its authorization: a
/// fixed-size record, at index n − 1 of `State::bindings` for `Bn`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Binding {
    /// n of `Bn`.
    pub number: u32,
    pub authorizer: PersonNo,
    pub beneficiary: PersonNo,
    pub relation: Relation,
    pub status: BindingStatus,
    pub priority: Option<u32>,
    pub monthly_limit: Option<Money>,
    pub annual_limit: Option<Money>,
    /// Position in the order bindings became active (the default drawing order).
    pub activated: Option<u64>,
    /// Position in the order bindings ended, and why, for bindings that were once active.
    pub ended: Option<(u64, EndReason)>,
    /// Family money drawn through this binding, keyed by (occurred_at, settlement number),
    /// net of releases and refunds: what counts against the limits. None until the first
    /// charge; shared with snapshots, copied only when changed while one holds it.
    charges: Option<Arc<Charges>>,
    /// The seq of the event that requested the binding.
    pub requested_seq: u64,
    /// The seq of the last event that changed the binding or its charges.
    pub changed_seq: u64,
    /// The number of the next binding of the same authorizer (0: none).
    next_of_authorizer: u32,
    /// The number of the next binding of the same beneficiary (0: none).
    next_of_beneficiary: u32,
}

type Charges = BTreeMap<(Timestamp, u64), Money>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    Revoked,
    AuthorizerTerminated,
    BeneficiaryTerminated,
}

impl Binding {
    pub fn binding_id(&self) -> BindingId {
        BindingId::from_number(u64::from(self.number))
    }

    pub fn is_live(&self) -> bool {
        matches!(self.status, BindingStatus::Pending | BindingStatus::Active)
    }

    /// Family money drawn in the monthly and annual windows that contain `at`.
    pub fn usage_at(&self, window: LimitWindow, at: Timestamp) -> (Money, Money) {
        let sum = |start: Timestamp, end_exclusive: Timestamp| {
            Money::sum(self.charges().range((start, 0)..(end_exclusive, 0)).map(|(_, m)| *m))
        };
        match window {
            LimitWindow::Calendar => {
                let (month_start, month_end) = at.cst_month_bounds();
                let (year_start, year_end) = at.cst_year_bounds();
                (sum(month_start, month_end), sum(year_start, year_end))
            }
            LimitWindow::Rolling => {
                // (at − 30 days, at] and (at − 365 days, at].
                let end = at.plus_micros(1);
                let month_start = at.plus_micros(1 - 30 * MICROS_PER_DAY);
                let year_start = at.plus_micros(1 - 365 * MICROS_PER_DAY);
                (sum(month_start, end), sum(year_start, end))
            }
        }
    }

    /// What may still be drawn under the limits by a charge at `at`: `None` is unlimited.
    ///
    /// A calendar charge lies in one month and one year. A rolling charge lies in every window
    /// `(x − 30 days, x]` with `x` from `at` to 30 days on (365 for the year), and the limit
    /// must hold in each: when charges with a later `occurred_at` exist (this one is
    /// backdated), the room is what the fullest of those windows leaves. The fullest ends at
    /// `at` or at one of those later charges, since a window only gains money at a charge.
    pub fn limit_room(&self, window: LimitWindow, at: Timestamp) -> (Option<Money>, Option<Money>) {
        let (mut used_month, mut used_year) = self.usage_at(window, at);
        if window == LimitWindow::Rolling {
            let later = self.charges().range((at.plus_micros(1), 0)..).map(|((t, _), _)| *t);
            for end in later {
                let (month, year) = self.usage_at(window, end);
                if end < at.plus_micros(30 * MICROS_PER_DAY) {
                    used_month = used_month.max(month);
                }
                if end < at.plus_micros(365 * MICROS_PER_DAY) {
                    used_year = used_year.max(year);
                }
            }
        }
        (
            self.monthly_limit.map(|limit| limit.saturating_sub(used_month)),
            self.annual_limit.map(|limit| limit.saturating_sub(used_year)),
        )
    }

    /// The family money drawn through this binding (see the field).
    pub fn charges(&self) -> &Charges {
        static NONE: Charges = BTreeMap::new();
        self.charges.as_deref().unwrap_or(&NONE)
    }

    fn add_charge(&mut self, key: (Timestamp, u64), amount: Money) {
        let charges = Arc::make_mut(self.charges.get_or_insert_with(Default::default));
        let entry = charges.entry(key).or_insert(Money::ZERO);
        *entry = entry.plus(amount);
    }

    fn remove_charge(&mut self, key: (Timestamp, u64), amount: Money) {
        let charges = Arc::make_mut(self.charges.as_mut().expect("a release or refund follows its charge"));
        let entry = charges.get_mut(&key).expect("a release or refund follows its charge");
        *entry = entry.minus(amount);
        if entry.is_zero() {
            charges.remove(&key);
        }
        if charges.is_empty() {
            self.charges = None;
        }
    }
}

/// Where a settlement stands. Its wire name (`as_str`) is the variant's in snake_case.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum SettlementStatus {
    Held,
    Settled,
    Voided,
    Expired,
}

impl SettlementStatus {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    pub refund_id: RefundId,
    pub amount: Money,
    pub reason: String,
    pub returns: Vec<Draw>,
    pub out_of_pocket: Money,
    pub seq: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    pub settlement_id: SettlementId,
    /// Internal order of settlements, used to key limit charges.
    pub number: u64,
    pub institution: InstitutionId,
    pub region: Region,
    pub beneficiary: PersonId,
    pub category: Category,
    /// The amount asked.
    pub amount: Money,
    pub occurred_at: Timestamp,
    pub rule_version: u64,
    pub status: SettlementStatus,
    /// Account money: held (status held) or taken (settled), in split order. Buckets follow
    /// the money: a year-end moves `current` draws of the region's accounts to `historic`.
    pub draws: Vec<Draw>,
    pub out_of_pocket: Money,
    /// The split as decided (for a capture, the split of the hold).
    pub explain: Vec<Explain>,
    pub captured: Option<Money>,
    pub expires_at: Option<Timestamp>,
    /// Already refunded of each draw, parallel to `draws`.
    pub refunded_draws: Vec<Money>,
    pub refunded_out_of_pocket: Money,
    pub refunds: Vec<RefundRecord>,
    pub seq: u64,
    /// The seq of the last event that changed the settlement.
    #[serde(default)]
    pub changed_seq: u64,
}

impl Settlement {
    /// What was settled: the capture of a hold, or the whole amount.
    pub fn settled_amount(&self) -> Money {
        match self.status {
            SettlementStatus::Settled => self.captured.unwrap_or(self.amount),
            _ => Money::ZERO,
        }
    }

    pub fn refunded_total(&self) -> Money {
        Money::sum(self.refunds.iter().map(|r| r.amount))
    }

    fn charge_key(&self) -> (Timestamp, u64) {
        (self.occurred_at, self.number)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PremiumRecord {
    pub payer: PersonId,
    pub amount: Money,
    pub seq: u64,
}

/// The state's maps from an id: a hash index over entries kept in the order inserted, so that
/// a lookup hashes the id once instead of comparing it with a dozen others, and iteration is
/// still the same on every run (the hasher's random seed only places the index's slots).
pub type Map<K, V> = indexmap::IndexMap<K, V, foldhash::fast::RandomState>;

/// The decision state: a fold of every event so far.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    /// Rule sets per region, ascending by version (and so by `effective_from`).
    pub rules: BTreeMap<Region, Vec<RuleSet>>,
    pub institutions: Map<InstitutionId, Institution>,
    /// Every person, in the order registered: a person's place is its `PersonNo`.
    pub persons: Persons,
    /// Every binding ever requested; `BindingId` `Bn` is at index n − 1.
    pub bindings: Records<Binding>,
    /// In the order created (never removed, so a settlement's place never changes).
    pub settlements: Map<SettlementId, Arc<Settlement>>,
    pub refund_ids: Map<RefundId, SettlementId>,
    /// One premium per beneficiary and year.
    pub premiums: BTreeMap<(PersonId, i32), PremiumRecord>,
    /// Distinct beneficiaries each payer paid for, per natural year of payment (+08:00).
    pub premium_beneficiaries: BTreeMap<(PersonId, i32), BTreeSet<PersonId>>,
    /// The latest year closed per region.
    pub closed_years: BTreeMap<Region, i32>,
    /// Holds waiting to expire, by expiry time.
    pub hold_expiry: BTreeSet<(Timestamp, SettlementId)>,
    /// The seq of the last rule set published per region.
    pub rules_published: BTreeMap<Region, u64>,
    activations: u64,
    endings: u64,
}

impl State {
    /// The rule set in force in `region` at `at`.
    pub fn rules_at(&self, region: &Region, at: Timestamp) -> Option<&RuleSet> {
        self.rules.get(region)?.iter().rev().find(|rules| rules.effective_from <= at)
    }

    /// A region's rule set by version.
    pub fn rules_version(&self, region: &Region, version: u64) -> Option<&RuleSet> {
        self.rules.get(region)?.iter().find(|rules| rules.version == version)
    }

    pub fn binding(&self, binding_id: &BindingId) -> Option<&Binding> {
        self.binding_numbered(u32::try_from(binding_id.number()?).ok()?)
    }

    /// The binding `Bn` for n = `number` (none for 0).
    fn binding_numbered(&self, number: u32) -> Option<&Binding> {
        self.bindings.get(usize::try_from(number.checked_sub(1)?).ok()?)
    }

    /// The id of a person, from the number.
    pub fn person_id(&self, person: PersonNo) -> &PersonId {
        self.persons.id(person)
    }

    /// A person by number.
    pub fn person_numbered(&self, person: PersonNo) -> &Person {
        self.persons.record(person)
    }

    /// The bindings of a list, in the order requested.
    fn chain<'a>(
        &'a self,
        chain: Chain,
        next: fn(&Binding) -> u32,
    ) -> impl Iterator<Item = &'a Binding> + 'a {
        std::iter::successors(self.binding_numbered(chain.first), move |b| self.binding_numbered(next(b)))
    }

    /// The binding an event at `seq` changes, stamped with it.
    fn binding_mut(&mut self, binding_id: &BindingId, seq: u64) -> &mut Binding {
        binding_in(&mut self.bindings, binding_id, seq)
    }

    /// A person's bindings as beneficiary, in the order requested.
    pub fn bindings_of_beneficiary<'a>(
        &'a self,
        person: &PersonId,
    ) -> impl Iterator<Item = &'a Binding> + 'a {
        let chain = self.persons.get(person).map(|p| p.as_beneficiary).unwrap_or_default();
        self.chain(chain, |b| b.next_of_beneficiary)
    }

    /// A person's bindings as authorizer, in the order requested.
    pub fn bindings_of_authorizer<'a>(&'a self, person: &PersonId) -> impl Iterator<Item = &'a Binding> + 'a {
        let chain = self.persons.get(person).map(|p| p.as_authorizer).unwrap_or_default();
        self.chain(chain, |b| b.next_of_authorizer)
    }

    pub fn account(&self, person: &PersonId) -> Option<&Account> {
        self.persons.get(person)?.account.as_ref()
    }

    fn account_mut(&mut self, person: &PersonId) -> &mut Account {
        account_in(&mut self.persons, person)
    }

    /// The sum of every account's buckets: what `verify` and the tests conserve.
    pub fn total_balance(&self) -> Money {
        Money::sum(
            self.persons.values().filter_map(|p| p.account.as_ref()).map(|a| a.current.plus(a.historic)),
        )
    }

    /// Folds one recorded event into the state. `seq` and `recorded_at` are the envelope's.
    pub fn evolve(&mut self, event: &Event, seq: u64, recorded_at: Timestamp) {
        match event {
            Event::RulesPublished(e) => self.apply_rules_published(e, seq),
            Event::InstitutionRegistered(e) => self.apply_institution_registered(e),
            Event::PersonRegistered(e) => self.apply_person_registered(e, seq),
            Event::PersonStatusChanged(e) => self.apply_person_status_changed(e, seq),
            Event::BindingEnded(e) => self.apply_binding_ended(e, seq),
            Event::Credited(e) => self.apply_credited(e),
            Event::YearClosed(e) => self.apply_year_closed(&e.region, e.year, seq),
            Event::BindingRequested(e) => self.apply_binding_requested(e, seq),
            Event::BindingApproved(e) => self.apply_binding_approved(e, seq),
            Event::BindingRejected(e) => self.apply_binding_rejected(e, seq),
            Event::BindingRevoked(e) => self.apply_binding_revoked(e, seq),
            Event::AuthorizationSet(e) => self.apply_authorization_set(e, seq),
            Event::Settled(c) => self.apply_charge(c, SettlementStatus::Settled, seq),
            Event::Held(c) => self.apply_charge(c, SettlementStatus::Held, seq),
            Event::Captured(e) => self.apply_captured(e, seq),
            Event::Voided(e) => self.apply_released(e, SettlementStatus::Voided, seq),
            Event::Expired(e) => self.apply_released(e, SettlementStatus::Expired, seq),
            Event::Refunded(e) => self.apply_refunded(e, seq),
            Event::PremiumPaid(e) => self.apply_premium_paid(e, seq, recorded_at),
        }
    }

    /// A region's next rule-set version.
    fn apply_rules_published(&mut self, e: &RulesPublished, seq: u64) {
        let versions = self.rules.entry(e.region).or_default();
        assert!(versions.last().is_none_or(|last| last.version < e.rules.version));
        versions.push(e.rules.clone());
        self.rules_published.insert(e.region, seq);
    }

    /// A new institution.
    fn apply_institution_registered(&mut self, e: &InstitutionRegistered) {
        let institution = Institution {
            institution_id: e.institution_id.clone(),
            region: e.region,
            kind: e.kind,
            name: e.name.clone(),
        };
        assert!(self.institutions.insert(e.institution_id.clone(), institution).is_none());
    }

    /// A new person; an employee with an empty account.
    fn apply_person_registered(&mut self, e: &PersonRegistered, seq: u64) {
        let person = Person::registered(e, seq);
        assert!(self.persons.insert(e.person_id.clone(), person).is_some(), "a person registers once");
    }

    /// A person's status.
    fn apply_person_status_changed(&mut self, e: &PersonStatusChanged, seq: u64) {
        let person = self.persons.get_mut(&e.person_id).expect("status of a known person");
        person.status = e.status;
        person.changed_seq = seq;
    }

    /// A binding ended by its authorizer's or beneficiary's termination.
    fn apply_binding_ended(&mut self, e: &BindingEnded, seq: u64) {
        self.endings += 1;
        let endings = self.endings;
        let binding = self.binding_mut(&e.binding_id, seq);
        let reason = match e.cause {
            EndCause::AuthorizerTerminated => EndReason::AuthorizerTerminated,
            EndCause::BeneficiaryTerminated => EndReason::BeneficiaryTerminated,
        };
        if binding.activated.is_some() {
            binding.ended = Some((endings, reason));
        }
        binding.status = BindingStatus::Ended;
    }

    /// Money into an account's bucket; the event carries the balance after, checked here.
    fn apply_credited(&mut self, e: &Credited) {
        let account = self.account_mut(&e.person_id);
        account.credit(e.bucket, e.amount);
        assert_eq!(account.to_balance(), e.balance, "a credit's statement line matches the state");
    }

    /// A new binding, pending review or active at once.
    fn apply_binding_requested(&mut self, e: &BindingRequested, seq: u64) {
        let number = u32::try_from(self.bindings.len() + 1).expect("binding numbers fit in 32 bits");
        assert_eq!(e.binding_id.number(), Some(u64::from(number)), "binding ids are issued in order");
        let known = "a binding joins registered persons";
        let authorizer = self.persons.number(&e.authorizer).expect(known);
        let beneficiary = self.persons.number(&e.beneficiary).expect(known);
        let mut binding = Binding {
            number,
            authorizer,
            beneficiary,
            relation: e.relation,
            status: BindingStatus::Pending,
            priority: None,
            monthly_limit: None,
            annual_limit: None,
            activated: None,
            ended: None,
            charges: None,
            requested_seq: seq,
            changed_seq: seq,
            next_of_authorizer: 0,
            next_of_beneficiary: 0,
        };
        if e.status == BindingStatus::Active {
            self.activations += 1;
            binding.status = BindingStatus::Active;
            binding.activated = Some(self.activations);
        }
        self.bindings.push(binding);
        self.thread(authorizer, number, |p| &mut p.as_authorizer, |b| &mut b.next_of_authorizer);
        self.thread(beneficiary, number, |p| &mut p.as_beneficiary, |b| &mut b.next_of_beneficiary);
    }

    /// Threads binding `number` onto the end of one of a person's lists: `list` picks the
    /// list, `next` the link each binding of it holds.
    fn thread(
        &mut self,
        person: PersonNo,
        number: u32,
        list: fn(&mut Person) -> &mut Chain,
        next: fn(&mut Binding) -> &mut u32,
    ) {
        let chain = list(self.persons.record_mut(person));
        match std::mem::replace(&mut chain.last, number) {
            0 => chain.first = number,
            last => *next(self.bindings.get_mut(last as usize - 1).expect("a listed binding")) = number,
        }
    }

    /// A pending binding becomes active: next in the default drawing order.
    fn apply_binding_approved(&mut self, e: &BindingReviewed, seq: u64) {
        self.activations += 1;
        let activations = self.activations;
        let binding = self.binding_mut(&e.binding_id, seq);
        binding.status = BindingStatus::Active;
        binding.activated = Some(activations);
    }

    /// A pending binding is rejected.
    fn apply_binding_rejected(&mut self, e: &BindingReviewed, seq: u64) {
        self.binding_mut(&e.binding_id, seq).status = BindingStatus::Rejected;
    }

    /// A live binding is revoked.
    fn apply_binding_revoked(&mut self, e: &BindingReviewed, seq: u64) {
        self.endings += 1;
        let endings = self.endings;
        let binding = self.binding_mut(&e.binding_id, seq);
        if binding.activated.is_some() {
            binding.ended = Some((endings, EndReason::Revoked));
        }
        binding.status = BindingStatus::Revoked;
    }

    /// A binding's priority and limits.
    fn apply_authorization_set(&mut self, e: &AuthorizationSet, seq: u64) {
        let binding = self.binding_mut(&e.binding_id, seq);
        binding.priority = e.priority;
        binding.monthly_limit = e.monthly_limit;
        binding.annual_limit = e.annual_limit;
    }

    /// A settlement, `Settled` or `Held`: its draws taken or reserved, charged to the bindings
    /// they went through.
    fn apply_charge(&mut self, c: &Charge, status: SettlementStatus, seq: u64) {
        let number = self.settlements.len() as u64 + 1;
        let key = (c.occurred_at, number);
        for draw in &c.draws {
            let account = self.account_mut(&draw.account);
            match status {
                SettlementStatus::Held => account.hold(draw.bucket, draw.amount),
                SettlementStatus::Settled => account.debit(draw.bucket, draw.amount),
                SettlementStatus::Voided | SettlementStatus::Expired => {
                    unreachable!("a charge is settled or held")
                }
            }
            if let Some(binding_id) = &draw.binding_id {
                self.binding_mut(binding_id, seq).add_charge(key, draw.amount);
            }
        }
        if let Some(expires_at) = c.expires_at {
            self.hold_expiry.insert((expires_at, c.settlement_id.clone()));
        }
        let settlement = Settlement {
            settlement_id: c.settlement_id.clone(),
            number,
            institution: c.institution.clone(),
            region: c.region,
            beneficiary: c.beneficiary.clone(),
            category: c.category,
            amount: c.amount,
            occurred_at: c.occurred_at,
            rule_version: c.rule_version,
            status,
            draws: c.draws.clone(),
            out_of_pocket: c.out_of_pocket,
            explain: c.explain.clone(),
            captured: None,
            expires_at: c.expires_at,
            refunded_draws: vec![Money::ZERO; c.draws.len()],
            refunded_out_of_pocket: Money::ZERO,
            refunds: Vec::new(),
            seq,
            changed_seq: seq,
        };
        let total = Money::sum(c.draws.iter().map(|d| d.amount)).plus(c.out_of_pocket);
        assert_eq!(total, c.amount, "a split adds up to the amount asked");
        assert!(self.settlements.insert(c.settlement_id.clone(), Arc::new(settlement)).is_none());
    }

    /// A hold captured: every held draw released, the captured draws taken.
    fn apply_captured(&mut self, e: &Captured, seq: u64) {
        // Release every held draw, then take what was captured.
        self.release_hold(&e.settlement_id, seq);
        let settlement =
            Arc::make_mut(self.settlements.get_mut(&e.settlement_id).expect("capture of a known hold"));
        let key = settlement.charge_key();
        for draw in &e.draws {
            account_in(&mut self.persons, &draw.account).debit(draw.bucket, draw.amount);
            if let Some(binding_id) = &draw.binding_id {
                binding_in(&mut self.bindings, binding_id, seq).add_charge(key, draw.amount);
            }
        }
        settlement.status = SettlementStatus::Settled;
        settlement.captured = Some(e.amount);
        settlement.refunded_draws = vec![Money::ZERO; e.draws.len()];
        settlement.draws = e.draws.clone();
        settlement.out_of_pocket = e.out_of_pocket;
    }

    /// Ends a hold: every held draw released (from its account and from the limits of the
    /// binding it went through), its expiry forgotten, the settlement stamped with `seq`. The
    /// caller sets its new status.
    fn release_hold(&mut self, settlement_id: &SettlementId, seq: u64) -> &mut Settlement {
        let settlement =
            Arc::make_mut(self.settlements.get_mut(settlement_id).expect("the end of a known hold"));
        assert_eq!(settlement.status, SettlementStatus::Held);
        let key = settlement.charge_key();
        for draw in &settlement.draws {
            account_in(&mut self.persons, &draw.account).release(draw.bucket, draw.amount);
            if let Some(binding_id) = &draw.binding_id {
                binding_in(&mut self.bindings, binding_id, seq).remove_charge(key, draw.amount);
            }
        }
        if let Some(expires_at) = settlement.expires_at {
            self.hold_expiry.remove(&(expires_at, settlement.settlement_id.clone()));
        }
        settlement.changed_seq = seq;
        settlement
    }

    /// A hold ended, `Voided` or `Expired` (timed out): every held draw released.
    fn apply_released(&mut self, e: &Released, status: SettlementStatus, seq: u64) {
        let settlement = self.release_hold(&e.settlement_id, seq);
        settlement.status = status;
    }

    /// A refund: money back to the draws that paid it, as decided.
    fn apply_refunded(&mut self, e: &Refunded, seq: u64) {
        let settlement =
            Arc::make_mut(self.settlements.get_mut(&e.settlement_id).expect("refund of a known settlement"));
        let key = settlement.charge_key();
        for returned in &e.returns {
            account_in(&mut self.persons, &returned.account).credit(returned.bucket, returned.amount);
            if let Some(binding_id) = &returned.binding_id {
                binding_in(&mut self.bindings, binding_id, seq).remove_charge(key, returned.amount);
            }
            let index = settlement
                .draws
                .iter()
                .zip(&settlement.refunded_draws)
                .position(|(d, refunded)| {
                    d.account == returned.account
                        && d.source == returned.source
                        && d.bucket == returned.bucket
                        && d.binding_id == returned.binding_id
                        && d.amount.minus(*refunded) >= returned.amount
                })
                .expect("a refund returns to a draw that paid at least that much");
            settlement.refunded_draws[index] = settlement.refunded_draws[index].plus(returned.amount);
        }
        settlement.refunded_out_of_pocket = settlement.refunded_out_of_pocket.plus(e.out_of_pocket);
        assert!(settlement.refunded_out_of_pocket <= settlement.out_of_pocket);
        settlement.refunds.push(RefundRecord {
            refund_id: e.refund_id.clone(),
            amount: e.amount,
            reason: e.reason.clone(),
            returns: e.returns.clone(),
            out_of_pocket: e.out_of_pocket,
            seq,
        });
        assert!(settlement.refunded_total() <= settlement.settled_amount(), "refunds never exceed settled");
        settlement.changed_seq = seq;
        self.refund_ids.insert(e.refund_id.clone(), e.settlement_id.clone());
    }

    /// A resident's premium paid from an account; one per beneficiary and year.
    fn apply_premium_paid(&mut self, e: &PremiumPaid, seq: u64, recorded_at: Timestamp) {
        for draw in &e.draws {
            self.account_mut(&draw.account).debit(draw.bucket, draw.amount);
        }
        let record = PremiumRecord { payer: e.payer.clone(), amount: e.amount, seq };
        assert!(self.premiums.insert((e.beneficiary.clone(), e.year), record).is_none());
        self.premium_beneficiaries
            .entry((e.payer.clone(), recorded_at.cst_year()))
            .or_default()
            .insert(e.beneficiary.clone());
    }

    /// Year-end: every current balance of the region, held part included, becomes historic;
    /// holds and settled draws from those current buckets follow the money, so refunds of
    /// money from a closed year go back to historic.
    fn apply_year_closed(&mut self, region: &Region, year: i32, seq: u64) {
        self.closed_years.insert(*region, year);
        for person in self.persons.values_mut().filter(|p| &p.region == region) {
            if let Some(account) = person.account.as_mut() {
                account.historic = account.historic.plus(account.current);
                account.current = Money::ZERO;
                account.held_historic = account.held_historic.plus(account.held_current);
                account.held_current = Money::ZERO;
            }
        }
        let persons = &self.persons;
        let moves = |draw: &Draw| {
            draw.bucket == Bucket::Current && persons.get(&draw.account).is_some_and(|p| &p.region == region)
        };
        for settlement in self.settlements.values_mut().filter(|s| s.draws.iter().any(moves)) {
            let settlement = Arc::make_mut(settlement);
            for draw in settlement.draws.iter_mut().filter(|d| moves(d)) {
                draw.bucket = Bucket::Historic;
            }
            settlement.changed_seq = seq;
        }
    }
}

/// The account of an employee, in `persons` (a field of `State`, borrowed apart from the others).
fn account_in<'a>(persons: &'a mut Persons, person: &PersonId) -> &'a mut Account {
    persons.get_mut(person).and_then(|p| p.account.as_mut()).expect("money moves only in employees' accounts")
}

/// The binding an event at `seq` changes, in `bindings`, stamped with it.
fn binding_in<'a>(bindings: &'a mut Records<Binding>, binding_id: &BindingId, seq: u64) -> &'a mut Binding {
    let index = binding_id.number().expect("stored binding ids are ledger-issued") as usize - 1;
    let binding = bindings.get_mut(index).expect("a binding the ledger issued");
    binding.changed_seq = seq;
    binding
}

/// The family buckets' available money of an account, in the rules' order.
pub fn family_available(account: &Account, buckets: &[Bucket]) -> Money {
    Money::sum(buckets.iter().map(|b| account.available(*b)))
}

/// Splits grouped by account and source, in the order first drawn: the wire's `splits`.
pub fn splits_of(draws: &[Draw]) -> Vec<(PersonId, Source, Money)> {
    let mut splits: Vec<(PersonId, Source, Money)> = Vec::new();
    for draw in draws {
        match splits
            .iter_mut()
            .find(|(account, source, _)| account == &draw.account && *source == draw.source)
        {
            Some(split) => split.2 = split.2.plus(draw.amount),
            None => splits.push((draw.account.clone(), draw.source, draw.amount)),
        }
    }
    splits
}

#[cfg(test)]
mod tests {
    use super::SettlementStatus;

    // Pins the wire names of settlement statuses (api.md §4), which the views and the answers
    // give as `status`.
    #[test]
    fn settlement_statuses_have_their_wire_names() {
        let statuses = [
            SettlementStatus::Held,
            SettlementStatus::Settled,
            SettlementStatus::Voided,
            SettlementStatus::Expired,
        ];
        assert_eq!(statuses.map(SettlementStatus::as_str), ["held", "settled", "voided", "expired"]);
    }
}
