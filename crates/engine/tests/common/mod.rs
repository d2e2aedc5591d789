//! What the engine tests on one employee's account share: the clock they start at, requests,
//! credits to P1, and P1 registered.

use domain::{Bucket, Command, Money, PersonId, Region, Request, RequestId, Scheme};
use engine::{Engine, ManualClock, Outcome};

pub fn clock() -> ManualClock {
    ManualClock::new(domain::Timestamp::parse("2026-03-20T10:00:00+08:00").unwrap())
}

pub fn request(id: &str, command: Command) -> Request {
    Request { request_id: RequestId::new(id).unwrap(), command }
}

/// A credit of `fen` to P1's current bucket under request id `id`.
pub fn credit(id: &str, fen: u64) -> Request {
    request(
        id,
        Command::Credit {
            person_id: PersonId::new("P1").unwrap(),
            amount: Money::from_fen(fen),
            bucket: Bucket::Current,
            reason: "allocation".into(),
        },
    )
}

/// Registers employee P1 in region 210100 (request id `p1`).
pub fn register_p1(engine: &Engine) {
    let person = Command::RegisterPerson {
        person_id: PersonId::new("P1").unwrap(),
        region: Region::new("210100").unwrap(),
        scheme: Scheme::Employee,
        name: None,
        id_number: None,
    };
    assert!(matches!(engine.execute(request("p1", person)).unwrap(), Outcome::Committed { .. }));
}
