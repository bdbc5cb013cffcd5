//! `report.html`: one self-contained page (inline CSS and SVG, no script, no fetch; a
//! Content-Security-Policy forbids loading anything) with the verdict matrix by
//! specification (failures first, a pure-CSS filter), every finding with its quote,
//! expected/actual and wire transcript, latency tables and plots, time series with the
//! timeline's marks, counters, errors and run metadata. Every string that may come from the
//! server (or from files) goes through [`escape`].

use super::junit::timestamp;
use super::model::{ErrorRecord, RunMeta, VerdictRecord};
use super::terminal::{ms, op_rank};
use super::{RunOutput, RunReport, RunStatus, plots, svg};
use crate::checks::{Direction, Transcript, Verdict};
use crate::metrics::{Op, OpSummary};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Styles for the whole page; system fonts only (nothing to fetch).
const CSS: &str = include_str!("report.css");

/// Verdict columns of the matrix, most severe first.
const MATRIX: [Verdict; 7] = [
    Verdict::Fail,
    Verdict::Error,
    Verdict::Warn,
    Verdict::Impossible,
    Verdict::Inconclusive,
    Verdict::Pass,
    Verdict::NotApplicable,
];

/// Escapes text for HTML element content and quoted attribute values. Control characters
/// other than newline and tab, and bidirectional overrides, are shown as `\u{…}` so hostile
/// text cannot hide or reorder what the reader sees.
pub(super) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control()
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{fffe}' | '\u{ffff}') =>
            {
                let _ = write!(out, "{}", c.escape_unicode());
            }
            c => out.push(c),
        }
    }
    out
}

/// A verdict as shown: expected failures are told apart from real ones.
fn shown(v: &VerdictRecord) -> (&'static str, String) {
    match (&v.expected_failure, v.verdict) {
        (Some(_), verdict) => ("xfail", format!("expected {}", verdict.as_str())),
        (None, verdict) => (verdict_class(verdict), verdict.as_str().to_string()),
    }
}

fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Pass => "pass",
        Verdict::Fail => "fail",
        Verdict::Error => "error",
        Verdict::Warn => "warn",
        Verdict::NotApplicable => "na",
        Verdict::Impossible | Verdict::Inconclusive => "other",
    }
}

/// Order within a specification: real problems first, then expected ones, then the rest.
fn rank(v: &VerdictRecord) -> (u8, u8) {
    let expected = u8::from(v.expected_failure.is_some());
    (expected, 6 - v.verdict.severity())
}

/// Whether a verdict belongs in the findings list (everything but pass and not-applicable).
fn is_finding(v: &VerdictRecord) -> bool {
    !matches!(v.verdict, Verdict::Pass | Verdict::NotApplicable)
}

/// Anchor of a check's finding.
fn anchor(id: &str) -> String {
    let slug: String = id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("finding-{slug}")
}

/// Renders the page.
pub(super) fn render(out: &RunOutput) -> String {
    let r = &out.report;
    let mut h = String::with_capacity(64 * 1024);
    head(&mut h, r);
    summary(&mut h, r);
    matrix(&mut h, &r.verdicts);
    findings(&mut h, &r.verdicts);
    latency(&mut h, out);
    over_time(&mut h, out);
    super::accounting::html(&mut h, &r.accounting);
    super::recovery::html(&mut h, &r.recovery);
    super::calibration::html(&mut h, &r.calibration);
    counters_and_errors(&mut h, &r.counters, &r.errors);
    metadata(&mut h, r);
    let _ = write!(
        h,
        "<footer>written by impress {} &middot; report.json schema {}</footer>\n</main>\n</body>\n</html>\n",
        escape(&r.impress_version),
        r.schema_version
    );
    h
}

fn status_word(s: RunStatus) -> &'static str {
    match s {
        RunStatus::Passed => "passed",
        RunStatus::Failed => "failed",
        RunStatus::Invalid => "invalid",
    }
}

fn head(h: &mut String, r: &RunReport) {
    let status = status_word(r.status);
    let _ = write!(
        h,
        concat!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ",
            "style-src 'unsafe-inline'; img-src data:\">\n",
            "<title>impress: {suite} against {target}: {status}</title>\n<style>\n{css}</style>\n",
            "</head>\n<body>\n<header class=\"top {status}\"><div class=\"wrap\">",
            "<h1>impress report <span class=\"status {status}\">{status}</span></h1>",
            "<p class=\"sub\">suite <b>{suite}</b> against <b>{target}</b></p>"
        ),
        suite = escape(&r.run.suite),
        target = escape(&r.run.target),
        status = status,
        css = CSS,
    );
    if let Some(reason) = &r.status_reason {
        let _ = write!(h, "<p class=\"reason\">{}</p>", escape(reason));
    }
    h.push_str(concat!(
        "<nav><a href=\"#checks\">Checks</a><a href=\"#findings\">Findings</a>",
        "<a href=\"#latency\">Latency</a><a href=\"#time\">Over time</a>",
        "<a href=\"#messages\">Messages</a><a href=\"#counters\">Counters</a><a href=\"#run\">Run</a></nav>",
        "</div></header>\n<main class=\"wrap\">\n"
    ));
}

fn summary(h: &mut String, r: &RunReport) {
    let ms = r.run.duration_ms;
    let _ = write!(
        h,
        "<section id=\"summary\" class=\"cards\"><div class=\"card\"><b>{}</b><span>users</span></div><div class=\"card\"><b>{}</b><span>sessions</span></div><div class=\"card\"><b>{}.{:03} s</b><span>duration</span></div>",
        r.run.users,
        r.run.sessions,
        ms / 1000,
        ms % 1000
    );
    for v in MATRIX {
        let n = r
            .verdicts
            .iter()
            .filter(|x| x.verdict == v && x.expected_failure.is_none())
            .count();
        let _ = write!(
            h,
            "<div class=\"card v-{}\"><b>{n}</b><span>{}</span></div>",
            verdict_class(v),
            v.as_str()
        );
    }
    let xfail = r
        .verdicts
        .iter()
        .filter(|x| x.expected_failure.is_some())
        .count();
    let _ = writeln!(
        h,
        "<div class=\"card v-xfail\"><b>{xfail}</b><span>expected failures</span></div></section>"
    );
}

fn by_spec(verdicts: &[VerdictRecord]) -> Vec<(&str, Vec<&VerdictRecord>)> {
    let mut specs: Vec<(&str, Vec<&VerdictRecord>)> = Vec::new();
    for v in verdicts {
        match specs.iter_mut().find(|(s, _)| *s == v.spec) {
            Some((_, list)) => list.push(v),
            None => specs.push((&v.spec, vec![v])),
        }
    }
    for (_, list) in &mut specs {
        list.sort_by_key(|v| rank(v));
    }
    // Specifications with problems first, then catalogue order.
    specs.sort_by_key(|(_, list)| list.first().map(|v| rank(v)));
    specs
}

fn matrix(h: &mut String, verdicts: &[VerdictRecord]) {
    h.push_str("<section id=\"checks\"><h2>Checks by specification</h2>");
    h.push_str("<label class=\"filter\"><input type=\"checkbox\" id=\"only-problems\"> show only checks that did not pass</label>");
    h.push_str("<table class=\"matrix\"><thead><tr><th>specification</th>");
    for v in MATRIX {
        let _ = write!(h, "<th class=\"num\">{}</th>", v.as_str());
    }
    h.push_str("<th class=\"num\">expected</th></tr></thead><tbody>");
    let specs = by_spec(verdicts);
    for (spec, list) in &specs {
        let _ = write!(
            h,
            "<tr><td><a href=\"#{}\">{}</a></td>",
            spec_anchor(spec),
            escape(spec)
        );
        for v in MATRIX {
            let n = list
                .iter()
                .filter(|x| x.verdict == v && x.expected_failure.is_none())
                .count();
            let class = if n > 0 { verdict_class(v) } else { "zero" };
            let _ = write!(h, "<td class=\"num c-{class}\">{n}</td>");
        }
        let x = list.iter().filter(|x| x.expected_failure.is_some()).count();
        let class = if x > 0 { "xfail" } else { "zero" };
        let _ = write!(h, "<td class=\"num c-{class}\">{x}</td></tr>");
    }
    h.push_str("</tbody></table>\n");
    for (spec, list) in &specs {
        spec_table(h, spec, list);
    }
    h.push_str("</section>\n");
}

fn spec_anchor(spec: &str) -> String {
    anchor(spec).replacen("finding-", "spec-", 1)
}

fn spec_table(h: &mut String, spec: &str, list: &[&VerdictRecord]) {
    let _ = write!(
        h,
        "<h3 id=\"{}\">{}</h3><table class=\"checks\"><colgroup><col class=\"v\"><col class=\"id\"><col class=\"sec\"><col class=\"lvl\"><col><col class=\"n\"></colgroup><thead><tr><th>verdict</th><th>check</th><th>§</th><th>level</th><th>message</th><th>instances</th></tr></thead><tbody>",
        spec_anchor(spec),
        escape(spec)
    );
    for v in list {
        let (class, word) = shown(v);
        let row = if is_finding(v) { "problem" } else { "ok" };
        let id = if is_finding(v) {
            format!("<a href=\"#{}\">{}</a>", anchor(&v.id), escape(&v.id))
        } else {
            escape(&v.id)
        };
        let tally: Vec<String> = v
            .tally
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        let _ = write!(
            h,
            "<tr class=\"{row}\"><td><span class=\"badge {class}\">{}</span></td><td class=\"id\">{id}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"tally\">{}</td></tr>",
            escape(&word),
            escape(&v.section),
            v.level.as_str(),
            escape(&v.message),
            escape(&tally.join(", "))
        );
    }
    h.push_str("</tbody></table>\n");
}

fn findings(h: &mut String, verdicts: &[VerdictRecord]) {
    h.push_str("<section id=\"findings\"><h2>Findings</h2>");
    let mut list: Vec<&VerdictRecord> = verdicts.iter().filter(|v| is_finding(v)).collect();
    list.sort_by_key(|v| rank(v));
    if list.is_empty() {
        h.push_str("<p class=\"none\">Every exercised check passed.</p>");
    }
    for v in list {
        finding(h, v);
    }
    h.push_str("</section>\n");
}

fn finding(h: &mut String, v: &VerdictRecord) {
    let (class, word) = shown(v);
    let open = if matches!(class, "fail" | "error") {
        " open"
    } else {
        ""
    };
    let _ = write!(
        h,
        "<details class=\"finding {class}\" id=\"{}\"{open}><summary><span class=\"badge {class}\">{}</span> <code class=\"id\">{}</code> <span class=\"level\">{} {} §{}</span></summary>",
        anchor(&v.id),
        escape(&word),
        escape(&v.id),
        v.level.as_str(),
        escape(&v.spec),
        escape(&v.section)
    );
    let _ = write!(
        h,
        "<blockquote class=\"quote\">{}</blockquote><dl>",
        escape(&v.quote)
    );
    let mut field = |name: &str, value: Option<&str>| {
        if let Some(value) = value {
            let _ = write!(h, "<dt>{name}</dt><dd>{}</dd>", escape(value));
        }
    };
    field("message", Some(&v.message));
    field("expected", v.expected.as_deref());
    field("actual", v.actual.as_deref());
    field("subject", v.subject.as_deref());
    field("known deviation", v.expected_failure.as_deref());
    h.push_str("</dl>");
    if let Some(t) = &v.transcript {
        transcript(h, t);
    }
    h.push_str("</details>\n");
}

fn transcript(h: &mut String, t: &Transcript) {
    h.push_str("<div class=\"transcript\"><div class=\"legend\">wire transcript: <span class=\"out\">C&rarr;S sent by impress</span> <span class=\"in\">S&rarr;C from the server</span> <span class=\"note\">notes</span></div><pre>");
    for (i, l) in t.lines.iter().enumerate() {
        if t.omitted > 0 && i == t.lines.len() / 2 {
            let _ = writeln!(
                h,
                "<span class=\"omitted\">… {} frames omitted …</span>",
                t.omitted
            );
        }
        let (class, arrow) = match l.dir {
            Direction::Out => ("out", "C&rarr;S"),
            Direction::In => ("in", "S&rarr;C"),
            Direction::Note => ("note", "----"),
        };
        let t_ms = if l.t_ms.is_finite() { l.t_ms } else { 0.0 };
        let _ = writeln!(
            h,
            "<span class=\"{class}\"><span class=\"t\">{t_ms:>10.3} ms</span> {arrow} {}</span>",
            escape(&l.text)
        );
    }
    h.push_str("</pre></div>");
}

fn ordered_ops(ops: &BTreeMap<String, OpSummary>) -> Vec<(&String, &OpSummary)> {
    let mut v: Vec<_> = ops.iter().collect();
    v.sort_by_key(|(name, _)| op_rank(name));
    v
}

fn latency(h: &mut String, out: &RunOutput) {
    let r = &out.report;
    h.push_str("<section id=\"latency\"><h2>Latency</h2><p class=\"hint\">Response time counts from when an operation was <em>scheduled</em> to start (no coordinated omission); service time from when the request was actually sent. Milliseconds.</p>");
    h.push_str("<table class=\"ops\"><thead><tr><th>operation</th><th class=\"num\">count</th><th class=\"num\">errors</th><th class=\"num\">p50</th><th class=\"num\">p90</th><th class=\"num\">p99</th><th class=\"num\">max</th><th class=\"num\">mean</th><th class=\"num\">service p50</th><th class=\"num\">service p99</th></tr></thead><tbody>");
    for (name, s) in ordered_ops(&r.ops) {
        let service = r
            .service_ops
            .get(name.as_str())
            .cloned()
            .unwrap_or_default();
        let err = if s.errors > 0 {
            " class=\"num c-fail\""
        } else {
            " class=\"num\""
        };
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"num\">{}</td><td{err}>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
            escape(name),
            s.count,
            s.errors,
            ms(s.p50_us),
            ms(s.p90_us),
            ms(s.p99_us),
            ms(s.max_us),
            ms(s.mean_us),
            ms(service.p50_us),
            ms(service.p99_us)
        );
    }
    h.push_str("</tbody></table>\n<div class=\"plots\">");
    for op in Op::ALL.into_iter().filter(|op| out.totals.contains_key(op)) {
        let _ = write!(
            h,
            "<figure class=\"op-plot\" data-op=\"{}\">{}{}</figure>",
            op.name(),
            svg::render(&plots::percentile_chart(op, out)),
            svg::render(&plots::latency_over_time(op, out))
        );
    }
    h.push_str("</div></section>\n");
}

fn over_time(h: &mut String, out: &RunOutput) {
    h.push_str("<section id=\"time\"><h2>Over time</h2><p class=\"hint\">One point per interval; dashed vertical lines mark the timeline (step starts, faults).</p><div class=\"plots\">");
    for chart in [
        plots::throughput_chart(out),
        plots::errors_chart(out),
        plots::sessions_chart(out),
    ] {
        let _ = write!(h, "<figure>{}</figure>", svg::render(&chart));
    }
    h.push_str("</div>");
    if !out.report.timeline.is_empty() {
        h.push_str("<table class=\"timeline\"><thead><tr><th class=\"num\">at (s)</th><th>event</th></tr></thead><tbody>");
        for e in &out.report.timeline {
            let _ = write!(
                h,
                "<tr><td class=\"num\">{}.{:03}</td><td>{}</td></tr>",
                e.at_ms / 1000,
                e.at_ms % 1000,
                escape(&e.label)
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>\n");
}

fn counters_and_errors(h: &mut String, counters: &BTreeMap<String, u64>, errors: &[ErrorRecord]) {
    h.push_str("<section id=\"counters\"><h2>Counters</h2><table class=\"kv\"><tbody>");
    for (k, v) in counters {
        let _ = write!(
            h,
            "<tr><th>{}</th><td class=\"num\">{v}</td></tr>",
            escape(k)
        );
    }
    h.push_str("</tbody></table>");
    let total = counters
        .get("errors")
        .copied()
        .unwrap_or(errors.len() as u64);
    let _ = write!(h, "<h3>Errors ({total})</h3>");
    if errors.is_empty() {
        h.push_str("<p class=\"none\">none</p>");
    } else {
        h.push_str("<ul class=\"errors\">");
        for e in errors {
            let _ = write!(
                h,
                "<li><code>{}</code>: {}</li>",
                escape(&e.subject),
                escape(&e.message)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

fn metadata(h: &mut String, r: &RunReport) {
    let m: &RunMeta = &r.run;
    let started = timestamp(m.started_unix_ms).map_or_else(String::new, |t| format!("{t} UTC"));
    let machine = &m.machine;
    let rows: [(&str, String); 14] = [
        ("suite", m.suite.clone()),
        ("suite file", m.suite_path.clone()),
        ("target", m.target.clone()),
        (
            "target version",
            m.target_version.clone().unwrap_or_else(|| "unknown".into()),
        ),
        ("domain", m.domain.clone()),
        ("TLS verified", m.tls_verified.to_string()),
        ("seed", m.seed.to_string()),
        ("started", started),
        (
            "duration",
            format!("{}.{:03} s", m.duration_ms / 1000, m.duration_ms % 1000),
        ),
        ("users / sessions", format!("{} / {}", m.users, m.sessions)),
        (
            "impress",
            format!("{} (report schema {})", r.impress_version, r.schema_version),
        ),
        ("host", machine.hostname.clone()),
        ("system", format!("{} {}", machine.os, machine.arch)),
        ("CPUs", machine.cpus.to_string()),
    ];
    h.push_str("<section id=\"run\"><h2>Run</h2><table class=\"kv\"><tbody>");
    for (k, v) in rows {
        let _ = write!(h, "<tr><th>{k}</th><td>{}</td></tr>", escape(&v));
    }
    h.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::super::json::fixture;
    use super::*;
    use crate::metrics::Series;

    fn output() -> RunOutput {
        RunOutput {
            report: fixture::report(),
            intervals: BTreeMap::new(),
            totals: BTreeMap::new(),
            service_totals: BTreeMap::new(),
            series: Series::default(),
        }
    }

    #[test]
    fn escape_covers_markup_quotes_and_controls() {
        assert_eq!(
            escape("<a href=\"x\" b='y'>&</a>"),
            "&lt;a href=&quot;x&quot; b=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(
            escape("a\u{1b}[31m\u{202e}b\nc\td"),
            "a\\u{1b}[31m\\u{202e}b\nc\td"
        );
        assert_eq!(escape("\u{0}"), "\\u{0}");
    }

    #[test]
    fn hostile_server_text_never_becomes_markup() {
        let html = render(&output());
        assert!(
            !html.contains("<script"),
            "no script element or injected markup"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(!html.contains('\u{1b}') && !html.contains('\u{0}'));
        assert!(html.contains("&lt;iq type=&#39;set&#39;"));
    }

    #[test]
    fn failures_come_first_with_quote_and_transcript() {
        let html = render(&output());
        let fail = html
            .find("id=\"finding-xmpp-rfc6120-8-2-3-iq-id\"")
            .expect("failure shown");
        let warn = html
            .find("id=\"finding-xmpp-rfc6120-5-3-1-starttls-feature\"")
            .expect("warn");
        let xfail = html
            .find("id=\"finding-xmpp-rfc6120-4-9-stream-error\"")
            .expect("xfail");
        assert!(fail < warn && warn < xfail);
        assert!(html.contains("the server MUST &quot;bind&quot; a &lt;resource&gt; &amp; reply"));
        assert!(html.contains("frames omitted"));
        assert!(html.contains("<span class=\"badge xfail\">expected fail</span>"));
        assert!(html.ends_with("</html>\n"));
    }

    #[test]
    fn an_empty_run_still_renders_every_section() {
        let mut out = output();
        out.report.verdicts.clear();
        out.report.ops.clear();
        let html = render(&out);
        for id in ["checks", "findings", "latency", "time", "counters", "run"] {
            assert!(html.contains(&format!("<section id=\"{id}\"")), "{id}");
        }
        assert!(html.contains("Every exercised check passed."));
        assert!(!html.contains("NaN"));
    }
}
