//! Commands: what callers ask the ledger to do, already validated for shape.
//!
//! A `Command` holds typed values only (ids, `Money`, `Timestamp`), so a command that exists
//! is well-formed; what remains to decide is business.

use borsh::{BorshDeserialize, BorshSerialize};
use serde::{Deserialize, Serialize};

use crate::ids::{BindingId, IdNumber, InstitutionId, PersonId, RefundId, Region, RequestId, SettlementId};
use crate::money::Money;
use crate::rules::{Bucket, Category, RuleSet};
use crate::time::Timestamp;

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum Scheme {
    /// 职工医保: has a personal account.
    Employee,
    /// 城乡居民医保: no personal account.
    Resident,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum PersonStatus {
    Active,
    Suspended,
    Terminated,
}

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
// Binary form: the variant index, so this order is stored: append new variants at the end only.
#[derive(BorshSerialize, BorshDeserialize)]
pub enum InstitutionKind {
    Hospital,
    Pharmacy,
}

/// How a settlement is to be taken.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SettleMode {
    /// Pay now.
    #[default]
    Settle,
    /// Reserve now, capture later.
    Hold,
    /// 预结算: compute the split and write nothing.
    Preview,
}

/// Something a caller asks of the ledger. Its kind's name (`Command::kind`) is the serde tag,
/// both in snake_case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr)]
#[serde(tag = "command", rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum Command {
    PublishRules {
        region: Region,
        rules: RuleSet,
    },
    RegisterInstitution {
        institution_id: InstitutionId,
        region: Region,
        kind: InstitutionKind,
        name: String,
    },
    RegisterPerson {
        person_id: PersonId,
        region: Region,
        scheme: Scheme,
        name: Option<String>,
        id_number: Option<IdNumber>,
    },
    SetStatus {
        person_id: PersonId,
        status: PersonStatus,
        reason: String,
    },
    Credit {
        person_id: PersonId,
        amount: Money,
        bucket: Bucket,
        reason: String,
    },
    CloseYear {
        region: Region,
        year: i32,
    },
    RequestBinding {
        authorizer: PersonId,
        beneficiary: PersonId,
        /// Free text: a relation the rules do not know is `relation_not_allowed`.
        relation: String,
    },
    ApproveBinding {
        binding_id: BindingId,
    },
    RejectBinding {
        binding_id: BindingId,
        reason: String,
    },
    RevokeBinding {
        binding_id: BindingId,
    },
    Authorize {
        binding_id: BindingId,
        priority: Option<u32>,
        monthly_limit: Option<Money>,
        annual_limit: Option<Money>,
    },
    Settle {
        settlement_id: SettlementId,
        institution: InstitutionId,
        beneficiary: PersonId,
        category: Category,
        amount: Money,
        occurred_at: Option<Timestamp>,
        mode: SettleMode,
    },
    Capture {
        settlement_id: SettlementId,
        amount: Option<Money>,
    },
    Void {
        settlement_id: SettlementId,
    },
    Refund {
        settlement_id: SettlementId,
        refund_id: RefundId,
        amount: Money,
        reason: String,
    },
    PayPremium {
        payer: PersonId,
        beneficiary: PersonId,
        year: i32,
        amount: Money,
    },
    /// Issued by the engine's clock, never by a caller: release a hold past its timeout.
    Expire {
        settlement_id: SettlementId,
    },
}

impl Command {
    /// The command's kind, as its serde tag names it: `settle`, `pay_premium`, …
    pub fn kind(&self) -> &'static str {
        self.into()
    }

    /// Whether the command only computes an answer and writes nothing.
    pub fn is_preview(&self) -> bool {
        matches!(self, Command::Settle { mode: SettleMode::Preview, .. })
    }
}

/// A command with the caller's idempotency key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub request_id: RequestId,
    pub command: Command,
}

/// Where a request came from, when it came over the wire: who sent it and in what form.
/// The writer checks both against the state the request is decided on, not the edge's view
/// of it, which may be a batch behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// An institution acts only on its own settlements: a capture, void or refund of
    /// another's is `forbidden` (and not remembered).
    pub institution: Option<InstitutionId>,
    /// The idempotency digest of the request as sent (its route and its body as a JSON
    /// value); `None`: the command's own digest.
    pub digest: Option<String>,
}

impl Request {
    /// SHA-256 of the command's canonical JSON: the same command (whatever the key order or
    /// spacing of the body it came from) always has the same digest, and a different command,
    /// including one of another kind, a different one.
    pub fn digest(&self) -> String {
        use sha2::{Digest, Sha256};
        let bytes = serde_json::to_vec(&self.command).expect("commands serialize");
        let hash = Sha256::digest(&bytes);
        hex::encode(&hash[..16])
    }

    /// The digest of the request as sent over the wire: the command (so another route, or
    /// another id in the path, is another request) and the body as a JSON value, keys sorted
    /// and spacing dropped. `"5"` and `"5.00"`, or an explicit default and an absent field,
    /// are different bodies: the same `request_id` with either is `idempotency_conflict`.
    ///
    /// An `id_number` enters it masked, as the ledger keeps it: the digest is stored in the
    /// event that auditors, exports and NATS receive, and an unkeyed hash over the full number
    /// gives the number back by trying the few thousand birth dates its masked form leaves
    /// open. Two bodies that differ only in those 8 digits record the same events, so the
    /// ledger answers them as one request (docs/decisions.md).
    pub fn wire_digest(&self, body: &serde_json::Value) -> String {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        hasher.update(serde_json::to_vec(&self.command).expect("commands serialize"));
        hasher.update([0u8]);
        let mut canonical = Vec::new();
        write_canonical(body, &mut canonical);
        hasher.update(&canonical);
        hex::encode(&hasher.finalize()[..16])
    }
}

/// A JSON value with object keys in sorted order and no spacing, whatever the map type.
fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    match value {
        serde_json::Value::Object(map) => {
            let mut entries: Vec<(&String, &serde_json::Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push(b'{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(key).expect("strings serialize"));
                out.push(b':');
                match value {
                    serde_json::Value::String(number) if key == "id_number" => {
                        let masked = crate::ids::mask_id_number(number);
                        out.extend(serde_json::to_vec(&masked).expect("strings serialize"));
                    }
                    _ => write_canonical(value, out),
                }
            }
            out.push(b'}');
        }
        serde_json::Value::Array(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalars serialize")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn register(id_number: &str) -> (Request, serde_json::Value) {
        let body = serde_json::json!({"request_id": "p1", "person_id": "P1", "region": "210102",
            "scheme": "resident", "id_number": id_number});
        let command = Command::RegisterPerson {
            person_id: PersonId::new("P1").unwrap(),
            region: Region::new("210102").unwrap(),
            scheme: Scheme::Resident,
            name: None,
            id_number: IdNumber::new(id_number),
        };
        (Request { request_id: RequestId::new("p1").unwrap(), command }, body)
    }

    // Proves an ID number enters the wire digest as the ledger keeps it, masked: two numbers
    // that differ only in the birth date digest alike, and the digest is that of the masked
    // body, so it holds nothing the masked form does not.
    #[test]
    fn wire_digest_masks_the_id_number() {
        let (first, body_first) = register("210102199001011237");
        let (second, body_second) = register("210102200512311237");
        assert_ne!(body_first, body_second);
        assert_eq!(first.wire_digest(&body_first), second.wire_digest(&body_second));
        let mut masked = body_first.clone();
        masked["id_number"] = "210102********1237".into();
        assert_eq!(first.wire_digest(&body_first), first.wire_digest(&masked));
        let (other, body_other) = register("210102199001011245");
        assert_ne!(first.wire_digest(&body_first), other.wire_digest(&body_other), "the kept digits count");
    }

    // Proves a command's kind is its serde tag, for every kind but `publish_rules` (whose
    // rule set is its own test's business; the derive names it by the same rule).
    #[test]
    fn kind_is_the_serde_tag() {
        let bodies = [
            json!({"command": "register_institution", "institution_id": "H1", "region": "210100", "kind": "hospital", "name": "H"}),
            json!({"command": "register_person", "person_id": "P1", "region": "210100", "scheme": "employee", "name": null, "id_number": null}),
            json!({"command": "set_status", "person_id": "P1", "status": "suspended", "reason": "r"}),
            json!({"command": "credit", "person_id": "P1", "amount": "1.00", "bucket": "current", "reason": "r"}),
            json!({"command": "close_year", "region": "210100", "year": 2026}),
            json!({"command": "request_binding", "authorizer": "P1", "beneficiary": "C1", "relation": "child"}),
            json!({"command": "approve_binding", "binding_id": "B1"}),
            json!({"command": "reject_binding", "binding_id": "B1", "reason": "r"}),
            json!({"command": "revoke_binding", "binding_id": "B1"}),
            json!({"command": "authorize", "binding_id": "B1", "priority": null, "monthly_limit": null, "annual_limit": null}),
            json!({"command": "settle", "settlement_id": "S1", "institution": "H1", "beneficiary": "C1", "category": "outpatient", "amount": "1.00", "occurred_at": null, "mode": "settle"}),
            json!({"command": "capture", "settlement_id": "S1", "amount": null}),
            json!({"command": "void", "settlement_id": "S1"}),
            json!({"command": "refund", "settlement_id": "S1", "refund_id": "R1", "amount": "1.00", "reason": "r"}),
            json!({"command": "pay_premium", "payer": "P1", "beneficiary": "C1", "year": 2026, "amount": "1.00"}),
            json!({"command": "expire", "settlement_id": "S1"}),
        ];
        for body in bodies {
            let command: Command =
                serde_json::from_value(body.clone()).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(command.kind(), body["command"], "{body}");
        }
    }
}
