//! SASL/SCRAM (RFC 5802, RFC 7677) for the admin client: the pure SCRAM client exchange and
//! the Kafka framing of it (SaslHandshake, then SaslAuthenticate twice) on an established
//! [`Connection`], whatever its byte stream (plain TCP or TLS).
//!
//! Kafka supports no channel binding for SCRAM: the GS2 header is always `n,,`.

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use kafka_protocol::messages::{SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use ring::{digest, hmac, pbkdf2, rand};
use tokio::io::{AsyncRead, AsyncWrite};

use super::conn::Connection;
use super::error::AdminError;

/// The SCRAM mechanisms Kafka supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ScramMechanism {
    Sha256,
    Sha512,
}

/// Kafka's minimum iteration count for SCRAM credentials.
pub const MIN_ITERATIONS: u32 = 4096;

impl ScramMechanism {
    /// The SASL mechanism name (`SCRAM-SHA-512`).
    pub fn name(self) -> &'static str {
        match self {
            ScramMechanism::Sha256 => "SCRAM-SHA-256",
            ScramMechanism::Sha512 => "SCRAM-SHA-512",
        }
    }

    /// The mechanism's code in AlterUserScramCredentials and DescribeUserScramCredentials.
    pub fn code(self) -> i8 {
        match self {
            ScramMechanism::Sha256 => 1,
            ScramMechanism::Sha512 => 2,
        }
    }

    /// The mechanism of a Kafka code, if known.
    pub fn from_code(code: i8) -> Option<Self> {
        match code {
            1 => Some(ScramMechanism::Sha256),
            2 => Some(ScramMechanism::Sha512),
            _ => None,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            ScramMechanism::Sha256 => hmac::HMAC_SHA256,
            ScramMechanism::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            ScramMechanism::Sha256 => &digest::SHA256,
            ScramMechanism::Sha512 => &digest::SHA512,
        }
    }

    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            ScramMechanism::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramMechanism::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn output_len(self) -> usize {
        self.digest().output_len()
    }
}

/// A SCRAM user name and password. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    pub mechanism: ScramMechanism,
    pub username: String,
    pub password: String,
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// `Hi(password, salt, i)`: the salted password of RFC 5802 (PBKDF2 with the mechanism's HMAC).
/// Also what AlterUserScramCredentials takes, so the password itself never reaches Kafka.
pub fn salted_password(mechanism: ScramMechanism, password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    let mut out = vec![0u8; mechanism.output_len()];
    let rounds = std::num::NonZeroU32::new(iterations.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
    pbkdf2::derive(mechanism.pbkdf2(), rounds, salt, password.as_bytes(), &mut out);
    out
}

/// `n` random bytes from the system's secure generator.
pub fn random_bytes(n: usize) -> Result<Vec<u8>, String> {
    use rand::SecureRandom as _;
    let mut out = vec![0u8; n];
    rand::SystemRandom::new()
        .fill(&mut out)
        .map_err(|_| "the system random generator failed".to_string())?;
    Ok(out)
}

/// A SCRAM failure detected on the client side (a malformed or unverifiable server message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScramError(pub String);

/// One client-side SCRAM exchange: [`ScramClient::client_first`], then
/// [`ScramClient::client_final`] with the server's first message, then
/// [`ScramClient::verify_server_final`].
pub struct ScramClient {
    mechanism: ScramMechanism,
    password: String,
    nonce: String,
    client_first_bare: String,
    server_signature: Option<Vec<u8>>,
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism)
            .field("client_first_bare", &self.client_first_bare)
            .finish_non_exhaustive()
    }
}

/// RFC 5802 `saslname`: `=` and `,` are escaped.
fn sasl_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

impl ScramClient {
    /// A client with a fresh random nonce.
    pub fn new(credentials: &ScramCredentials) -> Result<Self, ScramError> {
        let nonce = B64.encode(random_bytes(24).map_err(ScramError)?);
        Ok(Self::with_nonce(credentials, &nonce))
    }

    /// A client with a given nonce (test vectors).
    pub fn with_nonce(credentials: &ScramCredentials, nonce: &str) -> Self {
        Self {
            mechanism: credentials.mechanism,
            password: credentials.password.clone(),
            nonce: nonce.to_string(),
            client_first_bare: format!("n={},r={nonce}", sasl_name(&credentials.username)),
            server_signature: None,
        }
    }

    /// `client-first-message`.
    pub fn client_first(&self) -> String {
        format!("n,,{}", self.client_first_bare)
    }

    /// `client-final-message` for the server's first message; remembers the server signature
    /// to expect.
    pub fn client_final(&mut self, server_first: &str) -> Result<String, ScramError> {
        let attr = |key: &str| {
            server_first
                .split(',')
                .find_map(|part| part.strip_prefix(key).and_then(|v| v.strip_prefix('=')))
        };
        if let Some(e) = attr("e") {
            return Err(ScramError(format!("server refused: {e}")));
        }
        let bad = |what: &str| ScramError(format!("server-first-message {what}: {server_first:?}"));
        let nonce = attr("r").ok_or_else(|| bad("has no nonce"))?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(bad("does not extend the client nonce"));
        }
        let salt = B64
            .decode(attr("s").ok_or_else(|| bad("has no salt"))?)
            .map_err(|_| bad("has a salt that is not base64"))?;
        let iterations: u32 = attr("i")
            .and_then(|i| i.parse().ok())
            .ok_or_else(|| bad("has no iteration count"))?;
        if iterations < MIN_ITERATIONS {
            return Err(bad("asks for fewer than 4096 iterations"));
        }
        let salted = salted_password(self.mechanism, &self.password, &salt, iterations);
        let key = hmac::Key::new(self.mechanism.hmac(), &salted);
        let client_key = hmac::sign(&key, b"Client Key");
        let stored_key = digest::digest(self.mechanism.digest(), client_key.as_ref());
        let without_proof = format!("c={},r={nonce}", B64.encode("n,,"));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(self.mechanism.hmac(), stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&key, b"Server Key");
        let server_signature = hmac::sign(
            &hmac::Key::new(self.mechanism.hmac(), server_key.as_ref()),
            auth_message.as_bytes(),
        );
        self.server_signature = Some(server_signature.as_ref().to_vec());
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Checks the server's final message: the server proved it knows the credential.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        if let Some(e) = server_final.strip_prefix("e=") {
            return Err(ScramError(format!("server refused: {e}")));
        }
        let expected = self
            .server_signature
            .as_ref()
            .ok_or_else(|| ScramError("server-final-message before client-final-message".into()))?;
        let v = server_final
            .split(',')
            .find_map(|p| p.strip_prefix("v="))
            .and_then(|v| B64.decode(v).ok())
            .ok_or_else(|| ScramError(format!("server-final-message has no verifier: {server_final:?}")))?;
        if &v != expected {
            return Err(ScramError("the server's signature does not verify".into()));
        }
        Ok(())
    }
}

/// Kafka's SASL_AUTHENTICATION_FAILED and ILLEGAL_SASL_STATE / UNSUPPORTED_SASL_MECHANISM.
fn sasl_refusal(addr: &str, what: &str, code: i16, message: Option<&str>) -> AdminError {
    AdminError::Authentication {
        addr: addr.to_string(),
        detail: format!(
            "{what}: {}{}",
            kafka_protocol::error::ResponseError::try_from_code(code)
                .map(|e| e.to_string())
                .unwrap_or_else(|| format!("error code {code}")),
            message.map(|m| format!(" ({m})")).unwrap_or_default()
        ),
    }
}

/// Authenticates `conn` (right after ApiVersions) with SCRAM: SaslHandshake names the
/// mechanism, two SaslAuthenticate round trips carry the SCRAM messages.
pub async fn authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
    conn: &mut Connection<S>,
    credentials: &ScramCredentials,
    timeout: Duration,
) -> Result<(), AdminError> {
    let addr = conn.addr().to_string();
    let scram_err = |e: ScramError| AdminError::Authentication {
        addr: addr.clone(),
        detail: e.0,
    };
    let mechanism = credentials.mechanism.name();
    let (handshake, _) = conn
        .send(Some(1), timeout, |_| {
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism))
        })
        .await?;
    if handshake.error_code != 0 {
        let enabled: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(sasl_refusal(
            &addr,
            &format!("SaslHandshake {mechanism}"),
            handshake.error_code,
            Some(&format!("listener enables [{}]", enabled.join(", "))),
        ));
    }
    let mut client = ScramClient::new(credentials).map_err(scram_err)?;
    let server_first = sasl_round(conn, client.client_first().into_bytes(), timeout).await?;
    let client_final = client
        .client_final(&String::from_utf8_lossy(&server_first))
        .map_err(scram_err)?;
    let server_final = sasl_round(conn, client_final.into_bytes(), timeout).await?;
    client
        .verify_server_final(&String::from_utf8_lossy(&server_final))
        .map_err(scram_err)
}

async fn sasl_round<S: AsyncRead + AsyncWrite + Unpin + Send>(
    conn: &mut Connection<S>,
    bytes: Vec<u8>,
    timeout: Duration,
) -> Result<Bytes, AdminError> {
    let (resp, _) = conn
        .send(None, timeout, |_| {
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(bytes))
        })
        .await?;
    if resp.error_code != 0 {
        return Err(sasl_refusal(
            conn.addr(),
            "SaslAuthenticate",
            resp.error_code,
            resp.error_message.as_deref(),
        ));
    }
    Ok(resp.auth_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::conn::fake::*;
    use kafka_protocol::messages::{SaslAuthenticateResponse, SaslHandshakeResponse};
    use kafka_protocol::protocol::Decodable;

    fn creds(mechanism: ScramMechanism, user: &str, password: &str) -> ScramCredentials {
        ScramCredentials {
            mechanism,
            username: user.into(),
            password: password.into(),
        }
    }

    /// RFC 7677 section 3: the SCRAM-SHA-256 example exchange.
    #[test]
    fn rfc7677_test_vector() {
        let mut c = ScramClient::with_nonce(
            &creds(ScramMechanism::Sha256, "user", "pencil"),
            "rOprNGfwEbeRWgbNEkqO",
        );
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let final_msg = c
            .client_final(
                "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            )
            .unwrap();
        assert_eq!(
            final_msg,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        c.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        let err = c
            .verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap_err();
        assert!(err.0.contains("does not verify"), "{err}");
    }

    /// SCRAM-SHA-512 against values computed independently (Python hashlib:
    /// pbkdf2_hmac('sha512', ...) and hmac) for the same exchange shape.
    #[test]
    fn sha512_matches_an_independent_computation() {
        let mut c = ScramClient::with_nonce(
            &creds(ScramMechanism::Sha512, "alice", "alice-secret"),
            "fyko+d2lbbFgONRv9qkxdawL",
        );
        let final_msg = c
            .client_final("r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096")
            .unwrap();
        assert_eq!(final_msg, SHA512_CLIENT_FINAL);
        c.verify_server_final(SHA512_SERVER_FINAL).unwrap();
    }

    const SHA512_CLIENT_FINAL: &str = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=0eJWNsjwKE57CnG3Y3F0j0R878IhiVME7lCPOAQCAaWPmyG5U0rYj97bR1fy0CO/tKkhVsbtMXYafNCsxUbPIA==";
    const SHA512_SERVER_FINAL: &str =
        "v=BV38XWrAjRQ3k7uQ8/+CMb9yC76900pt4gC/IVYbX3RKcVN9TN7A61yHvv3wN6FAnv7HpM8fo4xeJ4MxWWKtTg==";

    #[test]
    fn user_names_are_escaped_and_bad_server_messages_refused() {
        let mut c = ScramClient::with_nonce(&creds(ScramMechanism::Sha512, "a=b,c", "p"), "abc");
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=abc");
        for bad in [
            "r=xyz123,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abc,s=QSXCR+Q6sek8bf92,i=4096",
            "r=abcdef,s=***,i=4096",
            "r=abcdef,s=QSXCR+Q6sek8bf92,i=10",
            "r=abcdef,s=QSXCR+Q6sek8bf92",
            "e=invalid-proof",
        ] {
            assert!(c.client_final(bad).is_err(), "{bad}");
        }
        assert!(c.verify_server_final("v=abc").is_err(), "no client-final yet");
        let dbg = format!("{:?}", creds(ScramMechanism::Sha512, "u", "hunter2"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn mechanism_codes_round_trip() {
        for m in [ScramMechanism::Sha256, ScramMechanism::Sha512] {
            assert_eq!(ScramMechanism::from_code(m.code()), Some(m));
        }
        assert_eq!(ScramMechanism::from_code(0), None);
        assert_eq!(ScramMechanism::Sha512.name(), "SCRAM-SHA-512");
    }

    /// A fake broker that runs the server side of SCRAM with a known credential.
    async fn fake_scram_broker(mut server: tokio::io::DuplexStream, password: &'static str) {
        let (h, _) = read_request(&mut server).await;
        let versions = api_versions(&[(18, 0, 4), (17, 0, 1), (36, 0, 2)]);
        respond(&mut server, h.correlation_id, 0, &versions, h.request_api_version).await;
        let (h, body) = read_request(&mut server).await;
        assert_eq!((h.request_api_key, h.request_api_version), (17, 1));
        let req = SaslHandshakeRequest::decode(&mut body.clone(), 1).unwrap();
        assert_eq!(req.mechanism.as_str(), "SCRAM-SHA-512");
        let ok = SaslHandshakeResponse::default().with_mechanisms(vec!["SCRAM-SHA-512".into()]);
        respond(&mut server, h.correlation_id, 0, &ok, 1).await;
        // client-first
        let (h, body) = read_request(&mut server).await;
        let v = h.request_api_version;
        let req = SaslAuthenticateRequest::decode(&mut body.clone(), v).unwrap();
        let first = String::from_utf8(req.auth_bytes.to_vec()).unwrap();
        let nonce = first.split("r=").nth(1).unwrap().to_string();
        let server_first = format!("r={nonce}srv,s=QSXCR+Q6sek8bf92,i=4096");
        let resp = SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(server_first.clone()));
        respond(&mut server, h.correlation_id, 1, &resp, v).await;
        // client-final: verify as the server would, by running the client with the password.
        let (h, body) = read_request(&mut server).await;
        let req = SaslAuthenticateRequest::decode(&mut body.clone(), v).unwrap();
        let got = String::from_utf8(req.auth_bytes.to_vec()).unwrap();
        let mut reference =
            ScramClient::with_nonce(&creds(ScramMechanism::Sha512, "alice", password), &nonce);
        let expected = reference.client_final(&server_first).unwrap();
        let resp = if got == expected {
            let sig = reference.server_signature.clone().unwrap();
            SaslAuthenticateResponse::default().with_auth_bytes(Bytes::from(format!("v={}", B64.encode(sig))))
        } else {
            SaslAuthenticateResponse::default()
                .with_error_code(58)
                .with_error_message(Some("Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512".into()))
        };
        respond(&mut server, h.correlation_id, 1, &resp, v).await;
    }

    #[tokio::test]
    async fn authenticates_over_kafka_framing_and_reports_a_wrong_password() {
        const T: Duration = Duration::from_secs(2);
        for (password, ok) in [("right", true), ("wrong", false)] {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let broker = tokio::spawn(fake_scram_broker(server, "right"));
            let mut conn = Connection::handshake(client, "fake:9092", "t", T).await.unwrap();
            let result = authenticate(&mut conn, &creds(ScramMechanism::Sha512, "alice", password), T).await;
            broker.await.unwrap();
            match result {
                Ok(()) => assert!(ok),
                Err(e) => {
                    assert!(!ok, "{e}");
                    assert_eq!(e.kind(), "authentication");
                    assert!(e.to_string().contains("invalid credentials"), "{e}");
                }
            }
        }
    }
}
