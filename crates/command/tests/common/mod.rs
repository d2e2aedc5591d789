//! The harness of the core's tests: a ledger in memory — the state, the next seq and a clock —
//! that decides commands given as JSON and folds what they record; `Given`, the history the
//! tests start from; and the commands they send most, as JSON.

#![allow(dead_code)]

pub mod given;

use command::{decide, State};
use domain::{Command, Event, Rejection, Timestamp};
use serde_json::{json, Value};

pub struct Ledger {
    pub state: State,
    pub seq: u64,
    pub now: Timestamp,
}

impl Ledger {
    pub fn at(now: &str) -> Ledger {
        Ledger { state: State::default(), seq: 0, now: ts(now) }
    }

    /// Decides `command` at the ledger clock; on success folds its events in (each a
    /// microsecond after the last).
    pub fn when(&mut self, command: Value) -> Result<Vec<Event>, Rejection> {
        let command: Command = serde_json::from_value(command.clone())
            .unwrap_or_else(|e| panic!("{command} is not a command: {e}"));
        let events = decide(&self.state, &command, self.now)?;
        for event in &events {
            self.seq += 1;
            self.state.evolve(event, self.seq, self.now);
            self.now = self.now.plus_micros(1);
        }
        Ok(events)
    }

    /// As `when`, for a command that must succeed.
    pub fn ok(&mut self, command: Value) -> Vec<Event> {
        self.when(command.clone()).unwrap_or_else(|r| panic!("{command} refused: {r}"))
    }
}

pub fn ts(text: &str) -> Timestamp {
    Timestamp::parse(text).expect("an RFC 3339 time")
}

/// A settlement (`mode` "settle" or "hold") at the ledger clock.
pub fn settle(
    id: &str,
    institution: &str,
    beneficiary: &str,
    category: &str,
    amount: &str,
    mode: &str,
) -> Value {
    json!({"command": "settle", "settlement_id": id, "institution": institution, "beneficiary": beneficiary,
        "category": category, "amount": amount, "occurred_at": null, "mode": mode})
}

pub fn bind(authorizer: &str, beneficiary: &str, relation: &str) -> Value {
    json!({"command": "request_binding", "authorizer": authorizer, "beneficiary": beneficiary, "relation": relation})
}

pub fn premium(payer: &str, beneficiary: &str, year: i32, amount: &str) -> Value {
    json!({"command": "pay_premium", "payer": payer, "beneficiary": beneficiary, "year": year, "amount": amount})
}

pub fn status(person: &str, status: &str) -> Value {
    json!({"command": "set_status", "person_id": person, "status": status, "reason": "x"})
}
