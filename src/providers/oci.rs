//! OCI request signing: the HTTP Signature scheme (draft-cavage) exactly as
//! the OCI SDKs apply it, and its verification (for the mock server).
//!
//! A signed request carries
//!
//! ```text
//! authorization: Signature algorithm="rsa-sha256",headers="date (request-target) host
//!   content-length content-type x-content-sha256",keyId="TENANCY/USER/FINGERPRINT",
//!   signature="BASE64",version="1"
//! ```
//!
//! (one line), where the signature is RSA PKCS#1 v1.5 with SHA-256 over the
//! signing string: one `name: value` line per listed header, joined by `\n`,
//! `(request-target)` being the lower-case method, a space and the path with
//! its query. Requests with a body (POST, PUT, PATCH) also sign
//! `content-length`, `content-type` and `x-content-sha256` (the base64
//! SHA-256 of the body). The `keyId` of a session-token or instance-principal
//! signer is `ST$<token>`.
//!
//! Headers the caller already set (`date`, `content-type`, `content-length`,
//! `x-content-sha256`) are signed as they are, as the `oci` package does; the
//! rest are computed. Like the `oci` package, a missing `content-type` is
//! added as `application/json` for every method.
//!
//! Secrets (the private key, signatures) never appear in `Debug` output or
//! error messages.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey, DecodeRsaPublicKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};

/// Signed on every request, in this order.
pub const GENERIC_HEADERS: [&str; 3] = ["date", "(request-target)", "host"];
/// Also signed on requests with a body (POST, PUT, PATCH), after the generic ones.
pub const BODY_HEADERS: [&str; 3] = ["content-length", "content-type", "x-content-sha256"];

/// Why a request could not be signed. Messages never quote key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OciError {
    /// The private key could not be read (the message says why, without its content).
    InvalidKey(&'static str),
    /// The key is encrypted: decrypt it first (`pass_phrase`).
    EncryptedKey,
    InvalidUrl(String),
    UnsupportedMethod(String),
    InvalidKeyId,
    /// A header value that cannot be signed (not visible ASCII).
    InvalidHeader(String),
}

impl fmt::Display for OciError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OciError::InvalidKey(why) => write!(f, "invalid private key: {why}"),
            OciError::EncryptedKey => f.write_str(
                "the private key is encrypted: give its pass_phrase (decrypting needs the `cryptography` package)",
            ),
            OciError::InvalidUrl(why) => write!(f, "invalid URL: {why}"),
            OciError::UnsupportedMethod(m) => write!(f, "don't know how to sign request verb {m}"),
            OciError::InvalidKeyId => f.write_str(
                "invalid keyId: it must be non-empty printable ASCII without quotes or backslashes",
            ),
            OciError::InvalidHeader(name) => {
                write!(f, "header {name:?} has a value that is not printable ASCII and cannot be signed")
            }
        }
    }
}

impl std::error::Error for OciError {}

/// An RSA private key for signing. Its `Debug` shows the size only.
#[derive(Clone)]
pub struct PrivateKey(RsaPrivateKey);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey(<redacted>, {} bits)", self.0.size() * 8)
    }
}

/// An RSA public key for verification.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey(RsaPublicKey);

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bits)", self.0.size() * 8)
    }
}

/// One PEM block: its label, whether it has legacy encryption headers
/// (`Proc-Type: 4,ENCRYPTED`), and its DER bytes.
struct Pem {
    label: String,
    encrypted_headers: bool,
    der: Vec<u8>,
}

/// Finds the first PEM block in `text` (text around it, such as the
/// `OCI_API_KEY` line of keys downloaded from the OCI console, is ignored).
/// Lenient about line lengths and line endings.
fn pem_block(text: &str) -> Result<Pem, OciError> {
    const BEGIN: &str = "-----BEGIN ";
    let start = text.find(BEGIN).ok_or(OciError::InvalidKey(
        "no PEM block (-----BEGIN ...-----) found",
    ))?;
    let rest = &text[start + BEGIN.len()..];
    let label_end = rest
        .find("-----")
        .ok_or(OciError::InvalidKey("malformed PEM header line"))?;
    let label = rest[..label_end].trim().to_owned();
    let body = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let body_end = body.find(&end_marker).ok_or(OciError::InvalidKey(
        "the PEM block has no matching END line",
    ))?;
    let body = &body[..body_end];
    let mut encrypted_headers = false;
    let mut b64 = String::with_capacity(body.len());
    for line in body.lines() {
        let line = line.trim();
        if line.contains(':') {
            // RFC 1421 headers (legacy OpenSSL encryption).
            encrypted_headers |= line.to_ascii_uppercase().contains("ENCRYPTED");
            continue;
        }
        b64.push_str(line);
    }
    let der = B64
        .decode(b64.as_bytes())
        .map_err(|_| OciError::InvalidKey("the PEM block is not valid base64"))?;
    Ok(Pem {
        label,
        encrypted_headers,
        der,
    })
}

impl PrivateKey {
    /// Reads an RSA private key in PEM: PKCS#1 (`RSA PRIVATE KEY`) or
    /// PKCS#8 (`PRIVATE KEY`), unencrypted.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, OciError> {
        let block = pem_block(pem)?;
        let key = match block.label.as_str() {
            "RSA PRIVATE KEY" if block.encrypted_headers => return Err(OciError::EncryptedKey),
            "RSA PRIVATE KEY" => RsaPrivateKey::from_pkcs1_der(&block.der)
                .map_err(|_| OciError::InvalidKey("not a valid PKCS#1 RSA private key"))?,
            "PRIVATE KEY" => RsaPrivateKey::from_pkcs8_der(&block.der)
                .map_err(|_| OciError::InvalidKey("not a valid PKCS#8 RSA private key"))?,
            "ENCRYPTED PRIVATE KEY" => return Err(OciError::EncryptedKey),
            "PUBLIC KEY" | "RSA PUBLIC KEY" => {
                return Err(OciError::InvalidKey(
                    "signing requires a private key, but a public key was provided",
                ))
            }
            _ => return Err(OciError::InvalidKey("not an RSA private key PEM block")),
        };
        Ok(PrivateKey(key))
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.to_public_key())
    }

    /// RSA PKCS#1 v1.5 signature of SHA-256(`message`) (blinded).
    pub fn sign_sha256(&self, message: &[u8]) -> Vec<u8> {
        let digest = Sha256::digest(message);
        let mut rng = rsa::rand_core::OsRng;
        self.0
            .sign_with_rng(&mut rng, Pkcs1v15Sign::new::<Sha256>(), &digest)
            .expect("a valid key signs a SHA-256 digest")
    }
}

impl PublicKey {
    /// Reads an RSA public key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), or
    /// the public half of a private key PEM.
    pub fn from_pem(pem: &str) -> Result<PublicKey, OciError> {
        let block = pem_block(pem)?;
        match block.label.as_str() {
            "PUBLIC KEY" => RsaPublicKey::from_public_key_der(&block.der)
                .map(PublicKey)
                .map_err(|_| OciError::InvalidKey("not a valid RSA public key (SPKI)")),
            "RSA PUBLIC KEY" => RsaPublicKey::from_pkcs1_der(&block.der)
                .map(PublicKey)
                .map_err(|_| OciError::InvalidKey("not a valid PKCS#1 RSA public key")),
            _ => PrivateKey::from_pem(pem).map(|k| k.public_key()),
        }
    }

    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        let digest = Sha256::digest(message);
        self.0
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, signature)
            .is_ok()
    }
}

/// The base64 SHA-256 of `body` (`x-content-sha256`).
pub fn content_sha256(body: &[u8]) -> String {
    B64.encode(Sha256::digest(body))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` (RFC 7231 IMF-fixdate), as Python's
/// `email.utils.formatdate(usegmt=True)` writes it.
pub fn http_date(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// A request to sign.
#[derive(Debug, Clone, Copy)]
pub struct SignRequest<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The headers already set (names in any case).
    pub headers: &'a [(String, String)],
    /// `None` is signed as an empty body.
    pub body: Option<&'a [u8]>,
}

fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn signable(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// Whether requests with this (lower-case) method sign their body.
fn signs_body(method: &str) -> bool {
    matches!(method, "post" | "put" | "patch")
}

/// `(request-target)` and `host` of an http(s) URL, as a client sends them:
/// the path (`/` when empty) with `?query`, and the host with a non-default port.
pub fn target_and_host(url: &str) -> Result<(String, String), OciError> {
    let u = reqwest::Url::parse(url).map_err(|e| OciError::InvalidUrl(e.to_string()))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(OciError::InvalidUrl(format!(
            "unsupported scheme {:?}",
            u.scheme()
        )));
    }
    let host = u
        .host_str()
        .ok_or_else(|| OciError::InvalidUrl("no host".into()))?;
    let host = match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    };
    let mut target = u.path().to_owned();
    if target.is_empty() {
        target.push('/');
    }
    if let Some(q) = u.query() {
        target.push('?');
        target.push_str(q);
    }
    Ok((target, host))
}

/// The signing string: `name: value` per header, `\n`-joined.
/// `lookup` gives the value of a (lower-case) header name.
pub fn signing_string<'a>(
    names: &[&str],
    method: &str,
    target: &str,
    mut lookup: impl FnMut(&str) -> Option<&'a str>,
) -> Result<String, String> {
    let mut lines = Vec::with_capacity(names.len());
    for name in names {
        let name = name.to_ascii_lowercase();
        if name == "(request-target)" {
            lines.push(format!(
                "(request-target): {} {target}",
                method.to_ascii_lowercase()
            ));
        } else {
            let v = lookup(&name).ok_or_else(|| format!("missing required header {name:?}"))?;
            lines.push(format!("{name}: {v}"));
        }
    }
    Ok(lines.join("\n"))
}

/// Signs a request: returns the headers to send on top of the request's
/// own (lower-case names: `date`, `host`, `content-type`, and for a body
/// `content-length` and `x-content-sha256`, then `authorization`), the
/// values the signature covers.
///
/// `key_id` is `TENANCY_OCID/USER_OCID/FINGERPRINT` or `ST$<token>`;
/// `date` (an HTTP date) defaults to a `date` header of the request, then now.
pub fn sign(
    req: &SignRequest<'_>,
    key_id: &str,
    key: &PrivateKey,
    date: Option<&str>,
) -> Result<Vec<(String, String)>, OciError> {
    let method = req.method.to_ascii_lowercase();
    if !matches!(
        method.as_str(),
        "get" | "head" | "delete" | "put" | "post" | "patch"
    ) {
        return Err(OciError::UnsupportedMethod(req.method.to_owned()));
    }
    if key_id.is_empty()
        || !key_id
            .bytes()
            .all(|b| (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\')
    {
        return Err(OciError::InvalidKeyId);
    }
    let (target, host) = target_and_host(req.url)?;
    let have = |name: &str| find(req.headers, name).map(str::to_owned);
    let mut out: Vec<(String, String)> = Vec::with_capacity(6);
    let date = have("date")
        .or_else(|| date.map(str::to_owned))
        .unwrap_or_else(|| http_date(SystemTime::now()));
    out.push(("date".into(), date));
    out.push(("host".into(), host));
    out.push((
        "content-type".into(),
        have("content-type").unwrap_or_else(|| "application/json".into()),
    ));
    let mut names: Vec<&str> = GENERIC_HEADERS.to_vec();
    if signs_body(&method) {
        let body = req.body.unwrap_or_default();
        out.push((
            "content-length".into(),
            have("content-length").unwrap_or_else(|| body.len().to_string()),
        ));
        out.push((
            "x-content-sha256".into(),
            have("x-content-sha256").unwrap_or_else(|| content_sha256(body)),
        ));
        names.extend(BODY_HEADERS);
    }
    for (name, value) in &out {
        if !signable(value) {
            return Err(OciError::InvalidHeader(name.clone()));
        }
    }
    let text = signing_string(&names, &method, &target, |n| find(&out, n))
        .expect("every signed header was just set");
    let signature = B64.encode(key.sign_sha256(text.as_bytes()));
    out.push((
        "authorization".into(),
        format!(
            r#"Signature algorithm="rsa-sha256",headers="{}",keyId="{key_id}",signature="{signature}",version="1""#,
            names.join(" ")
        ),
    ));
    Ok(out)
}

/// The parameters of a `Signature` authorization header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureParams {
    pub key_id: String,
    pub algorithm: Option<String>,
    pub headers: Vec<String>,
    pub signature: String,
    pub version: Option<String>,
}

/// Parses `Signature k="v",k="v",...` (the scheme name case-insensitive).
pub fn parse_authorization(value: &str) -> Result<SignatureParams, String> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("signature") {
        return Err("the authorization header is not an HTTP Signature".into());
    }
    let mut p = SignatureParams::default();
    let (mut key_id, mut headers, mut signature) = (None, None, None);
    let mut s = rest.trim_start();
    while !s.is_empty() {
        let eq = s
            .find('=')
            .ok_or("malformed Signature parameters (expected name=\"value\")")?;
        let name = s[..eq].trim().to_ascii_lowercase();
        let after = s[eq + 1..].trim_start();
        let (val, rest) = if let Some(q) = after.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or("malformed Signature parameters (unterminated quote)")?;
            (&q[..end], &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        match name.as_str() {
            "keyid" => key_id = Some(val.to_owned()),
            "algorithm" => p.algorithm = Some(val.to_owned()),
            "headers" => headers = Some(val.to_owned()),
            "signature" => signature = Some(val.to_owned()),
            "version" => p.version = Some(val.to_owned()),
            _ => {}
        }
        s = rest.trim_start();
        if let Some(r) = s.strip_prefix(',') {
            s = r.trim_start();
        } else if !s.is_empty() {
            return Err("malformed Signature parameters (expected a comma)".into());
        }
    }
    p.key_id = key_id.ok_or("the Signature has no keyId")?;
    p.signature = signature.ok_or("the Signature has no signature")?;
    // draft-cavage: `headers` defaults to `date`.
    p.headers = headers
        .as_deref()
        .unwrap_or("date")
        .split_ascii_whitespace()
        .map(str::to_ascii_lowercase)
        .collect();
    Ok(p)
}

/// A received request to verify.
#[derive(Debug, Clone, Copy)]
pub struct VerifyRequest<'a> {
    pub method: &'a str,
    /// The request target as received (path and query).
    pub target: &'a str,
    /// The headers as received (names in any case).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// Checks a request signed by the OCI scheme against `key`, the way the
/// service does: an `rsa-sha256` Signature in `authorization`, covering at
/// least `date`, `(request-target)`, `host` (and for POST, PUT, PATCH
/// `content-length`, `content-type`, `x-content-sha256`), every covered
/// header present, `x-content-sha256` and `content-length` matching the
/// body, and the signature verifying. The date is not checked against the
/// clock. Returns the `keyId`, or why the request fails.
pub fn verify(req: &VerifyRequest<'_>, key: &PublicKey) -> Result<String, String> {
    let auth = find(req.headers, "authorization").ok_or("no authorization header")?;
    let p = parse_authorization(auth)?;
    if let Some(a) = &p.algorithm {
        if !a.eq_ignore_ascii_case("rsa-sha256") {
            return Err(format!("unsupported signature algorithm {a:?}"));
        }
    }
    if p.version.as_deref().is_some_and(|v| v != "1") {
        return Err("unsupported signature version".into());
    }
    let method = req.method.to_ascii_lowercase();
    let mut required: Vec<&str> = GENERIC_HEADERS.to_vec();
    if signs_body(&method) {
        required.extend(BODY_HEADERS);
    }
    for name in required {
        if !p.headers.iter().any(|h| h == name) {
            return Err(format!("the signature does not cover {name:?}"));
        }
        if name != "(request-target)" && find(req.headers, name).is_none() {
            return Err(format!("missing required header {name:?}"));
        }
    }
    if let Some(sha) = find(req.headers, "x-content-sha256") {
        if sha.trim() != content_sha256(req.body) {
            return Err("x-content-sha256 does not match the body".into());
        }
    }
    if let Some(len) = find(req.headers, "content-length") {
        if len.trim().parse::<usize>().ok() != Some(req.body.len()) {
            return Err("content-length does not match the body".into());
        }
    }
    let names: Vec<&str> = p.headers.iter().map(String::as_str).collect();
    let text = signing_string(&names, &method, req.target, |n| find(req.headers, n))?;
    let signature = B64
        .decode(p.signature.as_bytes())
        .map_err(|_| "the signature is not valid base64")?;
    if !key.verify_sha256(text.as_bytes(), &signature) {
        return Err("the signature does not verify".into());
    }
    Ok(p.key_id)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use std::time::Duration;

    /// A throwaway 2048-bit key generated for these tests only.
    pub(crate) const TEST_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEA0MCqXyKU97SNx5ztm7ERbkXHS1ll3fl8WqdvV8UsEKQC8zes
FLxepqiAS9l8S/eU/fUMAhW+J+HxL048+YR+CPdgOOmSxsI05sovz2TXB1KFaX1l
AKTmxkSASnc6TiSVgmzrtOTNyaFSpiqpKBVq3++wI/GJvTMu5k3LveZtghwYJFeF
7az/qm7vgYQBgH0YFiOBaWQWuddf4ihtHZPbaeTMENoCxcm2R8kGAAa6FPkLAGct
bCUGextaVMkLSvZwpiwvAYWL6gNycXPUeEGkasZOBWWmLcb2aOL3lnTUQmOOpqV7
RFo/p1uWTS6AFbUqo+SETFRK4tM8IeMqhfpErwIDAQABAoIBADAJ3ksVULWuIaBp
fw6AkXPQb/vpfzU1SAYumMNYdvr/W0RwL9P3w0pT5W5PBrkOqQVGInTKXx+bcZ7C
wOpksIJMtyJxsdq2b2ka5ySxXoBrX5M2jYs353mB4wn/5PV9msBQY2+V5bt8OeJO
V+4G+7i71kt3NozJHgZWqceyIso5VWQ6Pd4C6pNhGrF/Lz8YoPPl55jmOklyIQHg
AZXMZ125Z+W8ukFi3KNMKWlOPKknJsjsmoDPbvAwmqUjV0Lorr5HPS9YOw+BLWqf
CH7qTFwwjgAyY1RpTcihw9y2LvKU5jxKDzlpnSlfv6570ppfZAu4DPEaOByYYfSV
IjSUDyUCgYEA8G1v5wdp6zjip82v3g6LrJ32K0WNVc6GQFxRHLlh+ybTsmKRI3dm
2YK6aXcX1vwtZHwkt2Ajvlu0aMAmPxBIh7Xek2nkRjDc3QnHJuHZJ7iuI1q7js6V
1EGkdClkPxdlD3QU281XTRGG53fpG1f7dUg+AoJiaJeHUuumxelpk/0CgYEA3kYF
wdh0/eEm36FlgOBJmecOeh7ipBommlu4AV7FjQRkfmEVMZiqEdrHflaCEIW3FkQ+
Drdp+dFGzADqhmRi8JHBfi7DaNkM1bDK8zNZTH0M/FsqoTmD0AYIanuEinYIQHTw
P4jJV/Ty1ktycTSdT8OeAjB8FhG+qnMP8vSkHRsCgYBV9VqHx+/HiHwIsJJLGvo3
CfbEO8avQfpfsmHRmjn8uEIByhnIC117MLEDGfAtDdYQ0g2yfi3pVhInTWOfMmws
EQr1u2tA6SFd6awJK8Ae4nln7H2YLiYFUD7CxTWxFOUt5Du85iprRHPt98Ig45Dk
uqJo9ULH0D0ymUv0AGKd5QKBgFPtiLr7KqG6ZF1IqfURu3jbYAIIq3dfUHg0bbRG
vr1SjUeTDNefV4hKXc18iLwIYWuM9QnFg8SKmvro1aVNPnar8q3cpnhujIQbr2ZJ
W0ygY0jee6hI+VaREJh0b0WA7/i2rwiuc6g8m30DHAFW5pd5u64D9La4mI/vxnPs
oBNFAoGAHZGV84shfjuYBk2s67nqBKBAL//Sj+nubpOq4jGh4McKr+T7mnx5F0Mg
j1HZ5HADzolVMWgAHbIUKxGgaQcOpzZkXwXJ8NS+QzZcVhlDsSxjsWrnzQ20SOaF
ICv0Gq/gBLRtisf+ArCcTAKCmX9LkaLmyj/8lv6G1Exjg1Qolv8=
-----END RSA PRIVATE KEY-----
";
    const KEY_ID: &str = "ocid1.tenancy.oc1..aaaa/ocid1.user.oc1..bbbb/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
    const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
    const URL: &str = "https://inference.generativeai.us-chicago-1.oci.oraclecloud.com/20231130/actions/generateText";
    const BODY: &[u8] = br#"{"compartmentId":"ocid1.compartment.oc1..cccc","isStream":true}"#;

    fn key() -> PrivateKey {
        PrivateKey::from_pem(TEST_KEY).unwrap()
    }

    fn post_headers() -> Vec<(String, String)> {
        let key = key();
        let req = SignRequest {
            method: "POST",
            url: URL,
            headers: &[("Content-Type".into(), "application/json".into())],
            body: Some(BODY),
        };
        sign(&req, KEY_ID, &key, Some(DATE)).unwrap()
    }

    /// The `oci` package's `oci.signer.Signer` (2.x) output for the same key,
    /// date and request (known answers, recorded from it).
    #[test]
    fn matches_the_oci_sdk_for_a_post() {
        let h = post_headers();
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "date",
                "host",
                "content-type",
                "content-length",
                "x-content-sha256",
                "authorization"
            ]
        );
        assert_eq!(h[0].1, DATE);
        assert_eq!(
            h[1].1,
            "inference.generativeai.us-chicago-1.oci.oraclecloud.com"
        );
        assert_eq!(h[2].1, "application/json");
        assert_eq!(h[3].1, "63");
        assert_eq!(h[4].1, "TH/5m/nMXeNrQm3qeHNR8U0k3apRiLHTX9T/m38ePJI=");
        assert_eq!(
            h[5].1,
            format!(
                "Signature algorithm=\"rsa-sha256\",headers=\"date (request-target) host content-length content-type x-content-sha256\",keyId=\"{KEY_ID}\",signature=\"{}\",version=\"1\"",
                "CjG+EOUUzF8peNsJnaCz0fbPAxL5A/jfjfwtGXrpuHJudCgoSpAQQlScZYbLe9J5XfDM1qRo5cdtVi2vW4g3JrrfJxY4kKzgEd0kccaPRgVH4jzc2K+eZ2lA6QXFfv73gYkLaKG9b/BiKAxVPEZvxBRrxroGQSlMFSwZOW2TL/zKW8TgZs+5VeoKoTHdbTMvCAx/4TvSVyKw70KUoYyLBsG/7kL3tG+chHiTUrBY0LP9EZqLJnjDzuVCg/OWlxXk1vpnseTxuCa63/+76cqGOmKxnql1cdmfuVXmd4m9YWLp8R3vWDHaikj35oJl9PlahM5pkv0nxxnUDtdLTrxyjw=="
            )
        );
    }

    #[test]
    fn matches_the_oci_sdk_for_a_get() {
        let req = SignRequest {
            method: "GET",
            url: "https://example.com:8443/20231130/x?a=1&b=%20",
            headers: &[("Date".into(), DATE.into())],
            body: None,
        };
        let h = sign(&req, KEY_ID, &key(), None).unwrap();
        let names: Vec<&str> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["date", "host", "content-type", "authorization"]);
        assert_eq!(h[1].1, "example.com:8443");
        assert!(h[3].1.ends_with(
            "signature=\"BKb7+05ui2EAPEoE0NCxbGMzJrPR5dzDFOTxYkP+HEGI/619+wrG1rveuk11DZqUE3+msTVK/bKwWza57ayF4DsJt7IcnxHgSFL9lfi6rIpbEuOWb5ckuIfk52XVpGsQa2/rnMBx8A+UZECRrRal7HFgmhE1kj7fiUeblW6ZYnDuIc7zfi/s+1H9oO6LHU/GstmQl9ffMCqBpkkqFonaCQYUhOUa4NsP+kQWkcDpFUUIVVn/c8OHJLj608cUev3H5bYMzKxv7bihLtBWfVC6LQatKiyNRpYMliA5fjpkmCF2UOFyHKBwpJBBiwACn+zkalEIJMDNS6kckX0TP8pVjg==\",version=\"1\""
        ));
        assert!(h[3].1.contains("headers=\"date (request-target) host\""));
    }

    #[test]
    fn pkcs8_and_trailing_text_read_the_same_key() {
        let k = key();
        let pkcs8 = k.0.to_pkcs8_pem(LineEnding::CRLF).unwrap();
        let console = format!("{}\nOCI_API_KEY\n", pkcs8.as_str());
        let k8 = PrivateKey::from_pem(&console).unwrap();
        assert_eq!(k.public_key(), k8.public_key());
        let spki =
            k.0.to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap();
        assert_eq!(PublicKey::from_pem(&spki).unwrap(), k.public_key());
        assert_eq!(PublicKey::from_pem(TEST_KEY).unwrap(), k.public_key());
    }

    #[test]
    fn key_errors_are_typed_and_quote_nothing() {
        let enc =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----";
        assert_eq!(
            PrivateKey::from_pem(enc).unwrap_err(),
            OciError::EncryptedKey
        );
        let legacy = TEST_KEY.replacen(
            "KEY-----\n",
            "KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n",
            1,
        );
        assert_eq!(
            PrivateKey::from_pem(&legacy).unwrap_err(),
            OciError::EncryptedKey
        );
        let broken = TEST_KEY.replace("MIIEog", "MIIEoh");
        let err = PrivateKey::from_pem(&broken).unwrap_err().to_string();
        assert!(!err.contains("MII"), "{err}");
        let spki = key()
            .0
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        assert!(PrivateKey::from_pem(&spki)
            .unwrap_err()
            .to_string()
            .contains("public key"));
        assert!(matches!(
            PrivateKey::from_pem("nothing here"),
            Err(OciError::InvalidKey(_))
        ));
        let dbg = format!("{:?}", key());
        assert_eq!(dbg, "PrivateKey(<redacted>, 2048 bits)");
    }

    #[test]
    fn request_errors() {
        let k = key();
        let req = |method, url| SignRequest {
            method,
            url,
            headers: &[],
            body: None,
        };
        assert!(matches!(
            sign(&req("TRACE", URL), KEY_ID, &k, None),
            Err(OciError::UnsupportedMethod(_))
        ));
        assert!(matches!(
            sign(&req("POST", "ftp://x/"), KEY_ID, &k, None),
            Err(OciError::InvalidUrl(_))
        ));
        assert_eq!(
            sign(&req("POST", URL), "a\"b", &k, None),
            Err(OciError::InvalidKeyId)
        );
        let bad = [("x-content-sha256".to_string(), "é".to_string())];
        let r = SignRequest {
            headers: &bad,
            ..req("POST", URL)
        };
        assert_eq!(
            sign(&r, KEY_ID, &k, None),
            Err(OciError::InvalidHeader("x-content-sha256".into()))
        );
    }

    #[test]
    fn empty_post_signs_an_empty_body_and_a_session_token_key_id() {
        let req = SignRequest {
            method: "post",
            url: "http://127.0.0.1:8080",
            headers: &[],
            body: None,
        };
        let h = sign(&req, "ST$eyJhbGciOi.token", &key(), Some(DATE)).unwrap();
        assert_eq!(find(&h, "content-length"), Some("0"));
        assert_eq!(
            find(&h, "x-content-sha256"),
            Some("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(find(&h, "host"), Some("127.0.0.1:8080"));
        let auth = parse_authorization(find(&h, "authorization").unwrap()).unwrap();
        assert_eq!(auth.key_id, "ST$eyJhbGciOi.token");
        let v = VerifyRequest {
            method: "POST",
            target: "/",
            headers: &h,
            body: b"",
        };
        assert_eq!(
            verify(&v, &key().public_key()).unwrap(),
            "ST$eyJhbGciOi.token"
        );
    }

    #[test]
    fn verify_accepts_signed_and_rejects_tampered() {
        let h = post_headers();
        let public = key().public_key();
        let target = "/20231130/actions/generateText";
        let ok = VerifyRequest {
            method: "POST",
            target,
            headers: &h,
            body: BODY,
        };
        assert_eq!(verify(&ok, &public).unwrap(), KEY_ID);

        let other_body = VerifyRequest { body: b"{}", ..ok };
        assert_eq!(
            verify(&other_body, &public).unwrap_err(),
            "x-content-sha256 does not match the body"
        );
        let other_path = VerifyRequest {
            target: "/20231130/actions/chat",
            ..ok
        };
        assert_eq!(
            verify(&other_path, &public).unwrap_err(),
            "the signature does not verify"
        );
        let mut no_date = h.clone();
        no_date.retain(|(n, _)| n != "date");
        let r = VerifyRequest {
            headers: &no_date,
            ..ok
        };
        assert_eq!(
            verify(&r, &public).unwrap_err(),
            "missing required header \"date\""
        );
        let r = VerifyRequest { headers: &[], ..ok };
        assert_eq!(verify(&r, &public).unwrap_err(), "no authorization header");
        // Signed by another key.
        let other = PrivateKey(RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 1024).unwrap());
        assert_eq!(
            verify(&ok, &other.public_key()).unwrap_err(),
            "the signature does not verify"
        );
        // A signature that leaves the body headers out.
        let get = SignRequest {
            method: "GET",
            url: URL,
            headers: &[],
            body: None,
        };
        let mut g = sign(&get, KEY_ID, &key(), Some(DATE)).unwrap();
        g.push(("content-length".into(), BODY.len().to_string()));
        g.push(("x-content-sha256".into(), content_sha256(BODY)));
        let r = VerifyRequest { headers: &g, ..ok };
        assert_eq!(
            verify(&r, &public).unwrap_err(),
            "the signature does not cover \"content-length\""
        );
    }

    #[test]
    fn parses_authorization_params() {
        let p = parse_authorization(
            r#"signature version="1", keyId="a/b/c",algorithm="rsa-sha256",headers="Date Host",signature="c2ln""#,
        )
        .unwrap();
        assert_eq!(p.key_id, "a/b/c");
        assert_eq!(p.headers, ["date", "host"]);
        assert_eq!(p.signature, "c2ln");
        assert!(parse_authorization("Bearer x").is_err());
        assert!(parse_authorization(r#"Signature keyId="a""#).is_err());
        assert!(parse_authorization(r#"Signature keyId="a,signature="x""#).is_err());
    }

    #[test]
    fn http_dates() {
        let at = |s: u64| http_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(1_389_000_000), "Mon, 06 Jan 2014 09:20:00 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(4_107_542_399), "Sun, 28 Feb 2100 23:59:59 GMT");
        assert_eq!(at(4_133_980_799), "Fri, 31 Dec 2100 23:59:59 GMT");
    }
}
