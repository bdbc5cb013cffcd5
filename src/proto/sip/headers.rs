//! Header-block scanning shared by the framer and the message parser (RFC 3261 §7.3):
//! line unfolding, compact names (§7.3.3, RFC 6665 §8.1), case-insensitive names,
//! list splitting outside quotes and angle brackets, and `;name=value` parameters.
//!
//! Nothing here allocates more than the header block it is given, and nothing panics on
//! arbitrary bytes: every index is checked.

use super::message::ParseError;

/// Compact header names and their full forms (RFC 3261 §7.3.3 and the extensions that
/// registered one: RFC 6665 `o`/`u`, RFC 3515 `r`, RFC 3892 `b`, RFC 4028 `x`,
/// RFC 3841 `a`/`j`/`d`, RFC 4474 `y`).
pub const COMPACT_FORMS: &[(&str, &str)] = &[
    ("i", "Call-ID"),
    ("m", "Contact"),
    ("e", "Content-Encoding"),
    ("l", "Content-Length"),
    ("c", "Content-Type"),
    ("f", "From"),
    ("s", "Subject"),
    ("k", "Supported"),
    ("t", "To"),
    ("v", "Via"),
    ("o", "Event"),
    ("u", "Allow-Events"),
    ("r", "Refer-To"),
    ("b", "Referred-By"),
    ("x", "Session-Expires"),
    ("a", "Accept-Contact"),
    ("j", "Reject-Contact"),
    ("d", "Request-Disposition"),
    ("y", "Identity"),
];

/// The full form of a header name: compact forms expanded, other names as given.
pub fn canonical_name(name: &str) -> &str {
    if name.len() == 1 {
        for (short, long) in COMPACT_FORMS {
            if short.eq_ignore_ascii_case(name) {
                return long;
            }
        }
    }
    name
}

/// Whether two header names denote the same header (case-insensitive, compact forms
/// equal to their full forms).
pub fn same_name(a: &str, b: &str) -> bool {
    canonical_name(a).eq_ignore_ascii_case(canonical_name(b))
}

/// One header field with its name in full form and its value unfolded and trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderField {
    /// The name in full form (`Call-ID` for `i`), otherwise as received.
    pub name: String,
    /// The value: continuation lines joined by one space, surrounding whitespace removed.
    pub value: String,
}

/// RFC 3261 §25.1 `token` characters.
pub fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Splits `block` into lines on LF, dropping one CR before each LF.
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Parses a header block (the lines after the start line, without the empty line that
/// ends it) into fields, unfolding continuation lines (§7.3.1).
pub fn parse_block(block: &[u8]) -> Result<Vec<HeaderField>, ParseError> {
    let mut out: Vec<HeaderField> = Vec::new();
    for line in lines(block) {
        if line.is_empty() {
            continue;
        }
        if is_wsp(line[0]) {
            let Some(last) = out.last_mut() else {
                return Err(ParseError::Header(
                    "continuation line before any header".into(),
                ));
            };
            let more = utf8(line)?.trim();
            if !more.is_empty() {
                last.value.push(' ');
                last.value.push_str(more);
            }
            continue;
        }
        out.push(parse_line(line)?);
    }
    Ok(out)
}

fn utf8(b: &[u8]) -> Result<&str, ParseError> {
    std::str::from_utf8(b).map_err(|_| ParseError::Header("header value is not UTF-8".into()))
}

/// `name *WSP ":" value` (§7.3.1 allows whitespace before the colon).
fn parse_line(line: &[u8]) -> Result<HeaderField, ParseError> {
    let name_len = line.iter().take_while(|&&b| is_token_byte(b)).count();
    if name_len == 0 {
        let shown = String::from_utf8_lossy(&line[..line.len().min(40)]).into_owned();
        return Err(ParseError::Header(format!("not a header line: {shown:?}")));
    }
    let rest = &line[name_len..];
    let colon = rest.iter().position(|&b| !is_wsp(b));
    match colon {
        Some(i) if rest[i] == b':' => {
            let name = utf8(&line[..name_len])?;
            let value = utf8(&rest[i + 1..])?.trim();
            Ok(HeaderField {
                name: canonical_name(name).to_owned(),
                value: value.to_owned(),
            })
        }
        _ => Err(ParseError::Header(format!(
            "header {:?} has no colon",
            String::from_utf8_lossy(&line[..name_len])
        ))),
    }
}

/// Why a Content-Length could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LengthError {
    /// Not a decimal number (negative, empty, letters).
    Invalid(String),
    /// More than one Content-Length header (RFC 4475 §3.3.9).
    Multiple,
    /// A number too large to represent.
    Overflow,
}

/// The Content-Length of a header block, read without allocating: `Ok(None)` when absent.
pub fn content_length(block: &[u8]) -> Result<Option<u64>, LengthError> {
    let mut found: Option<u64> = None;
    let mut all = lines(block).peekable();
    while let Some(line) = all.next() {
        let name_len = line.iter().take_while(|&&b| is_token_byte(b)).count();
        let name = &line[..name_len];
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let rest = &line[name_len..];
        let Some(colon) = rest.iter().position(|&b| !is_wsp(b)) else {
            continue;
        };
        if rest[colon] != b':' {
            continue;
        }
        let first = &rest[colon + 1..];
        // Copied only when folded onto continuation lines (rare): the common case
        // reads the value in place.
        let mut folded: Option<Vec<u8>> = None;
        while let Some(next) = all.next_if(|l| l.first().is_some_and(|&b| is_wsp(b))) {
            folded
                .get_or_insert_with(|| first.to_vec())
                .extend_from_slice(next);
        }
        if found.is_some() {
            return Err(LengthError::Multiple);
        }
        found = Some(parse_length(folded.as_deref().unwrap_or(first))?);
    }
    Ok(found)
}

fn parse_length(value: &[u8]) -> Result<u64, LengthError> {
    let text = String::from_utf8_lossy(value); // borrowed when valid UTF-8
    let digits = text.trim();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LengthError::Invalid(digits.chars().take(40).collect()));
    }
    digits.parse::<u64>().map_err(|_| LengthError::Overflow)
}

/// Splits a header value on `sep` where it is outside double quotes and angle brackets
/// (list headers such as Contact or Via; `;` parameters). Escapes inside quotes are
/// honoured. Pieces are trimmed; empty pieces are kept so callers can reject them.
pub fn split_outside(value: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut start = 0;
    // Bytes, not chars: every delimiter is ASCII and no byte of a multi-byte UTF-8
    // character is, so byte offsets land on character boundaries (a non-ASCII `sep`
    // takes the char loop).
    if !sep.is_ascii() {
        return split_outside_chars(value, sep);
    }
    let sep = sep as u8;
    for (i, b) in value.bytes().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' if quoted => escaped = true,
            b'"' => quoted = !quoted,
            b'<' if !quoted => angle = true,
            b'>' if !quoted => angle = false,
            c if c == sep && !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// [`split_outside`] for a non-ASCII separator.
fn split_outside_chars(value: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut quoted, mut escaped, mut angle) = (false, false, false);
    let mut start = 0;
    for (i, ch) in value.char_indices() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '<' if !quoted => angle = true,
            '>' if !quoted => angle = false,
            c if c == sep && !quoted && !angle => {
                out.push(value[start..i].trim());
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(value[start..].trim());
    out
}

/// Whether `value` has an unterminated double quote.
pub fn unbalanced_quotes(value: &str) -> bool {
    let (mut quoted, mut escaped) = (false, false);
    for ch in value.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ => {}
        }
    }
    quoted
}

/// A `name[=value]` parameter list as written after `;` (names lower-cased, values
/// unquoted). Empty parameters (`;;`) are an error (RFC 4475 §3.1.2.1).
pub fn parse_params(pieces: &[&str]) -> Result<Vec<(String, Option<String>)>, ParseError> {
    let mut out = Vec::with_capacity(pieces.len());
    for p in pieces {
        let (name, value) = match p.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
            None => (p.trim(), None),
        };
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(ParseError::Header(format!("bad parameter {p:?}")));
        }
        out.push((name.to_ascii_lowercase(), value));
    }
    Ok(out)
}

/// Removes surrounding double quotes and backslash escapes; other text as given.
pub fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut escaped = false;
    for ch in inner.chars() {
        if escaped || ch != '\\' {
            out.push(ch);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// Looks a parameter up by name (case-insensitive).
pub fn find_param<'a>(params: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_names() {
        assert_eq!(canonical_name("i"), "Call-ID");
        assert_eq!(canonical_name("L"), "Content-Length");
        assert_eq!(canonical_name("Via"), "Via");
        assert!(same_name("v", "VIA"));
        assert!(same_name("o", "event"));
        assert!(!same_name("t", "From"));
    }

    #[test]
    fn unfolds_continuation_lines() {
        let block = b"Subject: I know you're there,\r\n   pick up the phone\r\n\t and talk to me!\r\nv:  SIP/2.0/UDP a;branch=z9hG4bK1";
        let h = parse_block(block).unwrap();
        assert_eq!(
            h[0].value,
            "I know you're there, pick up the phone and talk to me!"
        );
        assert_eq!(h[1].name, "Via");
    }

    #[test]
    fn content_length_forms() {
        assert_eq!(content_length(b"l: 12"), Ok(Some(12)));
        assert_eq!(content_length(b"CONTENT-LENGTH   :   0007"), Ok(Some(7)));
        assert_eq!(content_length(b"Content-Length:\r\n 5"), Ok(Some(5)));
        assert_eq!(content_length(b"Call-ID: x"), Ok(None));
        assert!(matches!(
            content_length(b"l: -5"),
            Err(LengthError::Invalid(_))
        ));
        assert_eq!(content_length(b"l: 1\r\nl: 2"), Err(LengthError::Multiple));
        assert_eq!(
            content_length(b"l: 99999999999999999999999"),
            Err(LengthError::Overflow)
        );
    }

    #[test]
    fn splits_outside_quotes_and_brackets() {
        let v = r#""a,b" <sip:x@y;p=1,2>;q=0.5, <sip:z@w>"#;
        let parts = split_outside(v, ',');
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[1], "<sip:z@w>");
        assert!(unbalanced_quotes("\"open <sip:a@b>"));
        assert_eq!(unquote(r#""a\"b""#), "a\"b");
    }
}
