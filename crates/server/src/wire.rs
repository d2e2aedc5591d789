//! Wire forms of requests: strict bodies (unknown fields refused, money as strings with at
//! most two decimals and at most 1,000,000.00, ids checked) turned into domain `Request`s.
//! A body that fails here never reaches the engine, so it writes nothing and is not
//! remembered under its `request_id`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};

use domain::{
    Bucket, Category, IdNumber, InstitutionId, InstitutionKind, Money, PersonId, PersonStatus, RefundId,
    Region, Rejection, RequestId, RuleSet, Scheme, SettleMode, SettlementId, Timestamp,
};

/// An amount of one operation: a string, ≤ 2 decimals, not negative, ≤ 1,000,000.00.
#[derive(Clone, Copy, Debug)]
pub struct Amount(pub Money);

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Money::parse_amount(&text).map(Amount).map_err(|e| serde::de::Error::custom(format!("amount {e}")))
    }
}

fn amount_opt(value: Option<Amount>) -> Option<Money> {
    value.map(|a| a.0)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstitutionBody {
    pub request_id: RequestId,
    pub institution_id: InstitutionId,
    pub region: Region,
    pub kind: InstitutionKind,
    pub name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonBody {
    pub request_id: RequestId,
    pub person_id: PersonId,
    pub region: Region,
    pub scheme: Scheme,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub id_number: Option<IdNumber>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusBody {
    pub request_id: RequestId,
    pub status: PersonStatus,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditBody {
    pub request_id: RequestId,
    pub amount: Amount,
    pub bucket: Bucket,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct YearEndBody {
    pub request_id: RequestId,
    pub year: i32,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindingBody {
    pub request_id: RequestId,
    pub authorizer: PersonId,
    pub beneficiary: PersonId,
    pub relation: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestOnlyBody {
    pub request_id: RequestId,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectBody {
    pub request_id: RequestId,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthorizationBody {
    pub request_id: RequestId,
    #[serde(default)]
    pub priority: Option<u32>,
    #[serde(default)]
    pub monthly_limit: Option<Amount>,
    #[serde(default)]
    pub annual_limit: Option<Amount>,
}

impl AuthorizationBody {
    pub fn limits(&self) -> (Option<Money>, Option<Money>) {
        (amount_opt(self.monthly_limit), amount_opt(self.annual_limit))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettlementBody {
    pub request_id: RequestId,
    pub settlement_id: SettlementId,
    pub institution: InstitutionId,
    pub beneficiary: PersonId,
    pub category: Category,
    pub amount: Amount,
    #[serde(default)]
    pub occurred_at: Option<Timestamp>,
    #[serde(default)]
    pub mode: Option<SettleMode>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    pub request_id: RequestId,
    #[serde(default)]
    pub amount: Option<Amount>,
}

impl CaptureBody {
    pub fn amount(&self) -> Option<Money> {
        amount_opt(self.amount)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    pub request_id: RequestId,
    pub refund_id: RefundId,
    pub amount: Amount,
    pub reason: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PremiumBody {
    pub request_id: RequestId,
    pub payer: PersonId,
    pub beneficiary: PersonId,
    pub year: i32,
    pub amount: Amount,
}

/// A rule-set body: `request_id` plus the rule set's own fields.
pub fn parse_rules(bytes: &[u8]) -> Result<(RequestId, RuleSet), Rejection> {
    let mut object: serde_json::Map<String, serde_json::Value> = parse(bytes)?;
    let request_id =
        object.remove("request_id").ok_or_else(|| Rejection::invalid("request_id", "is required"))?;
    let request_id: RequestId =
        serde_json::from_value(request_id).map_err(|e| Rejection::invalid("request_id", e))?;
    let rules: RuleSet = parse_value(serde_json::Value::Object(object))?;
    rules.validate().map_err(|(field, problem)| Rejection::invalid(field, problem))?;
    Ok((request_id, rules))
}

/// Parses a body strictly, naming the offending field in the rejection.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(path_error)?;
    deserializer.end().map_err(|e| Rejection::invalid("body", format!("is not valid JSON: {e}")))?;
    Ok(value)
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
    let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
    let message = if field == "body" && !message.contains("field") {
        format!("is not a valid request: {message}")
    } else {
        message
    };
    Rejection::new(domain::Code::InvalidRequest, format!("{field}: {message}")).with("field", field)
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

    // Proves shape errors name the field: unknown, missing, bad money, bad id.
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
        let big = parse::<CreditBody>(
            br#"{"request_id": "r1", "amount": "1000000.01", "bucket": "current", "reason": "x"}"#,
        )
        .unwrap_err();
        assert_eq!(big.details["field"], "amount");
    }
}
