//! A rule change decides later commands under the new parameters, while what was decided
//! before stays as it was recorded: here `limit_window` goes from `calendar` to `rolling`.

use domain::{
    BindingId, Bucket, Category, Command, Event, InstitutionId, InstitutionKind, LimitWindow, Money,
    PersonId, Region, Request, RequestId, RuleSet, Scheme, SettleMode, SettlementId, Timestamp,
};
use engine::{Engine, EngineConfig, ManualClock, Outcome};

struct Ledger {
    engine: Engine,
    clock: ManualClock,
    n: u64,
}

impl Ledger {
    fn run(&mut self, command: Command) -> Vec<Event> {
        self.n += 1;
        let request = Request { request_id: RequestId::new(&format!("q{}", self.n)).unwrap(), command };
        match self.engine.execute(request).unwrap() {
            Outcome::Committed { events, .. } => events.into_iter().map(|r| r.event).collect(),
            other => panic!("refused: {other:?}"),
        }
    }

    fn settle(&mut self, id: &str, fen: u64) -> domain::Charge {
        let events = self.run(Command::Settle {
            settlement_id: SettlementId::new(id).unwrap(),
            institution: InstitutionId::new("H1").unwrap(),
            beneficiary: PersonId::new("C").unwrap(),
            category: Category::Pharmacy,
            amount: Money::from_fen(fen),
            occurred_at: None,
            mode: SettleMode::Settle,
        });
        match events.into_iter().next() {
            Some(Event::Settled(charge)) => charge,
            other => panic!("not settled: {other:?}"),
        }
    }
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

// Proves: under calendar windows a new month restores the monthly limit; after a new rule
// version switches to rolling 30-day windows, the next settlement counts the previous month's
// charge; the earlier settlement's recorded split and rule version are unchanged.
#[test]
fn calendar_to_rolling() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-03-30T10:00:00+08:00"));
    let engine = Engine::open(dir.path(), Box::new(clock.clone()), EngineConfig::default()).unwrap();
    let mut ledger = Ledger { engine, clock, n: 0 };
    let region = Region::new("210100").unwrap();
    let calendar = RuleSet::with_defaults(1, at("2026-01-01T00:00:00+08:00"));
    assert_eq!(calendar.limit_window, LimitWindow::Calendar);
    ledger.run(Command::PublishRules { region, rules: calendar });
    ledger.run(Command::RegisterInstitution {
        institution_id: InstitutionId::new("H1").unwrap(),
        region,
        kind: InstitutionKind::Pharmacy,
        name: "Pharmacy".into(),
    });
    for (id, scheme) in [("P1", Scheme::Employee), ("C", Scheme::Resident)] {
        let person_id = PersonId::new(id).unwrap();
        ledger.run(Command::RegisterPerson { person_id, region, scheme, name: None, id_number: None });
    }
    ledger.run(Command::Credit {
        person_id: PersonId::new("P1").unwrap(),
        amount: Money::from_fen(100_000),
        bucket: Bucket::Historic,
        reason: "carried over".into(),
    });
    ledger.run(Command::RequestBinding {
        authorizer: PersonId::new("P1").unwrap(),
        beneficiary: PersonId::new("C").unwrap(),
        relation: "child".into(),
    });
    ledger.run(Command::Authorize {
        binding_id: BindingId::from_number(1),
        priority: None,
        monthly_limit: Some(Money::from_fen(10_000)),
        annual_limit: None,
    });

    // March: 80.00 of the 100.00 monthly limit.
    let march = ledger.settle("S-march", 8_000);
    assert_eq!(march.out_of_pocket, Money::ZERO);

    // April 2nd, calendar windows: a new month, the full 100.00 again.
    ledger.clock.set(at("2026-04-02T10:00:00+08:00"));
    let april_calendar = ledger.settle("S-april-1", 10_000);
    assert_eq!(april_calendar.out_of_pocket, Money::ZERO);
    assert_eq!(april_calendar.rule_version, 1);

    // A refund makes room again, then the rules change to rolling 30-day windows.
    ledger.run(Command::Refund {
        settlement_id: SettlementId::new("S-april-1").unwrap(),
        refund_id: domain::RefundId::new("R1").unwrap(),
        amount: Money::from_fen(10_000),
        reason: "returned".into(),
    });
    let mut rolling = RuleSet::with_defaults(2, at("2026-01-01T00:00:00+08:00"));
    rolling.limit_window = LimitWindow::Rolling;
    ledger.run(Command::PublishRules { region, rules: rolling });

    // Rolling: (Mar 3, Apr 2] still holds March's 80.00, so only 20.00 of 50.00 is family money.
    let april_rolling = ledger.settle("S-april-2", 5_000);
    assert_eq!(april_rolling.rule_version, 2);
    assert_eq!(Money::sum(april_rolling.draws.iter().map(|d| d.amount)), Money::from_fen(2_000));
    assert_eq!(april_rolling.out_of_pocket, Money::from_fen(3_000));
    assert_eq!(
        april_rolling.explain.last().and_then(|e| e.reason),
        Some(domain::Reason::MonthlyLimitReached)
    );

    // The March settlement is as it was decided.
    let projections = ledger.engine.projections().unwrap();
    let stored = projections.settlement_view(&SettlementId::new("S-march").unwrap()).unwrap();
    assert_eq!(stored.rule_version, 1);
    assert_eq!(stored.explain, march.explain);
    assert_eq!(stored.out_of_pocket, Money::ZERO);
}

// Proves a rule version that changes a parameter a view declares is recorded as a rule change
// of that view (and only of the views that declare it), and one that changes nothing declared
// records none; a replay of the log finds the same changes.
#[test]
fn rule_changes_are_recorded_per_view() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new(at("2026-03-30T10:00:00+08:00"));
    let engine = Engine::open(dir.path(), Box::new(clock.clone()), EngineConfig::default()).unwrap();
    let mut ledger = Ledger { engine, clock, n: 0 };
    let region = Region::new("210100").unwrap();
    let mut rules = RuleSet::with_defaults(1, at("2026-01-01T00:00:00+08:00"));
    ledger.run(Command::PublishRules { region, rules: rules.clone() });
    rules.version = 2;
    rules.hold_timeout_minutes = 45;
    ledger.run(Command::PublishRules { region, rules: rules.clone() });
    assert!(ledger.engine.projections().unwrap().rule_changes().is_empty(), "no declared parameter changed");
    rules.version = 3;
    rules.limit_window = LimitWindow::Rolling;
    let events = ledger.run(Command::PublishRules { region, rules });
    assert_eq!(events.len(), 1);
    let projections = ledger.engine.projections().unwrap();
    let changes = projections.rule_changes();
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!((changes[0].view.as_str(), changes[0].version), ("bindings", 3));
    assert_eq!(changes[0].parameters, vec!["limit_window".to_owned()]);
    assert_eq!(changes[0].region, region);
    let replayed = engine::replay_from_genesis(ledger.engine.log(), None).unwrap();
    assert_eq!(replayed.rule_changes(), changes);
}
