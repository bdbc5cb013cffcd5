//! A password that cannot leak through `Debug`, `Display` or serialization.

/// A secret string. Its `Debug` prints `[redacted]`; it has no `Display` and no `Serialize`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret, for the one place that must send it (SASL).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A fresh random secret for managed targets.
    pub fn random() -> Self {
        use rand::Rng;
        use rand::distributions::Alphanumeric;
        Self(
            rand::thread_rng()
                .sample_iter(&Alphanumeric)
                .take(24)
                .map(char::from)
                .collect(),
        )
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn debug_never_shows_the_secret() {
        let s = super::Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
