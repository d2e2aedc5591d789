//! The harness of the core's tests: a ledger in memory — the state, the next seq and a clock —
//! that decides commands given as JSON and folds what they record.

#![allow(dead_code)]

use command::{decide, State};
use domain::{Command, Event, Rejection, Timestamp};
use serde_json::Value;

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
