//! TLS for the admin client: rustls (ring) with the cluster CA as the only trust anchor, the
//! client's certificate for mutual TLS, and hostname verification against the name the
//! client dialled (a node's DNS name or the bootstrap Service's).
//!
//! [`Secured`] wraps any [`Connector`] (plain TCP, the CLI's port-forward): with TLS settings
//! it runs the handshake over the inner stream, without them it passes the stream through.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use super::conn::Connector;
use super::error::AdminError;

/// PEM material of a TLS client. `Debug` never prints the key.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientTls {
    /// The CA certificate(s) to trust (PEM, one or more).
    pub ca_pem: String,
    /// The client certificate chain and its private key (PEM), for mutual TLS.
    pub identity: Option<(String, String)>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca_pem_bytes", &self.ca_pem.len())
            .field("client_certificate", &self.identity.is_some())
            .finish()
    }
}

impl ClientTls {
    /// The rustls configuration: these CAs only, this identity if any.
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, AdminError> {
        let bad = |what: &str, e: &dyn fmt::Display| AdminError::InvalidArgument(format!("TLS {what}: {e}"));
        let mut roots = RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(self.ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| bad("CA certificate", &e))?;
            roots.add(cert).map_err(|e| bad("CA certificate", &e))?;
        }
        if roots.is_empty() {
            return Err(AdminError::InvalidArgument(
                "TLS CA: no certificate in the PEM".into(),
            ));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad("protocol versions", &e))?
            .with_root_certificates(roots);
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some((cert_pem, key_pem)) => {
                let chain = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad("client certificate", &e))?;
                let key =
                    PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad("client key", &e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| bad("client certificate", &e))?
            }
        };
        Ok(Arc::new(config))
    }
}

/// A connector that adds TLS over `inner` when it has a client configuration.
#[derive(Clone)]
pub struct Secured<C> {
    inner: C,
    tls: Option<TlsConnector>,
}

impl<C> Secured<C> {
    /// `inner` with TLS from `tls` (None: plaintext).
    pub fn new(inner: C, tls: Option<&ClientTls>) -> Result<Self, AdminError> {
        let tls = tls
            .map(|t| t.client_config().map(TlsConnector::from))
            .transpose()?;
        Ok(Self { inner, tls })
    }

    /// Whether streams get TLS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

impl<C: Connector> Connector for Secured<C> {
    type Stream = MaybeTls<C::Stream>;
    async fn connect(&self, host: &str, port: u16) -> std::io::Result<Self::Stream> {
        let stream = self.inner.connect(host, port).await?;
        let Some(tls) = &self.tls else {
            return Ok(MaybeTls::Plain(stream));
        };
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
        let stream = tls.connect(name, stream).await?;
        Ok(MaybeTls::Tls(Box::new(stream)))
    }
}

/// A byte stream with or without TLS.
pub enum MaybeTls<S> {
    Plain(S),
    Tls(Box<TlsStream<S>>),
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for MaybeTls<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_read(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for MaybeTls<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_write(cx, buf),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_flush(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            MaybeTls::Plain(s) => Pin::new(s).poll_shutdown(cx),
            MaybeTls::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
