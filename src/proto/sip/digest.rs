//! HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 2617, RFC 7616):
//! parse a WWW-Authenticate / Proxy-Authenticate challenge, compute the response with
//! MD5 or SHA-256 (and their `-sess` variants), `qop=auth` or `auth-int` (or none, RFC
//! 2069 style), and format the Authorization / Proxy-Authorization value.
//!
//! Pure functions: the caller supplies the client nonce and the nonce count.

use std::fmt;

use md5::Md5;
use sha2::{Digest as _, Sha256};

use super::headers::{split_outside, unquote};
use super::message::Message;

/// Why a challenge cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// Not a Digest challenge (Basic is forbidden in SIP, RFC 3261 §22).
    #[error("not a Digest challenge: {0:?}")]
    NotDigest(String),
    /// A required parameter is absent or a parameter is malformed.
    #[error("malformed challenge: {0}")]
    Malformed(String),
    /// An algorithm other than MD5, MD5-sess, SHA-256, SHA-256-sess.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// A qop list with neither `auth` nor `auth-int`.
    #[error("unsupported qop {0:?}")]
    UnsupportedQop(String),
}

/// Digest hash algorithms (RFC 7616 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// MD5 (the default when absent).
    Md5,
    /// MD5-sess.
    Md5Sess,
    /// SHA-256.
    Sha256,
    /// SHA-256-sess.
    Sha256Sess,
}

impl Algorithm {
    fn parse(s: &str) -> Result<Self, DigestError> {
        match s.to_ascii_uppercase().as_str() {
            "MD5" => Ok(Self::Md5),
            "MD5-SESS" => Ok(Self::Md5Sess),
            "SHA-256" => Ok(Self::Sha256),
            "SHA-256-SESS" => Ok(Self::Sha256Sess),
            _ => Err(DigestError::UnsupportedAlgorithm(s.to_owned())),
        }
    }

    /// The token as written in headers.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    fn hash(self, data: &str) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex(&Md5::digest(data.as_bytes())),
            Self::Sha256 | Self::Sha256Sess => hex(&Sha256::digest(data.as_bytes())),
        }
    }

    fn hash_bytes(self, data: &[u8]) -> String {
        match self {
            Self::Md5 | Self::Md5Sess => hex(&Md5::digest(data)),
            Self::Sha256 | Self::Sha256Sess => hex(&Sha256::digest(data)),
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A parsed Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// `realm`.
    pub realm: String,
    /// `nonce`.
    pub nonce: String,
    /// `opaque`, echoed back unchanged.
    pub opaque: Option<String>,
    /// `algorithm` (MD5 when absent).
    pub algorithm: Algorithm,
    /// The `qop` options offered, lower-cased; empty when absent.
    pub qop: Vec<String>,
    /// `stale=true`: the nonce expired, the credentials were right.
    pub stale: bool,
}

impl Challenge {
    /// Parses one WWW-Authenticate / Proxy-Authenticate value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let value = value.trim();
        let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest(scheme.to_owned()));
        }
        let mut fields = Vec::new();
        for piece in split_outside(rest, ',')
            .into_iter()
            .filter(|p| !p.is_empty())
        {
            let (k, v) = piece
                .split_once('=')
                .ok_or_else(|| DigestError::Malformed(format!("parameter {piece:?}")))?;
            fields.push((k.trim().to_ascii_lowercase(), unquote(v.trim())));
        }
        let get = |k: &str| fields.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let required = |k: &str| get(k).ok_or_else(|| DigestError::Malformed(format!("no {k}")));
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(&a)?,
            None => Algorithm::Md5,
        };
        let qop = get("qop")
            .map(|q| {
                q.split(',')
                    .map(|s| s.trim().to_ascii_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Self {
            realm: required("realm")?,
            nonce: required("nonce")?,
            opaque: get("opaque"),
            algorithm,
            qop,
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The qop impress answers with: `auth` if offered, else `auth-int`, else none.
    pub fn chosen_qop(&self) -> Result<Option<&'static str>, DigestError> {
        if self.qop.is_empty() {
            Ok(None)
        } else if self.qop.iter().any(|q| q == "auth") {
            Ok(Some("auth"))
        } else if self.qop.iter().any(|q| q == "auth-int") {
            Ok(Some("auth-int"))
        } else {
            Err(DigestError::UnsupportedQop(self.qop.join(",")))
        }
    }
}

/// Which header carries the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthHeader {
    /// Answer to a 401's WWW-Authenticate.
    Authorization,
    /// Answer to a 407's Proxy-Authenticate.
    ProxyAuthorization,
}

impl AuthHeader {
    /// The header name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Authorization => "Authorization",
            Self::ProxyAuthorization => "Proxy-Authorization",
        }
    }
}

/// The first Digest challenge of a 401 or 407 response, with the header to answer in.
pub fn challenge_of(resp: &Message) -> Option<Result<(AuthHeader, Challenge), DigestError>> {
    let (header, values) = match resp.status()? {
        401 => (AuthHeader::Authorization, resp.www_authenticate()),
        407 => (AuthHeader::ProxyAuthorization, resp.proxy_authenticate()),
        _ => return None,
    };
    let mut last_err = None;
    for v in values {
        match Challenge::parse(v) {
            Ok(c) => return Some(Ok((header, c))),
            Err(e) => last_err = Some(e),
        }
    }
    last_err.map(Err)
}

/// What the request being authenticated contributes to the response.
#[derive(Debug, Clone, Copy)]
pub struct RequestInfo<'a> {
    /// The request method (`REGISTER`).
    pub method: &'a str,
    /// The digest URI: the Request-URI (RFC 3261 §22.4 item 3).
    pub uri: &'a str,
    /// The body, hashed for `auth-int`.
    pub body: &'a [u8],
}

/// A computed Authorization / Proxy-Authorization value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// `username`.
    pub username: String,
    /// `realm`, from the challenge.
    pub realm: String,
    /// `nonce`, from the challenge.
    pub nonce: String,
    /// `uri`.
    pub uri: String,
    /// `response`, lowercase hex.
    pub response: String,
    /// `algorithm`.
    pub algorithm: Algorithm,
    /// `opaque`, from the challenge.
    pub opaque: Option<String>,
    /// `qop`, `cnonce` and `nc` when the challenge offered qop.
    pub qop: Option<(&'static str, String, u32)>,
}

/// Answers `challenge` for `username`/`password` (RFC 2617 §3.2.2, RFC 7616 §3.4).
/// `cnonce` and `nc` are used only when the challenge offers qop.
pub fn respond(
    challenge: &Challenge,
    username: &str,
    password: &str,
    req: RequestInfo<'_>,
    cnonce: &str,
    nc: u32,
) -> Result<Credentials, DigestError> {
    let alg = challenge.algorithm;
    let qop = challenge.chosen_qop()?;
    let mut ha1 = alg.hash(&format!("{username}:{}:{password}", challenge.realm));
    if alg.is_sess() {
        ha1 = alg.hash(&format!("{ha1}:{}:{cnonce}", challenge.nonce));
    }
    let ha2 = match qop {
        Some("auth-int") => alg.hash(&format!(
            "{}:{}:{}",
            req.method,
            req.uri,
            alg.hash_bytes(req.body)
        )),
        _ => alg.hash(&format!("{}:{}", req.method, req.uri)),
    };
    let response = match qop {
        Some(q) => alg.hash(&format!(
            "{ha1}:{}:{nc:08x}:{cnonce}:{q}:{ha2}",
            challenge.nonce
        )),
        None => alg.hash(&format!("{ha1}:{}:{ha2}", challenge.nonce)),
    };
    Ok(Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: req.uri.to_owned(),
        response,
        algorithm: alg,
        opaque: challenge.opaque.clone(),
        qop: qop.map(|q| (q, cnonce.to_owned(), nc)),
    })
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quoted(&self.username),
            quoted(&self.realm),
            quoted(&self.nonce),
            quoted(&self.uri),
            quoted(&self.response),
            self.algorithm.as_str()
        )?;
        if let Some((qop, cnonce, nc)) = &self.qop {
            write!(f, ", qop={qop}, nc={nc:08x}, cnonce={}", quoted(cnonce))?;
        }
        if let Some(o) = &self.opaque {
            write!(f, ", opaque={}", quoted(o))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GET: RequestInfo<'static> = RequestInfo {
        method: "GET",
        uri: "/dir/index.html",
        body: b"",
    };

    #[test]
    fn rfc2617_section_3_5_example() {
        let c = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        assert_eq!(c.chosen_qop(), Ok(Some("auth")));
        let r = respond(&c, "Mufasa", "Circle Of Life", GET, "0a4f113b", 1).unwrap();
        assert_eq!(r.response, "6629fae49393a05397450978507c4ef1");
        let text = r.to_string();
        assert!(text.contains("nc=00000001"), "{text}");
        assert!(text.contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""));
    }

    fn rfc7616(alg: &str) -> Challenge {
        Challenge::parse(&format!(
            "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
             algorithm={alg}, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .unwrap()
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_and_sha256() {
        let cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
        let md5 = respond(&rfc7616("MD5"), "Mufasa", "Circle of Life", GET, cnonce, 1).unwrap();
        assert_eq!(md5.response, "8ca523f5e9506fed4657c9700eebdbec");
        let sha = rfc7616("SHA-256");
        assert_eq!(sha.algorithm, Algorithm::Sha256);
        let r = respond(&sha, "Mufasa", "Circle of Life", GET, cnonce, 1).unwrap();
        assert_eq!(
            r.response,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        assert!(r.to_string().contains("algorithm=SHA-256"));
    }

    #[test]
    fn rfc3261_section_22_4_empty_body_hash() {
        assert_eq!(
            Algorithm::Md5.hash_bytes(b""),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
    }

    #[test]
    fn no_qop_sess_and_errors() {
        let plain = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
        let r = respond(&plain, "u", "p", GET, "ignored", 7).unwrap();
        assert_eq!(r.qop, None);
        assert!(!r.to_string().contains("cnonce"));
        let sess =
            Challenge::parse("Digest realm=r, nonce=n, algorithm=MD5-sess, qop=auth").unwrap();
        let a = respond(&sess, "u", "p", GET, "c1", 1).unwrap();
        let b = respond(&sess, "u", "p", GET, "c2", 1).unwrap();
        assert_ne!(a.response, b.response, "-sess mixes the cnonce into HA1");
        assert!(matches!(
            Challenge::parse("Basic realm=x"),
            Err(DigestError::NotDigest(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest nonce=n"),
            Err(DigestError::Malformed(_))
        ));
        assert!(matches!(
            Challenge::parse("Digest realm=r, nonce=n, algorithm=SHA-512-256"),
            Err(DigestError::UnsupportedAlgorithm(_))
        ));
        let odd_qop = Challenge::parse("Digest realm=r, nonce=n, qop=\"auth-conf\"").unwrap();
        assert!(respond(&odd_qop, "u", "p", GET, "c", 1).is_err());
    }
}
