//! Bearer tokens for the API: stored as SHA-256 hashes, each with a role.

use sha2::{Digest, Sha256};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Read (search, histogram, facets, posts, alerts) and acknowledge
    /// alerts.
    Analyst,
    /// Everything an analyst may, and `/api/v1/admin/*` (dictionary reload).
    Admin,
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "analyst" => Ok(Role::Analyst),
            "admin" => Ok(Role::Admin),
            _ => Err(format!("`{s}`: expected analyst or admin")),
        }
    }
}

/// One accepted token.
#[derive(Debug, Clone)]
pub struct Token {
    /// Who holds it (for logs; never the token itself).
    pub name: String,
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// What it may do.
    pub role: Role,
}

/// The tokens the API accepts. No tokens: no authentication.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<Token>,
}

/// SHA-256 of a token, as lowercase hex (what configurations hold).
pub fn hash_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Auth {
    /// From `(name, sha256 hex, role)` triples; the error names the bad one.
    pub fn new<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<Auth, String> {
        let mut tokens = Vec::new();
        for (name, hex, role) in entries {
            let role: Role = role
                .parse()
                .map_err(|e| format!("token `{name}`: role {e}"))?;
            let hex = hex.trim();
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "token `{name}`: sha256 must be 64 hex digits (yuqing token new prints one)"
                ));
            }
            let mut hash = [0u8; 32];
            for (i, byte) in hash.iter_mut().enumerate() {
                *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| format!("token `{name}`: sha256 is not hex"))?;
            }
            if let Some(first) = tokens.iter().find(|t: &&Token| t.hash == hash) {
                return Err(format!(
                    "token `{name}`: the same sha256 as token `{}`; list each token once, with one role",
                    first.name
                ));
            }
            tokens.push(Token {
                name: name.to_string(),
                hash,
                role,
            });
        }
        Ok(Auth { tokens })
    }

    /// Whether any token is configured (otherwise the API is open).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The token matching an `Authorization` header value, if any.
    pub fn check(&self, header: Option<&str>) -> Option<&Token> {
        let presented = header?.strip_prefix("Bearer ")?.trim();
        if presented.is_empty() {
            return None;
        }
        let digest = Sha256::digest(presented.as_bytes());
        // Compare every token in full, so that timing says nothing about
        // which one (or how much of one) matched.
        let mut found = None;
        for t in &self.tokens {
            let diff = t
                .hash
                .iter()
                .zip(digest.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b));
            if diff == 0 {
                found = Some(t);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_by_hash_and_carry_their_role() {
        let a = hash_hex("s3cret-analyst");
        let b = hash_hex("s3cret-admin");
        let auth = Auth::new([
            ("alice", a.as_str(), "analyst"),
            ("ops", b.as_str(), "admin"),
        ])
        .unwrap();
        assert!(auth.enabled());
        assert_eq!(
            auth.check(Some("Bearer s3cret-analyst")).unwrap().role,
            Role::Analyst
        );
        assert_eq!(auth.check(Some("Bearer s3cret-admin")).unwrap().name, "ops");
        assert!(auth.check(Some("Bearer nope")).is_none());
        assert!(
            auth.check(Some("s3cret-admin")).is_none(),
            "the scheme is required"
        );
        assert!(auth.check(Some("Bearer ")).is_none());
        assert!(auth.check(None).is_none());
        assert_eq!(
            hash_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let e = Auth::new([("x", "abc", "analyst")]).unwrap_err();
        assert!(e.contains("token `x`: sha256 must be 64 hex digits"), "{e}");
        let e = Auth::new([("x", a.as_str(), "root")]).unwrap_err();
        assert!(e.contains("expected analyst or admin"), "{e}");
        assert!(!Auth::default().enabled());
        // One token listed twice (with another role) is refused, naming both.
        let upper = a.to_uppercase();
        let e = Auth::new([
            ("alice", a.as_str(), "analyst"),
            ("mallory", upper.as_str(), "admin"),
        ])
        .unwrap_err();
        assert!(
            e.contains("token `mallory`: the same sha256 as token `alice`"),
            "{e}"
        );
    }
}
