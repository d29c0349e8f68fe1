//! TLS of MySQL and MariaDB connections: `sslmode` and `sslrootcert` in the
//! URL's query, named as for PostgreSQL (MySQL's own `--ssl-mode` spellings
//! are accepted too), and turned into mysql_async's [`SslOpts`].
//!
//! mysql_async reads `require_ssl`, `verify_ca`, `verify_identity` and
//! `built_in_roots` itself, has no parameter for a CA file, and has no
//! opportunistic TLS: with TLS asked it insists, and without it sends
//! nothing encrypted. Its own four parameters are refused here in favour of
//! one set, the one PostgreSQL URLs take. Without the feature `mysql-tls`,
//! a URL that asks for TLS is refused, naming the feature (mysql_async
//! would panic on it).

use std::fmt;

use mysql_async::SslOpts;

use crate::database::decode;

/// How hard a connection insists on TLS, and what it checks of the
/// server's certificate: MySQL's `--ssl-mode`, named as libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Never TLS; the default.
    Disable,
    /// TLS if the server offers it, else plain; nothing checked.
    Prefer,
    /// TLS or nothing; nothing checked.
    Require,
    /// TLS, with the certificate's chain checked against `sslrootcert`.
    /// mysql_async 0.37 checks the host name too (its rustls verifier no
    /// longer recognises rustls's name errors), so this is `VerifyFull`
    /// with a CA of one's own until it is fixed there.
    VerifyCa,
    /// TLS, with the chain and the host name checked.
    VerifyFull,
}

impl SslMode {
    /// libpq's names, MySQL's (`DISABLED`, `PREFERRED`, `REQUIRED`,
    /// `VERIFY_CA`, `VERIFY_IDENTITY`), in any case, with `-` or `_`.
    fn parse(value: &str) -> Result<SslMode, String> {
        Ok(match value.to_ascii_lowercase().replace('_', "-").as_str() {
            "disable" | "disabled" => SslMode::Disable,
            "prefer" | "preferred" => SslMode::Prefer,
            "require" | "required" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" | "verify-identity" => SslMode::VerifyFull,
            _ => {
                return Err(format!(
                    "invalid sslmode {value:?}: use disable, prefer, require, verify-ca or verify-full \
                     (or MySQL's DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY)"
                ));
            }
        })
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

/// What a connection insists on and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Tls {
    pub(crate) mode: SslMode,
    /// The PEM file of CA certificates the chain is checked against; `None`
    /// under `verify-full`: the Mozilla roots built into mysql_async
    /// (webpki-roots).
    root_cert: Option<String>,
}

/// mysql_async's TLS parameters, which ebbtide's replace.
const REPLACED: &[&str] = &["require_ssl", "verify_ca", "verify_identity", "built_in_roots"];

impl Tls {
    /// Takes `sslmode` and `sslrootcert` out of a `mysql://` URL's query,
    /// returning the rest for mysql_async and what the connection does.
    pub(crate) fn from_url(url: &str) -> Result<(String, Tls), String> {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let (mut mode, mut root_cert) = (None, None);
        let mut kept = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" => mode = Some(SslMode::parse(&decode(value)?)?),
                "sslrootcert" => root_cert = Some(decode(value)?),
                replaced if REPLACED.contains(&replaced) => {
                    return Err(format!(
                        "{replaced} is not taken: ask for TLS with sslmode=require|verify-ca|verify-full \
                         and sslrootcert=PATH, as for PostgreSQL"
                    ));
                }
                _ => kept.push(pair),
            }
        }
        let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        Ok((rest, Tls::settle(mode, root_cert)?))
    }

    /// The rules: no TLS unless asked (mysql_async has no opportunistic
    /// TLS to default to); `sslrootcert` alone means `verify-ca`, as with
    /// MySQL's `--ssl-ca`; a CA is checked or not given.
    fn settle(mode: Option<SslMode>, root_cert: Option<String>) -> Result<Tls, String> {
        let mode = match (mode, &root_cert) {
            (Some(mode), _) => mode,
            (None, Some(_)) => SslMode::VerifyCa,
            (None, None) => SslMode::Disable,
        };
        let root_cert = match (mode, root_cert) {
            (SslMode::Disable, _) => None,
            (_, Some(path)) if path.is_empty() => return Err("sslrootcert is empty: give a PEM file's path".into()),
            // mysql_async checks a chain only together with the host name.
            (SslMode::Prefer | SslMode::Require, Some(path)) => {
                return Err(format!(
                    "sslmode={mode} checks no certificate, so sslrootcert {path} would go unused: \
                     use sslmode=verify-ca or verify-full to check the server's certificate against it"
                ));
            }
            // Without a CA of its own, verify-ca would accept any
            // certificate a public CA issued: refused, as for PostgreSQL.
            (SslMode::VerifyCa, None) => {
                return Err("sslmode=verify-ca needs sslrootcert, the CA that signed the server's certificate \
                            (against the public roots any publicly issued certificate would pass): give sslrootcert, \
                            or use sslmode=verify-full, which also checks the host name"
                    .into());
            }
            (_, root_cert) => root_cert,
        };
        let tls = Tls { mode, root_cert };
        if cfg!(not(feature = "mysql-tls")) && tls.insists() {
            return Err(format!(
                "sslmode={mode} needs TLS, which this build of ebbtide leaves out: enable ebbtide's cargo feature \
                 `mysql-tls` (the `cli` feature includes it)"
            ));
        }
        Ok(tls)
    }

    /// Whether the URL asks for TLS, rather than merely accepting it.
    fn insists(&self) -> bool {
        matches!(self.mode, SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull)
    }

    /// mysql_async's options for this mode, `None` for no TLS (`disable`,
    /// or `prefer` in a build without TLS). Reads `sslrootcert`.
    pub(crate) fn ssl_opts(&self) -> Result<Option<SslOpts>, String> {
        if self.mode == SslMode::Disable || cfg!(not(feature = "mysql-tls")) {
            return Ok(None);
        }
        let opts = SslOpts::default();
        Ok(Some(match (self.mode, &self.root_cert) {
            (SslMode::Prefer | SslMode::Require, _) => {
                opts.with_danger_accept_invalid_certs(true).with_danger_skip_domain_validation(true)
            }
            (mode, Some(path)) => opts
                .with_root_certs(vec![read_roots(path)?.into()])
                .with_disable_built_in_roots(true)
                .with_danger_skip_domain_validation(mode == SslMode::VerifyCa),
            (_, None) => opts,
        }))
    }

    /// What is trusted, for messages.
    #[cfg(feature = "mysql-tls")]
    fn roots(&self) -> String {
        match &self.root_cert {
            Some(path) => format!("sslrootcert {path}"),
            None => "the built-in Mozilla roots (webpki-roots)".into(),
        }
    }
}

/// The PEM bundle at `path`, checked to hold a certificate, so that a wrong
/// file is named now rather than on a connection's handshake.
#[cfg(feature = "mysql-tls")]
fn read_roots(path: &str) -> Result<Vec<u8>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert {path}: {e}"))?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("sslrootcert {path} is not a PEM certificate bundle: {e}"))?;
    if certificates.is_empty() {
        return Err(format!(
            "sslrootcert {path} holds no CA certificate (expected -----BEGIN CERTIFICATE----- blocks)"
        ));
    }
    Ok(pem)
}

#[cfg(not(feature = "mysql-tls"))]
fn read_roots(_: &str) -> Result<Vec<u8>, String> {
    unreachable!("settle refuses a verifying mode without the feature")
}

/// Makes ring rustls's process-wide provider unless one is installed:
/// mysql_async builds its rustls configuration with the process default,
/// which rustls cannot pick when a build enables both ring and aws-lc-rs.
#[cfg(feature = "mysql-tls")]
pub(crate) fn install_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Whether `e` says that the server does not offer TLS.
pub(crate) fn not_offered(e: &mysql_async::Error) -> bool {
    matches!(e, mysql_async::Error::Driver(mysql_async::DriverError::NoClientSslFlagFromServer))
}

/// A failed connection under `tls`, in the user's words, with the next
/// step where there is one; `None` when TLS is not the cause.
#[cfg(feature = "mysql-tls")]
pub(crate) fn explain(tls: &Tls, e: &mysql_async::Error) -> Option<String> {
    use rustls::CertificateError;

    let mode = tls.mode;
    if not_offered(e) {
        return Some(format!(
            "the server does not accept TLS connections, and sslmode={mode} requires TLS; \
             turn TLS on in the server (ssl_cert, ssl_key), or connect with sslmode=prefer or disable"
        ));
    }
    Some(match rustls_error(e)? {
        rustls::Error::InvalidCertificate(
            why @ (CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. }),
        ) => {
            let also = if mode == SslMode::VerifyCa { " (mysql_async checks it under verify-ca too)" } else { "" };
            format!(
                "the server's certificate does not name the host of the URL (sslmode={mode}){also}: {why}; \
                 connect by a name the certificate holds"
            )
        }
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer | CertificateError::BadSignature) => {
            let next = match tls.root_cert {
                None => "give the CA that issued it with sslrootcert=PATH",
                Some(_) => "check that the file holds the CA that issued the server's certificate",
            };
            format!("the server's certificate is not issued by a CA of {} (sslmode={mode}); {next}", tls.roots())
        }
        rustls::Error::InvalidCertificate(why) => {
            format!("the server's certificate is refused (sslmode={mode}): {why}")
        }
        other => format!("the TLS handshake failed (sslmode={mode}): {other}"),
    })
}

/// The rustls error in `e`'s causes: tokio-rustls reports a handshake's
/// failure as an I/O error that wraps it.
#[cfg(feature = "mysql-tls")]
fn rustls_error(e: &mysql_async::Error) -> Option<&rustls::Error> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if let Some(found) = c.downcast_ref::<rustls::Error>() {
            return Some(found);
        }
        // An io::Error's source is its inner error's source, not the
        // inner error itself.
        if let Some(found) = c.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()?.downcast_ref()) {
            return Some(found);
        }
        cause = c.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settled(url: &str) -> Result<Tls, String> {
        Tls::from_url(url).map(|(_, tls)| tls)
    }

    #[test]
    fn tls_parameters_leave_the_url_and_the_rest_stays() {
        let (rest, tls) = Tls::from_url("mysql://u:p@h/db?pool_min=1&sslmode=prefer&pool_max=2").unwrap();
        assert_eq!((rest.as_str(), tls.mode), ("mysql://u:p@h/db?pool_min=1&pool_max=2", SslMode::Prefer));
        let (rest, tls) = Tls::from_url("mysql://h/db").unwrap();
        assert_eq!((rest.as_str(), tls.mode), ("mysql://h/db", SslMode::Disable));
        let (rest, _) = Tls::from_url("mysql://h/db?sslmode=disable").unwrap();
        assert_eq!(rest, "mysql://h/db");
    }

    #[test]
    fn mysql_spellings_are_taken_in_any_case() {
        for (spelling, mode) in [
            ("DISABLED", SslMode::Disable),
            ("Preferred", SslMode::Prefer),
            ("REQUIRED", SslMode::Require),
            ("require", SslMode::Require),
            ("verify_identity", SslMode::VerifyFull),
            ("VERIFY-FULL", SslMode::VerifyFull),
        ] {
            assert_eq!(SslMode::parse(spelling), Ok(mode), "{spelling}");
        }
        let bad = SslMode::parse("allow").unwrap_err();
        assert!(bad.contains("invalid sslmode \"allow\""), "{bad}");
    }

    #[test]
    fn verify_ca_without_a_root_certificate_is_refused() {
        let err = settled("mysql://h/db?sslmode=VERIFY_CA").unwrap_err();
        assert!(err.contains("verify-ca needs sslrootcert"), "{err}");
    }

    #[test]
    fn mysql_async_tls_parameters_are_refused_for_ours() {
        let err = settled("mysql://h/db?require_ssl=true").unwrap_err();
        assert!(err.starts_with("require_ssl is not taken: ask for TLS with sslmode="), "{err}");
    }

    #[test]
    fn an_unused_root_certificate_is_refused() {
        let err = settled("mysql://h/db?sslmode=require&sslrootcert=/ca.pem").unwrap_err();
        assert!(err.contains("sslrootcert /ca.pem would go unused"), "{err}");
        assert_eq!(settled("mysql://h/db?sslmode=disable&sslrootcert=/ca.pem").map(|t| t.root_cert), Ok(None));
    }

    #[cfg(feature = "mysql-tls")]
    #[test]
    fn a_root_certificate_is_decoded_and_alone_means_verify_ca() {
        let (rest, tls) =
            Tls::from_url("mysql://u:p@h/db?pool_min=1&sslmode=verify-full&sslrootcert=%2Ftmp%2Fa+b.pem").unwrap();
        assert_eq!(rest, "mysql://u:p@h/db?pool_min=1");
        assert_eq!(tls, Tls { mode: SslMode::VerifyFull, root_cert: Some("/tmp/a+b.pem".into()) });
        assert_eq!(settled("mysql://h/db?sslrootcert=/ca.pem").map(|t| t.mode), Ok(SslMode::VerifyCa));
    }

    #[cfg(feature = "mysql-tls")]
    #[test]
    fn a_missing_or_empty_root_certificate_file_is_named() {
        let dir = std::env::temp_dir().join(format!("ebbtide-mysql-tls-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem").display().to_string();
        let err = settled(&format!("mysql://h/db?sslmode=verify-full&sslrootcert={missing}"))
            .and_then(|tls| tls.ssl_opts())
            .unwrap_err();
        assert!(err.starts_with(&format!("cannot read sslrootcert {missing}: ")), "{err}");
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let tls = Tls { mode: SslMode::VerifyCa, root_cert: Some(empty.display().to_string()) };
        let err = tls.ssl_opts().unwrap_err();
        assert!(err.contains("holds no CA certificate"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(not(feature = "mysql-tls"))]
    #[test]
    fn without_the_feature_a_url_asking_for_tls_names_it() {
        let err = settled("mysql://h/db?sslmode=require").unwrap_err();
        assert!(err.contains("sslmode=require needs TLS") && err.contains("`mysql-tls`"), "{err}");
        assert_eq!(settled("mysql://h/db?sslmode=prefer").and_then(|t| t.ssl_opts()).map(|o| o.is_none()), Ok(true));
    }
}
