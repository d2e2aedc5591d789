//! `/openapi.json`: the OpenAPI 3.0.3 document of the contract (api.md) as this code implements
//! it: every route of `routes::router`, who may call it, the strict request bodies of `wire`,
//! the success bodies of `render` and `projection::views`, and every status a route can answer.
//!
//! The document is built from small helpers (an id, an amount, an enum, an object with its
//! required fields) and a builder per operation, so that it reads like the contract. Enums the
//! domain already enumerates (error codes, event kinds, categories) are taken from it.

use serde_json::{json, Map, Value};

use domain::limits::{
    BATCH_REQUESTS_MAX, EVENTS_PAGE_MAX, HOLD_TIMEOUT_MINUTES_MAX, PRIORITY_MAX, RULE_VERSION_MAX,
    TEXT_CHARS_MAX, YEAR_MAX, YEAR_MIN,
};
use domain::{Category, Code, Event};

/// Identifiers: 1–64 characters of `[A-Za-z0-9_.:-]`.
pub const ID_PATTERN: &str = "^[A-Za-z0-9_.:-]{1,64}$";
/// Pooling regions: six digits.
pub const REGION_PATTERN: &str = "^[0-9]{6}$";
/// Amounts in requests: yuan with at most two decimals.
pub const MONEY_PATTERN: &str = r"^(0|[1-9][0-9]*)(\.[0-9]{1,2})?$";
/// Amounts in responses: always exactly two decimals.
pub const MONEY_RENDERED_PATTERN: &str = r"^(0|[1-9][0-9]*)\.[0-9]{2}$";
/// Free text (names, reasons): 1–256 characters, no control characters.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]{1,256}$";
/// SHA-256 hashes, lower-case hex.
pub const HASH_PATTERN: &str = "^[0-9a-f]{64}$";
/// A resident ID number (GB 11643): 17 digits and a check character.
pub const ID_NUMBER_PATTERN: &str = "^[0-9]{17}[0-9Xx]$";

const RELATIONS: &[&str] = &["spouse", "parent", "child", "grandparent", "grandchild", "sibling"];
const SCHEMES: &[&str] = &["employee", "resident"];
const PERSON_STATUSES: &[&str] = &["active", "suspended", "terminated"];
const BUCKETS: &[&str] = &["current", "historic"];
const INSTITUTION_KINDS: &[&str] = &["hospital", "pharmacy"];
const SETTLE_MODES: &[&str] = &["settle", "hold", "preview"];
const BINDING_STATUSES: &[&str] = &["pending", "active", "rejected", "revoked", "ended"];
const SETTLEMENT_STATUSES: &[&str] = &["held", "settled", "voided", "expired"];
const SOURCES: &[&str] = &["own", "family"];
const CROSS_REGION: &[&str] = &["none", "province", "nation"];
const FAMILY_ORDERS: &[&str] = &["priority", "balance_desc"];
const LIMIT_WINDOWS: &[&str] = &["calendar", "rolling"];
const REFUND_ORDERS: &[&str] = &["reverse", "pro_rata"];
const EXPLAIN_REASONS: &[&str] = &[
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
];

/// The roles of api.md §3, as the router enforces them.
const OPERATOR: &[&str] = &["operator"];
const CHANNEL: &[&str] = &["channel"];
const INSTITUTION: &[&str] = &["institution"];
const AUDIT_READ: &[&str] = &["operator", "auditor"];
const PERSON_READ: &[&str] = &["operator", "channel", "auditor"];
const ANY_ROLE: &[&str] = &["operator", "channel", "institution", "auditor"];

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Gongji",
            "version": "1",
            "description": "Gongji (共济): the event-sourced ledger of employee medical-insurance personal \
                accounts and their family mutual aid. Every mutating request carries a `request_id`: \
                the same request again returns the original answer, the same id with another body or \
                route answers 409 idempotency_conflict. Money is a JSON string in yuan; responses \
                always render two decimals. Request bodies are at most 64 KiB and unknown fields are \
                rejected.",
        },
        "tags": [
            {"name": "operations", "description": "Health, readiness, metrics and this document (no token)."},
            {"name": "rules", "description": "Rule sets and year-end (operator)."},
            {"name": "institutions", "description": "Designated hospitals and pharmacies (operator)."},
            {"name": "persons", "description": "Insured persons and their accounts."},
            {"name": "bindings", "description": "Family bindings and authorizations (channel; review by operator)."},
            {"name": "settlements", "description": "Settlements, holds and refunds (institution)."},
            {"name": "premiums", "description": "Resident premiums paid from a personal account (channel)."},
            {"name": "audit", "description": "The event log and its verification (auditor, operator)."},
            {"name": "admin", "description": "Online projection rebuilds (operator; status also auditor)."},
        ],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token of the tokens file; its role (operator, channel, institution, \
                        auditor) decides what it may do.",
                },
            },
            "responses": error_responses(),
            "schemas": schemas(),
        },
    })
}

// ---- primitive schemas -------------------------------------------------------------------------

fn id() -> Value {
    json!({"type": "string", "pattern": ID_PATTERN, "minLength": 1, "maxLength": 64})
}

fn region() -> Value {
    json!({"type": "string", "pattern": REGION_PATTERN})
}

/// An amount a caller sends: at most two decimals, at most 1,000,000.00 per operation.
fn money_in() -> Value {
    json!({
        "type": "string",
        "pattern": MONEY_PATTERN,
        "description": "yuan, at most 2 decimals, at most 1000000.00",
        "example": "12.30",
    })
}

/// An amount the service renders: always two decimals.
fn money() -> Value {
    json!({"type": "string", "pattern": MONEY_RENDERED_PATTERN, "example": "12.30"})
}

fn text() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": TEXT_CHARS_MAX, "pattern": TEXT_PATTERN})
}

fn time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

fn string() -> Value {
    json!({"type": "string"})
}

fn boolean() -> Value {
    json!({"type": "boolean"})
}

fn integer(minimum: u64, maximum: Option<u64>) -> Value {
    let mut schema = json!({"type": "integer", "minimum": minimum});
    if let Some(maximum) = maximum {
        schema["maximum"] = json!(maximum);
    }
    schema
}

/// A sequence number of the log.
fn seq() -> Value {
    json!({"type": "integer", "minimum": 1, "description": "the sequence number of the last event written"})
}

fn year() -> Value {
    json!({"type": "integer", "format": "int32", "minimum": YEAR_MIN, "maximum": YEAR_MAX})
}

fn enumeration(values: &[&str]) -> Value {
    json!({"type": "string", "enum": values})
}

fn constant(value: &str) -> Value {
    enumeration(&[value])
}

/// The same schema, also allowing `null` (an enum lists `null` among its values, as OpenAPI
/// 3.0.3 requires for a nullable enum).
fn nullable(mut schema: Value) -> Value {
    schema["nullable"] = json!(true);
    if let Some(values) = schema.get_mut("enum").and_then(Value::as_array_mut) {
        values.push(Value::Null);
    }
    schema
}

fn array(items: Value) -> Value {
    json!({"type": "array", "items": items})
}

fn unique_array(items: Value) -> Value {
    json!({"type": "array", "items": items, "uniqueItems": true})
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn with_description(mut schema: Value, description: &str) -> Value {
    schema["description"] = json!(description);
    schema
}

/// An object of a response: every field listed, `required` the ones always present.
fn object(required: &[&str], properties: Vec<(&str, Value)>) -> Value {
    let mut map = Map::new();
    for (name, schema) in properties {
        map.insert(name.to_owned(), schema);
    }
    for name in required {
        assert!(map.contains_key(*name), "required field {name} is described");
    }
    json!({"type": "object", "required": required, "properties": map})
}

/// A strict request body: unknown fields are refused (`additionalProperties: false`).
fn strict(required: &[&str], properties: Vec<(&str, Value)>) -> Value {
    let mut schema = object(required, properties);
    schema["additionalProperties"] = json!(false);
    schema
}

// ---- component schemas ------------------------------------------------------------------------

fn schemas() -> Value {
    let mut map = Map::new();
    let mut add = |name: &str, schema: Value| {
        map.insert(name.to_owned(), schema);
    };

    // Errors.
    let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
    add(
        "Error",
        object(
            &["error"],
            vec![(
                "error",
                object(
                    &["code", "message", "details"],
                    vec![
                        ("code", enumeration(&codes)),
                        ("message", string()),
                        (
                            "details",
                            json!({
                                "type": "object",
                                "additionalProperties": {"type": "string"},
                                "description": "the facts behind the error, e.g. {\"field\": \"amount\"}",
                            }),
                        ),
                    ],
                ),
            )],
        ),
    );

    // Request bodies.
    add("RulesRequest", rules_request());
    add(
        "InstitutionRequest",
        strict(
            &["request_id", "institution_id", "region", "kind", "name"],
            vec![
                ("request_id", id()),
                ("institution_id", id()),
                ("region", region()),
                ("kind", enumeration(INSTITUTION_KINDS)),
                ("name", text()),
            ],
        ),
    );
    add(
        "PersonRequest",
        strict(
            &["request_id", "person_id", "region", "scheme"],
            vec![
                ("request_id", id()),
                ("person_id", id()),
                ("region", region()),
                ("scheme", enumeration(SCHEMES)),
                ("name", nullable(text())),
                (
                    "id_number",
                    nullable(with_description(
                        json!({"type": "string", "pattern": ID_NUMBER_PATTERN}),
                        "an 18-character resident ID with a valid GB 11643 check character; \
                         never echoed in full",
                    )),
                ),
            ],
        ),
    );
    add(
        "StatusRequest",
        strict(
            &["request_id", "status", "reason"],
            vec![("request_id", id()), ("status", enumeration(PERSON_STATUSES)), ("reason", text())],
        ),
    );
    add(
        "CreditRequest",
        strict(
            &["request_id", "amount", "bucket", "reason"],
            vec![
                ("request_id", id()),
                ("amount", money_in()),
                ("bucket", enumeration(BUCKETS)),
                ("reason", text()),
            ],
        ),
    );
    add(
        "YearEndRequest",
        strict(
            &["request_id", "year"],
            vec![
                ("request_id", id()),
                ("year", with_description(year(), "a year up to the current one (+08:00)")),
            ],
        ),
    );
    add(
        "BindingRequest",
        strict(
            &["request_id", "authorizer", "beneficiary", "relation"],
            vec![
                ("request_id", id()),
                ("authorizer", id()),
                ("beneficiary", id()),
                (
                    "relation",
                    with_description(
                        enumeration(RELATIONS),
                        "what the beneficiary is to the authorizer; read as a string, so a relation \
                         the region's rules do not allow (or do not know) is 422 relation_not_allowed",
                    ),
                ),
            ],
        ),
    );
    add("RequestOnly", strict(&["request_id"], vec![("request_id", id())]));
    add("RejectRequest", strict(&["request_id", "reason"], vec![("request_id", id()), ("reason", text())]));
    add(
        "AuthorizationRequest",
        strict(
            &["request_id"],
            vec![
                ("request_id", id()),
                (
                    "priority",
                    nullable(with_description(
                        integer(1, Some(u64::from(PRIORITY_MAX))),
                        "lower is drawn first; null: the default order",
                    )),
                ),
                ("monthly_limit", nullable(with_description(money_in(), "null: no limit"))),
                ("annual_limit", nullable(with_description(money_in(), "null: no limit"))),
            ],
        ),
    );
    add(
        "SettlementRequest",
        strict(
            &["request_id", "settlement_id", "institution", "beneficiary", "category", "amount"],
            vec![
                ("request_id", id()),
                ("settlement_id", id()),
                ("institution", with_description(id(), "the calling institution's own id")),
                ("beneficiary", id()),
                ("category", category()),
                ("amount", with_description(money_in(), "the personal-burden part of the bill")),
                (
                    "occurred_at",
                    nullable(with_description(
                        time(),
                        "business time; default recorded_at; at most 5 minutes after and 30 days \
                         before the ledger clock",
                    )),
                ),
                ("mode", nullable(with_description(enumeration(SETTLE_MODES), "default settle"))),
            ],
        ),
    );
    add(
        "CaptureRequest",
        strict(
            &["request_id"],
            vec![
                ("request_id", id()),
                ("amount", nullable(with_description(money_in(), "at most the held amount; default all"))),
            ],
        ),
    );
    add(
        "RefundRequest",
        strict(
            &["request_id", "refund_id", "amount", "reason"],
            vec![("request_id", id()), ("refund_id", id()), ("amount", money_in()), ("reason", text())],
        ),
    );
    add(
        "PremiumRequest",
        strict(
            &["request_id", "payer", "beneficiary", "year", "amount"],
            vec![
                ("request_id", id()),
                ("payer", id()),
                ("beneficiary", id()),
                ("year", year()),
                ("amount", money_in()),
            ],
        ),
    );

    // Response bodies.
    add("RuleSet", rule_set());
    add(
        "RulesPublished",
        object(
            &["region", "version", "effective_from", "seq"],
            vec![
                ("region", region()),
                ("version", integer(1, Some(RULE_VERSION_MAX - 1))),
                ("effective_from", time()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "YearClosed",
        object(
            &["region", "year", "accounts", "moved", "seq"],
            vec![
                ("region", region()),
                ("year", year()),
                ("accounts", integer(0, None)),
                ("moved", money()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Institution",
        object(
            &["institution_id", "region", "kind", "name", "seq"],
            vec![
                ("institution_id", id()),
                ("region", region()),
                ("kind", enumeration(INSTITUTION_KINDS)),
                ("name", string()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "PersonRegistered",
        object(
            &["person_id", "region", "scheme", "status", "seq"],
            vec![
                ("person_id", id()),
                ("region", region()),
                ("scheme", enumeration(SCHEMES)),
                ("status", constant("active")),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Person",
        object(
            &["person_id", "region", "scheme", "status", "name", "id_number"],
            vec![
                ("person_id", id()),
                ("region", region()),
                ("scheme", enumeration(SCHEMES)),
                ("status", enumeration(PERSON_STATUSES)),
                ("name", nullable(string())),
                ("id_number", nullable(with_description(string(), "masked: first 6 and last 4 characters"))),
            ],
        ),
    );
    add(
        "StatusChanged",
        object(
            &["person_id", "status", "ended_bindings", "seq"],
            vec![
                ("person_id", id()),
                ("status", enumeration(PERSON_STATUSES)),
                ("ended_bindings", with_description(integer(0, None), "bindings ended by a termination")),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Credited",
        object(
            &["person_id", "current", "historic", "held", "available", "seq"],
            vec![
                ("person_id", id()),
                ("current", money()),
                ("historic", money()),
                ("held", money()),
                ("available", money()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Account",
        object(
            &["person_id", "current", "historic", "held", "available", "as_of_seq"],
            vec![
                ("person_id", id()),
                ("current", money()),
                ("historic", money()),
                ("held", money()),
                ("available", with_description(money(), "current + historic − held")),
                ("as_of_seq", integer(0, None)),
            ],
        ),
    );
    add(
        "BindingCreated",
        object(
            &["binding_id", "authorizer", "beneficiary", "relation", "status", "seq"],
            vec![
                ("binding_id", id()),
                ("authorizer", id()),
                ("beneficiary", id()),
                ("relation", enumeration(RELATIONS)),
                ("status", enumeration(&["active", "pending"])),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "BindingStatusChanged",
        object(
            &["binding_id", "status", "seq"],
            vec![
                ("binding_id", id()),
                ("status", enumeration(&["active", "rejected", "revoked"])),
                ("seq", seq()),
            ],
        ),
    );
    add("Binding", binding(false));
    add("Authorization", binding(true));
    add(
        "Bindings",
        object(
            &["as_authorizer", "as_beneficiary"],
            vec![
                ("as_authorizer", array(reference("Binding"))),
                ("as_beneficiary", array(reference("Binding"))),
            ],
        ),
    );
    add(
        "Split",
        object(
            &["account", "source", "amount"],
            vec![("account", id()), ("source", enumeration(SOURCES)), ("amount", money())],
        ),
    );
    add(
        "Explain",
        object(
            &["account", "source", "paid"],
            vec![
                (
                    "account",
                    nullable(with_description(id(), "null: no family account was there to consider")),
                ),
                ("source", enumeration(SOURCES)),
                ("paid", money()),
                ("reason", enumeration(EXPLAIN_REASONS)),
            ],
        ),
    );
    add("Charge", charge(&["settled", "held"], true));
    add("Preview", charge(&["preview"], false));
    add(
        "Captured",
        object(
            &["settlement_id", "status", "captured", "splits", "out_of_pocket", "released", "seq"],
            vec![
                ("settlement_id", id()),
                ("status", constant("settled")),
                ("captured", money()),
                ("splits", array(reference("Split"))),
                ("out_of_pocket", money()),
                ("released", with_description(money(), "account money given back")),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Voided",
        object(
            &["settlement_id", "status", "released", "seq"],
            vec![
                ("settlement_id", id()),
                ("status", constant("voided")),
                ("released", money()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Refunded",
        object(
            &["refund_id", "settlement_id", "amount", "splits", "out_of_pocket", "seq"],
            vec![
                ("refund_id", id()),
                ("settlement_id", id()),
                ("amount", money()),
                ("splits", array(reference("Split"))),
                ("out_of_pocket", money()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Refund",
        object(
            &["refund_id", "amount", "reason", "splits", "out_of_pocket", "seq"],
            vec![
                ("refund_id", id()),
                ("amount", money()),
                ("reason", string()),
                ("splits", array(reference("Split"))),
                ("out_of_pocket", money()),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Settlement",
        object(
            &[
                "settlement_id",
                "institution",
                "beneficiary",
                "category",
                "amount",
                "status",
                "splits",
                "out_of_pocket",
                "rule_version",
                "explain",
                "occurred_at",
                "refunds",
                "refunded_total",
            ],
            vec![
                ("settlement_id", id()),
                ("institution", id()),
                ("beneficiary", id()),
                ("category", category()),
                ("amount", money()),
                ("captured", with_description(money(), "present once a hold was captured")),
                ("status", enumeration(SETTLEMENT_STATUSES)),
                ("splits", array(reference("Split"))),
                ("out_of_pocket", money()),
                ("rule_version", integer(1, None)),
                ("explain", array(reference("Explain"))),
                ("occurred_at", time()),
                ("expires_at", with_description(time(), "present for a hold")),
                ("refunds", array(reference("Refund"))),
                ("refunded_total", money()),
            ],
        ),
    );
    add(
        "PremiumPaid",
        object(
            &["payer", "beneficiary", "year", "amount", "splits", "seq"],
            vec![
                ("payer", id()),
                ("beneficiary", id()),
                ("year", year()),
                ("amount", money()),
                ("splits", array(reference("Split"))),
                ("seq", seq()),
            ],
        ),
    );
    add(
        "Envelope",
        object(
            &["seq", "recorded_at", "kind", "version", "payload", "prev_hash", "hash"],
            vec![
                ("seq", integer(1, None)),
                ("recorded_at", time()),
                ("kind", enumeration(Event::KINDS)),
                ("version", integer(1, None)),
                ("request_id", with_description(id(), "the request that wrote the event")),
                ("request_digest", with_description(string(), "the digest of that request's body")),
                ("payload", json!({"type": "object", "description": "the event's fields (docs/events.md)"})),
                ("prev_hash", json!({"type": "string", "pattern": HASH_PATTERN})),
                ("hash", json!({"type": "string", "pattern": HASH_PATTERN})),
            ],
        ),
    );
    add(
        "Events",
        object(
            &["events"],
            vec![(
                "events",
                json!({"type": "array", "items": reference("Envelope"), "maxItems": EVENTS_PAGE_MAX}),
            )],
        ),
    );
    add(
        "Verification",
        object(
            &["ok", "ledger_id", "head_seq", "head_hash"],
            vec![
                ("ok", boolean()),
                (
                    "ledger_id",
                    nullable(with_description(
                        json!({"type": "string", "pattern": "^[0-9a-f]{16}$"}),
                        "the first 16 hex digits of event 1's hash; null for an empty ledger",
                    )),
                ),
                ("head_seq", integer(0, None)),
                ("head_hash", json!({"type": "string", "pattern": HASH_PATTERN})),
                (
                    "broken",
                    with_description(
                        object(&["seq", "reason"], vec![("seq", integer(0, None)), ("reason", string())]),
                        "present when the chain is broken: where and why",
                    ),
                ),
            ],
        ),
    );
    add(
        "RebuildStatus",
        with_description(
            object(
                &["name", "status"],
                vec![
                    ("name", projection_name()),
                    ("status", enumeration(&["idle", "running", "done", "failed"])),
                    ("dry_run", with_description(boolean(), "compare only, never swap")),
                    ("events_done", integer(0, None)),
                    ("events_total", integer(0, None)),
                    ("events_per_second", json!({"type": "number", "minimum": 0})),
                    ("seconds", json!({"type": "number", "minimum": 0})),
                    (
                        "swapped",
                        with_description(boolean(), "whether the rebuilt copy replaced the live one"),
                    ),
                    (
                        "diff",
                        object(
                            &["accounts_changed", "bindings_changed", "settlements_changed", "first"],
                            vec![
                                ("accounts_changed", integer(0, None)),
                                ("bindings_changed", integer(0, None)),
                                ("settlements_changed", integer(0, None)),
                                ("first", with_description(array(string()), "the first differences found")),
                            ],
                        ),
                    ),
                    ("error", with_description(string(), "why a rebuild failed")),
                    (
                        "depends_on",
                        with_description(array(string()), "the rule parameters the projection's views depend on"),
                    ),
                    (
                        "stale",
                        with_description(
                            boolean(),
                            "always false: rule-dependent figures are computed under the rules in force when read",
                        ),
                    ),
                    (
                        "rule_changes",
                        with_description(
                            array(object(
                                &["seq", "region", "version", "effective_from", "view", "parameters"],
                                vec![
                                    ("seq", seq()),
                                    ("region", region()),
                                    ("version", integer(1, None)),
                                    ("effective_from", time()),
                                    ("view", string()),
                                    ("parameters", array(string())),
                                ],
                            )),
                            "every rule version that changed a parameter the projection's views depend on",
                        ),
                    ),
                ],
            ),
            "An online rebuild of a projection: `idle` before any, then `running`, `done` or `failed`.",
        ),
    );
    let item = strict(
        &["method", "path", "body"],
        vec![
            (
                "method",
                with_description(
                    string(),
                    "POST or PUT, as the route takes it; another method on a mutating route is the item's 405",
                ),
            ),
            (
                "path",
                with_description(string(), "a mutating route of the API; any other path is the item's 404"),
            ),
            ("body", with_description(json!({"type": "object"}), "the route's request body, at most 64 KiB")),
        ],
    );
    let mut requests = array(item);
    requests["minItems"] = json!(1);
    requests["maxItems"] = json!(BATCH_REQUESTS_MAX);
    add("Batch", strict(&["requests"], vec![("requests", requests)]));
    add(
        "BatchResults",
        object(
            &["results"],
            vec![(
                "results",
                with_description(
                    array(object(
                        &["status", "body"],
                        vec![("status", integer(200, Some(599))), ("body", json!({"type": "object"}))],
                    )),
                    "one per request, in order: the status and body it would have had alone",
                ),
            )],
        ),
    );
    add("Health", object(&["status"], vec![("status", constant("ok"))]));
    add(
        "Ready",
        object(&["status", "head_seq"], vec![("status", constant("ready")), ("head_seq", integer(0, None))]),
    );
    add(
        "NotReady",
        object(&["status", "head_seq"], vec![("status", constant("failed")), ("head_seq", integer(0, None))]),
    );
    for (name, schema) in map.iter_mut() {
        if let Some(example) = request_example(name) {
            schema["example"] = example;
        }
    }
    Value::Object(map)
}

/// A worked example of each request body (shown by documentation tools, sent by API fuzzers).
fn request_example(name: &str) -> Option<Value> {
    Some(match name {
        "RulesRequest" => {
            json!({"request_id": "rules-2", "version": 2, "effective_from": "2026-01-01T00:00:00+08:00", "relations": ["spouse", "parent", "child"]})
        }
        "InstitutionRequest" => {
            json!({"request_id": "inst-1", "institution_id": "H21010000001", "region": "210100", "kind": "hospital", "name": "Hospital One"})
        }
        "PersonRequest" => {
            json!({"request_id": "person-P2", "person_id": "P2", "region": "210100", "scheme": "employee", "name": "Li Wei"})
        }
        "StatusRequest" => json!({"request_id": "status-1", "status": "suspended", "reason": "moved away"}),
        "CreditRequest" => {
            json!({"request_id": "credit-1", "amount": "500.00", "bucket": "historic", "reason": "monthly allocation"})
        }
        "YearEndRequest" => json!({"request_id": "year-end-2025", "year": 2025}),
        "BindingRequest" => {
            json!({"request_id": "bind-1", "authorizer": "P1", "beneficiary": "C1", "relation": "child"})
        }
        "RequestOnly" => json!({"request_id": "req-1"}),
        "RejectRequest" => json!({"request_id": "reject-1", "reason": "no proof of the relation"}),
        "AuthorizationRequest" => {
            json!({"request_id": "auth-1", "priority": 1, "monthly_limit": "200.00", "annual_limit": null})
        }
        "SettlementRequest" => {
            json!({"request_id": "settle-1", "settlement_id": "S1", "institution": "H21010000001", "beneficiary": "C1", "category": "pharmacy", "amount": "80.00"})
        }
        "CaptureRequest" => json!({"request_id": "capture-1", "amount": "50.00"}),
        "RefundRequest" => {
            json!({"request_id": "refund-1", "refund_id": "R1", "amount": "10.00", "reason": "medicine returned"})
        }
        "PremiumRequest" => {
            json!({"request_id": "premium-1", "payer": "P1", "beneficiary": "C1", "year": 2026, "amount": "400.00"})
        }
        "Batch" => json!({"requests": [
            {"method": "POST", "path": "/v1/accounts/P1/credits",
             "body": {"request_id": "credit-2026-12-P1", "amount": "500.00", "bucket": "current", "reason": "monthly allocation"}},
            {"method": "POST", "path": "/v1/accounts/P2/credits",
             "body": {"request_id": "credit-2026-12-P2", "amount": "320.00", "bucket": "current", "reason": "monthly allocation"}},
        ]}),
        _ => return None,
    })
}

/// The projections an operator may rebuild (an unknown name is 404).
fn projection_name() -> Value {
    enumeration(crate::routes::PROJECTIONS)
}

fn category() -> Value {
    let names: Vec<Value> =
        Category::ALL.iter().map(|c| serde_json::to_value(c).expect("categories serialize")).collect();
    json!({"type": "string", "enum": names})
}

/// The fields of a rule set (domain.md §6) with their types; `request` gives the request form
/// (only `version` and `effective_from` required, a `request_id`, nothing else allowed).
fn rule_fields() -> Vec<(&'static str, Value)> {
    let max_or_null =
        |description: &str| nullable(with_description(integer(1, Some(u64::from(u32::MAX))), description));
    vec![
        ("version", integer(1, Some(RULE_VERSION_MAX - 1))),
        ("effective_from", with_description(time(), "a time already past means from now")),
        ("relations", unique_array(enumeration(RELATIONS))),
        ("auto_approve", boolean()),
        ("cross_region", enumeration(CROSS_REGION)),
        ("bind_requires_balance", boolean()),
        ("beneficiaries_per_authorizer_max", max_or_null("null: no limit")),
        ("authorizers_per_beneficiary_max", max_or_null("null: no limit")),
        ("own_categories", unique_array(category())),
        ("family_categories", unique_array(category())),
        ("family_buckets", {
            let mut schema = unique_array(enumeration(BUCKETS));
            schema["minItems"] = json!(1);
            schema
        }),
        ("family_accounts_per_settlement", max_or_null("null: no limit")),
        ("family_order", enumeration(FAMILY_ORDERS)),
        ("limit_window", enumeration(LIMIT_WINDOWS)),
        ("hold_timeout_minutes", integer(1, Some(u64::from(HOLD_TIMEOUT_MINUTES_MAX)))),
        ("refund_order", enumeration(REFUND_ORDERS)),
        ("premium_relatives_per_year_max", integer(0, Some(u64::from(u32::MAX)))),
    ]
}

fn rules_request() -> Value {
    let mut properties = vec![("request_id", id())];
    properties.extend(rule_fields());
    properties.push((
        "resident_premium",
        json!({
            "type": "object",
            "description": format!("the resident premium per year: keys are years {YEAR_MIN}-{YEAR_MAX}"),
            "additionalProperties": money_in(),
        }),
    ));
    with_description(
        strict(&["request_id", "version", "effective_from"], properties),
        "A rule set (domain.md §6); every field left out takes its default.",
    )
}

fn rule_set() -> Value {
    let mut properties = vec![("region", region())];
    properties.extend(rule_fields());
    properties.push((
        "resident_premium",
        json!({"type": "object", "description": "premium per year", "additionalProperties": money()}),
    ));
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    with_description(object(&required, properties), "The rule set in force, complete with defaults.")
}

/// A binding as served (`GET .../bindings`), or as answered to an authorization (with `seq`).
fn binding(with_seq: bool) -> Value {
    let mut properties = vec![
        ("binding_id", id()),
        ("authorizer", id()),
        ("beneficiary", id()),
        ("relation", enumeration(RELATIONS)),
        ("status", enumeration(if with_seq { &["active"] } else { BINDING_STATUSES })),
        ("priority", nullable(integer(1, Some(u64::from(PRIORITY_MAX))))),
        ("monthly_limit", nullable(money())),
        ("annual_limit", nullable(money())),
        ("used_month", with_description(money(), "drawn in the current month window, net of refunds")),
        ("used_year", with_description(money(), "drawn in the current year window, net of refunds")),
    ];
    if with_seq {
        properties.push(("seq", seq()));
    }
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    object(&required, properties)
}

/// The answer to a settlement: taken or held (with `seq`), or a preview (without).
fn charge(statuses: &[&str], with_seq: bool) -> Value {
    let mut properties = vec![
        ("settlement_id", id()),
        ("status", enumeration(statuses)),
        ("amount", money()),
        ("splits", array(reference("Split"))),
        ("out_of_pocket", money()),
        ("rule_version", integer(1, None)),
        ("explain", array(reference("Explain"))),
        ("expires_at", with_description(time(), "present for a hold: when it expires")),
    ];
    let mut required =
        vec!["settlement_id", "status", "amount", "splits", "out_of_pocket", "rule_version", "explain"];
    if with_seq {
        properties.push(("seq", seq()));
        required.push("seq");
    }
    object(&required, properties)
}

// ---- responses ---------------------------------------------------------------------------------

/// Every error status, as a reusable response with the Error body.
const ERRORS: &[(u16, &str, &str)] = &[
    (
        400,
        "BadRequest",
        "invalid_request: the shape, a type, an unknown field, a bad id or amount, a bad query",
    ),
    (401, "Unauthorized", "unauthorized: no token or an unknown one"),
    (403, "Forbidden", "forbidden: the token's role may not do this, or an institution acts for another"),
    (404, "NotFound", "not_found: something named does not exist"),
    (
        409,
        "Conflict",
        "idempotency_conflict, already_exists, binding_exists, binding_not_pending, premium_already_paid, \
         rule_version_not_newer, year_already_closed, settlement_not_held, status_unchanged",
    ),
    (413, "PayloadTooLarge", "payload_too_large: the body is larger than 64 KiB"),
    (422, "Unprocessable", "a business rejection (api.md §5); the command wrote nothing"),
    (503, "StorageFailure", "storage_failure: the ledger cannot write or read now; the outcome is unknown, the write may have reached the disk (retrying with the same request_id is always safe)"),
];

fn error_responses() -> Value {
    let mut map = Map::new();
    for (_, name, description) in ERRORS {
        map.insert(
            (*name).to_owned(),
            json!({
                "description": description,
                "content": {"application/json": {"schema": reference("Error")}},
            }),
        );
    }
    Value::Object(map)
}

fn error_response(status: u16) -> Value {
    let (_, name, _) =
        ERRORS.iter().find(|(s, _, _)| *s == status).unwrap_or_else(|| panic!("no error response {status}"));
    json!({"$ref": format!("#/components/responses/{name}")})
}

// ---- operations --------------------------------------------------------------------------------

/// One operation of a path, built step by step.
struct Operation {
    value: Map<String, Value>,
    parameters: Vec<Value>,
    responses: Map<String, Value>,
}

impl Operation {
    fn new(operation_id: &str, tag: &str, summary: &str) -> Operation {
        let mut value = Map::new();
        value.insert("operationId".to_owned(), json!(operation_id));
        value.insert("tags".to_owned(), json!([tag]));
        value.insert("summary".to_owned(), json!(summary));
        Operation { value, parameters: Vec::new(), responses: Map::new() }
    }

    /// No token needed.
    fn public(mut self) -> Operation {
        self.value.insert("security".to_owned(), json!([]));
        self
    }

    /// A bearer token of one of `roles`: 401 without a valid one, 403 for another role.
    fn roles(mut self, roles: &[&str]) -> Operation {
        self.value.insert("security".to_owned(), json!([{"bearerAuth": []}]));
        self.value.insert("x-roles".to_owned(), json!(roles));
        let summary = self.value["summary"].as_str().unwrap_or_default().to_owned();
        self.value
            .insert("description".to_owned(), json!(format!("{summary}. Roles: {}.", roles.join(", "))));
        self.errors(&[401, 403])
    }

    /// A path segment that must be an identifier (else 400).
    fn path_id(self, name: &str) -> Operation {
        self.path_param(name, id()).errors(&[400])
    }

    /// The `{region}` segment: six digits (else 400).
    fn path_region(self) -> Operation {
        self.path_param("region", region()).errors(&[400])
    }

    fn path_param(mut self, name: &str, schema: Value) -> Operation {
        let example = match name {
            "region" => "210100",
            "person_id" => "P1",
            "binding_id" => "B1",
            "settlement_id" => "S1",
            _ => "all",
        };
        self.parameters.push(json!({
            "name": name, "in": "path", "required": true, "schema": schema, "example": example,
        }));
        self
    }

    /// An optional query parameter; any other query parameter is refused (400).
    fn query(mut self, name: &str, schema: Value, description: &str) -> Operation {
        self.parameters.push(json!({
            "name": name, "in": "query", "required": false, "schema": schema, "description": description,
        }));
        self.errors(&[400])
    }

    /// A mutating request with a strict JSON body: 400 for its shape, 413 above 64 KiB, 409 for
    /// a `request_id` used with another body or route, 503 when the ledger cannot write.
    fn command(self, body: &str) -> Operation {
        self.body(body).errors(&[400, 409, 413, 503])
    }

    /// A required JSON body of the schema `body`.
    fn body(mut self, body: &str) -> Operation {
        self.value.insert(
            "requestBody".to_owned(),
            json!({
                "required": true,
                "content": {"application/json": {"schema": reference(body)}},
            }),
        );
        self
    }

    fn errors(mut self, statuses: &[u16]) -> Operation {
        for status in statuses {
            self.responses.insert(status.to_string(), error_response(*status));
        }
        self
    }

    fn answers(mut self, status: u16, description: &str, schema: &str) -> Operation {
        self.responses.insert(
            status.to_string(),
            json!({
                "description": description,
                "content": {"application/json": {"schema": reference(schema)}},
            }),
        );
        self
    }

    fn answers_with(mut self, status: u16, description: &str, content: Value) -> Operation {
        self.responses.insert(status.to_string(), json!({"description": description, "content": content}));
        self
    }

    fn build(mut self) -> Value {
        if !self.parameters.is_empty() {
            self.value.insert("parameters".to_owned(), Value::Array(self.parameters));
        }
        self.value.insert("responses".to_owned(), Value::Object(self.responses));
        Value::Object(self.value)
    }
}

/// `as_of`: an RFC 3339 time in the query string (a `+` offset must be sent as `%2B`).
fn as_of() -> Value {
    with_description(time(), "RFC 3339, years 1900-9999; percent-encode a + offset as %2B")
}

fn paths() -> Value {
    let routes: Vec<(&str, &str, Operation)> = vec![
        // Operations (no token).
        (
            "/healthz",
            "get",
            Operation::new("healthz", "operations", "Liveness").public().answers(
                200,
                "the process answers",
                "Health",
            ),
        ),
        (
            "/readyz",
            "get",
            Operation::new("readyz", "operations", "Readiness: the log is open and projected")
                .public()
                .answers(200, "ready, with the head of the log", "Ready")
                .answers(503, "the writer has stopped after a storage failure", "NotReady"),
        ),
        (
            "/metrics",
            "get",
            Operation::new("metrics", "operations", "Prometheus metrics (OpenMetrics text)")
                .public()
                .answers_with(200, "the metrics", json!({"text/plain": {"schema": {"type": "string"}}})),
        ),
        (
            "/openapi.json",
            "get",
            Operation::new("openapi", "operations", "This document").public().answers_with(
                200,
                "the OpenAPI document",
                json!({"application/json": {"schema": {"type": "object"}}}),
            ),
        ),
        // Rules and year-end.
        (
            "/v1/regions/{region}/rules",
            "post",
            Operation::new("publishRules", "rules", "Publish a rule set version for a region")
                .roles(OPERATOR)
                .path_region()
                .command("RulesRequest")
                .answers(201, "published", "RulesPublished"),
        ),
        (
            "/v1/regions/{region}/rules",
            "get",
            Operation::new("getRules", "rules", "The rule set in force, complete with defaults")
                .roles(AUDIT_READ)
                .path_region()
                .query(
                    "as_of",
                    as_of(),
                    "the rule set in force at this time (default now); as_of_seq is refused here",
                )
                .answers(200, "the rule set", "RuleSet")
                .errors(&[404]),
        ),
        (
            "/v1/regions/{region}/year-end",
            "post",
            Operation::new("closeYear", "rules", "Move every account's current-year balance to historic")
                .roles(OPERATOR)
                .path_region()
                .command("YearEndRequest")
                .answers(200, "closed", "YearClosed"),
        ),
        // Institutions and persons.
        (
            "/v1/institutions",
            "post",
            Operation::new("registerInstitution", "institutions", "Register a hospital or pharmacy")
                .roles(OPERATOR)
                .command("InstitutionRequest")
                .answers(201, "registered", "Institution"),
        ),
        (
            "/v1/persons",
            "post",
            Operation::new("registerPerson", "persons", "Register an insured person")
                .roles(OPERATOR)
                .command("PersonRequest")
                .answers(201, "registered", "PersonRegistered"),
        ),
        (
            "/v1/persons/{person_id}",
            "get",
            Operation::new("getPerson", "persons", "A person (extension of api.md; the ID number masked)")
                .roles(PERSON_READ)
                .path_id("person_id")
                .answers(200, "the person", "Person")
                .errors(&[404]),
        ),
        (
            "/v1/persons/{person_id}/status",
            "post",
            Operation::new("setStatus", "persons", "Set a person's status")
                .roles(OPERATOR)
                .path_id("person_id")
                .command("StatusRequest")
                .answers(200, "changed", "StatusChanged")
                .errors(&[404, 422]),
        ),
        (
            "/v1/persons/{person_id}/bindings",
            "get",
            Operation::new("getBindings", "bindings", "A person's bindings, in the order requested")
                .roles(PERSON_READ)
                .path_id("person_id")
                .answers(200, "the bindings", "Bindings")
                .errors(&[404]),
        ),
        (
            "/v1/accounts/{person_id}",
            "get",
            Operation::new("getAccount", "persons", "An employee's personal account")
                .roles(PERSON_READ)
                .path_id("person_id")
                .query("as_of", as_of(), "the account as it was at this time")
                .query(
                    "as_of_seq",
                    integer(0, None),
                    "the account as it was after this event (not with as_of)",
                )
                .answers(200, "the account", "Account")
                .errors(&[404]),
        ),
        (
            "/v1/accounts/{person_id}/credits",
            "post",
            Operation::new("credit", "persons", "Credit an account (monthly allocation, transfer in)")
                .roles(OPERATOR)
                .path_id("person_id")
                .command("CreditRequest")
                .answers(200, "credited: the account after it", "Credited")
                .errors(&[404, 422]),
        ),
        // Bindings.
        (
            "/v1/bindings",
            "post",
            Operation::new("requestBinding", "bindings", "Request a family binding")
                .roles(CHANNEL)
                .command("BindingRequest")
                .answers(201, "requested: active when the rules auto-approve, else pending", "BindingCreated")
                .errors(&[404, 422]),
        ),
        (
            "/v1/bindings/{binding_id}/approve",
            "post",
            Operation::new("approveBinding", "bindings", "Approve a pending binding")
                .roles(OPERATOR)
                .path_id("binding_id")
                .command("RequestOnly")
                .answers(200, "approved", "BindingStatusChanged")
                .errors(&[404]),
        ),
        (
            "/v1/bindings/{binding_id}/reject",
            "post",
            Operation::new("rejectBinding", "bindings", "Reject a pending binding")
                .roles(OPERATOR)
                .path_id("binding_id")
                .command("RejectRequest")
                .answers(200, "rejected", "BindingStatusChanged")
                .errors(&[404]),
        ),
        (
            "/v1/bindings/{binding_id}/revoke",
            "post",
            Operation::new("revokeBinding", "bindings", "Revoke a pending or active binding from now on")
                .roles(&["channel", "operator"])
                .path_id("binding_id")
                .command("RequestOnly")
                .answers(200, "revoked", "BindingStatusChanged")
                .errors(&[404, 422]),
        ),
        (
            "/v1/bindings/{binding_id}/authorization",
            "put",
            Operation::new("authorize", "bindings", "Set an active binding's priority and limits")
                .roles(CHANNEL)
                .path_id("binding_id")
                .command("AuthorizationRequest")
                .answers(200, "set: the binding", "Authorization")
                .errors(&[404, 422]),
        ),
        // Settlements.
        (
            "/v1/settlements",
            "post",
            Operation::new(
                "settle",
                "settlements",
                "Settle, hold or preview the personal-burden part of a bill",
            )
            .roles(INSTITUTION)
            .command("SettlementRequest")
            .answers(201, "settled or held", "Charge")
            .answers(200, "a preview: computed, nothing written", "Preview")
            .errors(&[404, 422]),
        ),
        (
            "/v1/settlements/{settlement_id}",
            "get",
            Operation::new("getSettlement", "settlements", "A settlement with its refunds")
                .roles(&["institution", "operator", "auditor"])
                .path_id("settlement_id")
                .answers(200, "the settlement", "Settlement")
                .errors(&[404]),
        ),
        (
            "/v1/settlements/{settlement_id}/capture",
            "post",
            Operation::new("capture", "settlements", "Capture a hold (the rest is released)")
                .roles(INSTITUTION)
                .path_id("settlement_id")
                .command("CaptureRequest")
                .answers(200, "captured", "Captured")
                .errors(&[404, 422]),
        ),
        (
            "/v1/settlements/{settlement_id}/void",
            "post",
            Operation::new("void", "settlements", "Release a hold")
                .roles(INSTITUTION)
                .path_id("settlement_id")
                .command("RequestOnly")
                .answers(200, "voided", "Voided")
                .errors(&[404]),
        ),
        (
            "/v1/settlements/{settlement_id}/refunds",
            "post",
            Operation::new("refund", "settlements", "Refund a settlement to the accounts that paid")
                .roles(INSTITUTION)
                .path_id("settlement_id")
                .command("RefundRequest")
                .answers(201, "refunded", "Refunded")
                .errors(&[404, 422]),
        ),
        // Premiums.
        (
            "/v1/premiums",
            "post",
            Operation::new(
                "payPremium",
                "premiums",
                "Pay a relative's resident premium from a personal account",
            )
            .roles(CHANNEL)
            .command("PremiumRequest")
            .answers(201, "paid", "PremiumPaid")
            .errors(&[404, 422]),
        ),
        // Batches.
        (
            "/v1/batch",
            "post",
            Operation::new(
                "batch",
                "batches",
                "Many mutating requests in one round trip, each decided in order as if sent alone \
                 with this token; answered once all are durable",
            )
            .roles(ANY_ROLE)
            .body("Batch")
            .answers(200, "one result per request, in order", "BatchResults")
            .errors(&[400, 413]),
        ),
        // Audit.
        (
            "/v1/events",
            "get",
            Operation::new("getEvents", "audit", "The stored event envelopes, in order")
                .roles(AUDIT_READ)
                .query("after_seq", integer(0, None), "events after this seq (default 0)")
                .query(
                    "limit",
                    integer(1, Some(EVENTS_PAGE_MAX as u64)),
                    "at most this many events (default 1000)",
                )
                .answers(200, "a page of events", "Events")
                .errors(&[503]),
        ),
        (
            "/v1/audit/verify",
            "get",
            Operation::new("verify", "audit", "Recompute the hash chain")
                .roles(AUDIT_READ)
                .answers(200, "the verification", "Verification")
                .errors(&[503]),
        ),
        // Administration.
        (
            "/v1/admin/projections/{name}",
            "get",
            Operation::new("getRebuild", "admin", "The latest rebuild of a projection")
                .roles(AUDIT_READ)
                .path_param("name", projection_name())
                .answers(200, "the rebuild's status", "RebuildStatus")
                .errors(&[404]),
        ),
        (
            "/v1/admin/projections/{name}/rebuild",
            "post",
            Operation::new(
                "rebuild",
                "admin",
                "Rebuild a projection online from the log, compare it and swap it in (no body)",
            )
            .roles(OPERATOR)
            .path_param("name", projection_name())
            .query("dry_run", boolean(), "compare only; never swap (default false)")
            .answers(202, "started: the rebuild's status", "RebuildStatus")
            .errors(&[404, 409]),
        ),
    ];

    let mut paths = Map::new();
    for (path, method, operation) in routes {
        let item = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        item[method] = operation.build();
    }
    Value::Object(paths)
}
