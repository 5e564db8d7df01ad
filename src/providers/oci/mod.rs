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
//!
//! RSA is ring's (constant-time; rustls already builds it), not the `rsa`
//! crate, whose PKCS#1 v1.5 decryption and signing leak timing (RUSTSEC-2023-0071).

mod error;
mod keys;
mod signing;
#[cfg(test)]
pub(crate) mod test_keys;
mod verify;

pub use error::OciError;
pub use keys::{PrivateKey, PublicKey};
pub use signing::{
    content_sha256, http_date, sign, signing_string, target_and_host, SignRequest, BODY_HEADERS,
    GENERIC_HEADERS,
};
pub use verify::{parse_authorization, verify, SignatureParams, VerifyRequest};
