//! RSA keys read from PEM: private keys for signing (PKCS#1 or PKCS#8,
//! unencrypted: `sserpent.oci` decrypts with `cryptography` first) and public
//! keys for verification (SPKI or PKCS#1). Their `Debug` shows the size only.

use std::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{
    RsaKeyPair, RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};

use super::OciError;

/// An RSA private key for signing.
pub struct PrivateKey(RsaKeyPair);

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PrivateKey(<redacted>, {} bits)",
            self.0.public().modulus_len() * 8
        )
    }
}

/// An RSA public key for verification: its modulus and exponent, big-endian
/// without leading zeros (so two encodings of one key compare equal).
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    n: Vec<u8>,
    e: Vec<u8>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bits)", self.n.len() * 8)
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

/// ring says why it rejects a key in a word (`TooSmall`, `InvalidEncoding`...).
fn rejected(what: &'static str, why: ring::error::KeyRejected) -> OciError {
    OciError::InvalidKey(match why.to_string().as_str() {
        "TooSmall" => "the RSA key is too small: OCI keys are 2048 bits or more",
        "TooLarge" => "the RSA key is too large (over 8192 bits)",
        "PrivateModulusLenNotMultipleOf512Bits" => {
            "the RSA key's size is not a multiple of 512 bits (OCI keys are 2048 or 4096)"
        }
        _ => what,
    })
}

impl PrivateKey {
    /// Reads an RSA private key in PEM: PKCS#1 (`RSA PRIVATE KEY`) or
    /// PKCS#8 (`PRIVATE KEY`), unencrypted.
    pub fn from_pem(pem: &str) -> Result<PrivateKey, OciError> {
        let block = pem_block(pem)?;
        let key = match block.label.as_str() {
            "RSA PRIVATE KEY" if block.encrypted_headers => return Err(OciError::EncryptedKey),
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&block.der)
                .map_err(|e| rejected("not a valid PKCS#1 RSA private key", e))?,
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&block.der)
                .map_err(|e| rejected("not a valid PKCS#8 RSA private key", e))?,
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
        let c: RsaPublicKeyComponents<Vec<u8>> = self.0.public().into();
        PublicKey { n: c.n, e: c.e }
    }

    /// RSA PKCS#1 v1.5 signature of SHA-256(`message`): deterministic, so the
    /// same bytes as the `oci` package's for the same key and message.
    pub fn sign_sha256(&self, message: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .expect("a valid key signs into a buffer of its modulus' length");
        signature
    }
}

impl PublicKey {
    /// Reads an RSA public key in PEM (`PUBLIC KEY` or `RSA PUBLIC KEY`), or
    /// the public half of a private key PEM.
    pub fn from_pem(pem: &str) -> Result<PublicKey, OciError> {
        let block = pem_block(pem)?;
        match block.label.as_str() {
            "PUBLIC KEY" => der::spki_rsa_public_key(&block.der)
                .and_then(der::rsa_public_key)
                .ok_or(OciError::InvalidKey("not a valid RSA public key (SPKI)")),
            "RSA PUBLIC KEY" => der::rsa_public_key(&block.der)
                .ok_or(OciError::InvalidKey("not a valid PKCS#1 RSA public key")),
            _ => PrivateKey::from_pem(pem).map(|k| k.public_key()),
        }
    }

    pub fn verify_sha256(&self, message: &[u8], signature: &[u8]) -> bool {
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, message, signature)
        .is_ok()
    }
}

/// Just enough DER to read RSA public keys, which ring takes only as numbers.
mod der {
    use super::PublicKey;

    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const BIT_STRING: u8 = 0x03;
    const OID: u8 = 0x06;
    /// 1.2.840.113549.1.1.1
    const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

    /// Splits one element of `tag` off `input`: (its content, the rest).
    fn element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
        let (&t, rest) = input.split_first()?;
        if t != tag {
            return None;
        }
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 || rest.len() < n {
                return None;
            }
            let len = rest[..n]
                .iter()
                .fold(0, |acc, &b| acc << 8 | usize::from(b));
            rest = &rest[n..];
            len
        };
        (rest.len() >= len).then(|| rest.split_at(len))
    }

    /// A positive INTEGER's bytes without leading zeros.
    fn positive(content: &[u8]) -> Option<Vec<u8>> {
        if content.first().is_none_or(|&b| b & 0x80 != 0) {
            return None;
        }
        let start = content.iter().position(|&b| b != 0)?;
        Some(content[start..].to_vec())
    }

    /// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
    pub(super) fn rsa_public_key(der: &[u8]) -> Option<PublicKey> {
        let (seq, after) = element(der, SEQUENCE)?;
        let (n, rest) = element(seq, INTEGER)?;
        let (e, rest) = element(rest, INTEGER)?;
        if !rest.is_empty() || !after.is_empty() {
            return None;
        }
        Some(PublicKey {
            n: positive(n)?,
            e: positive(e)?,
        })
    }

    /// The `RSAPublicKey` inside a `SubjectPublicKeyInfo` of algorithm rsaEncryption.
    pub(super) fn spki_rsa_public_key(der: &[u8]) -> Option<&[u8]> {
        let (spki, after) = element(der, SEQUENCE)?;
        let (algorithm, rest) = element(spki, SEQUENCE)?;
        let (oid, _parameters) = element(algorithm, OID)?;
        let (bits, rest) = element(rest, BIT_STRING)?;
        if oid != RSA_ENCRYPTION || !rest.is_empty() || !after.is_empty() {
            return None;
        }
        // The first byte counts the unused bits of the last one: none in a key.
        bits.strip_prefix(&[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::oci::test_keys::{
        OTHER_KEY, SMALL_KEY, TEST_KEY, TEST_KEY_PKCS8, TEST_KEY_RSA_PUBLIC, TEST_KEY_SPKI,
    };

    #[test]
    fn every_encoding_of_a_key_reads_the_same_key() {
        let k = PrivateKey::from_pem(TEST_KEY).unwrap();
        let console = format!("{TEST_KEY_PKCS8}\nOCI_API_KEY\n").replace('\n', "\r\n");
        let k8 = PrivateKey::from_pem(&console).unwrap();
        assert_eq!(k.public_key(), k8.public_key());
        assert_eq!(k.sign_sha256(b"x"), k8.sign_sha256(b"x"));
        assert_eq!(PublicKey::from_pem(TEST_KEY_SPKI).unwrap(), k.public_key());
        assert_eq!(
            PublicKey::from_pem(TEST_KEY_RSA_PUBLIC).unwrap(),
            k.public_key()
        );
        assert_eq!(PublicKey::from_pem(TEST_KEY).unwrap(), k.public_key());
        assert_ne!(PublicKey::from_pem(OTHER_KEY).unwrap(), k.public_key());
        assert_eq!(format!("{:?}", k.public_key()), "PublicKey(2048 bits)");
    }

    #[test]
    fn signatures_verify_with_the_key_they_were_made_by_only() {
        let k = PrivateKey::from_pem(TEST_KEY).unwrap();
        let sig = k.sign_sha256(b"message");
        assert_eq!(sig.len(), 256);
        let public = PublicKey::from_pem(TEST_KEY_SPKI).unwrap();
        assert!(public.verify_sha256(b"message", &sig));
        assert!(!public.verify_sha256(b"messagf", &sig));
        let other = PublicKey::from_pem(OTHER_KEY).unwrap();
        assert!(!other.verify_sha256(b"message", &sig));
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
        assert_eq!(
            err,
            "invalid private key: not a valid PKCS#1 RSA private key"
        );
        assert_eq!(
            PrivateKey::from_pem(TEST_KEY_SPKI).unwrap_err().to_string(),
            "invalid private key: signing requires a private key, but a public key was provided"
        );
        assert!(matches!(
            PrivateKey::from_pem("nothing here"),
            Err(OciError::InvalidKey(_))
        ));
        let truncated_spki = TEST_KEY_SPKI.replacen("MIIBIjAN", "MIIBIzAN", 1);
        assert_eq!(
            PublicKey::from_pem(&truncated_spki).unwrap_err(),
            OciError::InvalidKey("not a valid RSA public key (SPKI)")
        );
        assert_eq!(
            PrivateKey::from_pem(SMALL_KEY).unwrap_err().to_string(),
            "invalid private key: the RSA key is too small: OCI keys are 2048 bits or more"
        );
        let dbg = format!("{:?}", PrivateKey::from_pem(TEST_KEY).unwrap());
        assert_eq!(dbg, "PrivateKey(<redacted>, 2048 bits)");
    }
}
