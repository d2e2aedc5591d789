//! The binary form of events (docs/events.md "Binary form"): every kind round-trips through
//! it and through JSON unchanged, one small event has a fixed byte string, and bytes that are
//! not an event are refused.

use std::collections::{BTreeMap, BTreeSet};

use domain::*;
use proptest::prelude::*;

fn person(text: &str) -> PersonId {
    PersonId::new(text).unwrap()
}

fn institution(text: &str) -> InstitutionId {
    InstitutionId::new(text).unwrap()
}

fn settlement(text: &str) -> SettlementId {
    SettlementId::new(text).unwrap()
}

fn region(text: &str) -> Region {
    Region::new(text).unwrap()
}

fn money(text: &str) -> Money {
    Money::parse(text).unwrap()
}

fn at(text: &str) -> Timestamp {
    Timestamp::parse(text).unwrap()
}

fn draw(account: &str, source: Source, bucket: Bucket, amount: &str, binding: Option<&str>) -> Draw {
    Draw {
        account: person(account),
        source,
        bucket,
        amount: money(amount),
        binding_id: binding.map(|b| BindingId::new(b).unwrap()),
    }
}

fn explain(account: Option<&str>, source: Source, paid: &str, reason: Option<Reason>) -> Explain {
    Explain { account: account.map(person), source, paid: money(paid), reason }
}

/// A settlement as the ledger writes one: own money first, then a bound relative's, with the
/// explanation of each account considered. About 10 characters per id.
fn charge(expires_at: Option<Timestamp>) -> Charge {
    Charge {
        settlement_id: settlement("S202603001"),
        institution: institution("H210102001"),
        region: region("210102"),
        beneficiary: person("P000000123"),
        category: Category::Outpatient,
        amount: money("350.00"),
        occurred_at: at("2026-03-01T09:30:00.123456Z"),
        rule_version: 3,
        draws: vec![
            draw("P000000123", Source::Own, Bucket::Current, "120.50", None),
            draw("P000000456", Source::Family, Bucket::Historic, "200", Some("B12")),
        ],
        out_of_pocket: money("29.50"),
        explain: vec![
            explain(Some("P000000123"), Source::Own, "120.50", Some(Reason::OwnBalanceExhausted)),
            explain(Some("P000000456"), Source::Family, "200.00", None),
        ],
        expires_at,
    }
}

fn released() -> Released {
    Released {
        settlement_id: settlement("S202603002"),
        institution: institution("H210102001"),
        region: region("210102"),
        released: vec![
            draw("P000000123", Source::Own, Bucket::Historic, "10.00", None),
            draw("P000000456", Source::Family, Bucket::Current, "0.01", Some("B12")),
        ],
    }
}

fn reviewed(reason: Option<&str>) -> BindingReviewed {
    BindingReviewed { binding_id: BindingId::from_number(12), reason: reason.map(str::to_owned) }
}

/// At least one realistic event of every kind, and of some kinds several (optional fields
/// present and absent).
fn samples() -> Vec<Event> {
    let mut rules = RuleSet::with_defaults(4, at("2026-01-01T00:00:00+08:00"));
    rules.resident_premium.insert(2028, money("450"));
    rules.beneficiaries_per_authorizer_max = Some(3);
    rules.cross_region = CrossRegion::Province;
    let mut bare_rules = RuleSet::with_defaults(1, at("2025-12-31T16:00:00Z"));
    bare_rules.resident_premium.clear();
    bare_rules.relations.clear();
    vec![
        Event::RulesPublished(RulesPublished { region: region("210102"), rules }),
        Event::RulesPublished(RulesPublished { region: region("310100"), rules: bare_rules }),
        Event::InstitutionRegistered(InstitutionRegistered {
            institution_id: institution("H210102001"),
            region: region("210102"),
            kind: InstitutionKind::Pharmacy,
            name: "沈阳市第一人民医院药房".to_owned(),
        }),
        Event::PersonRegistered(PersonRegistered {
            person_id: person("P000000123"),
            region: region("210102"),
            scheme: Scheme::Employee,
            name: Some("张三".to_owned()),
            id_number_masked: Some("210102********1237".to_owned()),
        }),
        Event::PersonRegistered(PersonRegistered {
            person_id: person("P000000456"),
            region: region("210102"),
            scheme: Scheme::Resident,
            name: None,
            id_number_masked: None,
        }),
        Event::PersonStatusChanged(PersonStatusChanged {
            person_id: person("P000000456"),
            status: PersonStatus::Suspended,
            reason: "moved away".to_owned(),
        }),
        Event::BindingEnded(BindingEnded {
            binding_id: BindingId::from_number(12),
            cause: EndCause::BeneficiaryTerminated,
        }),
        Event::Credited(Credited {
            person_id: person("P000000123"),
            bucket: Bucket::Historic,
            amount: money("1234.56"),
            reason: "monthly allocation".to_owned(),
            balance: Balance { current: money("0"), historic: money("1234.56"), held: money("10.01") },
        }),
        Event::YearClosed(YearClosed {
            region: region("210102"),
            year: 2026,
            accounts: 120_000,
            moved: money("98765432.10"),
        }),
        Event::BindingRequested(BindingRequested {
            binding_id: BindingId::from_number(12),
            authorizer: person("P000000456"),
            beneficiary: person("P000000123"),
            relation: Relation::Grandparent,
            status: BindingStatus::Pending,
            rule_version: 3,
        }),
        Event::BindingApproved(reviewed(None)),
        Event::BindingRejected(reviewed(Some("not a relative"))),
        Event::BindingRevoked(reviewed(None)),
        Event::AuthorizationSet(AuthorizationSet {
            binding_id: BindingId::from_number(12),
            priority: Some(1),
            monthly_limit: Some(money("500")),
            annual_limit: None,
            used_month: money("120.00"),
            used_year: money("0"),
        }),
        Event::Settled(charge(None)),
        Event::Held(charge(Some(at("2026-03-01T10:00:00.123456Z")))),
        Event::Captured(Captured {
            settlement_id: settlement("S202603002"),
            institution: institution("H210102001"),
            region: region("210102"),
            amount: money("80.00"),
            draws: vec![draw("P000000123", Source::Own, Bucket::Current, "70.00", None)],
            out_of_pocket: money("10.00"),
            released: vec![draw("P000000456", Source::Family, Bucket::Historic, "5.00", Some("B12"))],
        }),
        Event::Voided(released()),
        Event::Expired(Released { released: Vec::new(), ..released() }),
        Event::Refunded(Refunded {
            refund_id: RefundId::new("R202603001").unwrap(),
            settlement_id: settlement("S202603001"),
            institution: institution("H210102001"),
            region: region("210102"),
            amount: money("50.00"),
            reason: "returned medicine".to_owned(),
            returns: vec![draw("P000000456", Source::Family, Bucket::Historic, "50.00", Some("B12"))],
            out_of_pocket: money("0.00"),
        }),
        Event::PremiumPaid(PremiumPaid {
            payer: person("P000000456"),
            beneficiary: person("P000000789"),
            region: region("210102"),
            year: 2027,
            amount: money("420"),
            draws: vec![
                draw("P000000456", Source::Own, Bucket::Historic, "400.00", None),
                draw("P000000456", Source::Own, Bucket::Current, "20.00", None),
            ],
        }),
    ]
}

// Proves the samples cover every kind, and that the kind codes are the indexes of
// `Event::KINDS` and map back and forth.
#[test]
fn samples_cover_every_kind_and_codes_map_both_ways() {
    let kinds: BTreeSet<&str> = samples().iter().map(Event::kind).collect();
    assert_eq!(kinds, Event::KINDS.iter().copied().collect());
    for event in samples() {
        let code = event.kind_code();
        assert_eq!(Event::KINDS[usize::from(code)], event.kind());
        assert_eq!(Event::kind_of_code(code), Some(event.kind()));
        assert_eq!(Event::code_of_kind(event.kind()), Some(code));
    }
    assert_eq!(Event::code_of_kind("rules_published"), Some(0));
    assert_eq!(Event::code_of_kind("premium_paid"), Some(18));
    assert_eq!(Event::code_of_kind("paid"), None);
    assert_eq!(Event::kind_of_code(19), None);
}

/// Asserts each of `names` (the JSON form of a unit enum's variants, in docs/events.md's
/// order) is stored as its index in the list, and that there are no more variants.
fn assert_indexes<T>(names: &[&str])
where
    T: serde::de::DeserializeOwned + borsh::BorshSerialize + borsh::BorshDeserialize,
{
    for (index, name) in names.iter().enumerate() {
        let value: T = serde_json::from_value(serde_json::Value::from(*name)).unwrap();
        assert_eq!(borsh::to_vec(&value).unwrap(), [u8::try_from(index).unwrap()], "{name}");
    }
    assert!(borsh::from_slice::<T>(&[u8::try_from(names.len()).unwrap()]).is_err(), "{names:?}");
}

// Proves the unit enums' indexes and the kind codes are those that docs/events.md lists.
#[test]
fn indexes_are_as_documented() {
    assert_indexes::<Source>(&["own", "family"]);
    assert_indexes::<Bucket>(&["current", "historic"]);
    assert_indexes::<Category>(&[
        "outpatient",
        "chronic_outpatient",
        "pharmacy",
        "medical_device",
        "medical_consumable",
        "inpatient",
    ]);
    assert_indexes::<Relation>(&["spouse", "parent", "child", "grandparent", "grandchild", "sibling"]);
    assert_indexes::<BindingStatus>(&["pending", "active", "rejected", "revoked", "ended"]);
    assert_indexes::<EndCause>(&["authorizer_terminated", "beneficiary_terminated"]);
    assert_indexes::<Scheme>(&["employee", "resident"]);
    assert_indexes::<PersonStatus>(&["active", "suspended", "terminated"]);
    assert_indexes::<InstitutionKind>(&["hospital", "pharmacy"]);
    assert_indexes::<CrossRegion>(&["none", "province", "nation"]);
    assert_indexes::<FamilyOrder>(&["priority", "balance_desc"]);
    assert_indexes::<LimitWindow>(&["calendar", "rolling"]);
    assert_indexes::<RefundOrder>(&["reverse", "pro_rata"]);
    assert_indexes::<Reason>(&[
        "category_not_for_own",
        "own_balance_exhausted",
        "category_not_for_family",
        "authorizer_suspended",
        "authorizer_terminated",
        "binding_revoked",
        "bucket_not_for_family",
        "family_balance_exhausted",
        "monthly_limit_reached",
        "annual_limit_reached",
        "family_account_already_used",
        "no_binding",
    ]);
    let kinds = [
        "rules_published",
        "institution_registered",
        "person_registered",
        "person_status_changed",
        "binding_ended",
        "credited",
        "year_closed",
        "binding_requested",
        "binding_approved",
        "binding_rejected",
        "binding_revoked",
        "authorization_set",
        "settled",
        "held",
        "captured",
        "voided",
        "expired",
        "refunded",
        "premium_paid",
    ];
    assert_eq!(Event::KINDS, kinds);
}

// Proves binary -> Event -> JSON -> Event -> binary is the identity for every kind: what an
// auditor re-encodes from the exported JSON is byte for byte what was hashed.
#[test]
fn every_kind_round_trips_through_binary_and_json() {
    for event in samples() {
        let bytes = event.encode();
        let decoded = Event::from_binary(event.kind_code(), EVENT_VERSION, &bytes).unwrap();
        assert_eq!(decoded, event);
        let json = serde_json::to_vec(&decoded).unwrap();
        let from_json = Event::from_json(event.kind(), EVENT_VERSION, &json).unwrap();
        assert_eq!(from_json, event, "{}", String::from_utf8_lossy(&json));
        assert_eq!(from_json.encode(), bytes, "{}", event.kind());
        assert_eq!(serde_json::to_vec(&from_json).unwrap(), json);
    }
}

// Proves the format is fixed: one small event has exactly these bytes, spelled out field by
// field from the rules of docs/events.md, and its JSON form is unchanged.
#[test]
fn golden_credited() {
    let event = Event::Credited(Credited {
        person_id: person("P1"),
        bucket: Bucket::Current,
        amount: money("5"),
        reason: "top-up".to_owned(),
        balance: Balance { current: money("5"), historic: money("0.01"), held: Money::ZERO },
    });
    let expected = [
        "020000005031",         // person_id: u32 length 2, then "P1"
        "00",                   // bucket: current (index 0)
        "f401000000000000",     // amount: 500 fen
        "06000000746f702d7570", // reason: u32 length 6, then "top-up"
        "f401000000000000",     // balance.current: 500 fen
        "0100000000000000",     // balance.historic: 1 fen
        "0000000000000000",     // balance.held: 0 fen
    ]
    .concat();
    assert_eq!(hex::encode(event.encode()), expected);
    assert_eq!(event.encode().len(), 49);
    assert_eq!(event.kind_code(), 5);
    assert_eq!(
        serde_json::to_string(&event).unwrap(),
        r#"{"person_id":"P1","bucket":"current","amount":"5.00","reason":"top-up","balance":{"current":"5.00","historic":"0.01","held":"0.00"}}"#
    );
}

// Proves the size of a typical settlement (2 draws, 2 explain lines, ids of ~10 characters)
// in both forms, so a change that makes it grow is seen.
#[test]
fn typical_settlement_size() {
    let event = Event::Settled(charge(None));
    assert_eq!(event.encode().len(), 198);
    assert_eq!(serde_json::to_vec(&event).unwrap().len(), 576);
}

// Proves what is not an event is refused: an unknown code or version, every truncation of
// every sample, a trailing byte.
#[test]
fn refuses_unknown_code_version_and_wrong_length() {
    let event = Event::Settled(charge(None));
    let bytes = event.encode();
    let code = event.kind_code();
    let unknown = u16::try_from(Event::KINDS.len()).unwrap();
    assert!(Event::from_binary(unknown, EVENT_VERSION, &bytes)
        .unwrap_err()
        .contains("unknown event kind code"));
    assert!(Event::from_binary(u16::MAX, EVENT_VERSION, &bytes).is_err());
    for version in [0, EVENT_VERSION + 1] {
        assert!(Event::from_binary(code, version, &bytes).unwrap_err().contains("unknown version"));
    }
    for event in samples() {
        let bytes = event.encode();
        for end in 0..bytes.len() {
            assert!(Event::from_binary(event.kind_code(), EVENT_VERSION, &bytes[..end]).is_err(), "{end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Event::from_binary(event.kind_code(), EVENT_VERSION, &longer).is_err());
    }
    // The same bytes read as another kind of the same payload are that other kind.
    let held = Event::code_of_kind("held").unwrap();
    assert_eq!(Event::from_binary(held, EVENT_VERSION, &bytes).unwrap(), Event::Held(charge(None)));
}

/// The golden credited event's bytes with `patch` written over them at `offset`.
fn patched_credited(offset: usize, patch: &[u8]) -> Vec<u8> {
    let event = Event::Credited(Credited {
        person_id: person("P1"),
        bucket: Bucket::Current,
        amount: money("5"),
        reason: "top-up".to_owned(),
        balance: Balance::default(),
    });
    let mut bytes = event.encode();
    bytes[offset..offset + patch.len()].copy_from_slice(patch);
    bytes
}

// Proves values the JSON form would refuse are refused in the binary form too: an invalid
// id, a variant index past the last, a negative amount or one above the stored maximum.
#[test]
fn refuses_invalid_values() {
    let credited = Event::code_of_kind("credited").unwrap();
    let read = |bytes: &[u8]| Event::from_binary(credited, EVENT_VERSION, bytes);
    assert!(read(&patched_credited(0, &[])).is_ok());
    let space = read(&patched_credited(5, b" ")).unwrap_err();
    assert!(space.contains("is not 1-64 characters"), "{space}");
    assert!(read(&patched_credited(4, &[0xff])).is_err(), "not UTF-8");
    assert!(read(&patched_credited(0, &[0, 0, 0, 0])).is_err(), "empty id");
    assert!(read(&patched_credited(0, &[65, 0, 0, 0])).is_err(), "id longer than 64");
    assert!(read(&patched_credited(0, &[0, 0, 0, 1])).is_err(), "length far past the end");
    assert!(read(&patched_credited(6, &[2])).is_err(), "bucket index 2");
    assert!(read(&patched_credited(7, &(-1i64).to_le_bytes())).is_err(), "negative amount");
    let max_fen = 1_000_000_000_000_000i64;
    assert!(read(&patched_credited(7, &max_fen.to_le_bytes())).is_ok());
    assert!(read(&patched_credited(7, &(max_fen + 1).to_le_bytes())).is_err(), "above the maximum");
    let too_much = Money::from_fen(1_000_000_000_000_001);
    assert!(borsh::to_vec(&too_much).is_err(), "what cannot be read back is not written");

    let id = |bytes: &[u8]| borsh::from_slice::<PersonId>(bytes).unwrap_err();
    let error = id(&[3, 0, 0, 0, b'P', b' ', b'1']);
    assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
    assert!(borsh::from_slice::<Region>(b"21010a").is_err());
    assert_eq!(borsh::from_slice::<Region>(b"210102").unwrap(), region("210102"));
    assert_eq!(borsh::to_vec(&region("210102")).unwrap(), b"210102");
    assert!(borsh::from_slice::<Option<Reason>>(&[2]).is_err(), "option tag 2");
    assert!(borsh::from_slice::<bool>(&[2]).is_err(), "bool 2");
}

// Proves a map whose keys are not in strictly ascending order is refused (borsh's
// `de_strict_order`), so the rule set's premium table has one byte string per value.
#[test]
fn refuses_unordered_maps() {
    let sorted = vec![(2026i32, money("400")), (2027, money("420"))];
    let map: BTreeMap<i32, Money> = sorted.iter().copied().collect();
    assert_eq!(borsh::to_vec(&map).unwrap(), borsh::to_vec(&sorted).unwrap());
    let unsorted = vec![(2027i32, money("420")), (2026, money("400"))];
    assert!(borsh::from_slice::<BTreeMap<i32, Money>>(&borsh::to_vec(&unsorted).unwrap()).is_err());
    let repeated = vec![(2026i32, money("400")), (2026, money("420"))];
    assert!(borsh::from_slice::<BTreeMap<i32, Money>>(&borsh::to_vec(&repeated).unwrap()).is_err());
}

// Proves a time is refused where `Timestamp::parse` would refuse it (outside 1900..=9999).
#[test]
fn refuses_times_outside_the_years() {
    let first = at("1900-01-01T00:00:00Z");
    let last = at("9999-12-31T23:59:59.999999Z");
    for time in [first, last] {
        assert_eq!(borsh::from_slice::<Timestamp>(&borsh::to_vec(&time).unwrap()).unwrap(), time);
    }
    for micros in [first.micros() - 1, last.micros() + 1, i64::MIN, i64::MAX] {
        assert!(borsh::from_slice::<Timestamp>(&micros.to_le_bytes()).is_err(), "{micros}");
    }
}

fn any_money() -> impl Strategy<Value = Money> {
    (0u64..=1_000_000_000_000_000).prop_map(Money::from_fen)
}

fn any_timestamp() -> impl Strategy<Value = Timestamp> {
    let first = Timestamp::parse("1900-01-01T00:00:00Z").unwrap().micros();
    let last = Timestamp::parse("9999-12-31T23:59:59.999999Z").unwrap().micros();
    (first..=last).prop_map(Timestamp::from_micros)
}

fn any_draw() -> impl Strategy<Value = Draw> {
    let id = "[A-Za-z0-9_.:-]{1,64}";
    (
        id,
        prop_oneof![Just(Source::Own), Just(Source::Family)],
        prop_oneof![Just(Bucket::Current), Just(Bucket::Historic)],
        any_money(),
        proptest::option::of(id),
    )
        .prop_map(|(account, source, bucket, amount, binding)| Draw {
            account: PersonId::new(&account).unwrap(),
            source,
            bucket,
            amount,
            binding_id: binding.map(|b| BindingId::new(&b).unwrap()),
        })
}

proptest! {
    // Proves any amount is 8 bytes, its fen little-endian, and reads back to the same amount
    // and the same JSON.
    #[test]
    fn money_round_trips(amount in any_money()) {
        let bytes = borsh::to_vec(&amount).unwrap();
        prop_assert_eq!(bytes.len(), 8);
        prop_assert_eq!(&bytes, &i64::try_from(amount.fen()).unwrap().to_le_bytes().to_vec());
        let back: Money = borsh::from_slice(&bytes).unwrap();
        prop_assert_eq!(back, amount);
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), serde_json::to_string(&amount).unwrap());
    }

    // Proves any time is its 8 bytes of microseconds and reads back unchanged.
    #[test]
    fn timestamp_round_trips(time in any_timestamp()) {
        let bytes = borsh::to_vec(&time).unwrap();
        prop_assert_eq!(&bytes, &time.micros().to_le_bytes().to_vec());
        prop_assert_eq!(borsh::from_slice::<Timestamp>(&bytes).unwrap(), time);
    }

    // Proves any draw reads back unchanged from binary, and re-encodes from its JSON to the
    // same bytes.
    #[test]
    fn draw_round_trips(draw in any_draw()) {
        let bytes = borsh::to_vec(&draw).unwrap();
        prop_assert_eq!(&borsh::from_slice::<Draw>(&bytes).unwrap(), &draw);
        let json = serde_json::to_vec(&draw).unwrap();
        let from_json: Draw = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(borsh::to_vec(&from_json).unwrap(), bytes);
    }
}
