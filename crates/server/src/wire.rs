//! Wire forms of requests: strict bodies (unknown fields refused, money as strings with at
//! most two decimals and at most 1,000,000.00, ids checked) turned into domain `Request`s.
//! A body that fails here never reaches the engine, so it writes nothing and is not
//! remembered under its `request_id`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::json;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

use domain::limits::TEXT_CHARS_MAX;
use domain::money::MONEY_PATTERN;
use domain::{
    Bucket, Category, IdNumber, InstitutionId, InstitutionKind, Money, PersonId, PersonStatus, RefundId,
    Region, Rejection, Relation, RequestId, RuleSet, Scheme, SettleMode, SettlementId, Timestamp,
};

/// Free text (names, reasons): 1–256 characters, no control characters.
pub const TEXT_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]{1,256}$";

/// An amount of one operation: a string, ≤ 2 decimals, not negative, ≤ 1,000,000.00.
#[derive(Clone, Copy, Debug)]
pub struct Amount(pub Money);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Money::parse_amount(&text).map(Amount).map_err(|e| serde::de::Error::custom(format!("amount {e}")))
    }
}

/// Its schema: the amount as a caller may send it.
impl PartialSchema for Amount {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(MONEY_PATTERN))
            .description(Some("yuan, at most 2 decimals, at most 1000000.00"))
            .examples(["12.30"])
            .into()
    }
}

impl ToSchema for Amount {}

/// Free text as sent (names, reasons); the engine refuses it unless it is 1–256 characters
/// without control characters.
#[derive(Clone, Debug, Deserialize)]
#[serde(transparent)]
pub struct Text(pub String);

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(TEXT_CHARS_MAX))
            .pattern(Some(TEXT_PATTERN))
            .into()
    }
}

impl ToSchema for Text {}

fn amount_opt(value: Option<Amount>) -> Option<Money> {
    value.map(|a| a.0)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "inst-1", "institution_id": "H21010000001", "region": "210100", "kind": "hospital", "name": "Hospital One"}))]
pub struct InstitutionBody {
    pub request_id: RequestId,
    pub institution_id: InstitutionId,
    pub region: Region,
    pub kind: InstitutionKind,
    pub name: Text,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "person-P2", "person_id": "P2", "region": "210100", "scheme": "employee", "name": "Li Wei"}))]
pub struct PersonBody {
    pub request_id: RequestId,
    pub person_id: PersonId,
    pub region: Region,
    pub scheme: Scheme,
    #[serde(default)]
    pub name: Option<Text>,
    #[serde(default)]
    pub id_number: Option<IdNumber>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "status-1", "status": "suspended", "reason": "moved away"}))]
pub struct StatusBody {
    pub request_id: RequestId,
    pub status: PersonStatus,
    pub reason: Text,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "credit-1", "amount": "500.00", "bucket": "historic", "reason": "monthly allocation"}))]
pub struct CreditBody {
    pub request_id: RequestId,
    pub amount: Amount,
    pub bucket: Bucket,
    pub reason: Text,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "year-end-2025", "year": 2025}))]
pub struct YearEndBody {
    pub request_id: RequestId,
    /// A year up to the current one (+08:00).
    #[schema(minimum = 1990, maximum = 2200)]
    pub year: i32,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "bind-1", "authorizer": "P1", "beneficiary": "C1", "relation": "child"}))]
pub struct BindingBody {
    pub request_id: RequestId,
    pub authorizer: PersonId,
    pub beneficiary: PersonId,
    /// What the beneficiary is to the authorizer; read as a string, so a relation the region's
    /// rules do not allow (or do not know) is 422 relation_not_allowed.
    #[schema(value_type = Relation)]
    pub relation: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "req-1"}))]
pub struct RequestOnlyBody {
    pub request_id: RequestId,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "reject-1", "reason": "no proof of the relation"}))]
pub struct RejectBody {
    pub request_id: RequestId,
    pub reason: Text,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "auth-1", "priority": 1, "monthly_limit": "200.00", "annual_limit": null}))]
pub struct AuthorizationBody {
    pub request_id: RequestId,
    /// Lower is drawn first; null: the default order.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub priority: Option<u32>,
    /// null: no limit.
    #[serde(default)]
    pub monthly_limit: Option<Amount>,
    /// null: no limit.
    #[serde(default)]
    pub annual_limit: Option<Amount>,
}

impl AuthorizationBody {
    pub fn limits(&self) -> (Option<Money>, Option<Money>) {
        (amount_opt(self.monthly_limit), amount_opt(self.annual_limit))
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "settle-1", "settlement_id": "S1", "institution": "H21010000001", "beneficiary": "C1", "category": "pharmacy", "amount": "80.00"}))]
pub struct SettlementBody {
    pub request_id: RequestId,
    pub settlement_id: SettlementId,
    /// The calling institution's own id.
    pub institution: InstitutionId,
    pub beneficiary: PersonId,
    pub category: Category,
    /// The personal-burden part of the bill.
    pub amount: Amount,
    /// Business time; default recorded_at; at most 5 minutes after and 30 days before the
    /// ledger clock.
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    /// Default settle.
    #[serde(default)]
    pub mode: Option<SettleMode>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "capture-1", "amount": "50.00"}))]
pub struct CaptureBody {
    pub request_id: RequestId,
    /// At most the held amount; default all.
    #[serde(default)]
    pub amount: Option<Amount>,
}

impl CaptureBody {
    pub fn amount(&self) -> Option<Money> {
        amount_opt(self.amount)
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "refund-1", "refund_id": "R1", "amount": "10.00", "reason": "medicine returned"}))]
pub struct RefundBody {
    pub request_id: RequestId,
    pub refund_id: RefundId,
    pub amount: Amount,
    pub reason: Text,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"request_id": "premium-1", "payer": "P1", "beneficiary": "C1", "year": 2026, "amount": "400.00"}))]
pub struct PremiumBody {
    pub request_id: RequestId,
    pub payer: PersonId,
    pub beneficiary: PersonId,
    #[schema(minimum = 1990, maximum = 2200)]
    pub year: i32,
    pub amount: Amount,
}

/// A rule-set body: `request_id` plus the rule set's own fields, every one left out taking
/// its default (domain.md §6).
#[derive(Debug)]
pub struct RulesBody {
    pub request_id: RequestId,
    pub rules: RuleSet,
}

/// Its schema: the rule set's, with `request_id` added and required.
impl PartialSchema for RulesBody {
    fn schema() -> RefOr<Schema> {
        let mut object = rule_set_with("request_id", Ref::from_schema_name(RequestId::name()).into());
        object.description =
            Some("A rule set (domain.md §6); every field left out takes its default.".into());
        object.examples = vec![json!({"request_id": "rules-2", "version": 2,
            "effective_from": "2026-01-01T00:00:00+08:00", "relations": ["spouse", "parent", "child"]})];
        object.into()
    }
}

impl ToSchema for RulesBody {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((RequestId::name().into(), RequestId::schema()));
        schemas.push((RuleSet::name().into(), RuleSet::schema()));
        RuleSet::schemas(schemas);
    }
}

/// The object schema of a rule set with one more field, `name`, required.
pub(crate) fn rule_set_with(name: &str, field: RefOr<Schema>) -> Object {
    let RefOr::T(Schema::Object(mut object)) = RuleSet::schema() else {
        unreachable!("a struct's schema is an object")
    };
    object.properties.insert(name.to_owned(), field);
    object.required.insert(0, name.to_owned());
    object
}

/// A rule-set body: `request_id` plus the rule set's own fields.
pub fn parse_rules(bytes: &[u8]) -> Result<RulesBody, Rejection> {
    let mut object: serde_json::Map<String, serde_json::Value> = parse(bytes)?;
    let request_id =
        object.remove("request_id").ok_or_else(|| Rejection::invalid("request_id", "is required"))?;
    let request_id: RequestId = serde_json::from_value(request_id)
        .map_err(|e| Rejection::invalid("request_id", without_value(&e.to_string())))?;
    let rules: RuleSet = parse_value(serde_json::Value::Object(object))?;
    rules.validate().map_err(|(field, problem)| Rejection::invalid(field, problem))?;
    Ok(RulesBody { request_id, rules })
}

/// Parses a body strictly, naming the offending field in the rejection.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|e| Rejection::invalid("body", format!("is not valid JSON: {e}")))?;
    Ok(value)
}

/// A body as a JSON value, for the checks made before its shape and for the idempotency digest.
/// `Err`: an object in it gives a key twice (serde_json's own `Value` would keep the last one
/// silently, and a typed body the first: api.md §2 refuses both). `Ok(None)`: it is not JSON;
/// the typed parse names what is wrong.
pub fn parse_json(bytes: &[u8]) -> Result<Option<serde_json::Value>, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    match Strict::deserialize(&mut deserializer).and_then(|value| deserializer.end().map(|()| value)) {
        Ok(Strict(value)) => Ok(Some(value)),
        Err(error) if error.classify() == serde_json::error::Category::Data => {
            let message = error.to_string();
            let key = message.split('`').nth(1).unwrap_or("body").to_owned();
            Err(Rejection::invalid(&key, "is given twice"))
        }
        Err(_) => Ok(None),
    }
}

/// A JSON value read with every object's keys checked to be distinct.
struct Strict(serde_json::Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_i64<E>(self, value: i64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_u64<E>(self, value: u64) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_f64<E>(self, value: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(serde_json::Value::Null, serde_json::Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_string<E>(self, value: String) -> Result<Self::Value, E> {
        Ok(value.into())
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(serde_json::Value::Array(items))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let Strict(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(serde_json::Value::Object(object))
    }
}

fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Rejection> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error(error: serde_path_to_error::Error<serde_json::Error>) -> Rejection {
    if matches!(
        error.inner().classify(),
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof
    ) {
        return Rejection::invalid("body", format!("is not valid JSON: {}", error.inner()));
    }
    let path = error.path().to_string();
    let message = error.inner().to_string();
    let named = |marker: &str| {
        message.find(marker).and_then(|start| {
            let rest = &message[start + marker.len()..];
            rest.find('`').map(|end| rest[..end].to_owned())
        })
    };
    let field = if path == "." || path.is_empty() {
        named("missing field `").or_else(|| named("unknown field `")).unwrap_or_else(|| "body".to_owned())
    } else {
        path
    };
    // serde_json appends "at line L column C"; the field name says more.
    let message = without_value(message.split(" at line ").next().unwrap_or(&message));
    let message = if field == "body" && !message.contains("field") {
        format!("is not a valid request: {message}")
    } else {
        message
    };
    Rejection::new(domain::Code::InvalidRequest, format!("{field}: {message}")).with("field", field)
}

/// A serde message without the value it quotes: `invalid type: integer `210102…`, expected a
/// string` becomes `invalid type: integer, expected a string`. A value sent in the wrong place
/// may be a resident ID number, which is never echoed (api.md §4 persons); the names of
/// fields are kept.
fn without_value(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: ", "unknown variant "] {
        let Some(rest) = message.strip_prefix(prefix) else { continue };
        // What follows the last ", expected" is ours; the quoted value, before it, is not.
        let (unexpected, expected) = rest.rsplit_once(", expected").unwrap_or((rest, ""));
        let kind = unexpected.split(['`', '"']).next().unwrap_or("").trim_end();
        let expected = if expected.is_empty() { String::new() } else { format!(", expected{expected}") };
        let kind = if kind.is_empty() { String::new() } else { format!(" {kind}") };
        return format!("{}{kind}{expected}", prefix.trim_end());
    }
    message.to_owned()
}

/// A path segment that must be an identifier.
pub fn path_id<T>(field: &str, text: &str, make: fn(&str) -> Option<T>) -> Result<T, Rejection> {
    make(text).ok_or_else(|| Rejection::invalid(field, "is not 1-64 characters of [A-Za-z0-9_.:-]"))
}

/// A path segment that must be a region code.
pub fn path_region(text: &str) -> Result<Region, Rejection> {
    Region::new(text).ok_or_else(|| Rejection::invalid("region", "is not a 6-digit region code"))
}

/// The settle mode, defaulting to `settle`.
pub fn mode(body: &SettlementBody) -> SettleMode {
    body.mode.unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves shape errors name the field: unknown, missing, bad money, bad id; and never echo
    // the value sent.
    #[test]
    fn errors_name_the_field() {
        let unknown = parse::<RequestOnlyBody>(br#"{"request_id": "r1", "colour": 1}"#).unwrap_err();
        assert_eq!(unknown.details["field"], "colour");
        let missing = parse::<RequestOnlyBody>(br#"{}"#).unwrap_err();
        assert_eq!(missing.details["field"], "request_id");
        let money = parse::<CreditBody>(
            br#"{"request_id": "r1", "amount": "1.001", "bucket": "current", "reason": "x"}"#,
        )
        .unwrap_err();
        assert_eq!(money.details["field"], "amount");
        let number =
            parse::<CreditBody>(br#"{"request_id": "r1", "amount": 5, "bucket": "current", "reason": "x"}"#)
                .unwrap_err();
        assert_eq!(number.details["field"], "amount");
        let id = parse::<RequestOnlyBody>(br#"{"request_id": "has space"}"#).unwrap_err();
        assert_eq!(id.details["field"], "request_id");
        let malformed = parse::<RequestOnlyBody>(br#"{"request_id": "#).unwrap_err();
        assert_eq!(malformed.details["field"], "body");
        let twice = parse::<RequestOnlyBody>(br#"{"request_id": "r1", "request_id": "r2"}"#).unwrap_err();
        assert!(twice.message.contains("duplicate field `request_id`"), "{}", twice.message);
        let trailing = parse::<RequestOnlyBody>(br#"{"request_id": "r1"} x"#).unwrap_err();
        assert!(trailing.message.contains("not valid JSON"), "{}", trailing.message);
        let scalar = parse::<RequestOnlyBody>(br#""r1""#).unwrap_err();
        assert_eq!(scalar.details["field"], "body");
        let hidden =
            parse::<RequestOnlyBody>(br#"{"$serde_json::private::RawValue": "{\"request_id\": \"r1\"}"}"#)
                .unwrap_err();
        assert_eq!(hidden.details["field"], "$serde_json::private::RawValue", "no body smuggled in a string");
        let number = r#"{"request_id": "p1", "person_id": "P1", "region": "210102", "scheme": "resident",
            "id_number": 210102199001011237}"#;
        let echoed = parse::<PersonBody>(number.as_bytes()).unwrap_err();
        assert_eq!(echoed.details["field"], "id_number");
        assert_eq!(echoed.message, "id_number: invalid type: integer, expected a string");
        let in_scheme = r#"{"request_id": "p1", "person_id": "P1", "region": "210102",
            "scheme": "210102199001011237"}"#;
        let echoed = parse::<PersonBody>(in_scheme.as_bytes()).unwrap_err();
        assert!(!echoed.message.contains("19900101"), "{}", echoed.message);
        assert_eq!(echoed.message, "scheme: unknown variant, expected `employee` or `resident`");
        let rules = parse_rules(
            br#"{"request_id": 210102199001011237, "version": 1,
            "effective_from": "2026-01-01T00:00:00+08:00"}"#,
        )
        .unwrap_err();
        assert!(!rules.message.contains("19900101"), "{}", rules.message);
        assert_eq!(rules.details["field"], "request_id");
        let big = parse::<CreditBody>(
            br#"{"request_id": "r1", "amount": "1000000.01", "bucket": "current", "reason": "x"}"#,
        )
        .unwrap_err();
        assert_eq!(big.details["field"], "amount");
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;

    // Proves a key given twice is refused at any depth, and any other JSON is read as
    // serde_json reads it.
    #[test]
    fn repeated_keys_are_refused() {
        let twice = parse_json(br#"{"auto_approve": true, "auto_approve": false}"#).unwrap_err();
        assert_eq!(twice.details["field"], "auto_approve");
        let nested = parse_json(br#"{"a": {"b": 1, "c": [{"d": 1, "d": 2}]}}"#).unwrap_err();
        assert_eq!(nested.details["field"], "d");
        let text = r#"{"a": [1, -2, 3.5, "x", null, true, {"b": {}}], "c": 18446744073709551615}"#;
        let expected: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse_json(text.as_bytes()).unwrap(), Some(expected));
        assert_eq!(parse_json(b"{\"a\": ").unwrap(), None);
        assert_eq!(parse_json(b"{} x").unwrap(), None);
    }
}
