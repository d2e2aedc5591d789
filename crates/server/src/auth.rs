//! Bearer tokens and roles (api.md §3). Tokens are compared in constant time; an institution
//! token acts only for its own institution id.

use std::path::Path;

use serde::Deserialize;
use subtle::ConstantTimeEq;

use domain::InstitutionId;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Operator,
    Channel,
    Institution,
    Auditor,
}

impl Role {
    /// The role's name, as the tokens file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Channel => "channel",
            Role::Institution => "institution",
            Role::Auditor => "auditor",
        }
    }
}

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    pub role: Role,
    pub institution: Option<InstitutionId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    token: String,
    role: Role,
    #[serde(default)]
    institution: Option<InstitutionId>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensFile {
    tokens: Vec<TokenEntry>,
}

/// The known tokens. With `insecure_dev`, a missing token is treated as an operator.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Vec<(Vec<u8>, Principal)>,
    insecure_dev: bool,
}

/// Why a caller is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token or an unknown one: 401.
    Unauthorized,
    /// A known token without the right: 403.
    Forbidden,
}

impl Tokens {
    pub fn load(path: &Path) -> anyhow::Result<Tokens> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read tokens file {}: {e}", path.display()))?;
        let file: TokensFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("tokens file {} is not valid: {e}", path.display()))?;
        let mut entries = Vec::new();
        for entry in file.tokens {
            anyhow::ensure!(entry.token.len() >= 8, "every token must be at least 8 characters");
            anyhow::ensure!(
                (entry.role == Role::Institution) == entry.institution.is_some(),
                "an institution token names its institution, and only an institution token does"
            );
            entries.push((
                entry.token.into_bytes(),
                Principal { role: entry.role, institution: entry.institution },
            ));
        }
        Ok(Tokens { entries, insecure_dev: false })
    }

    /// No tokens file: every request without a token acts as an operator. Development only.
    pub fn insecure_dev() -> Tokens {
        Tokens { entries: Vec::new(), insecure_dev: true }
    }

    /// The caller behind an `Authorization` header value. The scheme name is
    /// case-insensitive (RFC 9110 §11.1): `Bearer`, `bearer` and `BEARER` are one scheme.
    pub fn authenticate(&self, header: Option<&str>) -> Result<Principal, Denied> {
        let token = header.and_then(|h| {
            let (scheme, token) = h.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let Some(token) = token else {
            if self.insecure_dev {
                return Ok(Principal { role: Role::Operator, institution: None });
            }
            return Err(Denied::Unauthorized);
        };
        // Compare against every entry, whatever matches, so timing says nothing of which.
        let mut found: Option<&Principal> = None;
        for (known, principal) in &self.entries {
            if bool::from(known.as_slice().ct_eq(token.as_bytes())) {
                found = Some(principal);
            }
        }
        found.cloned().ok_or(Denied::Unauthorized)
    }
}

/// Checks that the caller has one of `roles`.
pub fn require(principal: &Principal, roles: &[Role]) -> Result<(), Denied> {
    if roles.contains(&principal.role) {
        Ok(())
    } else {
        Err(Denied::Forbidden)
    }
}

/// Checks that an institution caller acts for `institution`; other roles pass.
pub fn require_institution(principal: &Principal, institution: &str) -> Result<(), Denied> {
    match (&principal.role, &principal.institution) {
        (Role::Institution, Some(own)) if own.as_str() != institution => Err(Denied::Forbidden),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves 401 for missing/unknown tokens and schemes, the principal of a known one, and a
    // scheme name read without regard to case.
    #[test]
    fn authenticates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.json");
        std::fs::write(
            &path,
            r#"{"tokens": [{"token": "h1-secret", "role": "institution", "institution": "H1"},
                           {"token": "op-secret", "role": "operator"}]}"#,
        )
        .unwrap();
        let tokens = Tokens::load(&path).unwrap();
        assert_eq!(tokens.authenticate(None), Err(Denied::Unauthorized));
        assert_eq!(tokens.authenticate(Some("Bearer nope-nope")), Err(Denied::Unauthorized));
        assert_eq!(tokens.authenticate(Some("Basic h1-secret")), Err(Denied::Unauthorized));
        assert_eq!(tokens.authenticate(Some("Bearerh1-secret")), Err(Denied::Unauthorized));
        for scheme in ["bearer", "BEARER", "bEaReR"] {
            let principal = tokens.authenticate(Some(&format!("{scheme} op-secret"))).unwrap();
            assert_eq!(principal.role, Role::Operator, "{scheme}");
        }
        let h1 = tokens.authenticate(Some("Bearer h1-secret")).unwrap();
        assert_eq!(h1.role, Role::Institution);
        assert_eq!(require_institution(&h1, "H2"), Err(Denied::Forbidden));
        assert_eq!(require_institution(&h1, "H1"), Ok(()));
        assert_eq!(require(&h1, &[Role::Operator]), Err(Denied::Forbidden));
    }
}
