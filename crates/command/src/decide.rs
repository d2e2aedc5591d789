//! `decide`: every business rule of domain.md, as a pure function of the state, the command
//! and the ledger clock. Checks run in the contract's order — shape, ids already taken, things
//! named that do not exist, `region_rules_missing`, then the business checks in domain.md's
//! order — so the same bad command always gets the same code.

use domain::limits::{
    OCCURRED_AHEAD_MICROS_MAX, OCCURRED_BEHIND_MICROS_MAX, PRIORITY_MAX, TEXT_CHARS_MAX, YEAR_MAX, YEAR_MIN,
};
use domain::time::MICROS_PER_MINUTE;
use domain::{
    AuthorizationSet, BindingEnded, BindingId, BindingRequested, BindingReviewed, BindingStatus, Bucket,
    Captured, Category, Charge, Code, Command, Credited, CrossRegion, Draw, EndCause, Event, IdNumber,
    InstitutionId, InstitutionKind, InstitutionRegistered, Money, PersonId, PersonRegistered, PersonStatus,
    PersonStatusChanged, PremiumPaid, RefundId, Refunded, Region, Rejection, Relation, Released, RuleSet,
    RulesPublished, Scheme, SettleMode, SettlementId, Source, Timestamp, YearClosed,
};

use crate::split::{allocate_capture, allocate_refund, split};
use crate::state::{family_available, Binding, Person, Settlement, SettlementStatus, State};

/// The shape checks of a command (`invalid_request`): what its fields must be whatever the
/// state and the time. They come before anything else — before the `request_id` is looked
/// up, so a malformed body is always `invalid_request`, never `idempotency_conflict` — and
/// such a refusal is not remembered. The checks against the ledger clock (`occurred_at`'s
/// range, a year-end's year) come after the lookup, in `decide`: a retry of a settlement
/// accepted a moment ago must get its answer back, not a refusal because time moved on.
pub fn check_shape(command: &Command) -> Result<(), Rejection> {
    match command {
        Command::PublishRules { rules, .. } => {
            rules.validate().map_err(|(field, problem)| Rejection::invalid(field, problem))
        }
        Command::RegisterInstitution { name, .. } => text("name", name),
        Command::RegisterPerson { name, .. } => name.as_deref().map_or(Ok(()), |name| text("name", name)),
        Command::SetStatus { reason, .. } | Command::RejectBinding { reason, .. } => text("reason", reason),
        Command::Credit { amount, reason, .. } => {
            text("reason", reason)?;
            positive("amount", *amount)
        }
        Command::CloseYear { year, .. } => {
            if *year < YEAR_MIN {
                return Err(Rejection::invalid("year", "must be a year up to the current one (+08:00)"));
            }
            Ok(())
        }
        Command::Authorize { priority, .. } => {
            if priority.is_some_and(|p| p == 0 || p > PRIORITY_MAX) {
                return Err(Rejection::invalid("priority", "must be an integer from 1 to 1000 or null"));
            }
            Ok(())
        }
        Command::Settle { amount, .. } => positive("amount", *amount),
        Command::Capture { amount, .. } => amount.map_or(Ok(()), |amount| positive("amount", amount)),
        Command::Refund { amount, reason, .. } => {
            positive("amount", *amount)?;
            text("reason", reason)
        }
        Command::PayPremium { year, amount, .. } => {
            positive("amount", *amount)?;
            if !(YEAR_MIN..=YEAR_MAX).contains(year) {
                return Err(Rejection::invalid("year", "must lie between 1990 and 2200"));
            }
            Ok(())
        }
        Command::RequestBinding { .. }
        | Command::ApproveBinding { .. }
        | Command::RevokeBinding { .. }
        | Command::Void { .. }
        | Command::Expire { .. } => Ok(()),
    }
}

/// Decides `command` at ledger time `now`: the events to record, or why not. A dispatch table:
/// after the shape checks, each command is decided by its own `decide_*` function below, which
/// runs that command's checks in the contract's order.
pub fn decide(state: &State, command: &Command, now: Timestamp) -> Result<Vec<Event>, Rejection> {
    check_shape(command)?;
    match command {
        Command::PublishRules { region, rules } => decide_publish_rules(state, region, rules, now),
        Command::RegisterInstitution { institution_id, region, kind, name } => {
            decide_register_institution(state, institution_id, region, *kind, name)
        }
        Command::RegisterPerson { person_id, region, scheme, name, id_number } => {
            decide_register_person(state, person_id, region, *scheme, name.as_deref(), id_number.as_ref())
        }
        Command::SetStatus { person_id, status, reason } => {
            decide_set_status(state, person_id, *status, reason)
        }
        Command::Credit { person_id, amount, bucket, reason } => {
            decide_credit(state, person_id, *amount, *bucket, reason)
        }
        Command::CloseYear { region, year } => decide_close_year(state, region, *year, now),
        Command::RequestBinding { authorizer, beneficiary, relation } => {
            decide_request_binding(state, authorizer, beneficiary, relation, now)
        }
        Command::ApproveBinding { binding_id } => decide_approve_binding(state, binding_id),
        Command::RejectBinding { binding_id, reason } => decide_reject_binding(state, binding_id, reason),
        Command::RevokeBinding { binding_id } => decide_revoke_binding(state, binding_id),
        Command::Authorize { binding_id, priority, monthly_limit, annual_limit } => {
            decide_authorize(state, binding_id, *priority, *monthly_limit, *annual_limit, now)
        }
        Command::Settle { settlement_id, institution, beneficiary, category, amount, occurred_at, mode } => {
            decide_settle(
                state,
                Settle { settlement_id, institution, beneficiary, category, amount, occurred_at, mode },
                now,
            )
        }
        Command::Capture { settlement_id, amount } => decide_capture(state, settlement_id, *amount),
        Command::Void { settlement_id } => decide_void(state, settlement_id),
        Command::Expire { settlement_id } => decide_expire(state, settlement_id, now),
        Command::Refund { settlement_id, refund_id, amount, reason } => {
            decide_refund(state, settlement_id, refund_id, *amount, reason)
        }
        Command::PayPremium { payer, beneficiary, year, amount } => {
            decide_pay_premium(state, payer, beneficiary, *year, *amount, now)
        }
    }
}

/// A region's new rule set: its version must be higher than the region's last and it must take
/// effect no earlier than the last (`rule_version_not_newer`). An `effective_from` already past
/// is recorded as `now`.
fn decide_publish_rules(
    state: &State,
    region: &Region,
    rules: &RuleSet,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    // A time already past means "from now": the stored rule set says when it really began.
    let mut resolved = rules.clone();
    resolved.effective_from = rules.effective_from.max(now);
    if let Some(last) = state.rules.get(region).and_then(|versions| versions.last()) {
        if resolved.version <= last.version || resolved.effective_from < last.effective_from {
            return Err(Rejection::new(
                Code::RuleVersionNotNewer,
                "a new rule set must have a higher version and take effect no earlier than the last",
            )
            .with("latest_version", last.version)
            .with("latest_effective_from", last.effective_from));
        }
    }
    Ok(vec![Event::RulesPublished(RulesPublished { region: *region, rules: resolved })])
}

/// Registers an institution in a region; its id must be new (`already_exists`).
fn decide_register_institution(
    state: &State,
    institution_id: &InstitutionId,
    region: &Region,
    kind: InstitutionKind,
    name: &str,
) -> Result<Vec<Event>, Rejection> {
    if state.institutions.contains_key(institution_id) {
        return Err(already_exists("institution", institution_id.as_str()));
    }
    Ok(vec![Event::InstitutionRegistered(InstitutionRegistered {
        institution_id: institution_id.clone(),
        region: *region,
        kind,
        name: name.to_owned(),
    })])
}

/// Registers a person under a scheme in a region; the id must be new (`already_exists`). Only
/// the masked form of an ID number is recorded.
fn decide_register_person(
    state: &State,
    person_id: &PersonId,
    region: &Region,
    scheme: Scheme,
    name: Option<&str>,
    id_number: Option<&IdNumber>,
) -> Result<Vec<Event>, Rejection> {
    if state.persons.contains_key(person_id) {
        return Err(already_exists("person", person_id.as_str()));
    }
    Ok(vec![Event::PersonRegistered(PersonRegistered {
        person_id: person_id.clone(),
        region: *region,
        scheme,
        name: name.map(str::to_owned),
        id_number_masked: id_number.map(IdNumber::masked),
    })])
}

/// A person's status change: it must change the status (`status_unchanged`), and termination is
/// final (`person_not_active`). A termination also ends the person's live bindings.
fn decide_set_status(
    state: &State,
    person_id: &PersonId,
    status: PersonStatus,
    reason: &str,
) -> Result<Vec<Event>, Rejection> {
    let person = person(state, person_id)?;
    if person.status == status {
        return Err(Rejection::new(Code::StatusUnchanged, "the person already has this status")
            .with("status", serde_name(&status)));
    }
    if person.status == PersonStatus::Terminated {
        return Err(
            Rejection::new(Code::PersonNotActive, "termination is final").with("person_id", person_id)
        );
    }
    let mut events = vec![Event::PersonStatusChanged(PersonStatusChanged {
        person_id: person_id.clone(),
        status,
        reason: reason.to_owned(),
    })];
    if status == PersonStatus::Terminated {
        // Every live binding where the person is authorizer or beneficiary ends, in the order
        // they were requested, each with its own event.
        let mut ended: Vec<(&Binding, EndCause)> = Vec::new();
        let of_authorizer =
            state.bindings_of_authorizer(person_id).map(|b| (b, EndCause::AuthorizerTerminated));
        let of_beneficiary =
            state.bindings_of_beneficiary(person_id).map(|b| (b, EndCause::BeneficiaryTerminated));
        for (binding, cause) in of_authorizer.chain(of_beneficiary) {
            if binding.is_live() && !ended.iter().any(|(b, _)| b.number == binding.number) {
                ended.push((binding, cause));
            }
        }
        ended.sort_by_key(|(binding, _)| binding.number);
        events.extend(ended.into_iter().map(|(binding, cause)| {
            Event::BindingEnded(BindingEnded { binding_id: binding.binding_id(), cause })
        }));
    }
    Ok(events)
}

/// Credits one bucket of a person's personal account: a resident has none
/// (`no_personal_account`), a terminated person is credited nothing (`person_not_active`), and
/// the balance may not pass what the ledger holds. The event carries the balance after.
fn decide_credit(
    state: &State,
    person_id: &PersonId,
    amount: Money,
    bucket: Bucket,
    reason: &str,
) -> Result<Vec<Event>, Rejection> {
    let person = person(state, person_id)?;
    let Some(account) = &person.account else {
        return Err(Rejection::new(Code::NoPersonalAccount, "a resident has no personal account")
            .with("person_id", person_id));
    };
    if person.status == PersonStatus::Terminated {
        return Err(not_active(person_id));
    }
    let mut after = account.to_balance();
    match bucket {
        Bucket::Current => after.current = add(after.current, amount)?,
        Bucket::Historic => after.historic = add(after.historic, amount)?,
    }
    Ok(vec![Event::Credited(Credited {
        person_id: person_id.clone(),
        bucket,
        amount,
        reason: reason.to_owned(),
        balance: after,
    })])
}

/// Year-end of a region: every account's current bucket moves to historic. The year may not be
/// after the current one (+08:00) by the ledger clock (`invalid_request`), and a year up to one
/// already closed for the region is `year_already_closed`. Year-end needs no rule set.
fn decide_close_year(
    state: &State,
    region: &Region,
    year: i32,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    if year > now.cst_year() {
        return Err(Rejection::invalid("year", "must be a year up to the current one (+08:00)"));
    }
    if state.closed_years.get(region).is_some_and(|closed| *closed >= year) {
        return Err(Rejection::new(Code::YearAlreadyClosed, format!("year {year} is already closed"))
            .with("region", region)
            .with("year", year));
    }
    let accounts: Vec<Money> = state
        .persons
        .values()
        .filter(|p| &p.region == region)
        .filter_map(|p| p.account.as_ref())
        .map(|a| a.current)
        .filter(|current| !current.is_zero())
        .collect();
    Ok(vec![Event::YearClosed(YearClosed {
        region: *region,
        year,
        accounts: accounts.len() as u64,
        moved: Money::sum(accounts),
    })])
}

/// A family binding request, checked in this order: both persons exist; the authorizer's region
/// has a rule set in force; the authorizer is an employee with a personal account, and both are
/// active; nobody binds themselves; the rules allow the relation and, across regions, the
/// binding; the authorizer has family-bucket balance where the rules require it; no live binding
/// joins the two already; neither side has reached its limit of live bindings. Binding ids are
/// issued in request order; the binding is pending unless the rules approve automatically.
fn decide_request_binding(
    state: &State,
    authorizer_id: &PersonId,
    beneficiary_id: &PersonId,
    relation: &str,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let authorizer = person(state, authorizer_id)?;
    let beneficiary = person(state, beneficiary_id)?;
    let rules = rules_in_force(state, &authorizer.region, now)?;
    let Some(account) = authorizer.account.as_ref().filter(|_| authorizer.scheme == Scheme::Employee) else {
        return Err(Rejection::new(
            Code::AuthorizerNotEmployee,
            "the authorizer must be an employee with a personal account",
        )
        .with("authorizer", authorizer_id));
    };
    if authorizer.status != PersonStatus::Active {
        return Err(not_active(authorizer_id));
    }
    if beneficiary.status != PersonStatus::Active {
        return Err(not_active(beneficiary_id));
    }
    if authorizer_id == beneficiary_id {
        return Err(Rejection::new(Code::SelfBinding, "a person cannot bind themselves"));
    }
    let relation = Relation::parse(relation).filter(|r| rules.relations.contains(r)).ok_or_else(|| {
        Rejection::new(Code::RelationNotAllowed, "the region's rules do not allow this relation")
            .with("relation", relation)
    })?;
    let same_province = authorizer.region.province() == beneficiary.region.province();
    let allowed = authorizer.region == beneficiary.region
        || match rules.cross_region {
            CrossRegion::None => false,
            CrossRegion::Province => same_province,
            CrossRegion::Nation => true,
        };
    if !allowed {
        return Err(Rejection::new(
            Code::CrossRegionNotAllowed,
            "the region's rules do not allow this cross-region binding",
        )
        .with("authorizer_region", authorizer.region)
        .with("beneficiary_region", beneficiary.region));
    }
    if rules.bind_requires_balance && family_available(account, &rules.family_buckets).is_zero() {
        return Err(Rejection::new(
            Code::AuthorizerNoBalance,
            "the authorizer has no balance in the family buckets",
        ));
    }
    let live_of_authorizer: Vec<_> =
        state.bindings_of_authorizer(authorizer_id).filter(|b| b.is_live()).collect();
    if live_of_authorizer.iter().any(|b| state.person_id(b.beneficiary) == beneficiary_id) {
        return Err(Rejection::new(
            Code::BindingExists,
            "a pending or active binding already joins these two",
        ));
    }
    if let Some(max) = rules.beneficiaries_per_authorizer_max {
        if live_of_authorizer.len() >= max as usize {
            return Err(Rejection::new(
                Code::BindingLimitReached,
                "the authorizer has bound as many as allowed",
            )
            .with("max", max));
        }
    }
    if let Some(max) = rules.authorizers_per_beneficiary_max {
        if state.bindings_of_beneficiary(beneficiary_id).filter(|b| b.is_live()).count() >= max as usize {
            return Err(Rejection::new(
                Code::BeneficiaryAlreadyBound,
                "the beneficiary is bound to as many accounts as allowed",
            )
            .with("max", max));
        }
    }
    Ok(vec![Event::BindingRequested(BindingRequested {
        binding_id: BindingId::from_number(state.bindings.len() as u64 + 1),
        authorizer: authorizer_id.clone(),
        beneficiary: beneficiary_id.clone(),
        relation,
        status: if rules.auto_approve { BindingStatus::Active } else { BindingStatus::Pending },
        rule_version: rules.version,
    })])
}

/// Approves a binding pending review (`binding_not_pending` otherwise).
fn decide_approve_binding(state: &State, binding_id: &BindingId) -> Result<Vec<Event>, Rejection> {
    pending_binding(state, binding_id)?;
    Ok(vec![Event::BindingApproved(BindingReviewed { binding_id: binding_id.clone(), reason: None })])
}

/// Rejects a binding pending review, with a reason (`binding_not_pending` otherwise).
fn decide_reject_binding(
    state: &State,
    binding_id: &BindingId,
    reason: &str,
) -> Result<Vec<Event>, Rejection> {
    pending_binding(state, binding_id)?;
    Ok(vec![Event::BindingRejected(BindingReviewed {
        binding_id: binding_id.clone(),
        reason: Some(reason.to_owned()),
    })])
}

/// Revokes a live binding, pending or active (`binding_not_active` otherwise).
fn decide_revoke_binding(state: &State, binding_id: &BindingId) -> Result<Vec<Event>, Rejection> {
    let binding = binding(state, binding_id)?;
    if !binding.is_live() {
        return Err(binding_not_active(binding_id, binding.status));
    }
    Ok(vec![Event::BindingRevoked(BindingReviewed { binding_id: binding_id.clone(), reason: None })])
}

/// Sets an active binding's priority and limits (`binding_not_active` otherwise); the event
/// carries the binding's usage in the windows of `now`, under the rules then in force.
fn decide_authorize(
    state: &State,
    binding_id: &BindingId,
    priority: Option<u32>,
    monthly_limit: Option<Money>,
    annual_limit: Option<Money>,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let binding = binding(state, binding_id)?;
    if binding.status != BindingStatus::Active {
        return Err(binding_not_active(binding_id, binding.status));
    }
    let (used_month, used_year) = binding_usage(state, binding, now);
    Ok(vec![Event::AuthorizationSet(AuthorizationSet {
        binding_id: binding_id.clone(),
        priority,
        monthly_limit,
        annual_limit,
        used_month,
        used_year,
    })])
}

/// The fields of a `Command::Settle`, borrowed.
struct Settle<'a> {
    settlement_id: &'a SettlementId,
    institution: &'a InstitutionId,
    beneficiary: &'a PersonId,
    category: &'a Category,
    amount: &'a Money,
    occurred_at: &'a Option<Timestamp>,
    mode: &'a SettleMode,
}

/// A charge at an institution, settled at once or held, checked in this order: `occurred_at`
/// (`now` when absent) lies between 30 days before and 5 minutes after the ledger clock
/// (`invalid_request`, checked here, after the request lookup); the settlement id is new; the
/// institution is registered; the beneficiary exists; the institution's region has a rule set
/// in force; the beneficiary is in that region and active; the rules list the category. The
/// split over the beneficiary's bindings is `split`'s; a hold expires after the rules' timeout.
fn decide_settle(state: &State, settle: Settle<'_>, now: Timestamp) -> Result<Vec<Event>, Rejection> {
    let Settle { settlement_id, institution, beneficiary, category, amount, occurred_at, mode } = settle;
    let occurred_at = occurred_at.unwrap_or(now);
    if occurred_at > now.plus_micros(OCCURRED_AHEAD_MICROS_MAX)
        || occurred_at < now.plus_micros(-OCCURRED_BEHIND_MICROS_MAX)
    {
        return Err(Rejection::invalid(
            "occurred_at",
            "must lie between 30 days before and 5 minutes after the ledger clock",
        ));
    }
    if state.settlements.contains_key(settlement_id) {
        return Err(already_exists("settlement", settlement_id.as_str()));
    }
    let institution_record = state.institutions.get(institution).ok_or_else(|| {
        Rejection::new(Code::InstitutionUnknown, "the institution is not registered")
            .with("institution", institution)
    })?;
    let person = person(state, beneficiary)?;
    let region = &institution_record.region;
    let rules = rules_in_force(state, region, now)?;
    if &person.region != region {
        return Err(Rejection::new(
            Code::InstitutionRegionMismatch,
            "the institution is not in the beneficiary's region",
        )
        .with("institution_region", region)
        .with("beneficiary_region", person.region));
    }
    if person.status != PersonStatus::Active {
        return Err(not_active(beneficiary));
    }
    if !rules.lists_category(*category) {
        return Err(Rejection::new(Code::CategoryNotAllowed, "the region's rules do not list this category")
            .with("category", serde_name(category)));
    }
    let split = split(state, rules, beneficiary, *category, *amount, occurred_at);
    let hold = *mode == SettleMode::Hold;
    let charge = Charge {
        settlement_id: settlement_id.clone(),
        institution: institution.clone(),
        region: *region,
        beneficiary: beneficiary.clone(),
        category: *category,
        amount: *amount,
        occurred_at,
        rule_version: rules.version,
        draws: split.draws,
        out_of_pocket: split.out_of_pocket,
        explain: split.explain,
        expires_at: hold.then(|| now.plus_micros(i64::from(rules.hold_timeout_minutes) * MICROS_PER_MINUTE)),
    };
    Ok(vec![if hold { Event::Held(charge) } else { Event::Settled(charge) }])
}

/// Captures a held settlement, all of it or less (`capture_exceeds_held` beyond what was held);
/// what is not captured is released.
fn decide_capture(
    state: &State,
    settlement_id: &SettlementId,
    amount: Option<Money>,
) -> Result<Vec<Event>, Rejection> {
    let settlement = held(state, settlement_id)?;
    let amount = amount.unwrap_or(settlement.amount);
    if amount > settlement.amount {
        return Err(Rejection::new(Code::CaptureExceedsHeld, "the capture is more than was held")
            .with("held", settlement.amount)
            .with("amount", amount));
    }
    let (draws, released, out_of_pocket) = allocate_capture(settlement, amount);
    Ok(vec![Event::Captured(Captured {
        settlement_id: settlement_id.clone(),
        institution: settlement.institution.clone(),
        region: settlement.region,
        amount,
        draws,
        out_of_pocket,
        released,
    })])
}

/// Releases a held settlement in full (`settlement_not_held` if it is not held).
fn decide_void(state: &State, settlement_id: &SettlementId) -> Result<Vec<Event>, Rejection> {
    Ok(vec![Event::Voided(release(held(state, settlement_id)?))])
}

/// The engine's clock releases a hold past its timeout (`settlement_not_held` if the settlement
/// is not held or its hold has not expired by `now`).
fn decide_expire(
    state: &State,
    settlement_id: &SettlementId,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let settlement = held(state, settlement_id)?;
    if settlement.expires_at.is_none_or(|at| at > now) {
        return Err(Rejection::new(Code::SettlementNotHeld, "the hold has not expired"));
    }
    Ok(vec![Event::Expired(release(settlement))])
}

/// Refunds a settlement, in part or in full: the refund id is new, the settlement exists, and
/// the amount is no more than remains settled (`refund_exceeds_settled`: a held, voided or
/// expired settlement has nothing settled). The money goes back in the refund order of the
/// rule version the settlement was decided under.
fn decide_refund(
    state: &State,
    settlement_id: &SettlementId,
    refund_id: &RefundId,
    amount: Money,
    reason: &str,
) -> Result<Vec<Event>, Rejection> {
    if state.refund_ids.contains_key(refund_id) {
        return Err(already_exists("refund", refund_id.as_str()));
    }
    let settlement = settlement(state, settlement_id)?;
    let refundable = settlement.settled_amount().minus(settlement.refunded_total());
    if amount > refundable {
        return Err(Rejection::new(Code::RefundExceedsSettled, "the refund is more than remains settled")
            .with("refundable", refundable)
            .with("amount", amount));
    }
    let order = state
        .rules_version(&settlement.region, settlement.rule_version)
        .expect("a settlement's rule version is in the log")
        .refund_order;
    let (returns, out_of_pocket) = allocate_refund(settlement, order, amount);
    Ok(vec![Event::Refunded(Refunded {
        refund_id: refund_id.clone(),
        settlement_id: settlement_id.clone(),
        institution: settlement.institution.clone(),
        region: settlement.region,
        amount,
        reason: reason.to_owned(),
        returns,
        out_of_pocket,
    })])
}

/// A resident's premium paid from a payer's account, checked in this order: both persons exist;
/// the payer's region has a rule set in force; the payer has a personal account and is active;
/// an active binding joins payer and beneficiary; the beneficiary is a resident; the year is the
/// current or the next; the amount is the beneficiary's region premium for the year, where its
/// rules name one; the year is not paid already; the payer stays within the relatives per year
/// the rules allow; the family buckets cover the amount, which is drawn from them in order.
fn decide_pay_premium(
    state: &State,
    payer_id: &PersonId,
    beneficiary_id: &PersonId,
    year: i32,
    amount: Money,
    now: Timestamp,
) -> Result<Vec<Event>, Rejection> {
    let payer = person(state, payer_id)?;
    let beneficiary = person(state, beneficiary_id)?;
    let rules = rules_in_force(state, &payer.region, now)?;
    let Some(account) = payer.account.as_ref() else {
        return Err(Rejection::new(
            Code::AuthorizerNotEmployee,
            "the payer must be an employee with a personal account",
        ));
    };
    if payer.status != PersonStatus::Active {
        return Err(not_active(payer_id));
    }
    let bound = state
        .bindings_of_authorizer(payer_id)
        .any(|b| state.person_id(b.beneficiary) == beneficiary_id && b.status == BindingStatus::Active);
    if !bound {
        return Err(Rejection::new(
            Code::BindingNotActive,
            "the beneficiary has no active binding with the payer",
        ));
    }
    if beneficiary.scheme != Scheme::Resident {
        return Err(Rejection::new(Code::BeneficiaryNotResident, "premiums are paid for residents only"));
    }
    let this_year = now.cst_year();
    if year != this_year && year != this_year + 1 {
        return Err(Rejection::new(
            Code::PremiumYearNotOpen,
            "only the current or the next year is open for payment",
        )
        .with("year", year));
    }
    let price = state.rules_at(&beneficiary.region, now).and_then(|r| r.resident_premium.get(&year));
    if let Some(price) = price {
        if *price != amount {
            return Err(Rejection::new(
                Code::PremiumAmountMismatch,
                "the amount is not the region's premium for the year",
            )
            .with("expected", price)
            .with("amount", amount));
        }
    }
    if state.premiums.contains_key(&(beneficiary_id.clone(), year)) {
        return Err(Rejection::new(Code::PremiumAlreadyPaid, "the premium for this year is already paid")
            .with("year", year));
    }
    let paid_for = state.premium_beneficiaries.get(&(payer_id.clone(), this_year));
    let count = paid_for.map_or(0, |set| set.len());
    if !paid_for.is_some_and(|set| set.contains(beneficiary_id))
        && count >= rules.premium_relatives_per_year_max as usize
    {
        return Err(Rejection::new(
            Code::PremiumRelativesLimitReached,
            "the payer has paid for as many relatives as allowed this year",
        )
        .with("max", rules.premium_relatives_per_year_max));
    }
    if family_available(account, &rules.family_buckets) < amount {
        return Err(Rejection::new(
            Code::InsufficientFunds,
            "the payer's account cannot pay the premium in full",
        )
        .with("available", family_available(account, &rules.family_buckets)));
    }
    let mut draws = Vec::new();
    let mut owed = amount;
    for bucket in &rules.family_buckets {
        let take = account.available(*bucket).min(owed);
        if !take.is_zero() {
            draws.push(Draw {
                account: payer_id.clone(),
                source: Source::Family,
                bucket: *bucket,
                amount: take,
                binding_id: None,
            });
            owed = owed.minus(take);
        }
    }
    Ok(vec![Event::PremiumPaid(PremiumPaid {
        payer: payer_id.clone(),
        beneficiary: beneficiary_id.clone(),
        region: payer.region,
        year,
        amount,
        draws,
    })])
}

/// A binding's usage in the windows of `at`, under the beneficiary's region rules then in force.
pub fn binding_usage(state: &State, binding: &Binding, at: Timestamp) -> (Money, Money) {
    let window = state
        .rules_at(&state.person_numbered(binding.beneficiary).region, at)
        .map_or(domain::LimitWindow::Calendar, |r| r.limit_window);
    binding.usage_at(window, at)
}

fn release(settlement: &Settlement) -> Released {
    Released {
        settlement_id: settlement.settlement_id.clone(),
        institution: settlement.institution.clone(),
        region: settlement.region,
        released: settlement.draws.clone(),
    }
}

fn settlement<'a>(state: &'a State, settlement_id: &SettlementId) -> Result<&'a Settlement, Rejection> {
    state
        .settlements
        .get(settlement_id)
        .map(|s| &**s)
        .ok_or_else(|| not_found("settlement", settlement_id.as_str()))
}

fn held<'a>(state: &'a State, settlement_id: &SettlementId) -> Result<&'a Settlement, Rejection> {
    let settlement = settlement(state, settlement_id)?;
    if settlement.status != SettlementStatus::Held {
        return Err(Rejection::new(Code::SettlementNotHeld, "the settlement is not held")
            .with("status", settlement.status.as_str()));
    }
    Ok(settlement)
}

fn binding<'a>(state: &'a State, binding_id: &BindingId) -> Result<&'a Binding, Rejection> {
    state.binding(binding_id).ok_or_else(|| not_found("binding", binding_id.as_str()))
}

/// A binding that is pending review: what approving and rejecting one both require.
fn pending_binding<'a>(state: &'a State, binding_id: &BindingId) -> Result<&'a Binding, Rejection> {
    let binding = binding(state, binding_id)?;
    if binding.status != BindingStatus::Pending {
        return Err(Rejection::new(Code::BindingNotPending, "the binding is not pending review")
            .with("status", status_name(binding.status)));
    }
    Ok(binding)
}

fn person<'a>(state: &'a State, person_id: &PersonId) -> Result<&'a Person, Rejection> {
    state.persons.get(person_id).ok_or_else(|| not_found("person", person_id.as_str()))
}

fn rules_in_force<'a>(state: &'a State, region: &Region, now: Timestamp) -> Result<&'a RuleSet, Rejection> {
    state.rules_at(region, now).ok_or_else(|| {
        Rejection::new(Code::RegionRulesMissing, "the region has no rule set in force").with("region", region)
    })
}

fn not_found(what: &str, id: &str) -> Rejection {
    Rejection::new(Code::NotFound, format!("{what} {id} does not exist")).with(what, id)
}

fn already_exists(what: &str, id: &str) -> Rejection {
    Rejection::new(Code::AlreadyExists, format!("{what} {id} already exists")).with(what, id)
}

fn not_active(person_id: &PersonId) -> Rejection {
    Rejection::new(Code::PersonNotActive, format!("person {person_id} is not active"))
        .with("person_id", person_id)
}

fn binding_not_active(binding_id: &BindingId, status: BindingStatus) -> Rejection {
    Rejection::new(Code::BindingNotActive, "the binding is not active")
        .with("binding_id", binding_id)
        .with("status", status_name(status))
}

fn status_name(status: BindingStatus) -> String {
    serde_name(&status)
}

/// The snake_case wire name of an enum value.
fn serde_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}

fn text(field: &str, value: &str) -> Result<(), Rejection> {
    let chars = value.chars().count();
    if chars == 0 || chars > TEXT_CHARS_MAX || value.chars().any(char::is_control) {
        return Err(Rejection::invalid(field, "must be 1 to 256 characters of text"));
    }
    Ok(())
}

fn positive(field: &str, amount: Money) -> Result<(), Rejection> {
    if amount.is_zero() {
        return Err(Rejection::invalid(field, "must be more than 0.00"));
    }
    Ok(())
}

fn add(balance: Money, amount: Money) -> Result<Money, Rejection> {
    balance
        .checked_add(amount)
        .ok_or_else(|| Rejection::invalid("amount", "would take the balance beyond what the ledger holds"))
}
