//! Checking a request signed by OCI's scheme, the way the service does (for
//! the mock server's `require_oci_signature`).

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use super::signing::{find, signs_body};
use super::{content_sha256, signing_string, PublicKey, BODY_HEADERS, GENERIC_HEADERS};

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
mod tests {
    use super::*;
    use crate::providers::oci::signing::tests::{key, post_headers, BODY, DATE, KEY_ID, URL};
    use crate::providers::oci::test_keys::OTHER_KEY;
    use crate::providers::oci::{sign, PrivateKey, SignRequest};

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
        let other = PrivateKey::from_pem(OTHER_KEY).unwrap();
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
}
