//! TLS of PostgreSQL connections, as libpq does it: `sslmode` and
//! `sslrootcert` in the URL's query.
//!
//! tokio-postgres parses `sslmode` `disable`, `prefer` and `require` only,
//! and verifies nothing itself: this module takes both parameters out of
//! the URL, settles what the connection insists on and checks, and (with
//! the feature `postgres-tls`) gives tokio-postgres a rustls connector
//! whose certificate verifier does exactly that. Without the feature, a
//! URL that asks for TLS is refused, naming the feature.

use std::fmt;

use tokio_postgres::config::SslMode as WireMode;

use crate::database::decode;

/// How hard a connection insists on TLS, and what it checks of the
/// server's certificate: libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS if the server offers it, else plain; libpq's default.
    Prefer,
    /// TLS or nothing; the certificate is checked only against an
    /// `sslrootcert` that is given.
    Require,
    /// TLS, with the certificate's chain checked against `sslrootcert` (or
    /// the built-in roots), whatever host name it is for.
    VerifyCa,
    /// TLS, with the chain and the host name checked.
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            // libpq's `allow` tries plain first, which tokio-postgres cannot.
            other => {
                return Err(format!(
                    "invalid sslmode {other:?}: use disable, prefer, require, verify-ca or verify-full"
                ));
            }
        })
    }

    /// What tokio-postgres does on the wire before the handshake.
    fn wire(self) -> WireMode {
        match self {
            SslMode::Disable => WireMode::Disable,
            SslMode::Prefer => WireMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => WireMode::Require,
        }
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// The certificates a connection trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Roots {
    /// The Mozilla roots built into ebbtide (webpki-roots): the verifying
    /// modes without `sslrootcert`, and `sslrootcert=system`.
    Builtin,
    /// The PEM bundle `sslrootcert` names.
    File(String),
}

impl fmt::Display for Roots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Roots::Builtin => f.write_str("the built-in Mozilla roots (webpki-roots)"),
            Roots::File(path) => write!(f, "sslrootcert {path}"),
        }
    }
}

/// What a connection insists on and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) mode: SslMode,
    /// What the chain is checked against; `None`: not checked.
    roots: Option<Roots>,
}

/// The TLS parameters a URL's query gives, taken out of it.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Asked {
    mode: Option<SslMode>,
    root_cert: Option<String>,
}

impl Asked {
    /// Splits `sslmode` and `sslrootcert` out of a `postgres://` URL's
    /// query, returning the rest of the URL for tokio-postgres. A
    /// `key=value` connection string is returned whole: tokio-postgres
    /// reads its `sslmode` (disable, prefer, require).
    pub(crate) fn from_url(url: &str) -> Result<(String, Asked), String> {
        let mut asked = Asked::default();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Ok((url.to_string(), asked));
        }
        let Some((base, query)) = url.split_once('?') else {
            return Ok((url.to_string(), asked));
        };
        let mut kept = Vec::new();
        for pair in query.split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => asked.mode = Some(SslMode::parse(&decode(value)?)?),
                "sslrootcert" => asked.root_cert = Some(decode(value)?),
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        Ok((rest, asked))
    }

    /// What the connection does, given the `sslmode` tokio-postgres parsed
    /// (its default, `prefer`, when the URL says none), with libpq's rules:
    /// a given `sslrootcert` is checked in every mode that uses TLS;
    /// `sslrootcert=system` means the built-in roots and `verify-full`.
    pub(crate) fn settle(self, parsed: WireMode) -> Result<Tls, String> {
        let system = self.root_cert.as_deref() == Some("system");
        let mode = match self.mode {
            Some(mode) => mode,
            None if system => SslMode::VerifyFull,
            None => match parsed {
                WireMode::Disable => SslMode::Disable,
                WireMode::Require => SslMode::Require,
                _ => SslMode::Prefer,
            },
        };
        if system && mode != SslMode::VerifyFull {
            return Err(format!("sslmode={mode} is too weak for sslrootcert=system: use sslmode=verify-full"));
        }
        let roots = match (mode, self.root_cert) {
            (SslMode::Disable, _) => None,
            (_, Some(path)) if path == "system" => Some(Roots::Builtin),
            (_, Some(path)) if path.is_empty() => return Err("sslrootcert is empty: give a PEM file's path".into()),
            (_, Some(path)) => Some(Roots::File(path)),
            // Without a CA of its own, verify-ca would accept any
            // certificate a public CA issued, for any name: refused, as libpq
            // refuses sslrootcert=system with it.
            (SslMode::VerifyCa, None) => {
                return Err("sslmode=verify-ca needs sslrootcert, the CA that signed the server's certificate \
                            (against the public roots any publicly issued certificate would pass): give sslrootcert, \
                            or use sslmode=verify-full, which also checks the host name"
                    .into());
            }
            (SslMode::VerifyFull, None) => Some(Roots::Builtin),
            (SslMode::Prefer | SslMode::Require, None) => None,
        };
        let tls = Tls { mode, roots };
        if cfg!(not(feature = "postgres-tls")) && tls.insists() {
            let asked = if tls.mode == SslMode::Prefer { "sslrootcert".to_string() } else { format!("sslmode={mode}") };
            return Err(format!(
                "{asked} needs TLS, which this build of ebbtide leaves out: enable ebbtide's cargo feature `postgres-tls` \
                 (the `cli` feature includes it)"
            ));
        }
        Ok(tls)
    }
}

impl Tls {
    /// What tokio-postgres does on the wire before the handshake.
    pub(crate) fn wire(&self) -> WireMode {
        self.mode.wire()
    }

    /// Whether the URL asks for TLS, rather than merely accepting it: a
    /// mode above `prefer`, or a certificate to check.
    fn insists(&self) -> bool {
        self.roots.is_some() || matches!(self.mode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// Whether a connection uses TLS when the server offers it.
    #[cfg_attr(not(feature = "postgres-tls"), allow(dead_code))]
    pub(crate) fn wanted(&self) -> bool {
        self.mode != SslMode::Disable && cfg!(feature = "postgres-tls")
    }
}

#[cfg(feature = "postgres-tls")]
pub(crate) use rustls_connect::{client_config, explain, handshake_failed};

/// The rustls side: a client configuration whose verifier checks what the
/// mode says, and errors in the user's words.
#[cfg(feature = "postgres-tls")]
mod rustls_connect {
    use std::sync::Arc;

    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
    use rustls::server::ParsedCertificate;
    use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

    use super::{Roots, SslMode, Tls};

    /// The rustls configuration of `tls` (a mode that uses TLS), with the
    /// ring provider: reads `sslrootcert`.
    pub(crate) fn client_config(tls: &Tls) -> Result<ClientConfig, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match (&tls.roots, tls.mode) {
            (Some(roots), _) => Some(load(roots)?),
            (None, SslMode::VerifyFull) => Some(load(&Roots::Builtin)?),
            (None, _) => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = match (tls.mode, roots) {
            (SslMode::VerifyFull, Some(roots)) => {
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("cannot check certificates: {e}"))?
            }
            (_, roots) => Arc::new(ChainOnly { roots, provider: provider.clone() }),
        };
        Ok(ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth())
    }

    /// The trust anchors `roots` names.
    fn load(roots: &Roots) -> Result<RootCertStore, String> {
        let path = match roots {
            Roots::Builtin => return Ok(RootCertStore::from_iter(webpki_roots::TLS_SERVER_ROOTS.iter().cloned())),
            Roots::File(path) => path,
        };
        let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("sslrootcert {path} is not a PEM certificate bundle: {e}"))?;
        let mut store = RootCertStore::empty();
        let (_, unusable) = store.add_parsable_certificates(certificates);
        if store.is_empty() {
            return Err(format!(
                "sslrootcert {path} holds no usable CA certificate ({unusable} unreadable; \
                 expected -----BEGIN CERTIFICATE----- blocks)"
            ));
        }
        Ok(store)
    }

    /// libpq's checks below `verify-full`: the chain against the roots
    /// when there are roots, never the host name; the handshake's
    /// signatures always, so that the session is the certificate's.
    #[derive(Debug)]
    struct ChainOnly {
        roots: Option<RootCertStore>,
        provider: Arc<CryptoProvider>,
    }

    impl ServerCertVerifier for ChainOnly {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            if let Some(roots) = &self.roots {
                let certificate = ParsedCertificate::try_from(end_entity)?;
                let algorithms = self.provider.signature_verification_algorithms.all;
                verify_server_cert_signed_by_trust_anchor(&certificate, roots, intermediates, now, algorithms)?;
            }
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider.signature_verification_algorithms.supported_schemes()
        }
    }

    /// The rustls error under a failed connection, if TLS failed.
    fn rustls_error(e: &tokio_postgres::Error) -> Option<&rustls::Error> {
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            if let Some(io) = s.downcast_ref::<std::io::Error>()
                && let Some(found) = io.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(found);
            }
            if let Some(found) = s.downcast_ref::<rustls::Error>() {
                return Some(found);
            }
            source = s.source();
        }
        None
    }

    /// Whether the connection failed in the TLS handshake (after which
    /// `prefer` tries again without TLS, as libpq does).
    pub(crate) fn handshake_failed(e: &tokio_postgres::Error) -> bool {
        rustls_error(e).is_some()
    }

    /// Why a connection under `tls` failed, in one line, with the next
    /// step where there is one.
    pub(crate) fn explain(tls: &Tls, e: &tokio_postgres::Error) -> String {
        let mode = tls.mode;
        let roots = tls.roots.as_ref().unwrap_or(&Roots::Builtin);
        match rustls_error(e) {
            Some(rustls::Error::InvalidCertificate(
                why @ (CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }),
            )) => format!(
                "the server's certificate does not name the host of the URL (sslmode={mode}): {why}; \
                 connect by a name the certificate holds, or check only its CA with sslmode=verify-ca"
            ),
            Some(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer | CertificateError::BadSignature,
            )) => {
                let next = match roots {
                    Roots::Builtin => "give the CA that issued it with sslrootcert=PATH",
                    Roots::File(_) => "check that the file holds the CA that issued the server's certificate",
                };
                format!("the server's certificate is not issued by a CA of {roots} (sslmode={mode}); {next}")
            }
            Some(rustls::Error::InvalidCertificate(why)) => {
                format!("the server's certificate is refused (sslmode={mode}): {why}")
            }
            Some(other) => format!("the TLS handshake failed (sslmode={mode}): {other}"),
            None if std::error::Error::source(e).is_some_and(|s| s.to_string() == "server does not support TLS") => {
                format!(
                    "the server does not accept TLS connections, and sslmode={mode} requires TLS; \
                     turn ssl on in the server, or connect with sslmode=prefer or disable"
                )
            }
            None => super::super::message(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(url: &str) -> (String, Result<Tls, String>) {
        match Asked::from_url(url) {
            Ok((rest, asked)) => {
                let parsed: tokio_postgres::Config = rest.parse().expect("tokio-postgres takes the rest");
                (rest, asked.settle(parsed.get_ssl_mode()))
            }
            Err(e) => (String::new(), Err(e)),
        }
    }

    #[test]
    fn tls_parameters_leave_the_url_and_the_rest_stays() {
        let (rest, asked) =
            Asked::from_url("postgres://u:p@h/db?application_name=a&sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem")
                .unwrap();
        assert_eq!(rest, "postgres://u:p@h/db?application_name=a");
        assert_eq!(asked, Asked { mode: Some(SslMode::VerifyFull), root_cert: Some("/tmp/ca.pem".into()) });
        let (rest, asked) = Asked::from_url("postgresql://h/db?sslmode=verify-ca").unwrap();
        assert_eq!(rest, "postgresql://h/db");
        assert_eq!(asked, Asked { mode: Some(SslMode::VerifyCa), root_cert: None });
        let (_, asked) = Asked::from_url("postgres://h/db?sslrootcert=/etc/a+b%20c.pem").unwrap();
        assert_eq!(asked.root_cert.as_deref(), Some("/etc/a+b c.pem"));
        let (rest, asked) = Asked::from_url("host=h user=u sslmode=disable").unwrap();
        assert_eq!(rest, "host=h user=u sslmode=disable");
        assert_eq!(asked, Asked::default());
        assert_eq!(asked.settle(WireMode::Disable), Ok(Tls { mode: SslMode::Disable, roots: None }));
        let bad = Asked::from_url("postgres://h/db?sslmode=allow").unwrap_err();
        assert!(bad.contains("invalid sslmode \"allow\""), "{bad}");
    }

    #[test]
    fn sslrootcert_system_needs_verify_full() {
        let weak = asked("postgres://h/db?sslrootcert=system&sslmode=require").1.unwrap_err();
        assert!(weak.contains("sslmode=require is too weak for sslrootcert=system"), "{weak}");
    }

    #[cfg(feature = "postgres-tls")]
    #[test]
    fn libpq_defaults_and_rules_apply() {
        assert_eq!(asked("postgres://h/db").1, Ok(Tls { mode: SslMode::Prefer, roots: None }));
        assert_eq!(asked("postgres://h/db?sslmode=disable&sslrootcert=/ca.pem").1.map(|t| t.roots), Ok(None));
        assert_eq!(asked("postgres://h/db?sslmode=verify-full").1.map(|t| t.roots), Ok(Some(Roots::Builtin)));
        let refused = asked("postgres://h/db?sslmode=verify-ca").1.unwrap_err();
        assert!(refused.contains("verify-ca needs sslrootcert"), "{refused}");
        assert_eq!(
            asked("postgres://h/db?sslrootcert=system").1,
            Ok(Tls { mode: SslMode::VerifyFull, roots: Some(Roots::Builtin) })
        );
    }

    #[cfg(feature = "postgres-tls")]
    #[test]
    fn a_given_root_certificate_is_checked_below_verify_ca_too() {
        let tls = asked("postgres://h/db?sslmode=require&sslrootcert=/ca.pem").1.unwrap();
        assert_eq!(tls.roots, Some(Roots::File("/ca.pem".into())));
        assert_eq!(asked("postgres://h/db?sslmode=require").1.unwrap().roots, None);
    }

    #[cfg(feature = "postgres-tls")]
    #[test]
    fn a_missing_or_empty_root_certificate_file_is_named() {
        let dir = std::env::temp_dir().join(format!("ebbtide-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let tls = Tls { mode: SslMode::VerifyFull, roots: Some(Roots::File(missing.display().to_string())) };
        let err = client_config(&tls).unwrap_err();
        assert!(err.starts_with(&format!("cannot read sslrootcert {}: ", missing.display())), "{err}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let tls = Tls { mode: SslMode::VerifyCa, roots: Some(Roots::File(empty.display().to_string())) };
        let err = client_config(&tls).unwrap_err();
        assert!(err.contains("holds no usable CA certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(not(feature = "postgres-tls"))]
    #[test]
    fn without_the_feature_a_url_asking_for_tls_names_it() {
        let err = asked("postgres://h/db?sslmode=require").1.unwrap_err();
        assert!(err.contains("sslmode=require needs TLS") && err.contains("`postgres-tls`"), "{err}");
        assert_eq!(asked("postgres://h/db?sslmode=prefer").1.map(|t| t.wanted()), Ok(false));
    }
}
