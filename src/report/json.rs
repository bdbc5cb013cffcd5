//! `report.json` writer: the serde form of [`RunReport`] (schema [`super::SCHEMA_VERSION`]),
//! pretty-printed, with a trailing newline so the file is a well-behaved text file.

use super::RunReport;

/// Renders the report as pretty JSON followed by a newline.
///
/// Server-provided text needs no extra care here: JSON string escaping covers markup and
/// control characters. Should serialization ever fail, a minimal JSON object naming the
/// error is written instead, so the file is never empty or half-written JSON.
pub(crate) fn render(r: &RunReport) -> Vec<u8> {
    let mut out = match serde_json::to_vec_pretty(r) {
        Ok(bytes) => bytes,
        Err(e) => fallback(r, &e),
    };
    out.push(b'\n');
    out
}

/// A minimal document for the (unexpected) case where the full report cannot be
/// serialized: enough for a reader to see which schema and why the data is missing.
fn fallback(r: &RunReport, e: &serde_json::Error) -> Vec<u8> {
    let doc = serde_json::json!({
        "schema_version": r.schema_version,
        "impress_version": r.impress_version,
        "error": format!("report could not be serialized: {e}"),
    });
    // Serializing a `Value` built from strings and integers cannot fail; the empty object
    // is only a last resort that keeps the output valid JSON.
    serde_json::to_vec_pretty(&doc).unwrap_or_else(|_| b"{}".to_vec())
}

/// A realistic report shared by the writers' unit tests.
#[cfg(test)]
pub(super) mod fixture {
    use super::super::model::{ErrorRecord, RunMeta};
    use super::super::{RunReport, RunStatus, SCHEMA_VERSION, VerdictRecord};
    use crate::checks::{Direction, Level, Transcript, TranscriptLine, Verdict};
    use crate::metrics::OpSummary;
    use std::collections::BTreeMap;

    /// Hostile server text: markup, a CDATA terminator, an ANSI escape and a NUL.
    pub(crate) const HOSTILE: &str =
        "<script>alert(1)</script> ]]> \u{1b}[31mred\u{1b}[0m \u{0}\u{7}bell \u{fffe}";

    fn transcript() -> Transcript {
        let line = |t_ms, dir, text: &str| TranscriptLine {
            t_ms,
            dir,
            text: text.to_string(),
        };
        Transcript {
            lines: vec![
                line(0.0, Direction::Note, "connected to 127.0.0.1:5222"),
                line(1.5, Direction::Out, "<iq type='set' id='b1'><bind/></iq>"),
                line(3.25, Direction::In, HOSTILE),
                line(4.0, Direction::In, "</stream:stream>"),
            ],
            omitted: 2,
        }
    }

    fn record(id: &str, spec: &str, level: Level, verdict: Verdict) -> VerdictRecord {
        let mut tally = BTreeMap::new();
        tally.insert(Verdict::Pass, 41);
        if verdict != Verdict::Pass {
            tally.insert(verdict, 1);
        }
        VerdictRecord {
            id: id.to_string(),
            spec: spec.to_string(),
            section: "7.6.1".to_string(),
            level,
            verdict,
            message: format!("{} happened: {HOSTILE}", verdict.as_str()),
            quote: "the server MUST \"bind\" a <resource> & reply".to_string(),
            expected: Some("a full JID".to_string()),
            actual: Some(HOSTILE.to_string()),
            subject: Some("user3/desktop".to_string()),
            tally,
            expected_failure: None,
            transcript: (verdict != Verdict::Pass).then(transcript),
        }
    }

    fn verdicts() -> Vec<VerdictRecord> {
        let mut xfail = record(
            "xmpp/rfc6120/4.9-stream-error",
            "RFC 6120",
            Level::Must,
            Verdict::Fail,
        );
        xfail.expected_failure = Some("prosody#1234 <known> ]]>".to_string());
        let mut na = record(
            "xmpp/xep0199/4.2-c2s-pong",
            "XEP-0199",
            Level::Must,
            Verdict::NotApplicable,
        );
        na.tally.clear();
        na.transcript = None;
        vec![
            record(
                "xmpp/rfc6120/7.6.1-bind-full-jid",
                "RFC 6120",
                Level::Must,
                Verdict::Pass,
            ),
            record(
                "xmpp/rfc6120/8.2.3-iq-id",
                "RFC 6120",
                Level::Must,
                Verdict::Fail,
            ),
            record(
                "xmpp/rfc6120/5.3.1-starttls-feature",
                "RFC 6120",
                Level::Should,
                Verdict::Warn,
            ),
            xfail,
            record(
                "xmpp/xep0199/4.1-ping-result",
                "XEP-0199",
                Level::Must,
                Verdict::Error,
            ),
            na,
        ]
    }

    fn summary(count: u64, errors: u64, base_us: u64) -> OpSummary {
        OpSummary {
            count,
            errors,
            p50_us: base_us,
            p90_us: base_us * 2,
            p99_us: base_us * 5,
            max_us: base_us * 20,
            mean_us: base_us + base_us / 2,
        }
    }

    /// Two specs, every interesting verdict, three ops, counters and errors.
    pub(crate) fn report() -> RunReport {
        let ops: BTreeMap<String, OpSummary> = [
            ("login".to_string(), summary(200, 3, 12_345)),
            ("message".to_string(), summary(10_000, 0, 850)),
            ("ping".to_string(), summary(400, 1, 1_234_567)),
        ]
        .into();
        RunReport {
            schema_version: SCHEMA_VERSION,
            impress_version: "0.1.0".to_string(),
            status: RunStatus::Failed,
            status_reason: None,
            run: RunMeta {
                suite: "smoke".to_string(),
                suite_path: "suites/smoke.toml".to_string(),
                target: "managed:prosody".to_string(),
                domain: "localhost".to_string(),
                tls_verified: false,
                seed: 42,
                started_unix_ms: 1_700_000_000_123,
                duration_ms: 61_234,
                users: 100,
                sessions: 200,
                machine: Default::default(),
                target_version: Some("prosody 0.12.3-1+deb12u1".into()),
                ..Default::default()
            },
            verdicts: verdicts(),
            service_ops: ops.clone(),
            ops,
            counters: [
                ("messages_sent".to_string(), 10_000),
                ("messages_lost".to_string(), 2),
            ]
            .into(),
            errors: vec![ErrorRecord {
                subject: "user7/phone".to_string(),
                message: format!("connection reset: {HOSTILE}"),
            }],
            timeline: Vec::new(),
            accounting: accounting(),
            recovery: Vec::new(),
            calibration: Vec::new(),
        }
    }

    /// 10,000 messages to two recipients, two of them lost (one to a hostile name).
    fn accounting() -> crate::metrics::accounting::Accounting {
        use crate::metrics::accounting::{AccountRow, Accounted, Accounting};
        let mut a = Accounting::default();
        for (who, n, lost) in [("user1/phone", 5_000, 1), (HOSTILE, 5_000, 1)] {
            a.record(Accounted {
                recipient: who.to_string(),
                row: AccountRow {
                    sent: n,
                    delivered: n - lost,
                    lost,
                    ..Default::default()
                },
                lost_id: Some(format!("impress-{n}")),
            });
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Verdict;

    #[test]
    fn round_trips_through_serde() {
        let r = fixture::report();
        let bytes = render(&r);
        assert_eq!(bytes.last(), Some(&b'\n'));
        let back: RunReport = serde_json::from_slice(&bytes).expect("report.json parses back");
        let ids = |r: &RunReport| r.verdicts.iter().map(|v| v.id.clone()).collect::<Vec<_>>();
        let vs = |r: &RunReport| r.verdicts.iter().map(|v| v.verdict).collect::<Vec<_>>();
        assert_eq!(ids(&back), ids(&r));
        assert_eq!(vs(&back), vs(&r));
        assert_eq!(back.ops, r.ops);
        assert_eq!(back.counters, r.counters);
        assert_eq!(back.verdicts[1].actual, r.verdicts[1].actual);
        assert_eq!(
            back.verdicts[3].expected_failure,
            r.verdicts[3].expected_failure
        );
    }

    #[test]
    fn verdicts_use_kebab_case_names_and_text_is_escaped() {
        let text = String::from_utf8(render(&fixture::report())).expect("utf-8");
        for v in ["pass", "fail", "warn", "error", "not-applicable"] {
            assert!(text.contains(&format!("\"verdict\": \"{v}\"")), "{v}");
        }
        assert!(text.contains("\"schema_version\": 1"));
        // Tally keys are verdict names too.
        assert!(text.contains("\"fail\": 1"));
        // Control characters are JSON-escaped, never raw.
        assert!(!text.contains('\u{1b}'));
        assert!(text.contains("\\u001b[31m"));
    }

    #[test]
    fn every_verdict_serializes_to_its_report_name() {
        let all = [
            Verdict::Pass,
            Verdict::Fail,
            Verdict::Warn,
            Verdict::NotApplicable,
            Verdict::Impossible,
            Verdict::Inconclusive,
            Verdict::Error,
        ];
        for v in all {
            let json = serde_json::to_string(&v).expect("verdict serializes");
            assert_eq!(json, format!("\"{}\"", v.as_str()));
        }
    }
}
