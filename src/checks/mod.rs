//! The catalogue of compliance checks, each named by the spec clause it enforces, and the
//! verdict model. Checks never do I/O: oracles are pure functions over observed stanzas.

pub mod catalogue;
pub mod evidence;
pub mod expect;
pub mod oracle;
pub mod oracle_carbons;
pub mod oracle_muc;
pub mod oracle_offline;
pub mod oracle_sip;
pub mod oracle_sip_proxy;

pub use catalogue::{CATALOGUE, find};
pub use evidence::{Direction, Transcript, TranscriptLine};

use serde::{Deserialize, Serialize};

/// Requirement level of a clause (RFC 2119).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// The RFC 2119 keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Must => "MUST",
            Self::Should => "SHOULD",
            Self::May => "MAY",
        }
    }
}

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The requirement held every time it was exercised.
    Pass,
    /// A MUST was violated.
    Fail,
    /// A SHOULD was violated.
    Warn,
    /// The suite never exercised this check.
    NotApplicable,
    /// A precondition is missing (e.g. the feature is not advertised).
    Impossible,
    /// The observation neither proves nor disproves the requirement.
    Inconclusive,
    /// The harness or the network failed before the requirement could be judged.
    Error,
}

impl Verdict {
    /// The lowercase name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Warn => "warn",
            Self::NotApplicable => "not-applicable",
            Self::Impossible => "impossible",
            Self::Inconclusive => "inconclusive",
            Self::Error => "error",
        }
    }

    /// Severity used to aggregate many instances of one check into one verdict:
    /// the worst instance wins.
    pub fn severity(self) -> u8 {
        match self {
            Self::NotApplicable => 0,
            Self::Pass => 1,
            Self::Inconclusive => 2,
            Self::Impossible => 3,
            Self::Warn => 4,
            Self::Error => 5,
            Self::Fail => 6,
        }
    }
}

/// A clause of a specification that impress can judge.
#[derive(Debug)]
pub struct CheckDef {
    /// Stable identifier, e.g. `xmpp/rfc6120/7.6.1-bind-full-jid`.
    pub id: &'static str,
    /// The specification, e.g. `RFC 6120` or `XEP-0199`.
    pub spec: &'static str,
    /// The section, e.g. `7.6.1`.
    pub section: &'static str,
    /// Requirement level.
    pub level: Level,
    /// The requirement, quoted from the specification.
    pub quote: &'static str,
}

impl CheckDef {
    /// The verdict for a violation of this clause: `fail` for MUST, `warn` otherwise.
    pub fn violated(&self) -> Verdict {
        match self.level {
            Level::Must => Verdict::Fail,
            Level::Should | Level::May => Verdict::Warn,
        }
    }
}

/// One judgement of one check on one subject (a session, a pair of users, ...).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The check judged.
    pub check: &'static CheckDef,
    /// What was found.
    pub verdict: Verdict,
    /// Who it was judged on, e.g. `user3/desktop`.
    pub subject: String,
    /// One line saying what happened.
    pub message: String,
    /// What the clause requires here.
    pub expected: Option<String>,
    /// What the server did.
    pub actual: Option<String>,
    /// The wire bytes that prove it (for anything but a pass).
    pub evidence: Option<Transcript>,
}

impl Outcome {
    /// A passing outcome.
    pub fn pass(check: &'static CheckDef, subject: impl Into<String>) -> Self {
        Self::new(check, Verdict::Pass, subject, "requirement held")
    }

    /// An outcome with a verdict and message and no evidence yet.
    pub fn new(
        check: &'static CheckDef,
        verdict: Verdict,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            check,
            verdict,
            subject: subject.into(),
            message: message.into(),
            expected: None,
            actual: None,
            evidence: None,
        }
    }

    /// A violation of the check's clause (fail for MUST, warn for SHOULD).
    pub fn violation(
        check: &'static CheckDef,
        subject: impl Into<String>,
        expected: impl Into<String>,
        actual: impl Into<String>,
    ) -> Self {
        let expected = expected.into();
        let actual = actual.into();
        let mut o = Self::new(
            check,
            check.violated(),
            subject,
            format!("expected {expected}; got {actual}"),
        );
        o.expected = Some(expected);
        o.actual = Some(actual);
        o
    }

    /// Attaches the transcript that proves the verdict.
    pub fn with_evidence(mut self, t: Transcript) -> Self {
        self.evidence = Some(t);
        self
    }
}

/// The catalogue as text: id, level and quote of every check (of one spec if given).
pub fn render_list(spec: Option<&str>) -> String {
    let mut out = String::new();
    let wanted = |c: &CheckDef| spec.is_none_or(|s| c.spec.eq_ignore_ascii_case(s.trim()));
    for c in CATALOGUE.iter().copied().filter(|c| wanted(c)) {
        out.push_str(&format!(
            "{}  {}  {} §{}\n    \"{}\"\n",
            c.id,
            c.level.as_str(),
            c.spec,
            c.section,
            c.quote
        ));
    }
    out
}
