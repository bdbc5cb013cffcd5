//! A minimal PIDF document (RFC 3863): the presentity `entity`, tuples with a `basic`
//! status (`open`/`closed`), an optional contact and note, and presence-level notes.
//! Elements outside the PIDF namespace (RPID, data model extensions) are skipped.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};

/// The PIDF namespace.
pub const NS: &str = "urn:ietf:params:xml:ns:pidf";

/// The media type of a PIDF body (RFC 3863 §8).
pub const CONTENT_TYPE: &str = "application/pidf+xml";

/// Why a body is not a PIDF document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PidfError {
    /// Not well-formed XML.
    #[error("not well-formed XML: {0}")]
    Xml(String),
    /// The root is not `<presence xmlns='urn:ietf:params:xml:ns:pidf'>`.
    #[error("root element is not a PIDF <presence>")]
    NotPidf,
    /// The required `entity` attribute is absent.
    #[error("<presence> has no entity")]
    NoEntity,
}

/// The `<basic>` status of a tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basic {
    /// `open`: able to receive.
    Open,
    /// `closed`.
    Closed,
}

impl Basic {
    fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// One `<tuple>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tuple {
    /// The `id` attribute.
    pub id: String,
    /// `<status><basic>`, if present and valid.
    pub basic: Option<Basic>,
    /// `<contact>`.
    pub contact: Option<String>,
    /// The first `<note>` of the tuple.
    pub note: Option<String>,
}

/// A PIDF document.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pidf {
    /// The presentity URI (`entity` attribute), e.g. `sip:alice@kamailio.test`.
    pub entity: String,
    /// The tuples, in order.
    pub tuples: Vec<Tuple>,
    /// Notes directly under `<presence>`.
    pub notes: Vec<String>,
}

fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

impl Pidf {
    /// A document with one tuple.
    pub fn single(entity: &str, tuple_id: &str, basic: Basic, note: Option<&str>) -> Self {
        Self {
            entity: entity.to_owned(),
            tuples: vec![Tuple {
                id: tuple_id.to_owned(),
                basic: Some(basic),
                contact: None,
                note: note.map(str::to_owned),
            }],
            notes: Vec::new(),
        }
    }

    /// The basic status of the first tuple that has one.
    pub fn basic(&self) -> Option<Basic> {
        self.tuples.iter().find_map(|t| t.basic)
    }

    /// The document as XML.
    pub fn to_xml(&self) -> String {
        let mut out = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<presence xmlns=\"{NS}\" entity=\"{}\">\n",
            escape(&self.entity)
        );
        for t in &self.tuples {
            out.push_str(&format!("  <tuple id=\"{}\">\n", escape(&t.id)));
            if let Some(b) = t.basic {
                out.push_str(&format!(
                    "    <status><basic>{}</basic></status>\n",
                    b.as_str()
                ));
            }
            if let Some(c) = &t.contact {
                out.push_str(&format!("    <contact>{}</contact>\n", escape(c)));
            }
            if let Some(n) = &t.note {
                out.push_str(&format!("    <note>{}</note>\n", escape(n)));
            }
            out.push_str("  </tuple>\n");
        }
        for n in &self.notes {
            out.push_str(&format!("  <note>{}</note>\n", escape(n)));
        }
        out.push_str("</presence>\n");
        out
    }

    /// Parses a PIDF body.
    pub fn parse(body: &[u8]) -> Result<Self, PidfError> {
        let mut reader = NsReader::from_reader(body);
        let mut doc: Option<Self> = None;
        // PIDF element names from the root down to the current element.
        let mut path: Vec<String> = Vec::new();
        let mut text = String::new();
        loop {
            let (ns, ev) = reader
                .read_resolved_event()
                .map_err(|e| PidfError::Xml(e.to_string()))?;
            let in_pidf = matches!(ns, ResolveResult::Bound(Namespace(n)) if n == NS.as_bytes());
            match ev {
                Event::Start(e) | Event::Empty(e) if path.is_empty() && doc.is_none() => {
                    if !in_pidf || e.local_name().as_ref() != b"presence" {
                        return Err(PidfError::NotPidf);
                    }
                    doc = Some(Self {
                        entity: attr(&e, b"entity").ok_or(PidfError::NoEntity)?,
                        ..Self::default()
                    });
                    path.push("presence".into());
                }
                Event::Start(e) => {
                    let name = if in_pidf {
                        String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
                    } else {
                        String::new()
                    };
                    if name == "tuple"
                        && path.len() == 1
                        && let Some(d) = doc.as_mut()
                    {
                        d.tuples.push(Tuple {
                            id: attr(&e, b"id").unwrap_or_default(),
                            ..Tuple::default()
                        });
                    }
                    path.push(name);
                    text.clear();
                }
                Event::Text(t) => {
                    let s = t.unescape().map_err(|e| PidfError::Xml(e.to_string()))?;
                    text.push_str(&s);
                }
                Event::CData(c) => text.push_str(&String::from_utf8_lossy(&c)),
                Event::End(_) => {
                    if let Some(d) = doc.as_mut() {
                        record(d, &path, text.trim());
                    }
                    text.clear();
                    path.pop();
                }
                Event::Eof => break,
                _ => {}
            }
        }
        doc.ok_or(PidfError::NotPidf)
    }
}

fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| a.unescape_value().ok())
        .map(|v| v.into_owned())
}

/// Stores the text of the element closing at the end of `path`.
fn record(doc: &mut Pidf, path: &[String], text: &str) {
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["presence", "note"] => doc.notes.push(text.to_owned()),
        ["presence", "tuple", rest @ ..] => {
            let Some(t) = doc.tuples.last_mut() else {
                return;
            };
            match rest {
                ["status", "basic"] => {
                    t.basic = match text {
                        "open" => Some(Basic::Open),
                        "closed" => Some(Basic::Closed),
                        _ => None,
                    }
                }
                ["contact"] => t.contact = Some(text.to_owned()),
                ["note"] if t.note.is_none() => t.note = Some(text.to_owned()),
                _ => {}
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut doc = Pidf::single(
            "sip:alice@kamailio.test",
            "t1",
            Basic::Open,
            Some("at <desk> & busy"),
        );
        doc.notes.push("hello".into());
        let parsed = Pidf::parse(doc.to_xml().as_bytes()).unwrap();
        assert_eq!(parsed, doc);
        assert_eq!(parsed.basic(), Some(Basic::Open));
    }

    #[test]
    fn parses_prefixed_pidf_with_extensions() {
        let xml = r#"<?xml version='1.0' encoding='UTF-8'?>
<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
  xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@kamailio.test">
  <p:tuple id="0x7f"><p:status><p:basic>closed</p:basic></p:status>
    <p:contact priority="0.8">sip:bob@127.0.0.1:5071</p:contact></p:tuple>
  <dm:person id="p1"><rpid:activities><rpid:away/></rpid:activities><dm:note>ignored</dm:note></dm:person>
  <p:note xml:lang="en">Gone fishing</p:note>
</p:presence>"#;
        let d = Pidf::parse(xml.as_bytes()).unwrap();
        assert_eq!(d.entity, "sip:bob@kamailio.test");
        assert_eq!(d.tuples.len(), 1);
        assert_eq!(d.tuples[0].basic, Some(Basic::Closed));
        assert_eq!(
            d.tuples[0].contact.as_deref(),
            Some("sip:bob@127.0.0.1:5071")
        );
        assert_eq!(d.notes, vec!["Gone fishing".to_owned()]);
    }

    #[test]
    fn rejects_non_pidf() {
        assert_eq!(
            Pidf::parse(b"<presence entity='x'/>"),
            Err(PidfError::NotPidf)
        );
        assert_eq!(
            Pidf::parse(format!("<presence xmlns='{NS}'/>").as_bytes()),
            Err(PidfError::NoEntity)
        );
        let broken = format!("<presence xmlns='{NS}' entity='x'><tuple></presence>");
        assert!(matches!(
            Pidf::parse(broken.as_bytes()),
            Err(PidfError::Xml(_))
        ));
        assert_eq!(Pidf::parse(b""), Err(PidfError::NotPidf));
    }
}
