//! `/openapi.json`: the OpenAPI 3 document of the contract.

use serde_json::{json, Value};

pub fn document() -> Value {
    json!({"openapi": "3.0.3", "info": {"title": "Gongji", "version": "1"}, "paths": {}})
}
