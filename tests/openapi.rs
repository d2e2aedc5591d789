//! The OpenAPI document (`server::openapi::document()`, served at `/openapi.json`), generated
//! from the code, against the code: its shape, every documented route reaching a real handler,
//! and real answers of the real binary checked against the schemas the document gives them.
//! (Routes and document cannot drift apart the other way: the router is built from the same
//! annotated handlers as the document, `utoipa_axum::routes!`.)

mod support;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};
use support::{Home, Service, AUDITOR, CHANNEL, H1, OPERATOR};

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options", "trace"];

fn document() -> Value {
    server::openapi::document().clone()
}

/// Every (path, method) of the document, methods lower-case.
fn documented_routes(doc: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    paths
        .iter()
        .map(|(path, item)| {
            let methods = item
                .as_object()
                .expect("a path item is an object")
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .cloned()
                .collect();
            (path.clone(), methods)
        })
        .collect()
}

/// A concrete path for a documented one: dummy ids, a valid region.
fn concrete(path: &str) -> String {
    path.replace("{region}", "210100")
        .replace("{person_id}", "P-drift")
        .replace("{binding_id}", "B999")
        .replace("{settlement_id}", "S-drift")
        .replace("{name}", "all")
}

/// The security an operation asks for: its own, else the document's.
fn security<'a>(doc: &'a Value, path: &str, method: &str) -> &'a Value {
    doc["paths"][path][method].get("security").unwrap_or(&doc["security"])
}

/// Whether an operation needs no token: its one security requirement is empty.
fn is_public(doc: &Value, path: &str, method: &str) -> bool {
    security(doc, path, method) == &json!([{}])
}

/// A schema's example: `example`, or the first of `examples`.
fn example(schema: &Value) -> Option<&Value> {
    schema.get("example").or_else(|| schema["examples"].get(0))
}

// Proves the document is well-formed OpenAPI 3.1: openapi/info/paths/components present, every
// operation has responses, every $ref resolves, and the served /openapi.json is the same document.
#[test]
fn document_is_openapi_3() {
    let doc = document();
    assert_eq!(doc["openapi"], json!("3.1.0"));
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert!(doc["components"]["schemas"].is_object());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"],
        json!({
            "type": "http", "scheme": "bearer",
            "description": doc["components"]["securitySchemes"]["bearerAuth"]["description"].clone(),
        })
    );
    let routes = documented_routes(&doc);
    assert!(routes.len() >= 20, "paths are listed");
    let mut operation_ids = BTreeSet::new();
    for (path, methods) in &routes {
        assert!(path.starts_with('/'), "{path}");
        for method in methods {
            let operation = &doc["paths"][path][method];
            let responses = operation["responses"].as_object().unwrap_or_else(|| panic!("{method} {path}"));
            assert!(!responses.is_empty(), "{method} {path} has responses");
            assert!(
                responses.keys().any(|status| status.starts_with('2')),
                "{method} {path} has a success response"
            );
            assert!(
                operation_ids.insert(operation["operationId"].as_str().unwrap_or_default().to_owned()),
                "operationId unique: {method} {path}"
            );
            // Path parameters are declared exactly.
            let declared: BTreeSet<String> = operation["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .map(|p| p["name"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            let templated: BTreeSet<String> = path
                .split('/')
                .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
                .map(str::to_owned)
                .collect();
            assert_eq!(declared, templated, "{method} {path} declares its path parameters");
            // Authentication: public routes say so, every other route needs the bearer token.
            let public = ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str());
            assert_eq!(is_public(&doc, path, method), public, "{method} {path}");
            if !public {
                assert_eq!(security(&doc, path, method), &json!([{"bearerAuth": []}]), "{method} {path}");
                let description = operation["description"].as_str().unwrap_or_default();
                assert!(description.starts_with("Roles: "), "{method} {path} names its roles");
                for status in ["401", "403"] {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
            // A command (a request with a body) may be refused for its shape or size, conflict
            // on its request_id, or meet a ledger that cannot write; a batch only for its own
            // shape and size (its items' answers are in its 200).
            if operation.get("requestBody").is_some() {
                assert_eq!(operation["requestBody"]["required"], json!(true), "{method} {path} has a body");
                let statuses: &[&str] =
                    if path == "/v1/batch" { &["400", "413"] } else { &["400", "409", "413", "503"] };
                for &status in statuses {
                    assert!(responses.contains_key(status), "{method} {path} documents {status}");
                }
            }
        }
    }
    // Every $ref resolves.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(target)) = map.get("$ref") {
                    out.push(target.clone());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target.strip_prefix('#').expect("local refs only");
        assert!(doc.pointer(pointer).is_some(), "{target} resolves");
    }
    request_bodies_are_strict(&doc);

    let home = Home::new();
    let service = home.start();
    let (status, served) = service.call("GET", None, "/openapi.json", None);
    assert_eq!((status, served), (200, doc));
}

/// Every request body refuses unknown fields, names its `request_id` (a batch has none of its
/// own), and has an example that conforms to it.
fn request_bodies_are_strict(doc: &Value) {
    let mut bodies = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            let Some(target) =
                operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            else {
                continue;
            };
            let name = target.rsplit('/').next().unwrap();
            let schema = doc.pointer(target.trim_start_matches('#')).unwrap();
            assert_eq!(schema["additionalProperties"], json!(false), "{name} refuses unknown fields");
            if name != "BatchBody" {
                assert!(schema["required"].as_array().unwrap().contains(&json!("request_id")), "{name}");
            }
            let example = example(schema).unwrap_or_else(|| panic!("{name} has an example"));
            conforms(doc, schema, example, name).unwrap_or_else(|e| panic!("{name} example: {e}"));
            bodies += 1;
        }
    }
    assert!(bodies >= 17, "every mutating route and the batch have a body: {bodies}");
}

// Proves the enums of the document are exactly the wire names the domain types accept.
#[test]
fn enums_match_the_domain() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let values = |name: &str| -> Vec<String> {
        let values = schemas[name]["enum"].as_array().unwrap_or_else(|| panic!("{name} is an enum"));
        values.iter().map(|v| v.as_str().unwrap().to_owned()).collect()
    };
    fn accepts<T: serde::de::DeserializeOwned>(names: &[String]) {
        for name in names {
            serde_json::from_value::<T>(json!(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
    accepts::<domain::Category>(&values("Category"));
    assert_eq!(values("Category").len(), domain::Category::ALL.len());
    accepts::<domain::Scheme>(&values("Scheme"));
    accepts::<domain::PersonStatus>(&values("PersonStatus"));
    accepts::<domain::Bucket>(&values("Bucket"));
    accepts::<domain::InstitutionKind>(&values("InstitutionKind"));
    accepts::<domain::Relation>(&values("Relation"));
    accepts::<domain::SettleMode>(&values("SettleMode"));
    assert_eq!(values("SettleMode").len(), 3);
    accepts::<domain::BindingStatus>(&values("BindingStatus"));
    accepts::<domain::Source>(&values("Source"));
    accepts::<domain::Reason>(&values("Reason"));
    let codes = values("Code");
    accepts::<domain::Code>(&codes);
    let names: Vec<&str> = domain::Code::ALL.iter().map(|code| code.as_str()).collect();
    assert_eq!(codes, names, "the error codes, as the service names them");
    // What a request may leave out or send as null is nullable.
    let mode = &schemas["SettlementBody"]["properties"]["mode"];
    conforms(&doc, mode, &Value::Null, "mode").unwrap();
    conforms(&doc, mode, &json!("hold"), "mode").unwrap();
    assert!(conforms(&doc, mode, &json!("later"), "mode").is_err());
}

// Proves no drift from document to code: every documented path and method reaches a real
// handler of the running binary (never the router's "no such route" fallback, never 405).
/// Every `key` number anywhere in `schema` (a property may sit inside a `oneOf` with null).
fn numbers(schema: &Value, key: &str) -> Vec<u64> {
    match schema {
        Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| if k == key { v.as_u64().into_iter().collect() } else { numbers(v, key) })
            .collect(),
        Value::Array(items) => items.iter().flat_map(|v| numbers(v, key)).collect(),
        _ => Vec::new(),
    }
}

// Proves the bounds the document gives as literals (utoipa's attributes take no constants)
// are the limits the service enforces (domain::limits).
#[test]
fn schema_bounds_are_the_limits() {
    use domain::limits::{BATCH_REQUESTS_MAX, EVENTS_PAGE_MAX, PRIORITY_MAX, YEAR_MAX, YEAR_MIN};
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    let years = [YEAR_MIN as u64, YEAR_MAX as u64];
    for body in ["YearEndBody", "PremiumBody"] {
        let year = &schemas[body]["properties"]["year"];
        assert_eq!([numbers(year, "minimum"), numbers(year, "maximum")].concat(), years, "{body}.year");
    }
    for (schema, field) in [("AuthorizationBody", "priority"), ("BindingView", "priority")] {
        let priority = &schemas[schema]["properties"][field];
        assert_eq!(numbers(priority, "maximum"), [u64::from(PRIORITY_MAX)], "{schema}.{field}");
    }
    let requests = &schemas["BatchBody"]["properties"]["requests"];
    assert_eq!(numbers(requests, "maxItems"), [BATCH_REQUESTS_MAX as u64]);
    let parameters = doc["paths"]["/v1/events"]["get"]["parameters"].as_array().unwrap();
    let limit = parameters.iter().find(|p| p["name"] == "limit").expect("the limit parameter");
    assert_eq!(numbers(limit, "maximum"), [EVENTS_PAGE_MAX as u64]);
}

// Proves a field the service leaves out rather than sending null is documented so: optional,
// and with no null in its schema (a consumer must not be told to expect `null`).
#[test]
fn fields_left_out_are_optional_and_never_null() {
    let doc = document();
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("SettlementView", "captured"),
        ("SettlementView", "expires_at"),
        ("Settled", "expires_at"),
        ("Verification", "broken"),
        ("Explain", "reason"),
    ] {
        let property = &schemas[schema]["properties"][field];
        assert!(property.is_object(), "{schema}.{field} is documented");
        let required = schemas[schema]["required"].as_array().cloned().unwrap_or_default();
        assert!(!required.contains(&json!(field)), "{schema}.{field} is optional");
        let text = property.to_string();
        assert!(
            !text.contains("null") && !text.contains("nullable"),
            "{schema}.{field} is never null: {text}"
        );
    }
}

#[test]
fn every_documented_route_is_routed() {
    let doc = document();
    let home = Home::new();
    let service = home.start();
    for (path, methods) in documented_routes(&doc) {
        for method in methods {
            let upper = method.to_uppercase();
            let token = if is_public(&doc, &path, &method) {
                None
            } else if path.starts_with("/v1/events") || path.starts_with("/v1/audit") {
                Some(AUDITOR)
            } else {
                Some(OPERATOR)
            };
            let body = (method != "get").then(|| json!({}));
            let (status, answer) = service.call(&upper, token, &concrete(&path), body.as_ref());
            assert_ne!(status, 405, "{upper} {path}: method not allowed: {answer}");
            let fallback = status == 404 && answer["error"]["message"] == json!("no such route");
            assert!(!fallback, "{upper} {path} reached the fallback: {answer}");
        }
    }
    // The fallback is what the check above recognises.
    let (status, answer) = service.get(OPERATOR, "/v1/no-such-thing");
    assert_eq!((status, answer["error"]["message"].clone()), (404, json!("no such route")));
}

// ---- real answers against their schemas ---------------------------------------------------------

/// Checks `value` against `schema` (the OpenAPI 3.1 subset the document uses: $ref, oneOf,
/// allOf, type (one or a list, "null" among them), enum, required, properties,
/// additionalProperties, items, minItems/maxItems, minimum/maximum, the money pattern);
/// returns the first mismatch.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(Value::String(target)) = schema.get("$ref") {
        let resolved =
            doc.pointer(target.trim_start_matches('#')).ok_or(format!("{at}: bad ref {target}"))?;
        return conforms(doc, resolved, value, at);
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options.iter().filter(|option| conforms(doc, option, value, at).is_ok()).count();
        return match matching {
            1 => Ok(()),
            _ => Err(format!("{at}: {value} matches {matching} of {options:?}")),
        };
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        conforms(doc, part, value, at)?;
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(ty) => vec![ty.as_str()],
        Value::Array(types) => types.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let is = |ty: &str| match ty {
        "null" => value.is_null(),
        "string" => value.is_string(),
        "integer" => value.is_u64() || value.is_i64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|ty| is(ty)) {
        return Err(format!("{at}: {value} is not {types:?}"));
    }
    if value.is_null() {
        return if types.contains(&"null") { Ok(()) } else { Err(format!("{at}: null")) };
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array) {
        if !values.contains(value) {
            return Err(format!("{at}: {value} not in {values:?}"));
        }
    }
    bounds(schema, value, at)?;
    if schema["pattern"] == json!(domain::money::MONEY_RENDERED_PATTERN) {
        let text = value.as_str().unwrap();
        let (units, cents) = text.split_once('.').ok_or(format!("{at}: {text} has no cents"))?;
        if units.is_empty() || cents.len() != 2 || !text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(format!("{at}: {text} is not rendered money"));
        }
    }
    if let Some(items) = schema.get("items") {
        for (index, item) in value.as_array().unwrap().iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{index}]"))?;
        }
    }
    match value.as_object() {
        Some(object) => object_conforms(doc, schema, object, at),
        None => Ok(()),
    }
}

/// minimum/maximum of a number, minItems/maxItems of an array.
fn bounds(schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    let size = value.as_array().map(|items| items.len() as i64);
    for (low, high, n) in [("minimum", "maximum", value.as_i64()), ("minItems", "maxItems", size)] {
        let Some(n) = n else { continue };
        if schema[low].as_i64().is_some_and(|min| n < min) || schema[high].as_i64().is_some_and(|max| n > max)
        {
            return Err(format!("{at}: {n} is outside {low}/{high} of {schema}"));
        }
    }
    Ok(())
}

/// An object's required fields, and each field against its property (or
/// additionalProperties); a field a response schema does not list is drift too.
fn object_conforms(
    doc: &Value,
    schema: &Value,
    object: &serde_json::Map<String, Value>,
    at: &str,
) -> Result<(), String> {
    for name in schema["required"].as_array().into_iter().flatten() {
        if !object.contains_key(name.as_str().unwrap()) {
            return Err(format!("{at}: missing {name}"));
        }
    }
    let properties = schema["properties"].as_object();
    for (name, field) in object {
        match properties.and_then(|p| p.get(name)) {
            Some(property) => conforms(doc, property, field, &format!("{at}.{name}"))?,
            None => match schema.get("additionalProperties") {
                Some(Value::Object(_)) => {
                    conforms(doc, &schema["additionalProperties"], field, &format!("{at}.{name}"))?
                }
                Some(Value::Bool(false)) => return Err(format!("{at}: unexpected {name}")),
                _ if schema.get("properties").is_some() => {
                    return Err(format!("{at}: undocumented field {name}"))
                }
                _ => {}
            },
        }
    }
    Ok(())
}

/// Sends a request and checks the answer against the documented response of its status.
fn checked(
    service: &Service,
    doc: &Value,
    method: &str,
    template: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, answer) = service.call(&method.to_uppercase(), token, path, body.as_ref());
    let response = doc["paths"][template][method]["responses"]
        .get(status.to_string())
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented: {answer}"))
        .clone();
    let response = match response.get("$ref").and_then(Value::as_str) {
        Some(target) => doc.pointer(target.trim_start_matches('#')).unwrap().clone(),
        None => response,
    };
    let schema = &response["content"]["application/json"]["schema"];
    if let Err(mismatch) = conforms(doc, schema, &answer, "body") {
        panic!("{method} {path} ({status}) does not match its schema: {mismatch}\n{answer:#}");
    }
    (status, answer)
}

// Proves the documented response schemas match what the binary really answers: a whole
// scenario (rules, institution, persons, credits, bindings, authorization, settle, hold,
// capture, void, refund, premium, preview, reads, audit, and typical errors) is checked
// body by body against the document.
#[test]
fn real_answers_match_their_schemas() {
    let doc = document();
    let home = Home::new();
    let service = home.start();
    let call = |method: &str, template: &str, path: &str, token: &str, body: Option<Value>| {
        checked(&service, &doc, method, template, path, Some(token), body)
    };
    let post = |template: &str, path: &str, token: &str, body: Value| {
        call("post", template, path, token, Some(body))
    };

    for path in ["/healthz", "/readyz"] {
        assert_eq!(checked(&service, &doc, "get", path, path, None, None).0, 200);
    }
    let rules = json!({"request_id": "r1", "version": 1, "effective_from": "2026-01-01T00:00:00+08:00",
        "auto_approve": false, "resident_premium": support::premium_prices()});
    assert_eq!(
        post("/v1/regions/{region}/rules", "/v1/regions/210100/rules", OPERATOR, rules.clone()).0,
        201
    );
    // The same request_id with another body: 409.
    let mut other = rules.clone();
    other["version"] = json!(2);
    assert_eq!(post("/v1/regions/{region}/rules", "/v1/regions/210100/rules", OPERATOR, other).0, 409);
    assert_eq!(call("get", "/v1/regions/{region}/rules", "/v1/regions/210100/rules", AUDITOR, None).0, 200);
    assert_eq!(call("get", "/v1/regions/{region}/rules", "/v1/regions/310100/rules", AUDITOR, None).0, 404);
    let institution = json!({"request_id": "i1", "institution_id": "H21010000001", "region": "210100",
        "kind": "hospital", "name": "Hospital One"});
    assert_eq!(post("/v1/institutions", "/v1/institutions", OPERATOR, institution).0, 201);
    for (id, scheme) in [("P1", "employee"), ("P2", "employee"), ("C1", "resident")] {
        let body = json!({"request_id": format!("p-{id}"), "person_id": id, "region": "210100", "scheme": scheme,
            "name": "A Person", "id_number": "11010519491231002X"});
        assert_eq!(post("/v1/persons", "/v1/persons", OPERATOR, body).0, 201);
    }
    assert_eq!(call("get", "/v1/persons/{person_id}", "/v1/persons/P1", CHANNEL, None).0, 200);
    assert_eq!(call("get", "/v1/persons/{person_id}", "/v1/persons/nobody", CHANNEL, None).0, 404);
    for id in ["P1", "P2"] {
        let body = json!({"request_id": format!("c-{id}"), "amount": "1000", "bucket": "historic", "reason": "allocation"});
        assert_eq!(
            post("/v1/accounts/{person_id}/credits", &format!("/v1/accounts/{id}/credits"), OPERATOR, body).0,
            200
        );
    }
    let credit_resident = json!({"request_id": "c-C1", "amount": "1", "bucket": "current", "reason": "x"});
    assert_eq!(
        post("/v1/accounts/{person_id}/credits", "/v1/accounts/C1/credits", OPERATOR, credit_resident).0,
        422
    );
    assert_eq!(call("get", "/v1/accounts/{person_id}", "/v1/accounts/P1?as_of_seq=3", OPERATOR, None).0, 200);
    assert_eq!(call("get", "/v1/accounts/{person_id}", "/v1/accounts/C1", OPERATOR, None).0, 404);
    assert_eq!(call("get", "/v1/accounts/{person_id}", "/v1/accounts/P1?colour=1", OPERATOR, None).0, 400);

    // Bindings: pending, approved, authorized; another rejected; one revoked.
    let bind = |request: &str, authorizer: &str, beneficiary: &str| json!({"request_id": request, "authorizer": authorizer, "beneficiary": beneficiary, "relation": "child"});
    let (status, b1) = post("/v1/bindings", "/v1/bindings", CHANNEL, bind("b1", "P1", "C1"));
    assert_eq!((status, b1["status"].clone()), (201, json!("pending")));
    let b1 = b1["binding_id"].as_str().unwrap().to_owned();
    let approve = format!("/v1/bindings/{b1}/approve");
    assert_eq!(
        post("/v1/bindings/{binding_id}/approve", &approve, OPERATOR, json!({"request_id": "a1"})).0,
        200
    );
    assert_eq!(
        post("/v1/bindings/{binding_id}/approve", &approve, OPERATOR, json!({"request_id": "a2"})).0,
        409
    );
    let authorization =
        json!({"request_id": "au1", "priority": 1, "monthly_limit": "100", "annual_limit": null});
    assert_eq!(
        call(
            "put",
            "/v1/bindings/{binding_id}/authorization",
            &format!("/v1/bindings/{b1}/authorization"),
            CHANNEL,
            Some(authorization)
        )
        .0,
        200
    );
    let (_, b2) = post("/v1/bindings", "/v1/bindings", CHANNEL, bind("b2", "P2", "C1"));
    let b2 = b2["binding_id"].as_str().unwrap().to_owned();
    let reject = json!({"request_id": "rj1", "reason": "no proof"});
    assert_eq!(
        post("/v1/bindings/{binding_id}/reject", &format!("/v1/bindings/{b2}/reject"), OPERATOR, reject).0,
        200
    );
    let revoke = format!("/v1/bindings/{b2}/revoke");
    assert_eq!(
        post("/v1/bindings/{binding_id}/revoke", &revoke, CHANNEL, json!({"request_id": "rv1"})).0,
        422
    );
    assert_eq!(post("/v1/bindings", "/v1/bindings", CHANNEL, bind("b3", "P1", "P1")).0, 422);
    assert_eq!(post("/v1/bindings", "/v1/bindings", CHANNEL, bind("b4", "P1", "nobody")).0, 404);
    assert_eq!(
        call("get", "/v1/persons/{person_id}/bindings", "/v1/persons/C1/bindings", CHANNEL, None).0,
        200
    );

    // Settlements: settle (own and family), preview, hold + capture, hold + void, refund.
    let settle = |request: &str, id: &str, beneficiary: &str, amount: &str, mode: Value| {
        json!({"request_id": request, "settlement_id": id, "institution": "H21010000001",
            "beneficiary": beneficiary, "category": "outpatient", "amount": amount, "mode": mode})
    };
    assert_eq!(
        post("/v1/settlements", "/v1/settlements", H1, settle("s1", "S1", "C1", "150", json!(null))).0,
        201
    );
    assert_eq!(
        post("/v1/settlements", "/v1/settlements", H1, settle("s2", "S2", "P1", "50", json!("preview"))).0,
        200
    );
    assert_eq!(
        post("/v1/settlements", "/v1/settlements", H1, settle("s3", "S3", "P1", "80", json!("hold"))).0,
        201
    );
    assert_eq!(
        post("/v1/settlements", "/v1/settlements", H1, settle("s4", "S4", "P1", "20", json!("hold"))).0,
        201
    );
    assert_eq!(
        post("/v1/settlements", "/v1/settlements", H1, settle("s5", "S1", "P1", "20", json!(null))).0,
        409
    );
    assert_eq!(
        post("/v1/settlements", "/v1/settlements", OPERATOR, settle("s6", "S6", "P1", "20", json!(null))).0,
        403
    );
    let capture = json!({"request_id": "cp1", "amount": "60"});
    assert_eq!(
        post("/v1/settlements/{settlement_id}/capture", "/v1/settlements/S3/capture", H1, capture).0,
        200
    );
    assert_eq!(
        post(
            "/v1/settlements/{settlement_id}/void",
            "/v1/settlements/S4/void",
            H1,
            json!({"request_id": "v1"})
        )
        .0,
        200
    );
    assert_eq!(
        post(
            "/v1/settlements/{settlement_id}/void",
            "/v1/settlements/S9/void",
            H1,
            json!({"request_id": "v2"})
        )
        .0,
        404
    );
    let refund = json!({"request_id": "rf1", "refund_id": "R1", "amount": "10", "reason": "returned"});
    assert_eq!(
        post("/v1/settlements/{settlement_id}/refunds", "/v1/settlements/S1/refunds", H1, refund).0,
        201
    );
    let too_much = json!({"request_id": "rf2", "refund_id": "R2", "amount": "1000", "reason": "returned"});
    assert_eq!(
        post("/v1/settlements/{settlement_id}/refunds", "/v1/settlements/S1/refunds", H1, too_much).0,
        422
    );
    for id in ["S1", "S3", "S4"] {
        assert_eq!(
            call("get", "/v1/settlements/{settlement_id}", &format!("/v1/settlements/{id}"), AUDITOR, None).0,
            200
        );
    }

    // Premiums: the first one in the current year is paid.
    let year = json!(chrono_free_year());
    let premium =
        json!({"request_id": "pr1", "payer": "P1", "beneficiary": "C1", "year": year, "amount": "400"});
    let (status, answer) = post("/v1/premiums", "/v1/premiums", CHANNEL, premium);
    assert_eq!(status, 201, "{answer}");

    // Status, year-end, audit.
    let status_body = json!({"request_id": "st1", "status": "suspended", "reason": "moved away"});
    assert_eq!(post("/v1/persons/{person_id}/status", "/v1/persons/P2/status", OPERATOR, status_body).0, 200);
    let year_end = json!({"request_id": "ye1", "year": 2025});
    assert_eq!(
        post("/v1/regions/{region}/year-end", "/v1/regions/210100/year-end", OPERATOR, year_end).0,
        200
    );
    assert_eq!(call("get", "/v1/events", "/v1/events?after_seq=2&limit=50", AUDITOR, None).0, 200);
    assert_eq!(call("get", "/v1/events", "/v1/events?limit=0", AUDITOR, None).0, 400);
    assert_eq!(call("get", "/v1/audit/verify", "/v1/audit/verify", AUDITOR, None).0, 200);
    assert_eq!(call("get", "/v1/audit/verify", "/v1/audit/verify", CHANNEL, None).0, 403);
    let projection = "/v1/admin/projections/{name}";
    assert_eq!(call("get", projection, "/v1/admin/projections/all", AUDITOR, None).0, 200);
    assert_eq!(call("get", projection, "/v1/admin/projections/nothing", AUDITOR, None).0, 404);
    let rebuild = "/v1/admin/projections/{name}/rebuild";
    assert_eq!(
        call("post", rebuild, "/v1/admin/projections/balances/rebuild?dry_run=true", OPERATOR, None).0,
        202
    );
    let mut finished = false;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < deadline {
        let (_, state) = call("get", projection, "/v1/admin/projections/balances", OPERATOR, None);
        if state["status"] != "running" {
            finished = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(finished, "the dry-run rebuild finished");
    let (status, _) = checked(&service, &doc, "get", "/v1/events", "/v1/events", None, None);
    assert_eq!(status, 401);
    let (status, _) =
        checked(&service, &doc, "post", "/v1/persons", "/v1/persons", Some(OPERATOR), Some(json!({"x": 1})));
    assert_eq!(status, 400);
}

// Proves the reads the console added (who a token is, an account's history, every region's
// rule versions, the event log filtered by kind and by person, the settlements listed) answer
// what their schemas say, and what they answer is right: the history ends at the account as it
// stands, a filter keeps exactly the events it names, an institution lists its own.
#[test]
fn console_reads_match_their_schemas() {
    let doc = document();
    let home = Home::new();
    let service = home.start();
    let call = |template: &str, path: &str, token: Option<&str>| {
        checked(&service, &doc, "get", template, path, token, None)
    };
    support::region_with_pharmacy(&service);
    for (id, scheme) in [("P1", "employee"), ("C1", "resident")] {
        let body =
            json!({"request_id": format!("p-{id}"), "person_id": id, "region": "210100", "scheme": scheme});
        assert_eq!(service.post(OPERATOR, "/v1/persons", body).0, 201);
    }
    for (n, amount) in ["12.00", "30.50"].iter().enumerate() {
        let body = json!({"request_id": format!("c-{n}"), "amount": amount, "bucket": "current", "reason": "allocation"});
        assert_eq!(service.post(OPERATOR, "/v1/accounts/P1/credits", body).0, 200);
    }

    let (status, session) = call("/v1/session", "/v1/session", Some(H1));
    assert_eq!((status, session), (200, json!({"role": "institution", "institution": "H21010000001"})));
    assert_eq!(call("/v1/session", "/v1/session", Some(AUDITOR)), (200, json!({"role": "auditor"})));
    assert_eq!(call("/v1/session", "/v1/session", Some("not-a-token")).0, 401);

    let template = "/v1/accounts/{person_id}/history";
    let (status, history) = call(template, "/v1/accounts/P1/history", Some(CHANNEL));
    assert_eq!(status, 200);
    let entries = history["entries"].as_array().unwrap();
    let kinds: Vec<&str> = entries.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["person_registered", "credited", "credited"]);
    let (_, account) = service.get(CHANNEL, "/v1/accounts/P1");
    assert_eq!(entries[2]["available"], account["available"]);
    assert_eq!(history["head_seq"], account["as_of_seq"]);
    assert_eq!(call(template, "/v1/accounts/C1/history", Some(CHANNEL)).0, 404);
    assert_eq!(call(template, "/v1/accounts/P%201/history", Some(CHANNEL)).0, 400);
    assert_eq!(call(template, "/v1/accounts/P1/history", Some(H1)).0, 403);

    let (status, regions) = call("/v1/regions", "/v1/regions", Some(AUDITOR));
    assert_eq!(status, 200);
    assert_eq!(regions["regions"][0]["region"], "210100");
    assert_eq!(regions["regions"][0]["versions"][0]["version"], 1);
    assert_eq!(call("/v1/regions", "/v1/regions", Some(CHANNEL)).0, 403);

    let (status, page) = call("/v1/events", "/v1/events?kind=credited&limit=1", Some(AUDITOR));
    assert_eq!(status, 200);
    let first = &page["events"][0];
    assert_eq!((first["kind"].as_str(), page["events"].as_array().unwrap().len()), (Some("credited"), 1));
    assert_eq!(page["next_after_seq"], first["seq"]);
    let (_, page) = call("/v1/events", "/v1/events?person=P1", Some(AUDITOR));
    let seqs: Vec<&Value> = page["events"].as_array().unwrap().iter().map(|e| &e["seq"]).collect();
    let expected: Vec<&Value> = entries.iter().map(|e| &e["seq"]).collect();
    assert_eq!(seqs, expected, "the events that name P1 are those that moved its account");
    assert_eq!(page["next_after_seq"], page["head_seq"]);
    assert_eq!(call("/v1/events", "/v1/events?kind=nothing", Some(AUDITOR)).0, 400);

    let settle = json!({"request_id": "s1", "settlement_id": "S1", "institution": "H21010000001",
        "beneficiary": "P1", "category": "pharmacy", "amount": "2.00"});
    assert_eq!(service.post(H1, "/v1/settlements", settle).0, 201);
    let (status, page) = call("/v1/settlements", "/v1/settlements", Some(H1));
    assert_eq!(
        (status, page["settlements"][0]["settlement_id"].clone(), page["more"].clone()),
        (200, json!("S1"), json!(false))
    );
    let (_, page) = call("/v1/settlements", "/v1/settlements?institution=H21010000002", Some(OPERATOR));
    assert_eq!(page["settlements"], json!([]), "another institution has none");
    assert_eq!(call("/v1/settlements", "/v1/settlements?institution=H21010000002", Some(H1)).0, 403);
    assert_eq!(call("/v1/settlements", "/v1/settlements?limit=0", Some(H1)).0, 400);
    assert_eq!(call("/v1/settlements", "/v1/settlements", Some(CHANNEL)).0, 403);
    assert_eq!(call("/v1/events", "/v1/events?person=P%201", Some(AUDITOR)).0, 400);
}

/// The current year in +08:00, from the system clock without a date library.
fn chrono_free_year() -> i64 {
    let seconds =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let days = (seconds + 8 * 3600) / 86_400;
    // Civil-from-days (Howard Hinnant), enough for a year.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}
