//! Message accounting in the terminal summary and the HTML report: totals, the recipients
//! that lost, duplicated or reordered messages (worst first), and the first lost ids.

use super::html::escape;
use super::terminal::clean;
use crate::metrics::accounting::{AccountRow, Accounting};
use std::fmt::Write as _;

/// Recipients listed at most; `report.json` has them all.
const SHOWN: usize = 10;

fn totals(r: &AccountRow) -> String {
    format!(
        "sent {}  delivered {}  duplicated {}  lost {}  reordered {}",
        r.sent, r.delivered, r.duplicated, r.lost, r.reordered
    )
}

/// The terminal lines (nothing when no message was tracked).
pub(super) fn terminal(out: &mut String, a: &Accounting) {
    if a.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nmessages: {}", totals(&a.total));
    let bad = a.troubled(SHOWN);
    if bad.is_empty() {
        return;
    }
    let names: Vec<String> = bad.iter().map(|(n, _)| clean(n)).collect();
    let w = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "  {:<w$}  {:>9}  {:>9}  {:>10}  {:>9}  {:>9}",
        "recipient", "sent", "delivered", "duplicated", "lost", "reordered"
    );
    for (name, (_, r)) in names.iter().zip(&bad) {
        let _ = writeln!(
            out,
            "  {name:<w$}  {:>9}  {:>9}  {:>10}  {:>9}  {:>9}",
            r.sent, r.delivered, r.duplicated, r.lost, r.reordered
        );
    }
    if !a.lost.is_empty() {
        let ids: Vec<String> = a
            .lost
            .iter()
            .take(SHOWN)
            .map(|l| format!("{} → {}", clean(&l.id), clean(&l.recipient)))
            .collect();
        let more = a.total.lost.saturating_sub(ids.len() as u64);
        let tail = if more > 0 {
            format!(" (+{more} more in report.json)")
        } else {
            String::new()
        };
        let _ = writeln!(out, "  lost: {}{tail}", ids.join(", "));
    }
}

/// The HTML section (always present, so the navigation link never dangles).
pub(super) fn html(h: &mut String, a: &Accounting) {
    h.push_str("<section id=\"messages\"><h2>Message accounting</h2>");
    if a.is_empty() {
        h.push_str("<p class=\"none\">no tracked messages</p></section>\n");
        return;
    }
    let _ = write!(h, "<p>{}</p>", escape(&totals(&a.total)));
    let bad = a.troubled(SHOWN);
    if !bad.is_empty() {
        h.push_str(
            "<table><thead><tr><th>recipient</th><th>sent</th><th>delivered</th>\
             <th>duplicated</th><th>lost</th><th>reordered</th></tr></thead><tbody>",
        );
        for (name, r) in bad {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                escape(name),
                r.sent,
                r.delivered,
                r.duplicated,
                r.lost,
                r.reordered
            );
        }
        h.push_str("</tbody></table>");
    }
    if !a.lost.is_empty() {
        h.push_str("<h3>Lost messages</h3><ul class=\"errors\">");
        for l in a.lost.iter().take(SHOWN * 10) {
            let _ = write!(
                h,
                "<li><code>{}</code> to <code>{}</code></li>",
                escape(&l.id),
                escape(&l.recipient)
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::json::fixture::report;

    #[test]
    fn terminal_lists_troubled_recipients_and_lost_ids() {
        let mut out = String::new();
        terminal(&mut out, &report().accounting);
        assert!(out.contains("messages: sent 10000  delivered 9998  duplicated 0  lost 2"));
        assert!(out.contains("user1/phone"));
        assert!(out.contains("lost: impress-5000 → "), "{out}");
        assert!(!out.contains('\u{1b}'), "control bytes are cleaned");
    }

    #[test]
    fn html_escapes_recipient_names() {
        let mut h = String::new();
        html(&mut h, &report().accounting);
        assert!(!h.contains("<script"), "{h}");
        assert!(h.contains("Lost messages"));
    }

    #[test]
    fn empty_accounting_renders_quietly() {
        let mut out = String::new();
        terminal(&mut out, &Accounting::default());
        assert!(out.is_empty());
        let mut h = String::new();
        html(&mut h, &Accounting::default());
        assert!(h.contains("no tracked messages"));
    }
}
