//! XMPP addresses (RFC 7622 §3): `[localpart@]domainpart[/resourcepart]`.
//!
//! Only the structure is checked: the split rules of §3.1, non-empty parts of at most 1023
//! bytes (§3.2–§3.4), the characters §3.3.1 excludes from a localpart, and no control
//! characters or whitespace where they can never be valid. PRECIS profiles (RFC 8264/8265)
//! are deliberately not applied: the harness must be able to send what a server has to
//! reject, and compares addresses the server produced byte for byte.

use std::fmt;
use std::str::FromStr;

/// Longest allowed part, in bytes (RFC 7622 §3.2, §3.3, §3.4).
pub const MAX_PART_BYTES: usize = 1023;

/// A parsed XMPP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Jid {
    local: Option<String>,
    domain: String,
    resource: Option<String>,
}

/// Why a string is not a structurally valid JID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JidError {
    /// A part that is present but empty (`@domain`, `domain/`, an empty string).
    #[error("empty {0}")]
    Empty(&'static str),
    /// A part longer than 1023 bytes.
    #[error("{0} longer than 1023 bytes")]
    TooLong(&'static str),
    /// A character the part cannot contain.
    #[error("character {ch:?} not allowed in {part}")]
    BadChar {
        /// Which part (`localpart`, `domainpart`, `resourcepart`).
        part: &'static str,
        /// The offending character.
        ch: char,
    },
}

const LOCAL: &str = "localpart";
const DOMAIN: &str = "domainpart";
const RESOURCE: &str = "resourcepart";

impl Jid {
    /// Builds a JID from its parts, validating each.
    pub fn new(
        local: Option<&str>,
        domain: &str,
        resource: Option<&str>,
    ) -> Result<Self, JidError> {
        // RFC 7622 §3.2: a trailing label separator is stripped before any other check.
        let domain = domain.strip_suffix('.').unwrap_or(domain);
        check_part(DOMAIN, domain, |c| matches!(c, '@' | '/'))?;
        if let Some(l) = local {
            check_part(LOCAL, l, |c| "\"&'/:<>@".contains(c))?;
        }
        if let Some(r) = resource {
            check_part(RESOURCE, r, |_| false)?;
        }
        Ok(Self {
            local: local.map(str::to_owned),
            domain: domain.to_owned(),
            resource: resource.map(str::to_owned),
        })
    }

    /// The localpart, if any.
    pub fn local(&self) -> Option<&str> {
        self.local.as_deref()
    }

    /// The domainpart.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The resourcepart, if any.
    pub fn resource(&self) -> Option<&str> {
        self.resource.as_deref()
    }

    /// The same address without its resource.
    pub fn bare(&self) -> Self {
        Self {
            local: self.local.clone(),
            domain: self.domain.clone(),
            resource: None,
        }
    }

    /// Whether the address has no resource.
    pub fn is_bare(&self) -> bool {
        self.resource.is_none()
    }

    /// The same address with resource `r` (replacing any existing one).
    pub fn with_resource(&self, r: &str) -> Result<Self, JidError> {
        check_part(RESOURCE, r, |_| false)?;
        Ok(Self {
            resource: Some(r.to_owned()),
            ..self.bare()
        })
    }
}

fn check_part(
    part: &'static str,
    s: &str,
    excluded: impl Fn(char) -> bool,
) -> Result<(), JidError> {
    if s.is_empty() {
        return Err(JidError::Empty(part));
    }
    if s.len() > MAX_PART_BYTES {
        return Err(JidError::TooLong(part));
    }
    // A resource may contain spaces (RFC 7622 §3.4 uses the OpaqueString class); the other
    // parts never can, and no part may carry control characters.
    let space_ok = part == RESOURCE;
    match s
        .chars()
        .find(|&c| c.is_control() || (c.is_whitespace() && !(space_ok && c == ' ')) || excluded(c))
    {
        Some(ch) => Err(JidError::BadChar { part, ch }),
        None => Ok(()),
    }
}

impl FromStr for Jid {
    type Err = JidError;

    /// Splits per RFC 7622 §3.1: the resource starts at the first `/`, and the localpart
    /// ends at the first `@` before that.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (rest, resource) = match s.split_once('/') {
            Some((rest, r)) => (rest, Some(r)),
            None => (s, None),
        };
        let (local, domain) = match rest.split_once('@') {
            Some((l, d)) => (Some(l), d),
            None => (None, rest),
        };
        Self::new(local, domain, resource)
    }
}

impl fmt::Display for Jid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(l) = &self.local {
            write!(f, "{l}@")?;
        }
        f.write_str(&self.domain)?;
        if let Some(r) = &self.resource {
            write!(f, "/{r}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Result<Jid, JidError> {
        s.parse()
    }

    #[test]
    fn parses_all_shapes() {
        let full = j("juliet@example.com/balcony").unwrap();
        assert_eq!(full.local(), Some("juliet"));
        assert_eq!(full.domain(), "example.com");
        assert_eq!(full.resource(), Some("balcony"));
        assert!(!full.is_bare());
        assert_eq!(full.bare().to_string(), "juliet@example.com");
        assert!(full.bare().is_bare());
        let domain = j("example.com").unwrap();
        assert_eq!((domain.local(), domain.resource()), (None, None));
        let dr = j("example.com/foo@bar/baz").unwrap();
        assert_eq!(dr.local(), None);
        assert_eq!(dr.resource(), Some("foo@bar/baz"));
        assert_eq!(dr.to_string(), "example.com/foo@bar/baz");
        assert_eq!(j("a@[::1]").unwrap().domain(), "[::1]");
    }

    #[test]
    fn round_trips_and_resource_changes() {
        for s in ["a@b", "a@b/c d", "b", "b/c", "user1@example.test/impress-1"] {
            assert_eq!(j(s).unwrap().to_string(), s);
        }
        let full = j("a@b/c").unwrap().with_resource("d").unwrap();
        assert_eq!(full.to_string(), "a@b/d");
        assert_eq!(full, Jid::new(Some("a"), "b", Some("d")).unwrap());
        assert!(full.with_resource("").is_err());
        assert_eq!(j("a@example.com.").unwrap().domain(), "example.com");
    }

    #[test]
    fn rejects_bad_structure() {
        assert_eq!(j(""), Err(JidError::Empty(DOMAIN)));
        assert_eq!(j("@b"), Err(JidError::Empty(LOCAL)));
        assert_eq!(j("a@"), Err(JidError::Empty(DOMAIN)));
        assert_eq!(j("a@b/"), Err(JidError::Empty(RESOURCE)));
        assert_eq!(j("/r"), Err(JidError::Empty(DOMAIN)));
        assert_eq!(
            j("a@b@c"),
            Err(JidError::BadChar {
                part: DOMAIN,
                ch: '@'
            })
        );
        assert_eq!(
            j("a<b@c"),
            Err(JidError::BadChar {
                part: LOCAL,
                ch: '<'
            })
        );
        assert!(j("a b@c").is_err());
        assert!(j("a@b c").is_err());
        assert!(j("a@b/\u{0}").is_err());
        assert!(j(".").is_err());
    }

    #[test]
    fn enforces_length_limits() {
        let long = "x".repeat(MAX_PART_BYTES + 1);
        let ok = "x".repeat(MAX_PART_BYTES);
        assert_eq!(j(&format!("{long}@b")), Err(JidError::TooLong(LOCAL)));
        assert_eq!(j(&long), Err(JidError::TooLong(DOMAIN)));
        assert_eq!(j(&format!("b/{long}")), Err(JidError::TooLong(RESOURCE)));
        assert!(j(&format!("{ok}@{ok}/{ok}")).is_ok());
    }
}
