//! `Given`: the history the core's tests start from, and the steps they build on it.

use std::ops::{Deref, DerefMut};

use command::{binding_usage, splits_of};
use domain::{BindingId, Code, Draw, Event, PersonId};
use serde_json::{json, Value};

use super::Ledger;

/// Region 210100 with the default rules, a pharmacy PH1 and a hospital HO1, on 2026-03-10
/// 10:00 +08:00 unless a test moves the clock.
pub struct Given(Ledger);

impl Deref for Given {
    type Target = Ledger;
    fn deref(&self) -> &Ledger {
        &self.0
    }
}

impl DerefMut for Given {
    fn deref_mut(&mut self) -> &mut Ledger {
        &mut self.0
    }
}

impl Given {
    pub fn new() -> Given {
        Given::at("2026-03-10T10:00:00+08:00")
    }

    pub fn at(now: &str) -> Given {
        let mut given = Given(Ledger::at(now));
        given.ok(json!({"command": "publish_rules", "region": "210100",
            "rules": {"version": 1, "effective_from": "2026-01-01T00:00:00+08:00"}}));
        given.ok(json!({"command": "register_institution", "institution_id": "PH1", "region": "210100",
            "kind": "pharmacy", "name": "Pharmacy"}));
        given.ok(json!({"command": "register_institution", "institution_id": "HO1", "region": "210100",
            "kind": "hospital", "name": "Hospital"}));
        given
    }

    /// Publishes version 2 of the region's rules: the defaults with `extra` over them.
    pub fn rules(&mut self, extra: Value) {
        let mut rules = json!({"version": 2, "effective_from": "2026-01-01T00:00:00+08:00"});
        for (key, value) in extra.as_object().unwrap() {
            rules[key] = value.clone();
        }
        self.ok(json!({"command": "publish_rules", "region": "210100", "rules": rules}));
    }

    /// Registers a person of region 210100.
    pub fn person(&mut self, id: &str, scheme: &str) {
        self.person_in(id, "210100", scheme);
    }

    pub fn person_in(&mut self, id: &str, region: &str, scheme: &str) {
        self.ok(json!({"command": "register_person", "person_id": id, "region": region, "scheme": scheme,
            "name": null, "id_number": null}));
    }

    /// An employee with `current` and `historic` credited (a zero is not credited).
    pub fn employee(&mut self, id: &str, current: &str, historic: &str) {
        self.person(id, "employee");
        for (amount, bucket) in [(current, "current"), (historic, "historic")] {
            if amount != "0.00" {
                self.credit(id, amount, bucket);
            }
        }
    }

    pub fn credit(&mut self, id: &str, amount: &str, bucket: &str) {
        self.ok(json!({"command": "credit", "person_id": id, "amount": amount, "bucket": bucket,
            "reason": "allocation"}));
    }

    /// Requests a binding of `beneficiary` to `authorizer` as their child; returns its id.
    pub fn bind(&mut self, authorizer: &str, beneficiary: &str) -> String {
        self.bind_as(authorizer, beneficiary, "child")
    }

    /// As `bind`, for another relation.
    pub fn bind_as(&mut self, authorizer: &str, beneficiary: &str, relation: &str) -> String {
        let events = self.ok(super::bind(authorizer, beneficiary, relation));
        match &events[0] {
            Event::BindingRequested(e) => e.binding_id.to_string(),
            other => panic!("{other:?}"),
        }
    }

    pub fn authorize(
        &mut self,
        binding: &str,
        priority: Option<u32>,
        monthly: Option<&str>,
        annual: Option<&str>,
    ) {
        self.ok(json!({"command": "authorize", "binding_id": binding, "priority": priority,
            "monthly_limit": monthly, "annual_limit": annual}));
    }

    pub fn status(&mut self, id: &str, status: &str) {
        self.ok(super::status(id, status));
    }

    pub fn revoke(&mut self, binding: &str) {
        self.ok(json!({"command": "revoke_binding", "binding_id": binding}));
    }

    pub fn settle(&mut self, id: &str, beneficiary: &str, category: &str, amount: &str) -> Value {
        self.charge(id, beneficiary, category, amount, "settle")
    }

    pub fn hold(&mut self, id: &str, beneficiary: &str, category: &str, amount: &str) -> Value {
        self.charge(id, beneficiary, category, amount, "hold")
    }

    /// A settlement or hold at the ledger clock (at PH1 for pharmacy, at HO1 otherwise), as its
    /// draws (one line per account and bucket), its `splits`, out of pocket and `explain`.
    pub fn charge(&mut self, id: &str, beneficiary: &str, category: &str, amount: &str, mode: &str) -> Value {
        let institution = if category == "pharmacy" { "PH1" } else { "HO1" };
        let events = self.ok(super::settle(id, institution, beneficiary, category, amount, mode));
        match (&events[0], mode) {
            (Event::Settled(charge), "settle") | (Event::Held(charge), "hold") => json!({
                "draws": lines(&charge.draws),
                "splits": splits(&charge.draws),
                "out_of_pocket": charge.out_of_pocket,
                "explain": charge.explain,
            }),
            (other, _) => panic!("{mode}: {other:?}"),
        }
    }

    /// A capture, void, refund or premium that must succeed: its one event as wire JSON, with
    /// the money lists (`draws`, `released`, `returns`) as lines.
    pub fn event(&mut self, command: Value) -> Value {
        let events = self.ok(command);
        assert_eq!(events.len(), 1, "{events:?}");
        let lists: Vec<(&str, &[Draw])> = match &events[0] {
            Event::Captured(e) => vec![("draws", &e.draws), ("released", &e.released)],
            Event::Voided(e) | Event::Expired(e) => vec![("released", &e.released)],
            Event::Refunded(e) => vec![("returns", &e.returns)],
            Event::PremiumPaid(e) => vec![("draws", &e.draws)],
            other => panic!("{other:?}"),
        };
        let mut value = serde_json::to_value(&events[0]).unwrap();
        for (key, draws) in lists {
            value[key] = json!(lines(draws));
        }
        value
    }

    pub fn refund(&mut self, settlement: &str, refund: &str, amount: &str) -> Value {
        let event = self.event(json!({"command": "refund", "settlement_id": settlement, "refund_id": refund,
            "amount": amount, "reason": "returned"}));
        json!({"returns": event["returns"], "out_of_pocket": event["out_of_pocket"]})
    }

    /// Decides `command`: `Ok(())` if it is taken, its rejection's code if not.
    pub fn outcome(&mut self, command: Value) -> Result<(), Code> {
        self.when(command).map(|_| ()).map_err(|r| r.code)
    }

    /// An account's buckets and what is held in them.
    pub fn balance(&self, id: &str) -> Value {
        let account = self.state.account(&PersonId::new(id).unwrap()).unwrap();
        json!({"current": account.current, "historic": account.historic,
            "held_current": account.held_current, "held_historic": account.held_historic})
    }

    pub fn available(&self, id: &str) -> String {
        let account = self.state.account(&PersonId::new(id).unwrap()).unwrap();
        account.to_balance().available().to_string()
    }

    /// A binding's (used_month, used_year) at the ledger clock.
    pub fn usage(&self, binding: &str) -> (String, String) {
        let id = BindingId::from_number(binding.trim_start_matches('B').parse().unwrap());
        let (month, year) = binding_usage(&self.state, self.state.binding(&id).unwrap(), self.now);
        (month.to_string(), year.to_string())
    }
}

/// Draws as lines `account source bucket amount [binding]`, in the order recorded.
pub fn lines(draws: &[Draw]) -> Vec<String> {
    draws
        .iter()
        .map(|draw| {
            let value = serde_json::to_value(draw).unwrap();
            let field = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
            let line =
                [field("account"), field("source"), field("bucket"), field("amount"), field("binding_id")]
                    .join(" ");
            line.trim_end().to_owned()
        })
        .collect()
}

/// Draws as the wire's `splits`: one `{account, source, amount}` per account and source, in
/// the order first drawn.
pub fn splits(draws: &[Draw]) -> Vec<Value> {
    splits_of(draws)
        .into_iter()
        .map(|(account, source, amount)| json!({"account": account, "source": source, "amount": amount}))
        .collect()
}
