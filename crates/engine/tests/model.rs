//! Model-based property test: random command sequences run through the real engine (real
//! sled on disk, a manual clock) and through a small reference model of money movements.
//! After every step: money is conserved, nothing is negative or over-held, refunds never
//! exceed what each source paid, limits hold, the incremental views equal a full replay of
//! the log, and the chain verifies. Half-way, the engine is restarted from disk.

use std::collections::BTreeMap;

use domain::{
    BindingId, Bucket, Category, Command, Event, Money, PersonId, PersonStatus, Region, Request, RequestId,
    RuleSet, SettleMode, SettlementId, Source, Timestamp,
};
use engine::{Engine, EngineConfig, ManualClock, Outcome};
use proptest::prelude::*;

const EMPLOYEES: usize = 3;
const RESIDENTS: usize = 2;

#[derive(Clone, Debug)]
enum Op {
    Credit { person: usize, fen: u64, historic: bool },
    Bind { authorizer: usize, beneficiary: usize },
    Authorize { binding: u64, priority: Option<u32>, monthly_fen: Option<u64>, annual_fen: Option<u64> },
    Revoke { binding: u64 },
    Suspend { person: usize, suspended: bool },
    Settle { beneficiary: usize, category: usize, fen: u64, hold: bool, days_back: i64 },
    Capture { settlement: usize, fen: Option<u64> },
    Void { settlement: usize },
    Refund { settlement: usize, fen: u64 },
    Premium { payer: usize, beneficiary: usize },
    Advance { minutes: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    let person = 0..EMPLOYEES + RESIDENTS;
    prop_oneof![
        3 => (0..EMPLOYEES, 1u64..50_000, any::<bool>()).prop_map(|(person, fen, historic)| Op::Credit { person, fen, historic }),
        2 => (0..EMPLOYEES, person.clone()).prop_map(|(authorizer, beneficiary)| Op::Bind { authorizer, beneficiary }),
        1 => (1u64..6, proptest::option::of(1u32..5), proptest::option::of(0u64..20_000), proptest::option::of(0u64..40_000))
            .prop_map(|(binding, priority, monthly_fen, annual_fen)| Op::Authorize { binding, priority, monthly_fen, annual_fen }),
        1 => (1u64..6).prop_map(|binding| Op::Revoke { binding }),
        1 => (person.clone(), any::<bool>()).prop_map(|(person, suspended)| Op::Suspend { person, suspended }),
        6 => (person.clone(), 0..6usize, 1u64..30_000, any::<bool>(), 0i64..40)
            .prop_map(|(beneficiary, category, fen, hold, days_back)| Op::Settle { beneficiary, category, fen, hold, days_back }),
        2 => (0..12usize, proptest::option::of(1u64..30_000)).prop_map(|(settlement, fen)| Op::Capture { settlement, fen }),
        1 => (0..12usize).prop_map(|settlement| Op::Void { settlement }),
        2 => (0..12usize, 1u64..20_000).prop_map(|(settlement, fen)| Op::Refund { settlement, fen }),
        1 => (0..EMPLOYEES, person).prop_map(|(payer, beneficiary)| Op::Premium { payer, beneficiary }),
        1 => (1i64..90).prop_map(|minutes| Op::Advance { minutes }),
    ]
}

fn person_id(index: usize) -> PersonId {
    let name = if index < EMPLOYEES { format!("E{index}") } else { format!("R{}", index - EMPLOYEES) };
    PersonId::new(&name).unwrap()
}

fn region() -> Region {
    Region::new("210100").unwrap()
}

/// Per (account, source) of one settlement: fen paid and fen refunded.
type PaidAndRefunded = BTreeMap<(PersonId, Source), (u64, u64)>;

/// The reference model: what each account must hold, from the money each event moved.
#[derive(Default)]
struct Model {
    credited: u64,
    drawn: u64,
    refunded: u64,
    /// Per settlement, per (account, source): paid and refunded, in fen.
    sources: BTreeMap<SettlementId, PaidAndRefunded>,
    /// Per binding: current monthly and annual limits.
    limits: BTreeMap<BindingId, (Option<u64>, Option<u64>)>,
    /// Per binding, per settlement: (occurred_at, family money drawn net of releases and refunds).
    charges: BTreeMap<BindingId, BTreeMap<SettlementId, (Timestamp, u64)>>,
    /// When each settlement occurred.
    occurred: BTreeMap<SettlementId, Timestamp>,
    window: Option<domain::LimitWindow>,
}

fn fen(money: Money) -> u64 {
    money.fen()
}

impl Model {
    /// Family money drawn through `binding` in the month (or, `year`, the year) window of `at`,
    /// by the model's own count.
    fn used(&self, binding: &BindingId, at: Timestamp, year: bool) -> u64 {
        let days = if year { 365 } else { 30 };
        let (start, end) = match self.window.unwrap_or(domain::LimitWindow::Calendar) {
            domain::LimitWindow::Calendar if year => at.cst_year_bounds(),
            domain::LimitWindow::Calendar => at.cst_month_bounds(),
            domain::LimitWindow::Rolling => {
                (at.plus_micros(1 - days * domain::time::MICROS_PER_DAY), at.plus_micros(1))
            }
        };
        self.charges
            .get(binding)
            .map(|charges| charges.values().filter(|(t, _)| *t >= start && *t < end).map(|(_, f)| *f).sum())
            .unwrap_or(0)
    }

    fn charge(&mut self, settlement: &SettlementId, draws: &[domain::Draw], sign: i8) {
        let at = self.occurred[settlement];
        for d in draws {
            if let Some(binding) = &d.binding_id {
                let entry = self
                    .charges
                    .entry(binding.clone())
                    .or_default()
                    .entry(settlement.clone())
                    .or_insert((at, 0));
                if sign > 0 {
                    entry.1 += fen(d.amount);
                } else {
                    entry.1 -= fen(d.amount);
                }
            }
        }
    }

    fn apply(&mut self, event: &Event) {
        let sum = |draws: &[domain::Draw]| draws.iter().map(|d| fen(d.amount)).sum::<u64>();
        match event {
            Event::Credited(e) => self.credited += fen(e.amount),
            Event::Settled(c) | Event::Held(c) => {
                assert_eq!(sum(&c.draws) + fen(c.out_of_pocket), fen(c.amount), "a split adds up");
                self.occurred.insert(c.settlement_id.clone(), c.occurred_at);
                self.charge(&c.settlement_id, &c.draws, 1);
                for d in c.draws.iter().filter(|d| d.source == Source::Family) {
                    let binding = d.binding_id.as_ref().expect("family money is drawn through a binding");
                    let (monthly, annual) = self.limits.get(binding).copied().unwrap_or_default();
                    for (limit, year) in [(monthly, false), (annual, true)] {
                        let Some(limit) = limit else { continue };
                        // Every window holding the draw: the one ending at it, and for rolling
                        // windows those ending at each later charge within 30 (365) days, since
                        // a backdated draw lies in all of them.
                        let days = if year { 365 } else { 30 };
                        let horizon = c.occurred_at.plus_micros(days * domain::time::MICROS_PER_DAY);
                        let rolling = self.window == Some(domain::LimitWindow::Rolling);
                        let ends = self.charges[binding]
                            .values()
                            .map(|(t, _)| *t)
                            .filter(|t| rolling && *t >= c.occurred_at && *t < horizon);
                        for end in std::iter::once(c.occurred_at).chain(ends) {
                            assert!(
                                self.used(binding, end, year) <= limit,
                                "a family draw never takes a window's usage above its limit"
                            );
                        }
                    }
                }
                if matches!(event, Event::Settled(_)) {
                    self.drawn += sum(&c.draws);
                    let sources = self.sources.entry(c.settlement_id.clone()).or_default();
                    for d in &c.draws {
                        sources.entry((d.account.clone(), d.source)).or_default().0 += fen(d.amount);
                    }
                }
            }
            Event::Captured(e) => {
                self.charge(&e.settlement_id, &e.released, -1);
                self.drawn += sum(&e.draws);
                let sources = self.sources.entry(e.settlement_id.clone()).or_default();
                for d in &e.draws {
                    sources.entry((d.account.clone(), d.source)).or_default().0 += fen(d.amount);
                }
            }
            Event::Voided(e) | Event::Expired(e) => self.charge(&e.settlement_id, &e.released, -1),
            Event::Refunded(e) => {
                self.refunded += sum(&e.returns);
                self.charge(&e.settlement_id, &e.returns, -1);
                let sources = self.sources.entry(e.settlement_id.clone()).or_default();
                for d in &e.returns {
                    let entry = sources.entry((d.account.clone(), d.source)).or_default();
                    entry.1 += fen(d.amount);
                    assert!(entry.1 <= entry.0, "a refund never returns more than a source paid");
                }
            }
            Event::PremiumPaid(e) => self.drawn += sum(&e.draws),
            Event::AuthorizationSet(e) => {
                self.limits.insert(e.binding_id.clone(), (e.monthly_limit.map(fen), e.annual_limit.map(fen)));
            }
            _ => {}
        }
    }
}

/// Folds into the model every event the projections have applied and the model has not,
/// those the writer's clock wrote on its own (a hold expiring) too, and hands back the
/// projections it now agrees with. The writer cannot apply a batch while the guard is held,
/// so the model never runs ahead of what it is compared with, nor behind it.
fn catch_up<'a>(
    engine: &'a Engine,
    model: &mut Model,
    seen: &mut u64,
    settlements: &mut Vec<SettlementId>,
) -> std::sync::RwLockReadGuard<'a, projection::Projections> {
    let projections = engine.projections().unwrap();
    let head = projections.head_seq();
    for stored in engine.log().events(*seen).take((head - *seen) as usize) {
        let recorded = engine::decode_event(&stored.unwrap()).unwrap();
        *seen = recorded.seq;
        model.apply(&recorded.event);
        if let Event::Settled(c) | Event::Held(c) = &recorded.event {
            settlements.push(c.settlement_id.clone());
        }
    }
    assert_eq!(*seen, head, "the log holds every event the projections applied");
    projections
}

struct Harness {
    dir: tempfile::TempDir,
    clock: ManualClock,
    engine: Option<Engine>,
    model: Model,
    settlements: Vec<SettlementId>,
    requests: u64,
    seen: u64,
}

impl Harness {
    fn new(rules: RuleSet) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(Timestamp::parse("2026-03-20T10:00:00+08:00").unwrap());
        let engine = Engine::open(dir.path(), Box::new(clock.clone()), EngineConfig::default()).unwrap();
        let model = Model { window: Some(rules.limit_window), ..Model::default() };
        let mut harness = Harness {
            dir,
            clock,
            engine: Some(engine),
            model,
            settlements: Vec::new(),
            requests: 0,
            seen: 0,
        };
        harness.must(Command::PublishRules { region: region(), rules });
        harness.must(Command::RegisterInstitution {
            institution_id: domain::InstitutionId::new("H1").unwrap(),
            region: region(),
            kind: domain::InstitutionKind::Hospital,
            name: "Hospital".into(),
        });
        for index in 0..EMPLOYEES + RESIDENTS {
            let scheme = if index < EMPLOYEES { domain::Scheme::Employee } else { domain::Scheme::Resident };
            harness.must(Command::RegisterPerson {
                person_id: person_id(index),
                region: region(),
                scheme,
                name: None,
                id_number: None,
            });
        }
        harness
    }

    fn engine(&self) -> &Engine {
        self.engine.as_ref().unwrap()
    }

    fn run(&mut self, command: Command) -> Outcome {
        self.requests += 1;
        let request =
            Request { request_id: RequestId::new(&format!("q{}", self.requests)).unwrap(), command };
        let outcome = self.engine().execute(request.clone()).expect("no storage failure");
        let engine = self.engine.as_ref().unwrap();
        drop(catch_up(engine, &mut self.model, &mut self.seen, &mut self.settlements));
        if let Outcome::Committed { events, .. } = &outcome {
            // The same request again answers the same, and writes nothing.
            let head = self.engine().projections().unwrap().head_seq();
            match self.engine().execute(request).unwrap() {
                Outcome::Committed { events: again, replayed } => {
                    assert!(replayed);
                    assert_eq!(&again, events);
                }
                other => panic!("a retry answers as before, got {other:?}"),
            }
            // Only the clock may have written meanwhile (a hold expiring).
            for stored in self.engine().log().events(head) {
                assert_eq!(
                    engine::decode_event(&stored.unwrap()).unwrap().event.kind(),
                    "expired",
                    "a retry writes nothing"
                );
            }
        }
        outcome
    }

    fn must(&mut self, command: Command) {
        match self.run(command) {
            Outcome::Committed { .. } => {}
            other => panic!("setup command refused: {other:?}"),
        }
    }

    fn settlement(&self, index: usize) -> SettlementId {
        self.settlements.get(index).cloned().unwrap_or_else(|| SettlementId::new("none").unwrap())
    }

    fn step(&mut self, op: &Op) {
        let now = self.clock.now_for_test();
        let command = match op {
            Op::Credit { person, fen, historic } => Command::Credit {
                person_id: person_id(*person),
                amount: Money::from_fen(*fen),
                bucket: if *historic { Bucket::Historic } else { Bucket::Current },
                reason: "allocation".into(),
            },
            Op::Bind { authorizer, beneficiary } => Command::RequestBinding {
                authorizer: person_id(*authorizer),
                beneficiary: person_id(*beneficiary),
                relation: "child".into(),
            },
            Op::Authorize { binding, priority, monthly_fen, annual_fen } => Command::Authorize {
                binding_id: BindingId::from_number(*binding),
                priority: *priority,
                monthly_limit: monthly_fen.map(Money::from_fen),
                annual_limit: annual_fen.map(Money::from_fen),
            },
            Op::Revoke { binding } => Command::RevokeBinding { binding_id: BindingId::from_number(*binding) },
            Op::Suspend { person, suspended } => Command::SetStatus {
                person_id: person_id(*person),
                status: if *suspended { PersonStatus::Suspended } else { PersonStatus::Active },
                reason: "review".into(),
            },
            Op::Settle { beneficiary, category, fen, hold, days_back } => {
                let number = self.requests;
                Command::Settle {
                    settlement_id: SettlementId::new(&format!("S{number}")).unwrap(),
                    institution: domain::InstitutionId::new("H1").unwrap(),
                    beneficiary: person_id(*beneficiary),
                    category: Category::ALL[*category],
                    amount: Money::from_fen(*fen),
                    occurred_at: Some(now.plus_micros(-days_back * domain::time::MICROS_PER_DAY)),
                    mode: if *hold { SettleMode::Hold } else { SettleMode::Settle },
                }
            }
            Op::Capture { settlement, fen } => Command::Capture {
                settlement_id: self.settlement(*settlement),
                amount: fen.map(Money::from_fen),
            },
            Op::Void { settlement } => Command::Void { settlement_id: self.settlement(*settlement) },
            Op::Refund { settlement, fen } => Command::Refund {
                settlement_id: self.settlement(*settlement),
                refund_id: domain::RefundId::new(&format!("F{}", self.requests)).unwrap(),
                amount: Money::from_fen(*fen),
                reason: "returned".into(),
            },
            Op::Premium { payer, beneficiary } => Command::PayPremium {
                payer: person_id(*payer),
                beneficiary: person_id(*beneficiary),
                year: 2026,
                amount: Money::from_fen(40_000),
            },
            Op::Advance { minutes } => {
                self.clock.advance_micros(minutes * domain::time::MICROS_PER_MINUTE);
                // Let the writer's clock-driven expiry run: any request goes after it.
                self.run(Command::Void { settlement_id: SettlementId::new("none").unwrap() });
                return;
            }
        };
        self.run(command);
    }

    /// Every invariant of the ledger, against the model and a full replay.
    fn check(&mut self) {
        let window = self.model.window.unwrap_or(domain::LimitWindow::Calendar);
        let now = engine::Clock::now(&self.clock);
        let engine = self.engine.as_ref().unwrap();
        let projections = catch_up(engine, &mut self.model, &mut self.seen, &mut self.settlements);
        let head = projections.head_seq();
        let state = projections.state();
        // Money conserved: what came in, less what went out, plus what came back.
        let total = fen(state.total_balance());
        assert_eq!(total + self.model.drawn, self.model.credited + self.model.refunded, "money is conserved");
        // Nothing over-held; held money equals what open holds reserve.
        let mut held_by_holds: BTreeMap<PersonId, u64> = BTreeMap::new();
        for settlement in state.settlements.values() {
            if settlement.status == command::SettlementStatus::Held {
                for d in &settlement.draws {
                    *held_by_holds.entry(d.account.clone()).or_default() += fen(d.amount);
                }
            }
            assert!(
                settlement.refunded_total() <= settlement.settled_amount(),
                "refunds never exceed settled"
            );
        }
        for (person_id, person) in state.persons.iter() {
            if let Some(account) = &person.account {
                assert!(account.held_current <= account.current && account.held_historic <= account.historic);
                let held = fen(account.held_current) + fen(account.held_historic);
                assert_eq!(held, held_by_holds.get(person_id).copied().unwrap_or(0), "held = open holds");
            }
        }
        // The engine's limit usage equals the model's own count for every binding.
        for binding in state.bindings.iter() {
            let (used_month, used_year) = binding.usage_at(window, now);
            assert_eq!(
                (fen(used_month), fen(used_year)),
                (
                    self.model.used(&binding.binding_id(), now, false),
                    self.model.used(&binding.binding_id(), now, true)
                ),
                "limit usage matches the model"
            );
        }
        // Incremental views equal a full replay of the log up to the same event, and the chain
        // verifies (the writer may have logged one more batch, not yet applied, meanwhile).
        let log = engine.log();
        let replayed = engine::replay_from_genesis(log, Some(head)).unwrap();
        assert!(replayed == *projections, "incremental projections equal a replay of the log");
        let report = log.verify().unwrap();
        assert!(report.ok && report.head_seq >= head, "the chain verifies: {report:?}");
    }

    fn restart(&mut self) {
        self.engine.take().unwrap().shutdown();
        // What the stopped ledger holds, replayed from nothing: the state to come back to.
        let before = {
            let store = ledger::Store::open(self.dir.path()).unwrap();
            engine::replay_from_genesis(&store.reader(), None).unwrap()
        };
        let engine =
            Engine::open(self.dir.path(), Box::new(self.clock.clone()), EngineConfig::default()).unwrap();
        {
            // The reopened writer may expire a due hold at once; everything before it is as it was.
            let after = engine.projections().unwrap();
            let extra: Vec<String> = engine
                .log()
                .events(before.head_seq())
                .take((after.head_seq() - before.head_seq()) as usize)
                .map(|e| engine::decode_event(&e.unwrap()).unwrap().event.kind().to_string())
                .collect();
            assert!(extra.iter().all(|kind| kind == "expired"), "a restart writes only expiries: {extra:?}");
            if extra.is_empty() {
                assert!(*after == before, "a restart rebuilds exactly the state it stopped with");
            }
        }
        self.engine = Some(engine);
    }
}

trait NowForTest {
    fn now_for_test(&self) -> Timestamp;
}

impl NowForTest for ManualClock {
    fn now_for_test(&self) -> Timestamp {
        engine::Clock::now(self)
    }
}

fn rules() -> impl Strategy<Value = RuleSet> {
    (any::<bool>(), any::<bool>(), any::<bool>(), any::<bool>()).prop_map(
        |(one_family, historic_only, pro_rata, rolling)| {
            let mut rules = RuleSet::with_defaults(1, Timestamp::parse("2026-01-01T00:00:00+08:00").unwrap());
            rules.family_accounts_per_settlement = one_family.then_some(1);
            if historic_only {
                rules.family_buckets = vec![Bucket::Historic];
            }
            if pro_rata {
                rules.refund_order = domain::RefundOrder::ProRata;
            }
            if rolling {
                rules.limit_window = domain::LimitWindow::Rolling;
            }
            rules.hold_timeout_minutes = 30;
            rules
        },
    )
}

fn model_cases() -> u32 {
    std::env::var("GONGJI_MODEL_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(256)
}

proptest! {
    // 256 cases in CI; GONGJI_MODEL_CASES=5000 for a deeper run.
    #![proptest_config(ProptestConfig { cases: model_cases(), max_shrink_iters: 1024, ..ProptestConfig::default() })]

    #[test]
    fn engine_matches_the_model(rules in rules(), ops in proptest::collection::vec(op(), 10..70)) {
        let mut harness = Harness::new(rules);
        let half = ops.len() / 2;
        for (index, op) in ops.iter().enumerate() {
            harness.step(op);
            harness.check();
            if index == half {
                harness.restart();
                harness.check();
            }
        }
    }
}
