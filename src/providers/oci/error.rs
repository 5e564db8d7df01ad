//! Why an OCI request could not be signed.

use std::fmt;

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
