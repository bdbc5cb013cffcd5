//! SASL client mechanisms as pure state machines: the framework of RFC 4422 as profiled by
//! RFC 6120 §6, PLAIN (RFC 4616), SCRAM-SHA-1 (RFC 5802) and SCRAM-SHA-256 (RFC 7677).
//!
//! Channel binding is not supported (gs2 header `n,,`), and passwords are used as given
//! rather than SASLprep'd, which is exact for the ASCII passwords a harness provisions.
//! PBKDF2 dominates the cost of a SCRAM login, so [`SaltedPasswordCache`] shares its result
//! between logins that use the same password, salt and iteration count.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::digest::core_api::BlockSizeUser;
use hmac::{Mac, SimpleHmac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Highest iteration count accepted from a server: far above any real deployment (4096 to
/// ~600 000) and low enough that a hostile server cannot pin a core for minutes.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// Entries kept by [`SaltedPasswordCache`] before it is cleared.
pub const CACHE_CAPACITY: usize = 1024;

/// A SASL mechanism the client can perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// PLAIN (RFC 4616).
    Plain,
}

impl Mechanism {
    /// The registered mechanism name.
    pub fn name(self) -> &'static str {
        match self {
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha1 => "SCRAM-SHA-1",
            Self::Plain => "PLAIN",
        }
    }

    /// The mechanism with registered name `name` (exact match; names are upper case).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::ScramSha256, Self::ScramSha1, Self::Plain]
            .into_iter()
            .find(|m| m.name() == name)
    }

    /// Whether this is a SCRAM mechanism.
    pub fn is_scram(self) -> bool {
        self.hash().is_some()
    }

    fn hash(self) -> Option<HashAlg> {
        match self {
            Self::ScramSha256 => Some(HashAlg::Sha256),
            Self::ScramSha1 => Some(HashAlg::Sha1),
            Self::Plain => None,
        }
    }
}

/// The strongest offered mechanism: SCRAM-SHA-256, then SCRAM-SHA-1, then PLAIN (only when
/// `allow_plain`, since PLAIN exposes the password to anything between TLS ends).
pub fn choose(offered: &[String], allow_plain: bool) -> Option<Mechanism> {
    [
        Mechanism::ScramSha256,
        Mechanism::ScramSha1,
        Mechanism::Plain,
    ]
    .into_iter()
    .filter(|m| allow_plain || *m != Mechanism::Plain)
    .find(|m| offered.iter().any(|o| o == m.name()))
}

/// The PLAIN initial response with an empty authorization identity (RFC 4616 §2).
pub fn plain_initial(authcid: &str, password: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(authcid.len() + password.len() + 2);
    out.push(0);
    out.extend_from_slice(authcid.as_bytes());
    out.push(0);
    out.extend_from_slice(password.as_bytes());
    out
}

/// A fresh client nonce: 18 random bytes, base64 (printable and free of `,`).
pub fn nonce<R: rand::Rng + ?Sized>(rng: &mut R) -> String {
    let mut bytes = [0u8; 18];
    rng.fill(&mut bytes);
    B64.encode(bytes)
}

/// Why a SASL exchange failed on the client side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaslError {
    /// A server message that does not follow the mechanism's syntax.
    #[error("malformed server message: {0}")]
    Malformed(String),
    /// The server nonce does not extend the client nonce (RFC 5802 §5.1).
    #[error("server nonce does not extend the client nonce")]
    NonceMismatch,
    /// The server failed to prove knowledge of the password (RFC 5802 §3).
    #[error("server signature does not verify")]
    BadServerSignature,
    /// The server reported an error in its final message (`e=`).
    #[error("server error: {0}")]
    Server(String),
    /// An iteration count below 1 or above [`MAX_ITERATIONS`].
    #[error("unacceptable iteration count {0}")]
    IterationCount(u32),
    /// A call out of sequence, or a SCRAM step on a non-SCRAM mechanism.
    #[error("sasl call out of sequence")]
    WrongState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum HashAlg {
    Sha1,
    Sha256,
}

/// The password enters the key only as a SHA-256 digest, so the long-lived shared cache
/// holds no plaintext passwords.
#[derive(Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    hash: HashAlg,
    password_digest: [u8; 32],
    salt: Vec<u8>,
    iterations: u32,
}

/// Shared PBKDF2 results, keyed by (hash, password digest, salt, iterations).
///
/// Each entry is computed once even when many logins miss at the same moment: the map
/// lock is held only to find the entry, and concurrent callers wait on the entry itself,
/// so different passwords still derive in parallel. Bounded: cleared when full.
#[derive(Default)]
pub struct SaltedPasswordCache {
    entries: Mutex<HashMap<CacheKey, Arc<OnceLock<Vec<u8>>>>>,
    computed: std::sync::atomic::AtomicU64,
}

impl SaltedPasswordCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries currently held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many PBKDF2 derivations this cache has run (misses).
    pub fn computed(&self) -> u64 {
        self.computed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<CacheKey, Arc<OnceLock<Vec<u8>>>>> {
        // A panic elsewhere cannot leave a half-written entry behind, so poison is moot.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn salted_password(&self, key: CacheKey, password: &str) -> Vec<u8> {
        let slot = {
            let mut map = self.lock();
            if map.len() >= CACHE_CAPACITY && !map.contains_key(&key) {
                map.clear();
            }
            Arc::clone(map.entry(key.clone()).or_default())
        };
        slot.get_or_init(|| {
            self.computed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            derive(&key, password)
        })
        .clone()
    }
}

impl std::fmt::Debug for SaltedPasswordCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaltedPasswordCache")
            .field("len", &self.len())
            .field("computed", &self.computed())
            .finish()
    }
}

fn derive(key: &CacheKey, password: &str) -> Vec<u8> {
    let pw = password.as_bytes();
    match key.hash {
        HashAlg::Sha1 => {
            pbkdf2::pbkdf2_hmac_array::<Sha1, 20>(pw, &key.salt, key.iterations).to_vec()
        }
        HashAlg::Sha256 => {
            pbkdf2::pbkdf2_hmac_array::<Sha256, 32>(pw, &key.salt, key.iterations).to_vec()
        }
    }
}

enum State {
    Initial,
    AwaitFinal {
        server_key: Vec<u8>,
        auth_message: String,
    },
}

/// The client side of one SCRAM exchange (RFC 5802 §3, §5). Its `Debug` output omits the
/// password and derived keys.
pub struct ScramClient {
    mech: Mechanism,
    password: String,
    client_nonce: String,
    client_first_bare: String,
    state: State,
}

impl ScramClient {
    /// A client for `mech`; with [`Mechanism::Plain`] every SCRAM step fails with
    /// [`SaslError::WrongState`]. `client_nonce` must be printable ASCII without `,`.
    pub fn new(mech: Mechanism, username: &str, password: &str, client_nonce: &str) -> Self {
        let saslname = username.replace('=', "=3D").replace(',', "=2C");
        Self {
            mech,
            password: password.to_owned(),
            client_nonce: client_nonce.to_owned(),
            client_first_bare: format!("n={saslname},r={client_nonce}"),
            state: State::Initial,
        }
    }

    /// The mechanism this client performs.
    pub fn mechanism(&self) -> Mechanism {
        self.mech
    }

    /// The client-first-message: gs2 header `n,,` (no channel binding, no authzid) and
    /// the bare message.
    pub fn client_first(&self) -> Vec<u8> {
        format!("n,,{}", self.client_first_bare).into_bytes()
    }

    /// Checks the server-first-message and returns the client-final-message.
    pub fn handle_server_first(
        &mut self,
        msg: &[u8],
        cache: &SaltedPasswordCache,
    ) -> Result<Vec<u8>, SaslError> {
        let (State::Initial, Some(hash)) = (&self.state, self.mech.hash()) else {
            return Err(SaslError::WrongState);
        };
        let server_first = std::str::from_utf8(msg).map_err(|_| malformed("not utf-8"))?;
        let sf = ServerFirst::parse(server_first)?;
        if !sf.nonce.starts_with(&self.client_nonce) || sf.nonce.len() == self.client_nonce.len() {
            return Err(SaslError::NonceMismatch);
        }
        let key = CacheKey {
            hash,
            password_digest: Sha256::digest(self.password.as_bytes()).into(),
            salt: sf.salt,
            iterations: sf.iterations,
        };
        let salted = cache.salted_password(key, &self.password);
        let without_proof = format!("c=biws,r={}", sf.nonce);
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let (proof, server_key) = match hash {
            HashAlg::Sha1 => client_proof::<Sha1>(&salted, &auth_message),
            HashAlg::Sha256 => client_proof::<Sha256>(&salted, &auth_message),
        };
        self.state = State::AwaitFinal {
            server_key,
            auth_message,
        };
        Ok(format!("{without_proof},p={}", B64.encode(proof)).into_bytes())
    }

    /// Checks the server-final-message: `v=` must carry the expected server signature
    /// (compared in constant time); `e=` is the server's error.
    pub fn verify_server_final(&self, msg: &[u8]) -> Result<(), SaslError> {
        let State::AwaitFinal {
            server_key,
            auth_message,
        } = &self.state
        else {
            return Err(SaslError::WrongState);
        };
        let msg = std::str::from_utf8(msg).map_err(|_| malformed("not utf-8"))?;
        let first = msg.split(',').next().unwrap_or_default();
        if let Some(err) = first.strip_prefix("e=") {
            return Err(SaslError::Server(err.to_owned()));
        }
        let sig = first
            .strip_prefix("v=")
            .ok_or_else(|| malformed("expected v= or e="))?;
        let sig = B64
            .decode(sig)
            .map_err(|_| malformed("server signature is not base64"))?;
        let ok = match self.mech.hash() {
            Some(HashAlg::Sha1) => verify::<Sha1>(server_key, auth_message, &sig),
            Some(HashAlg::Sha256) => verify::<Sha256>(server_key, auth_message, &sig),
            None => return Err(SaslError::WrongState),
        };
        if ok {
            Ok(())
        } else {
            Err(SaslError::BadServerSignature)
        }
    }
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Initial => "initial",
            State::AwaitFinal { .. } => "await-final",
        };
        f.debug_struct("ScramClient")
            .field("mech", &self.mech)
            .field("client_first_bare", &self.client_first_bare)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

fn malformed(what: &str) -> SaslError {
    SaslError::Malformed(what.to_owned())
}

/// The fields of a server-first-message (RFC 5802 §7).
struct ServerFirst<'a> {
    nonce: &'a str,
    salt: Vec<u8>,
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    fn parse(msg: &'a str) -> Result<Self, SaslError> {
        let mut attrs = msg.split(',');
        let mut next = |name: &str| -> Result<&'a str, SaslError> {
            let attr = attrs.next().unwrap_or_default();
            if attr.starts_with("m=") {
                return Err(malformed("unsupported mandatory extension"));
            }
            attr.strip_prefix(name)
                .and_then(|v| v.strip_prefix('='))
                .ok_or_else(|| SaslError::Malformed(format!("expected attribute {name}")))
        };
        let nonce = next("r")?;
        let salt = next("s")?;
        let iterations = next("i")?;
        // RFC 5802 §7: printable = %x21-2B / %x2D-7E.
        if nonce.is_empty() || !nonce.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(malformed("invalid nonce"));
        }
        let salt = B64
            .decode(salt)
            .ok()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| malformed("invalid salt"))?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| malformed("invalid iteration count"))?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(SaslError::IterationCount(iterations));
        }
        Ok(Self {
            nonce,
            salt,
            iterations,
        })
    }
}

fn hmac<D: Digest + BlockSizeUser + Clone>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so the error branch is dead; an empty MAC would
    // merely fail verification rather than panic.
    match <SimpleHmac<D> as Mac>::new_from_slice(key) {
        Ok(mut mac) => {
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// `(ClientProof, ServerKey)` per RFC 5802 §3.
fn client_proof<D: Digest + BlockSizeUser + Clone>(
    salted: &[u8],
    auth_message: &str,
) -> (Vec<u8>, Vec<u8>) {
    let client_key = hmac::<D>(salted, b"Client Key");
    let stored_key = D::digest(&client_key);
    let signature = hmac::<D>(&stored_key, auth_message.as_bytes());
    let proof = client_key
        .iter()
        .zip(&signature)
        .map(|(k, s)| k ^ s)
        .collect();
    (proof, hmac::<D>(salted, b"Server Key"))
}

fn verify<D: Digest + BlockSizeUser + Clone>(
    server_key: &[u8],
    auth_message: &str,
    sig: &[u8],
) -> bool {
    match <SimpleHmac<D> as Mac>::new_from_slice(server_key) {
        Ok(mut mac) => {
            mac.update(auth_message.as_bytes());
            mac.verify_slice(sig).is_ok()
        }
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA1_SERVER_FIRST: &[u8] =
        b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
    const SHA256_SERVER_FIRST: &[u8] = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
        s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    fn sha1_client() -> ScramClient {
        ScramClient::new(
            Mechanism::ScramSha1,
            "user",
            "pencil",
            "fyko+d2lbbFgONRv9qkxdawL",
        )
    }

    #[test]
    fn rfc5802_scram_sha1_vector() {
        let cache = SaltedPasswordCache::new();
        let mut c = sha1_client();
        assert_eq!(c.client_first(), b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
        let fin = c.handle_server_first(SHA1_SERVER_FIRST, &cache).unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
        );
        assert_eq!(
            c.verify_server_final(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ="),
            Ok(())
        );
    }

    #[test]
    fn rfc7677_scram_sha256_vector() {
        let cache = SaltedPasswordCache::new();
        let mut c = ScramClient::new(
            Mechanism::ScramSha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let fin = c.handle_server_first(SHA256_SERVER_FIRST, &cache).unwrap();
        assert_eq!(
            String::from_utf8(fin).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let ok = c.verify_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
        assert_eq!(ok, Ok(()));
    }

    #[test]
    fn wrong_server_signature_and_server_error() {
        let cache = SaltedPasswordCache::new();
        let mut c = sha1_client();
        c.handle_server_first(SHA1_SERVER_FIRST, &cache).unwrap();
        let bad = c.verify_server_final(b"v=AmF9pqV8S7suAoZWja4dJRkFsKQ=");
        assert_eq!(bad, Err(SaslError::BadServerSignature));
        let short = c.verify_server_final(b"v=rmF9pqV8");
        assert_eq!(short, Err(SaslError::BadServerSignature));
        let err = c.verify_server_final(b"e=invalid-proof");
        assert_eq!(err, Err(SaslError::Server("invalid-proof".into())));
        assert!(matches!(
            c.verify_server_final(b"v=!!"),
            Err(SaslError::Malformed(_))
        ));
        assert!(matches!(
            c.verify_server_final(b"x=1"),
            Err(SaslError::Malformed(_))
        ));
    }

    #[test]
    fn rejects_bad_server_first() {
        let cache = SaltedPasswordCache::new();
        let cases: &[(&[u8], SaslError)] = &[
            (
                b"r=other,s=QSXCR+Q6sek8bf92,i=4096",
                SaslError::NonceMismatch,
            ),
            (
                b"r=fyko+d2lbbFgONRv9qkxdawL,s=QSXCR+Q6sek8bf92,i=4096",
                SaslError::NonceMismatch,
            ),
            (
                b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=0",
                SaslError::IterationCount(0),
            ),
            (
                b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=1000001",
                SaslError::IterationCount(1_000_001),
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(
                sha1_client().handle_server_first(msg, &cache).as_ref(),
                Err(want)
            );
        }
        let malformed: &[&[u8]] = &[
            b"",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=!!!,i=4096",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=-1",
            b"r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=99999999999",
            b"m=ext,r=fyko+d2lbbFgONRv9qkxdawLx,s=QSXCR+Q6sek8bf92,i=4096",
            b"s=QSXCR+Q6sek8bf92,r=fyko+d2lbbFgONRv9qkxdawLx,i=4096",
            b"\xff\xfe",
        ];
        for msg in malformed {
            let got = sha1_client().handle_server_first(msg, &cache);
            assert!(
                matches!(got, Err(SaslError::Malformed(_))),
                "{msg:?} -> {got:?}"
            );
        }
        assert_eq!(cache.computed(), 0, "no derivation for rejected messages");
    }

    #[test]
    fn state_machine_order() {
        let cache = SaltedPasswordCache::new();
        let mut c = sha1_client();
        assert_eq!(c.verify_server_final(b"v=x"), Err(SaslError::WrongState));
        c.handle_server_first(SHA1_SERVER_FIRST, &cache).unwrap();
        let again = c.handle_server_first(SHA1_SERVER_FIRST, &cache);
        assert_eq!(again, Err(SaslError::WrongState));
        let mut plain = ScramClient::new(Mechanism::Plain, "u", "p", "n");
        let got = plain.handle_server_first(SHA1_SERVER_FIRST, &cache);
        assert_eq!(got, Err(SaslError::WrongState));
    }

    #[test]
    fn cache_derives_once() {
        let cache = SaltedPasswordCache::new();
        for _ in 0..50 {
            sha1_client()
                .handle_server_first(SHA1_SERVER_FIRST, &cache)
                .unwrap();
        }
        assert_eq!((cache.computed(), cache.len()), (1, 1));
        let mut other = ScramClient::new(Mechanism::ScramSha1, "user", "other", "fyko");
        other
            .handle_server_first(SHA1_SERVER_FIRST, &cache)
            .unwrap();
        assert_eq!((cache.computed(), cache.len()), (2, 2));
    }

    #[test]
    fn cache_is_bounded() {
        let cache = SaltedPasswordCache::new();
        for i in 0..CACHE_CAPACITY + 10 {
            let msg = format!("r=nonceX,s={},i=1", B64.encode(i.to_be_bytes()));
            let mut c = ScramClient::new(Mechanism::ScramSha256, "u", "p", "nonce");
            c.handle_server_first(msg.as_bytes(), &cache).unwrap();
        }
        assert!(cache.len() <= CACHE_CAPACITY);
    }

    #[test]
    fn username_escaping_and_helpers() {
        let c = ScramClient::new(Mechanism::ScramSha1, "a=b,c", "p", "xyz");
        assert_eq!(c.client_first(), b"n,,n=a=3Db=2Cc,r=xyz");
        assert_eq!(plain_initial("juliet", "s3cr3t"), b"\0juliet\0s3cr3t");
        let offered: Vec<String> = ["PLAIN", "SCRAM-SHA-1"].map(String::from).to_vec();
        assert_eq!(choose(&offered, true), Some(Mechanism::ScramSha1));
        let all: Vec<String> = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-1"]
            .map(String::from)
            .to_vec();
        assert_eq!(choose(&all, false), Some(Mechanism::ScramSha256));
        let plain_only = vec!["PLAIN".to_owned()];
        assert_eq!(choose(&plain_only, false), None);
        assert_eq!(choose(&plain_only, true), Some(Mechanism::Plain));
        assert_eq!(
            Mechanism::from_name("SCRAM-SHA-1"),
            Some(Mechanism::ScramSha1)
        );
        assert_eq!(Mechanism::from_name("scram-sha-1"), None);
        let n = nonce(&mut rand::thread_rng());
        assert!(n.len() == 24 && !n.contains(','));
    }

    #[test]
    fn debug_output_hides_secrets() {
        let cache = SaltedPasswordCache::new();
        let mut c = sha1_client();
        c.handle_server_first(SHA1_SERVER_FIRST, &cache).unwrap();
        let shown = format!("{c:?} {cache:?}");
        assert!(!shown.contains("pencil"), "{shown}");
        assert!(shown.contains("await-final"));
    }

    #[test]
    fn hostile_messages_never_panic() {
        let cache = SaltedPasswordCache::new();
        let mut seed = 0x2545_f491_u32;
        for len in 0..200 {
            let msg: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 17;
                    seed ^= seed << 5;
                    let alphabet = b"r=s,i0=\xff9aZ+/";
                    alphabet[seed as usize % alphabet.len()]
                })
                .collect();
            let mut c = sha1_client();
            let _ = c.handle_server_first(&msg, &cache);
            let _ = c.verify_server_final(&msg);
        }
    }
}
