//! `junit.xml` writer: one `<testsuite>` per specification and one `<testcase>` per check,
//! in the dialect Jenkins, GitLab and GitHub test reporters accept. Verdicts map to JUnit
//! outcomes (fail → failure, error → error, warn → pass with details in `system-err`,
//! not-applicable/impossible/inconclusive and expected failures → skipped).
//!
//! All text is escaped here and characters XML 1.0 forbids are dropped, because check
//! messages and transcripts quote server bytes verbatim and a server may send anything.

use super::RunReport;
use super::model::VerdictRecord;
use crate::checks::Verdict;
use std::fmt::Write as _;

/// How one check appears in JUnit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Passing testcase.
    Passed,
    /// Passing testcase whose SHOULD violation is reported in `system-err`.
    Warned,
    /// `<failure>`.
    Failed,
    /// `<error>`.
    Errored,
    /// `<skipped>`: the check could not be judged.
    Skipped,
    /// `<skipped>`: a violation the target's expectation file lists.
    ExpectedFailure,
}

impl Outcome {
    fn of(v: &VerdictRecord) -> Self {
        // Matches the run status rule: a listed violation or error does not fail the run.
        let listed = v.expected_failure.is_some();
        match v.verdict {
            Verdict::Fail | Verdict::Warn | Verdict::Error if listed => Self::ExpectedFailure,
            Verdict::Pass => Self::Passed,
            Verdict::Warn => Self::Warned,
            Verdict::Fail => Self::Failed,
            Verdict::Error => Self::Errored,
            Verdict::NotApplicable | Verdict::Impossible | Verdict::Inconclusive => Self::Skipped,
        }
    }
}

/// The count attributes of `<testsuites>` and `<testsuite>`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    tests: usize,
    failures: usize,
    errors: usize,
    skipped: usize,
}

impl Counts {
    fn of<'a>(records: impl IntoIterator<Item = &'a VerdictRecord>) -> Self {
        let mut c = Self::default();
        for v in records {
            c.tests += 1;
            match Outcome::of(v) {
                Outcome::Failed => c.failures += 1,
                Outcome::Errored => c.errors += 1,
                Outcome::Skipped | Outcome::ExpectedFailure => c.skipped += 1,
                Outcome::Passed | Outcome::Warned => {}
            }
        }
        c
    }

    fn attrs(self) -> String {
        format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"{}\"",
            self.tests, self.failures, self.errors, self.skipped
        )
    }
}

/// Renders the report as a JUnit XML document.
pub(crate) fn render(r: &RunReport) -> Vec<u8> {
    let time = seconds(r.run.duration_ms);
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        x,
        "<testsuites name=\"impress\" {} time=\"{time}\">",
        Counts::of(&r.verdicts).attrs()
    );
    for (spec, records) in by_spec(&r.verdicts) {
        write_suite(&mut x, r, spec, &records);
    }
    x.push_str("</testsuites>\n");
    x.into_bytes()
}

/// Groups verdicts by specification, in order of first appearance (catalogue order).
fn by_spec(verdicts: &[VerdictRecord]) -> Vec<(&str, Vec<&VerdictRecord>)> {
    let mut groups: Vec<(&str, Vec<&VerdictRecord>)> = Vec::new();
    for v in verdicts {
        match groups.iter_mut().find(|(spec, _)| *spec == v.spec) {
            Some((_, records)) => records.push(v),
            None => groups.push((&v.spec, vec![v])),
        }
    }
    groups
}

fn write_suite(x: &mut String, r: &RunReport, spec: &str, records: &[&VerdictRecord]) {
    // Every check is judged over the whole run, so each suite spans the run.
    let time = seconds(r.run.duration_ms);
    let stamp = timestamp(r.run.started_unix_ms)
        .map(|t| format!(" timestamp=\"{t}\""))
        .unwrap_or_default();
    let _ = writeln!(
        x,
        "  <testsuite name=\"{}\" {} time=\"{time}\"{stamp}>",
        attr(spec),
        Counts::of(records.iter().copied()).attrs()
    );
    let status = match r.status {
        super::RunStatus::Passed => "passed",
        super::RunStatus::Failed => "failed",
        super::RunStatus::Invalid => "invalid",
    };
    let mut props = vec![
        ("impress.version", r.impress_version.as_str()),
        ("suite", r.run.suite.as_str()),
        ("target", r.run.target.as_str()),
        ("domain", r.run.domain.as_str()),
        ("status", status),
    ];
    if let Some(reason) = &r.status_reason {
        props.push(("status_reason", reason));
    }
    let seed = r.run.seed.to_string();
    props.push(("seed", &seed));
    write_properties(x, "    ", &props);
    for v in records {
        write_case(x, v);
    }
    x.push_str("  </testsuite>\n");
}

fn write_properties(x: &mut String, indent: &str, props: &[(&str, &str)]) {
    let _ = writeln!(x, "{indent}<properties>");
    for (name, value) in props {
        let _ = writeln!(
            x,
            "{indent}  <property name=\"{}\" value=\"{}\"/>",
            attr(name),
            attr(value)
        );
    }
    let _ = writeln!(x, "{indent}</properties>");
}

fn write_case(x: &mut String, v: &VerdictRecord) {
    let outcome = Outcome::of(v);
    let _ = writeln!(
        x,
        "    <testcase name=\"{}\" classname=\"{}\" time=\"0\">",
        attr(&v.id),
        attr(&classname(&v.spec))
    );
    let mut props = vec![
        ("level", v.level.as_str()),
        ("section", v.section.as_str()),
        ("quote", v.quote.as_str()),
        ("verdict", v.verdict.as_str()),
    ];
    if let Some(reason) = &v.expected_failure {
        props.push(("expected_failure", reason));
    }
    write_properties(x, "      ", &props);
    let details = details(v);
    write_outcome(x, v, outcome, &details);
    write_streams(x, v, outcome, &details);
    x.push_str("    </testcase>\n");
}

/// The `<failure>`, `<error>` or `<skipped>` element, if the outcome has one.
fn write_outcome(x: &mut String, v: &VerdictRecord, outcome: Outcome, details: &str) {
    let message = attr(&v.message);
    match outcome {
        Outcome::Passed | Outcome::Warned => {}
        Outcome::Failed => {
            let level = attr(v.level.as_str());
            let _ = writeln!(
                x,
                "      <failure message=\"{message}\" type=\"{level}\">{}</failure>",
                text(details)
            );
        }
        Outcome::Errored => {
            let _ = writeln!(
                x,
                "      <error message=\"{message}\" type=\"error\">{}</error>",
                text(details)
            );
        }
        Outcome::Skipped => {
            let m = attr(&format!("{}: {}", v.verdict.as_str(), v.message));
            let _ = writeln!(x, "      <skipped message=\"{m}\"/>");
        }
        Outcome::ExpectedFailure => {
            let reason = v.expected_failure.as_deref().unwrap_or_default();
            let m = attr(&format!("expected {}: {reason}", v.verdict.as_str()));
            let _ = writeln!(
                x,
                "      <skipped message=\"{m}\">{}</skipped>",
                text(details)
            );
        }
    }
}

/// `system-out` carries the wire transcript; `system-err` the details of a warning, which
/// has no JUnit outcome of its own.
fn write_streams(x: &mut String, v: &VerdictRecord, outcome: Outcome, details: &str) {
    if let Some(t) = &v.transcript {
        let _ = writeln!(x, "      <system-out>{}</system-out>", text(&t.render()));
    }
    if outcome == Outcome::Warned {
        let _ = writeln!(x, "      <system-err>{}</system-err>", text(details));
    }
}

/// The human-readable body of a failure, error, warning or expected failure.
fn details(v: &VerdictRecord) -> String {
    let mut d = format!(
        "{} section {} ({}): \"{}\"\n",
        v.spec,
        v.section,
        v.level.as_str(),
        v.quote
    );
    let fields = [
        ("expected", &v.expected),
        ("actual", &v.actual),
        ("subject", &v.subject),
        ("expected failure", &v.expected_failure),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            let _ = writeln!(d, "{name}: {value}");
        }
    }
    let tally: Vec<String> = v
        .tally
        .iter()
        .map(|(verdict, n)| format!("{}={n}", verdict.as_str()))
        .collect();
    let _ = writeln!(d, "tally: {}", tally.join(" "));
    let _ = writeln!(d, "message: {}", v.message);
    d
}

/// `RFC 6120` → `rfc6120`, `XEP-0199` → `xep0199`: spaces and hyphens join the parts of a
/// name; any other separator becomes a dot, so reporters that split class names on dots
/// see one package per specification.
fn classname(spec: &str) -> String {
    let mut out = String::new();
    for c in spec.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if c != ' ' && c != '-' && !out.is_empty() && !out.ends_with('.') {
            out.push('.');
        }
    }
    let out = out.trim_end_matches('.');
    if out.is_empty() {
        "unspecified".to_string()
    } else {
        out.to_string()
    }
}

/// Milliseconds as JUnit seconds with millisecond precision.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// Unix milliseconds as the `YYYY-MM-DDThh:mm:ss` (UTC, no zone) the JUnit schema expects,
/// or `None` for dates past year 9999.
pub(super) fn timestamp(unix_ms: u64) -> Option<String> {
    let secs = unix_ms / 1000;
    let days = i64::try_from(secs / 86_400).ok()?;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year <= 9999).then(|| {
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
            rem / 3600,
            rem / 60 % 60,
            rem % 60
        )
    })
}

/// Whether XML 1.0 allows `c` at all (its `Char` production; Rust chars are never
/// surrogates).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}' | '\u{10000}'..)
}

/// Escapes element text. `>` is escaped too so `]]>` can never appear; `\r` is kept as a
/// reference because parsers would otherwise normalize it away.
fn text(s: &str) -> String {
    escape(s, false)
}

/// Escapes an attribute value. Whitespace other than space is kept as references because
/// attribute-value normalization would otherwise turn it into spaces.
fn attr(s: &str) -> String {
    escape(s, true)
}

fn escape(s: &str, in_attr: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            '"' if in_attr => out.push_str("&quot;"),
            '\'' if in_attr => out.push_str("&apos;"),
            '\n' if in_attr => out.push_str("&#10;"),
            '\t' if in_attr => out.push_str("&#9;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::json::fixture;
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::{BytesStart, Event};
    use std::collections::BTreeMap;

    /// What the parser saw: elements by name with their attributes, and all text.
    #[derive(Default)]
    struct Parsed {
        elements: Vec<(String, BTreeMap<String, String>)>,
        text: String,
    }

    impl Parsed {
        fn named(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
            let hits = self.elements.iter().filter(|(n, _)| n == name);
            hits.map(|(_, a)| a).collect()
        }
    }

    fn element(e: &BytesStart<'_>) -> (String, BTreeMap<String, String>) {
        let name = String::from_utf8(e.name().as_ref().to_vec()).expect("utf-8 name");
        let attrs = e
            .attributes()
            .map(|a| {
                let a = a.expect("well-formed attribute");
                let key = String::from_utf8(a.key.as_ref().to_vec()).expect("utf-8 key");
                (key, a.unescape_value().expect("escaped value").into_owned())
            })
            .collect();
        (name, attrs)
    }

    /// Parses the whole document, failing on any well-formedness error.
    fn parse(xml: &str) -> Parsed {
        let mut reader = Reader::from_str(xml);
        let (mut parsed, mut depth, mut roots) = (Parsed::default(), 0usize, 0);
        loop {
            match reader.read_event().expect("well-formed XML") {
                Event::Start(e) => {
                    roots += usize::from(depth == 0);
                    depth += 1;
                    parsed.elements.push(element(&e));
                }
                Event::Empty(e) => parsed.elements.push(element(&e)),
                Event::End(_) => depth -= 1,
                Event::Text(t) => parsed.text.push_str(&t.unescape().expect("escaped text")),
                Event::CData(_) | Event::DocType(_) => panic!("unexpected CDATA or DTD"),
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!((depth, roots), (0, 1), "one closed root element");
        parsed
    }

    fn render_fixture() -> String {
        String::from_utf8(render(&fixture::report())).expect("utf-8")
    }

    #[test]
    fn output_is_well_formed_and_hostile_text_is_escaped() {
        let xml = render_fixture();
        let parsed = parse(&xml);
        assert!(!xml.contains("<script>"));
        assert!(!xml.contains("]]>"));
        let forbidden = |c: char| !xml_char(c);
        assert!(
            !xml.contains(forbidden),
            "XML 1.0 forbidden character in output"
        );
        // The markup survives as text, so the evidence is still readable.
        assert!(parsed.text.contains("<script>alert(1)</script> ]]>"));
        assert!(parsed.text.contains("[31mred"));
    }

    #[test]
    fn one_suite_per_spec_with_counts() {
        let parsed = parse(&render_fixture());
        let root = parsed.named("testsuites");
        let root = root[0];
        let counts = ["tests", "failures", "errors", "skipped"].map(|k| root[k].as_str());
        assert_eq!(counts, ["6", "1", "1", "2"]);
        assert_eq!(root["time"], "61.234");
        let suites = parsed.named("testsuite");
        let names: Vec<&str> = suites.iter().map(|s| s["name"].as_str()).collect();
        assert_eq!(names, ["RFC 6120", "XEP-0199"]);
        assert_eq!(suites[0]["tests"], "4");
        assert_eq!(suites[1]["tests"], "2");
        assert_eq!(suites[0]["timestamp"], "2023-11-14T22:13:20");
        let cases = parsed.named("testcase");
        assert_eq!(cases.len(), 6);
        assert_eq!(cases[0]["classname"], "rfc6120");
        assert_eq!(cases[5]["classname"], "xep0199");
        assert_eq!(cases[1]["name"], "xmpp/rfc6120/8.2.3-iq-id");
    }

    #[test]
    fn verdicts_map_to_junit_outcomes() {
        let parsed = parse(&render_fixture());
        let failures = parsed.named("failure");
        assert_eq!(failures.len(), 1);
        assert_eq!(failures[0]["type"], "MUST");
        assert!(failures[0]["message"].contains("<script>"));
        assert_eq!(parsed.named("error").len(), 1);
        let skipped: Vec<&str> = parsed
            .named("skipped")
            .iter()
            .map(|s| s["message"].as_str())
            .collect();
        assert_eq!(skipped.len(), 2);
        assert!(skipped[0].starts_with("expected fail: prosody#1234 <known> ]]>"));
        assert!(skipped[1].starts_with("not-applicable: "));
        // The warning is a pass with its details on stderr and a property saying so.
        assert_eq!(parsed.named("system-err").len(), 1);
        let props = parsed.named("property");
        let warn = props
            .iter()
            .filter(|p| p["name"] == "verdict" && p["value"] == "warn");
        assert_eq!(warn.count(), 1);
        // Failure text quotes requirement, expected, actual, subject and tally.
        for needle in [
            "\"the server MUST \"bind\"",
            "expected: a full JID",
            "subject: user3",
        ] {
            assert!(parsed.text.contains(needle), "{needle}");
        }
        assert!(parsed.text.contains("tally: pass=41 fail=1"));
    }

    #[test]
    fn every_testcase_has_its_properties() {
        let parsed = parse(&render_fixture());
        let names: Vec<&str> = parsed
            .named("property")
            .iter()
            .map(|p| p["name"].as_str())
            .collect();
        for key in ["level", "section", "quote", "verdict"] {
            assert_eq!(names.iter().filter(|n| **n == key).count(), 6, "{key}");
        }
        let quote = parsed.named("property");
        let quote = quote.iter().find(|p| p["name"] == "quote").expect("quote");
        assert_eq!(
            quote["value"],
            "the server MUST \"bind\" a <resource> & reply"
        );
    }

    #[test]
    fn escaping_and_helpers() {
        assert_eq!(
            attr("a\"b'<c>&\n\t\r\u{1b}"),
            "a&quot;b&apos;&lt;c&gt;&amp;&#10;&#9;&#13;"
        );
        assert_eq!(text("]]>\u{0}\u{ffff}x\n"), "]]&gt;x\n");
        assert_eq!(classname("RFC 6120"), "rfc6120");
        assert_eq!(classname("XEP-0199"), "xep0199");
        assert_eq!(classname("draft-ietf-x/y 1.2"), "draftietfx.y1.2");
        assert_eq!(classname("§§"), "unspecified");
        assert_eq!(seconds(61_234), "61.234");
        assert_eq!(timestamp(0).as_deref(), Some("1970-01-01T00:00:00"));
        assert_eq!(
            timestamp(951_782_400_000).as_deref(),
            Some("2000-02-29T00:00:00")
        );
        assert_eq!(timestamp(u64::MAX), None);
    }

    #[test]
    fn empty_report_is_still_valid() {
        let mut r = fixture::report();
        r.verdicts.clear();
        let xml = String::from_utf8(render(&r)).expect("utf-8");
        let parsed = parse(&xml);
        assert_eq!(parsed.named("testsuites")[0]["tests"], "0");
        assert!(parsed.named("testsuite").is_empty());
    }
}
