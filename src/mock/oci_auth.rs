//! OCI request-signature checks: when the server is given a public key,
//! requests to the OCI paths must be signed by OCI's HTTP Signature scheme
//! (see [`crate::providers::oci::verify`]) or are answered 401 the way the service does.

use bytes::Bytes;

use super::http1::Request;
use super::scenario::{Reply, ReplyBody};
use crate::providers::oci::{self, PublicKey, VerifyRequest};

/// OCI Generative AI's API version prefix: every path under it is checked.
const OCI_PREFIX: &str = "/20231130/";

/// Whether `path` is served as OCI (and so checked when a key is set).
pub fn is_oci_path(path: &str) -> bool {
    path.starts_with(OCI_PREFIX)
        || path.ends_with("/actions/generateText")
        || path.ends_with("/actions/chat")
}

/// The `keyId` of a correctly signed request, or why it is not.
pub fn check(key: &PublicKey, req: &Request) -> Result<String, String> {
    oci::verify(
        &VerifyRequest {
            method: &req.head.method,
            target: &req.head.target,
            headers: &req.head.headers,
            body: &req.body,
        },
        key,
    )
}

/// The service's answer to a missing or wrong signature.
pub fn unauthorized() -> Reply {
    Reply {
        status: 401,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("opc-request-id".into(), "req_mock_not_authenticated".into()),
        ],
        body: ReplyBody::Fixed(Bytes::from_static(
            br#"{"code":"NotAuthenticated","message":"The required information to complete authentication was not provided or was incorrect."}"#,
        )),
        faults: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Duration;

    use crate::mock::MockServer;
    use crate::providers::oci::test_keys::TEST_KEY;
    use crate::providers::oci::{sign, PrivateKey, SignRequest};

    const BODY: &str = r#"{"compartmentId":"c","servingMode":{"servingType":"ON_DEMAND","modelId":"m"},"inferenceRequest":{"runtimeType":"COHERE","prompt":"hi","isStream":true}}"#;

    /// Sends one request (`connection: close`) and returns the whole response.
    fn send(server: &MockServer, path: &str, headers: &[(String, String)], body: &str) -> String {
        let mut s = TcpStream::connect(server.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut req = format!("POST {path} HTTP/1.1\r\nconnection: close\r\n");
        for (n, v) in headers {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        if !headers.iter().any(|(n, _)| n == "content-length") {
            req.push_str(&format!("content-length: {}\r\n", body.len()));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn signed(server: &MockServer, path: &str, body: &str) -> Vec<(String, String)> {
        let url = format!("{}{path}", server.url());
        let req = SignRequest {
            method: "POST",
            url: &url,
            headers: &[],
            body: Some(body.as_bytes()),
        };
        let key = PrivateKey::from_pem(TEST_KEY).unwrap();
        sign(&req, "t/u/f", &key, None).unwrap()
    }

    #[test]
    fn verifies_signatures_on_oci_paths() {
        let server = MockServer::start("127.0.0.1", 0).unwrap();
        let path = "/20231130/actions/generateText";
        // No key set: nothing is checked.
        assert!(send(&server, path, &[], BODY).starts_with("HTTP/1.1 200"));
        let public = PrivateKey::from_pem(TEST_KEY).unwrap().public_key();
        server.require_oci_signature(Some(public));

        let ok = send(&server, path, &signed(&server, path, BODY), BODY);
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains(r#"data: {"id":"#));

        let unsigned = send(&server, path, &[], BODY);
        assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
        assert!(unsigned.contains(r#""code":"NotAuthenticated""#));

        // Signed for another body.
        let other = send(&server, path, &signed(&server, path, "{}"), BODY);
        assert!(other.starts_with("HTTP/1.1 401"));
        // Signed for another path.
        let chat = "/20231130/actions/chat";
        let moved = send(&server, chat, &signed(&server, path, BODY), BODY);
        assert!(moved.starts_with("HTTP/1.1 401"));
        // Not an OCI path: not checked.
        let openai = send(&server, "/v1/chat/completions", &[], "{}");
        assert!(openai.starts_with("HTTP/1.1 200"));

        let checks: Vec<_> = server
            .requests()
            .iter()
            .map(|r| r.oci_signature.clone())
            .collect();
        assert_eq!(checks[0], None);
        assert_eq!(checks[1], Some(Ok("t/u/f".to_string())));
        assert_eq!(checks[2], Some(Err("no authorization header".to_string())));
        assert_eq!(
            checks[3],
            Some(Err("x-content-sha256 does not match the body".to_string()))
        );
        assert_eq!(
            checks[4],
            Some(Err("the signature does not verify".to_string()))
        );
        assert_eq!(checks[5], None);

        server.require_oci_signature(None);
        assert!(send(&server, path, &[], BODY).starts_with("HTTP/1.1 200"));
        server.close();
    }
}
