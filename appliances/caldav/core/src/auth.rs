//! HTTP Basic authentication (RFC 7617) against bcrypt hashes.
//!
//! Verifying a bcrypt hash costs tens of milliseconds by design; a client sends
//! its credentials on every request, so a verified `Authorization` value is
//! remembered per user (only the last one: a changed password replaces it).

use std::collections::HashMap;

use base64::Engine;

/// The configured users and the credentials already verified.
#[derive(Debug, Clone, Default)]
pub struct Users {
    hashes: HashMap<String, String>,
    verified: HashMap<String, String>,
}

impl Users {
    /// Parses `NAME:HASH` (a bcrypt `$2a$`/`$2b$`/`$2y$` hash, as `htpasswd -B` writes).
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (name, hash) = spec.split_once(':').ok_or("expected NAME:HASH")?;
        if name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '%', '\0']) {
            return Err(format!("{name:?} cannot be a user name (it names the user's home folder)"));
        }
        if !(hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$")) {
            return Err("the hash is not bcrypt ($2a$, $2b$ or $2y$; make one with htpasswd -nB NAME)".into());
        }
        // A malformed hash would fail every login: find out now.
        bcrypt::verify("", hash).map_err(|e| format!("bad bcrypt hash: {e}"))?;
        self.hashes.insert(name.to_string(), hash.to_string());
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// The user an `Authorization` header value authenticates, if any.
    pub fn authenticate(&mut self, header: Option<&str>) -> Option<String> {
        let header = header?.trim();
        let (scheme, token) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let token = token.trim();
        let decoded = base64::engine::general_purpose::STANDARD.decode(token).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let (name, password) = decoded.split_once(':')?;
        let hash = self.hashes.get(name)?;
        if self.verified.get(name).is_some_and(|v| v == token) {
            return Some(name.to_string());
        }
        if bcrypt::verify(password, hash).unwrap_or(false) {
            self.verified.insert(name.to_string(), token.to_string());
            return Some(name.to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `htpasswd -nbB -C 4 alice secret` (Apache's tool, not ours).
    const ALICE: &str = "alice:$2y$04$bD0NkYp8ncik5LljUWVaAOSkH.m9BPKLLT3t0LcHJ7uuua6BKFmBO";

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(user_pass))
    }

    #[test]
    fn right_and_wrong_passwords() {
        let mut u = Users::default();
        u.add(ALICE).unwrap();
        assert_eq!(u.authenticate(Some(&basic("alice:secret"))).as_deref(), Some("alice"));
        // Again, from the cache.
        assert_eq!(u.authenticate(Some(&basic("alice:secret"))).as_deref(), Some("alice"));
        assert_eq!(u.authenticate(Some(&basic("alice:Secret"))), None);
        assert_eq!(u.authenticate(Some(&basic("bob:secret"))), None);
        assert_eq!(u.authenticate(Some("Bearer x")), None);
        assert_eq!(u.authenticate(Some("Basic %%%")), None);
        assert_eq!(u.authenticate(None), None);
    }

    #[test]
    fn bad_specs() {
        let mut u = Users::default();
        assert!(u.add("alice").is_err());
        assert!(u.add("alice:plain").is_err());
        assert!(u.add("../x:$2y$04$bD0NkYp8ncik5LljUWVaAOSkH.m9BPKLLT3t0LcHJ7uuua6BKFmBO").is_err());
        assert!(u.add("alice:$2y$04$short").is_err());
    }
}
