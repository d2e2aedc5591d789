//! The settlement split (own account, family accounts, out of pocket) with its `explain`, and
//! the allocation of captures and refunds back over a split. Pure arithmetic on the state.

use domain::{
    Bucket, Category, Draw, Explain, FamilyOrder, Money, PersonId, PersonStatus, Reason, RefundOrder,
    RuleSet, Source, Timestamp,
};

use crate::state::{family_available, Binding, EndReason, Settlement, State};

/// A decided split: account draws in order, the rest out of pocket, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub draws: Vec<Draw>,
    pub out_of_pocket: Money,
    pub explain: Vec<Explain>,
}

/// Draws up to `want` from `buckets` of an account, in order; returns the draws and the total.
fn draw_buckets(
    state: &State,
    account_id: &PersonId,
    buckets: &[Bucket],
    want: Money,
    source: Source,
    binding: Option<&Binding>,
    draws: &mut Vec<Draw>,
) -> Money {
    let account = state.account(account_id).expect("drawn accounts exist");
    let mut remaining = want;
    for bucket in buckets {
        if remaining.is_zero() {
            break;
        }
        let take = account.available(*bucket).min(remaining);
        if !take.is_zero() {
            draws.push(Draw {
                account: account_id.clone(),
                source,
                bucket: *bucket,
                amount: take,
                binding_id: binding.map(Binding::binding_id),
            });
            remaining = remaining.minus(take);
        }
    }
    want.minus(remaining)
}

/// What a binding could pay now and, when less than `owed`, why (domain.md §8).
fn family_room(state: &State, rules: &RuleSet, binding: &Binding, occurred_at: Timestamp) -> (Money, Reason) {
    let authorizer = state.person_numbered(binding.authorizer);
    match authorizer.status {
        PersonStatus::Suspended => return (Money::ZERO, Reason::AuthorizerSuspended),
        PersonStatus::Terminated => return (Money::ZERO, Reason::AuthorizerTerminated),
        PersonStatus::Active => {}
    }
    let account = authorizer.account.as_ref().expect("authorizers are employees");
    let balance = family_available(account, &rules.family_buckets);
    let (monthly, annual) = binding.limit_room(rules.limit_window, occurred_at);
    // Candidates in tie-break order: limits win ties, monthly before annual.
    let balance_reason = if [Bucket::Current, Bucket::Historic]
        .iter()
        .any(|b| !rules.family_buckets.contains(b) && !account.available(*b).is_zero())
    {
        Reason::BucketNotForFamily
    } else {
        Reason::FamilyBalanceExhausted
    };
    let mut best = (balance, balance_reason);
    for (room, reason) in [(annual, Reason::AnnualLimitReached), (monthly, Reason::MonthlyLimitReached)] {
        if let Some(room) = room {
            if room <= best.0 {
                best = (room, reason);
            }
        }
    }
    best
}

/// The beneficiary's active bindings in the order the rules draw them.
fn family_order<'a>(
    state: &'a State,
    rules: &RuleSet,
    beneficiary: &PersonId,
    occurred_at: Timestamp,
) -> Vec<&'a Binding> {
    let mut active: Vec<&Binding> = state
        .bindings_of_beneficiary(beneficiary)
        .filter(|b| b.status == domain::BindingStatus::Active)
        .collect();
    let priority_key =
        |b: &Binding| (b.priority.is_none(), b.priority.unwrap_or(0), b.activated.unwrap_or(u64::MAX));
    match rules.family_order {
        FamilyOrder::Priority => active.sort_by_key(|b| priority_key(b)),
        FamilyOrder::BalanceDesc => active.sort_by_key(|b| {
            let usable = family_room(state, rules, b, occurred_at).0;
            (std::cmp::Reverse(usable), priority_key(b))
        }),
    }
    active
}

/// Splits `amount` for `beneficiary` under `rules`: own account, family, out of pocket.
pub fn split(
    state: &State,
    rules: &RuleSet,
    beneficiary: &PersonId,
    category: Category,
    amount: Money,
    occurred_at: Timestamp,
) -> Split {
    let mut draws = Vec::new();
    let mut explain = Vec::new();
    let mut owed = amount;

    let person = state.persons.get(beneficiary).expect("a split is for a registered person");
    if person.account.is_some() {
        if rules.own_categories.contains(&category) {
            let paid = draw_buckets(
                state,
                beneficiary,
                &[Bucket::Current, Bucket::Historic],
                owed,
                Source::Own,
                None,
                &mut draws,
            );
            owed = owed.minus(paid);
            let reason = (!owed.is_zero()).then_some(Reason::OwnBalanceExhausted);
            explain.push(Explain { account: Some(beneficiary.clone()), source: Source::Own, paid, reason });
        } else {
            explain.push(Explain {
                account: Some(beneficiary.clone()),
                source: Source::Own,
                paid: Money::ZERO,
                reason: Some(Reason::CategoryNotForOwn),
            });
        }
    }

    if !owed.is_zero() {
        if !rules.family_categories.contains(&category) {
            explain.push(Explain {
                account: None,
                source: Source::Family,
                paid: Money::ZERO,
                reason: Some(Reason::CategoryNotForFamily),
            });
        } else {
            let active = family_order(state, rules, beneficiary, occurred_at);
            let mut used = 0u32;
            for binding in &active {
                if owed.is_zero() {
                    break;
                }
                let account = Some(state.person_id(binding.authorizer).clone());
                if rules.family_accounts_per_settlement.is_some_and(|n| used >= n) {
                    let reason = Some(Reason::FamilyAccountAlreadyUsed);
                    explain.push(Explain { account, source: Source::Family, paid: Money::ZERO, reason });
                    continue;
                }
                let (room, reason) = family_room(state, rules, binding, occurred_at);
                let want = room.min(owed);
                let paid = if want.is_zero() {
                    Money::ZERO
                } else {
                    draw_buckets(
                        state,
                        state.person_id(binding.authorizer),
                        &rules.family_buckets,
                        want,
                        Source::Family,
                        Some(binding),
                        &mut draws,
                    )
                };
                if !paid.is_zero() {
                    used += 1;
                }
                let reason = (paid < owed).then_some(reason);
                owed = owed.minus(paid);
                explain.push(Explain { account, source: Source::Family, paid, reason });
            }
            if !owed.is_zero() {
                let mut ended: Vec<&Binding> =
                    state.bindings_of_beneficiary(beneficiary).filter(|b| b.ended.is_some()).collect();
                ended.sort_by_key(|b| b.ended.map(|(order, _)| order));
                for binding in &ended {
                    let reason = match binding.ended.map(|(_, reason)| reason) {
                        Some(EndReason::AuthorizerTerminated) => Reason::AuthorizerTerminated,
                        _ => Reason::BindingRevoked,
                    };
                    explain.push(Explain {
                        account: Some(state.person_id(binding.authorizer).clone()),
                        source: Source::Family,
                        paid: Money::ZERO,
                        reason: Some(reason),
                    });
                }
                if active.is_empty() && ended.is_empty() {
                    explain.push(Explain {
                        account: None,
                        source: Source::Family,
                        paid: Money::ZERO,
                        reason: Some(Reason::NoBinding),
                    });
                }
            }
        }
    }

    // What the ledger promises of every split: the draws and what is left to pay add up to
    // the amount, and the explanation accounts for every draw.
    let drawn = Money::sum(draws.iter().map(|d| d.amount));
    assert_eq!(drawn.plus(owed), amount, "a split adds up to its amount");
    assert_eq!(
        Money::sum(explain.iter().map(|e| e.paid)),
        drawn,
        "a split's explanation adds up to its draws"
    );
    Split { draws, out_of_pocket: owed, explain }
}

/// Splits a capture of `amount` over a hold's draws in split order: (taken, released, out of pocket).
pub fn allocate_capture(settlement: &Settlement, amount: Money) -> (Vec<Draw>, Vec<Draw>, Money) {
    let mut remaining = amount;
    let mut taken = Vec::new();
    let mut released = Vec::new();
    for draw in &settlement.draws {
        let take = draw.amount.min(remaining);
        remaining = remaining.minus(take);
        if !take.is_zero() {
            taken.push(Draw { amount: take, ..draw.clone() });
        }
        let rest = draw.amount.minus(take);
        if !rest.is_zero() {
            released.push(Draw { amount: rest, ..draw.clone() });
        }
    }
    let out_of_pocket = remaining.min(settlement.out_of_pocket);
    (taken, released, out_of_pocket)
}

/// A source of a refund: an account and how it paid, or `None` for out of pocket.
type RefundSource = Option<(PersonId, Source)>;

/// Allocates a refund of `amount` (≤ what remains refundable) over a settlement's sources:
/// (returns to accounts, out of pocket returned).
pub fn allocate_refund(settlement: &Settlement, order: RefundOrder, amount: Money) -> (Vec<Draw>, Money) {
    // Each draw's remaining refundable amount, then out of pocket as the last source.
    let remaining: Vec<Money> =
        settlement.draws.iter().zip(&settlement.refunded_draws).map(|(d, r)| d.amount.minus(*r)).collect();
    let out_of_pocket_left = settlement.out_of_pocket.minus(settlement.refunded_out_of_pocket);
    let mut per_draw = vec![Money::ZERO; remaining.len()];
    let mut out_of_pocket = Money::ZERO;

    match order {
        RefundOrder::Reverse => {
            let mut left = amount;
            let take = out_of_pocket_left.min(left);
            out_of_pocket = take;
            left = left.minus(take);
            for index in (0..remaining.len()).rev() {
                let take = remaining[index].min(left);
                per_draw[index] = take;
                left = left.minus(take);
            }
            assert!(left.is_zero(), "a refund is bounded by what remains refundable");
        }
        RefundOrder::ProRata => {
            // Sources are (account, source) groups in split order, then out of pocket.
            let mut groups: Vec<(RefundSource, Vec<usize>)> = Vec::new();
            for (index, draw) in settlement.draws.iter().enumerate() {
                let key = Some((draw.account.clone(), draw.source));
                match groups.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, members)) => members.push(index),
                    None => groups.push((key, vec![index])),
                }
            }
            groups.push((None, Vec::new()));
            let holds: Vec<u64> = groups
                .iter()
                .map(|(key, members)| match key {
                    Some(_) => members.iter().map(|i| remaining[*i].fen()).sum(),
                    None => out_of_pocket_left.fen(),
                })
                .collect();
            let shares = pro_rata_fen(amount.fen(), &holds);
            for ((key, members), share) in groups.iter().zip(shares) {
                match key {
                    None => out_of_pocket = Money::from_fen(share),
                    Some(_) => {
                        // Within one account, the last bucket drawn gets its money back first.
                        let mut left = Money::from_fen(share);
                        for index in members.iter().rev() {
                            let take = remaining[*index].min(left);
                            per_draw[*index] = take;
                            left = left.minus(take);
                        }
                        assert!(left.is_zero());
                    }
                }
            }
        }
    }

    let returns = settlement
        .draws
        .iter()
        .zip(per_draw)
        .filter(|(_, amount)| !amount.is_zero())
        .map(|(draw, amount)| Draw { amount, ..draw.clone() })
        .collect();
    (returns, out_of_pocket)
}

/// Shares of `total` fen in proportion to `holds`: each cut to the fen, the remaining fens one
/// each to the largest cut-off fractions (ties: earlier first), never above a source's hold.
pub fn pro_rata_fen(total: u64, holds: &[u64]) -> Vec<u64> {
    let sum: u128 = holds.iter().map(|h| u128::from(*h)).sum();
    assert!(u128::from(total) <= sum, "a pro-rata refund never exceeds what the sources hold");
    if sum == 0 {
        return vec![0; holds.len()];
    }
    let mut shares: Vec<u64> = Vec::with_capacity(holds.len());
    let mut fractions: Vec<(u128, usize)> = Vec::with_capacity(holds.len());
    for (index, hold) in holds.iter().enumerate() {
        let exact = u128::from(total) * u128::from(*hold);
        shares.push(u64::try_from(exact / sum).expect("a share fits its hold"));
        fractions.push((exact % sum, index));
    }
    let mut left = total - shares.iter().sum::<u64>();
    fractions.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    while left > 0 {
        let before = left;
        for (_, index) in &fractions {
            if left == 0 {
                break;
            }
            if shares[*index] < holds[*index] {
                shares[*index] += 1;
                left -= 1;
            }
        }
        assert!(left < before, "the sources can absorb the remaining fens");
    }
    shares
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the largest-remainder rounding: shares add up and never exceed a source.
    #[test]
    fn pro_rata_rounding() {
        assert_eq!(pro_rata_fen(3000, &[2000, 5000, 3000]), vec![600, 1500, 900]);
        assert_eq!(pro_rata_fen(3, &[1, 1, 1]), vec![1, 1, 1]);
        assert_eq!(pro_rata_fen(1, &[1, 1, 1]), vec![1, 0, 0]);
        assert_eq!(pro_rata_fen(2, &[1, 2]), vec![1, 1]);
        assert_eq!(pro_rata_fen(10, &[3, 3, 4]), vec![3, 3, 4]);
        assert_eq!(pro_rata_fen(5, &[0, 7, 3]), vec![0, 4, 1]);
    }
}
