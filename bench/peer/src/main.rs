//! The settlement workload on cqrs-es 0.5 + postgres-es: one `Account` aggregate per person;
//! a settlement is a command on the beneficiary's account that pays what the balance allows
//! and leaves the rest out of pocket, recorded as an event in PostgreSQL (durable defaults:
//! fsync on, synchronous_commit on). Concurrent clients each wait for their answer, as the
//! Gongji bench's clients do. Prints one JSON object of figures.
//!
//! `gongji-peer-bench DATABASE_URL [ACCOUNTS] [SETTLEMENTS] [CLIENTS]`

use std::sync::Arc;
use std::time::Instant;

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    opened: bool,
    balance_fen: u64,
}

#[derive(Debug)]
enum AccountCommand {
    Open { fen: u64 },
    Settle { settlement_id: String, amount_fen: u64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum AccountEvent {
    Opened { fen: u64 },
    Settled { settlement_id: String, paid_fen: u64, out_of_pocket_fen: u64 },
}

impl DomainEvent for AccountEvent {
    fn event_type(&self) -> String {
        match self {
            AccountEvent::Opened { .. } => "opened".into(),
            AccountEvent::Settled { .. } => "settled".into(),
        }
    }

    fn event_version(&self) -> String {
        "1".into()
    }
}

#[derive(Debug)]
struct AccountError(String);

impl std::fmt::Display for AccountError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AccountError {}

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = AccountCommand;
    type Event = AccountEvent;
    type Error = AccountError;
    type Services = ();

    async fn handle(&mut self, command: AccountCommand, _: &(), sink: &EventSink<Self>) -> Result<(), AccountError> {
        match command {
            AccountCommand::Open { fen } => {
                if self.opened {
                    return Err(AccountError("already_exists".into()));
                }
                sink.write(AccountEvent::Opened { fen }, self).await;
            }
            AccountCommand::Settle { settlement_id, amount_fen } => {
                if !self.opened {
                    return Err(AccountError("not_found".into()));
                }
                let paid_fen = amount_fen.min(self.balance_fen);
                let event = AccountEvent::Settled { settlement_id, paid_fen, out_of_pocket_fen: amount_fen - paid_fen };
                sink.write(event, self).await;
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: AccountEvent) {
        match event {
            AccountEvent::Opened { fen } => {
                self.opened = true;
                self.balance_fen = fen;
            }
            AccountEvent::Settled { paid_fen, .. } => self.balance_fen -= paid_fen,
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    aggregate_type text NOT NULL, aggregate_id text NOT NULL,
    sequence bigint CHECK (sequence >= 0) NOT NULL, event_type text NOT NULL,
    event_version text NOT NULL, payload json NOT NULL, metadata json NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence))";

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let url = args.get(1).expect("a DATABASE_URL").clone();
    let accounts: u64 = args.get(2).map_or(10_000, |a| a.parse().expect("a number"));
    let settlements: u64 = args.get(3).map_or(20_000, |a| a.parse().expect("a number"));
    let clients: u64 = args.get(4).map_or(64, |a| a.parse().expect("a number"));

    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(clients.min(90) as u32)
        .connect(&url)
        .await
        .expect("PostgreSQL answers");
    sqlx::query("DROP TABLE IF EXISTS events").execute(&pool).await.expect("drop");
    sqlx::query(SCHEMA).execute(&pool).await.expect("schema");
    let cqrs = Arc::new(postgres_es::postgres_cqrs::<Account>(pool.clone(), vec![], ()));

    let opening: Vec<_> = (0..clients)
        .map(|c| {
            let cqrs = cqrs.clone();
            tokio::spawn(async move {
                for n in (c..accounts).step_by(clients as usize) {
                    cqrs.execute(&format!("P{n}"), AccountCommand::Open { fen: 250_000 }).await.expect("opens");
                }
            })
        })
        .collect();
    for task in opening {
        task.await.expect("opening");
    }

    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let cqrs = cqrs.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ (c + 1);
                let mut conflicts = 0u64;
                for n in 0..settlements / clients {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let account = format!("P{}", x % accounts);
                    let command = AccountCommand::Settle { settlement_id: format!("S{c}-{n}"), amount_fen: 500 + x % 20_000 };
                    let t = Instant::now();
                    if cqrs.execute(&account, command).await.is_err() {
                        conflicts += 1;
                    }
                    latencies.push(t.elapsed().as_micros() as u64);
                }
                (latencies, conflicts)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        let (l, c) = task.await.expect("a client");
        latencies.extend(l);
        conflicts += c;
    }
    let seconds = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let committed = latencies.len() as u64 - conflicts;
    let report = serde_json::json!({
        "peer": "cqrs-es 0.5.0 + postgres-es 0.5.0, PostgreSQL durable defaults",
        "accounts": accounts,
        "clients": clients,
        "settlements": committed,
        "conflicts_or_errors": conflicts,
        "seconds": seconds,
        "settlements_per_second": (committed as f64 / seconds).round(),
        "latency_ms": {"p50": percentile(&latencies, 0.5), "p99": percentile(&latencies, 0.99), "p999": percentile(&latencies, 0.999)},
    });
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
}
