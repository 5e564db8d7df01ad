//! Throwaway RSA keys generated for the tests only (`openssl genrsa`), the
//! first also in its other encodings (`openssl pkcs8 -topk8`, `rsa -pubout`).

pub(crate) const TEST_KEY: &str = include_str!("testdata/test_key.pem");
pub(crate) const TEST_KEY_PKCS8: &str = include_str!("testdata/test_key_pkcs8.pem");
pub(crate) const TEST_KEY_SPKI: &str = include_str!("testdata/test_key_spki.pem");
pub(crate) const TEST_KEY_RSA_PUBLIC: &str = include_str!("testdata/test_key_rsa_public.pem");
pub(crate) const OTHER_KEY: &str = include_str!("testdata/other_key.pem");
/// 1024 bits: below what ring (and OCI) accept.
pub(crate) const SMALL_KEY: &str = include_str!("testdata/small_key.pem");
