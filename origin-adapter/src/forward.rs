//! The edge side of a forwarded write: what a signature covers, how long it
//! lives, and which client headers may never reach an origin.
//!
//! The origin-side [`crate::layer`] verifies with [`edge_policy`], so the two
//! sides cannot drift apart.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::digest::content_digest;
use crate::keys::SigningKey;
use crate::signature::{
    Component, RequestView, SignatureError, SignatureParams, VerifyPolicy, sign,
};
use crate::wire::EdgeClaims;

/// The `Signature-Input`/`Signature` label of edge → origin signatures.
pub const LABEL: &str = "edge";
/// The `tag` parameter of edge → origin signatures (RFC 9421 §2.3).
pub const EDGE_TAG: &str = "storefront-edge/v1";
/// Seconds a forwarded request's signature stays valid.
pub const SIGNATURE_LIFETIME: i64 = 60;
/// The longest a verifier accepts a signature after `created` (seconds);
/// the verifier's seen-nonce set must cover at least this long.
pub const REPLAY_WINDOW: i64 = 300;
/// Tolerated clock difference between edge and origin (seconds).
pub const CLOCK_SKEW: i64 = 5;

const COVERED: [&str; 7] = [
    "@method",
    "@authority",
    "@path",
    "@query",
    "content-type",
    "content-digest",
    "idempotency-key",
];

/// The header carrying the customer's identity claims to an origin. It is
/// covered by the signature whenever present, so it speaks only for the edge.
pub const CLAIMS_HEADER: &str = "x-edge-claims";
/// The flags the edge evaluated for the request (base64url JSON object).
pub const FLAGS_HEADER: &str = "x-edge-flags";
/// The edge's id for the client request, the same in edge and origin logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Marks an origin's answer as a replay of a keyed request's first answer.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// W3C Trace Context; see [`crate::trace`].
pub const TRACEPARENT_HEADER: &str = "traceparent";

/// What the edge knows about a request beyond its body, every part signed
/// when present: who the customer is, which flags applied, and the ids that
/// tie edge and origin logs together.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EdgeContext<'a> {
    /// The customer's claims, encoded by [`encode_claims`], if logged in.
    pub claims: Option<&'a str>,
    /// Evaluated flags, base64url JSON, if any were evaluated.
    pub flags: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub traceparent: Option<&'a str>,
}

impl<'a> EdgeContext<'a> {
    fn fields(&self) -> impl Iterator<Item = (&'static str, &'a str)> {
        [
            (CLAIMS_HEADER, self.claims),
            (FLAGS_HEADER, self.flags),
            (REQUEST_ID_HEADER, self.request_id),
            (TRACEPARENT_HEADER, self.traceparent),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, v)))
    }
}

const CONTEXT_HEADERS: [&str; 4] = [
    CLAIMS_HEADER,
    FLAGS_HEADER,
    REQUEST_ID_HEADER,
    TRACEPARENT_HEADER,
];

fn components(names: &[&str]) -> Vec<Component> {
    // Every name parses (a unit test holds that), so nothing is dropped.
    names
        .iter()
        .filter_map(|c| Component::parse(c).ok())
        .collect()
}

/// The components every forwarded write's signature covers.
pub fn covered_components() -> Vec<Component> {
    components(&COVERED)
}

/// What a verifier requires to be covered whenever present on a request:
/// everything the edge may sign, its context headers included, so none of
/// them can be added by anyone but the edge.
pub fn required_components() -> Vec<Component> {
    let mut all = covered_components();
    all.extend(
        CONTEXT_HEADERS
            .iter()
            .map(|name| Component::Field((*name).to_owned())),
    );
    all
}

/// Flags as the header carries them: base64url of a JSON object.
pub fn encode_flags(flags: &serde_json::Map<String, serde_json::Value>) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(flags).unwrap_or_default())
}

/// Reads the flags header; `None` if it is not what the edge writes.
pub fn decode_flags(value: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value.trim()).ok()?).ok()
}

/// Claims as the header carries them: base64url of their JSON.
pub fn encode_claims(claims: &EdgeClaims) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default())
}

/// Reads the claims header; `None` if it is not what the edge writes.
pub fn decode_claims(value: &str) -> Option<EdgeClaims> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(value.trim()).ok()?).ok()
}

/// What the origin's verifier insists on. `required` comes from
/// [`covered_components`], so anything the edge signs, the origin demands.
pub fn edge_policy(required: &[Component]) -> VerifyPolicy<'_> {
    VerifyPolicy {
        label: LABEL,
        required,
        tag: EDGE_TAG,
        max_age: REPLAY_WINDOW,
        skew: CLOCK_SKEW,
    }
}

/// A write the edge is about to send to an origin.
#[derive(Debug, Clone)]
pub struct ForwardedWrite<'a> {
    pub method: &'a str,
    pub authority: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub content_type: &'a str,
    /// The Idempotency-Key, unquoted; it is sent as a structured-field string.
    pub idempotency_key: &'a str,
    pub body: &'a [u8],
    pub context: EdgeContext<'a>,
}

/// Refuses idempotency keys that cannot be a structured-field string or are
/// unreasonably long (the draft leaves the length to the server).
pub fn validate_idempotency_key(key: &str) -> Result<(), &'static str> {
    if key.is_empty() || key.len() > 255 {
        return Err("Idempotency-Key must be 1 to 255 characters");
    }
    if !key
        .bytes()
        .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\')
    {
        return Err("Idempotency-Key must be printable ASCII without quotes or backslashes");
    }
    Ok(())
}

/// The headers to add to `write`: content type, digest, idempotency key and
/// the RFC 9421 signature fields. `nonce` must be fresh randomness.
pub fn signed_headers(
    write: &ForwardedWrite<'_>,
    key: &SigningKey,
    now: i64,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, SignatureError> {
    validate_idempotency_key(write.idempotency_key).map_err(SignatureError::Malformed)?;
    let digest = content_digest(write.body);
    let idempotency = format!("\"{}\"", write.idempotency_key);
    let mut fields = vec![
        ("content-type", write.content_type.to_owned()),
        ("content-digest", digest),
        ("idempotency-key", idempotency),
    ];
    let mut covered = covered_components();
    add_context(&write.context, &mut fields, &mut covered);
    sign_fields(
        write.method,
        write.authority,
        write.path,
        write.query,
        fields,
        &covered,
        key,
        now,
        nonce,
    )
}

/// A personal read the edge forwards (`GET`), signed like a write but with
/// no body, type or idempotency key.
#[derive(Debug, Clone)]
pub struct ForwardedRead<'a> {
    pub authority: &'a str,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub context: EdgeContext<'a>,
}

pub fn signed_read_headers(
    read: &ForwardedRead<'_>,
    key: &SigningKey,
    now: i64,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, SignatureError> {
    let mut fields = vec![("content-digest", content_digest(b""))];
    let mut covered = components(&["@method", "@authority", "@path", "@query", "content-digest"]);
    add_context(&read.context, &mut fields, &mut covered);
    sign_fields(
        "GET",
        read.authority,
        read.path,
        read.query,
        fields,
        &covered,
        key,
        now,
        nonce,
    )
}

fn add_context(
    context: &EdgeContext<'_>,
    fields: &mut Vec<(&'static str, String)>,
    covered: &mut Vec<Component>,
) {
    for (name, value) in context.fields() {
        fields.push((name, value.to_owned()));
        covered.push(Component::Field(name.to_owned()));
    }
}

#[allow(clippy::too_many_arguments)]
fn sign_fields(
    method: &str,
    authority: &str,
    path: &str,
    query: Option<&str>,
    mut fields: Vec<(&'static str, String)>,
    covered: &[Component],
    key: &SigningKey,
    now: i64,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, SignatureError> {
    let view = RequestView {
        method,
        authority,
        path,
        query,
        fields: fields.iter().map(|(n, v)| (*n, v.as_str())).collect(),
    };
    let params = SignatureParams {
        created: now,
        expires: Some(now + SIGNATURE_LIFETIME),
        nonce: Some(nonce.to_owned()),
        keyid: key.keyid().to_owned(),
        tag: Some(EDGE_TAG.to_owned()),
    };
    let signature = sign(&view, covered, &params, LABEL, key)?;
    fields.push(("signature-input", signature.signature_input));
    fields.push(("signature", signature.signature));
    Ok(fields)
}

/// Headers a client may never send through the edge to an origin: the
/// edge's own signing and identity vocabulary, proxy identity, and
/// hop-by-hop fields (RFC 9110 §7.6.1).
pub fn is_reserved_for_edge(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    const EXACT: [&str; 17] = [
        "signature",
        "traceparent",
        "tracestate",
        "x-request-id",
        "signature-input",
        "content-digest",
        "idempotency-key",
        "forwarded",
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    ];
    const PREFIXES: [&str; 5] = ["x-edge-", "x-user-", "x-forwarded-", "x-identity-", "cf-"];
    EXACT.contains(&name.as_str())
        || name.starts_with("signature")
        || PREFIXES.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeyRing;
    use crate::signature::verify;

    fn write(body: &[u8]) -> ForwardedWrite<'_> {
        ForwardedWrite {
            method: "POST",
            authority: "orders.us.example:8080",
            path: "/orders",
            query: None,
            content_type: "application/json",
            idempotency_key: "cart-1-v3",
            body,
            context: EdgeContext::default(),
        }
    }

    #[test]
    fn what_the_edge_signs_the_origin_verifies() {
        let key = SigningKey::from_seed("edge-1", [3; 32]);
        let ring = KeyRing::from_config(&key.verifying_entry().to_config()).unwrap();
        let w = write(br#"{"lines":[]}"#);
        let headers = signed_headers(&w, &key, 1_700_000_000, "nonce-a").unwrap();
        let view = RequestView {
            method: w.method,
            authority: w.authority,
            path: w.path,
            query: w.query,
            fields: headers.iter().map(|(n, v)| (*n, v.as_str())).collect(),
        };
        let required = covered_components();
        let verified = verify(&view, &edge_policy(&required), &ring, 1_700_000_030).unwrap();
        assert_eq!(verified.expires, 1_700_000_000 + SIGNATURE_LIFETIME);
        assert_eq!(verified.nonce, "nonce-a");
    }

    #[test]
    fn claims_round_trip_and_junk_is_refused() {
        let claims = EdgeClaims {
            user_id: "user-1".into(),
            roles: vec!["customer".into()],
            region: "eu".into(),
            session_id: "s".into(),
        };
        assert_eq!(decode_claims(&encode_claims(&claims)), Some(claims));
        assert_eq!(decode_claims("not base64!"), None);
        assert_eq!(
            decode_claims("e30"),
            None,
            "an empty object lacks every field"
        );
    }

    #[test]
    fn every_covered_component_is_supported() {
        assert_eq!(covered_components().len(), COVERED.len());
    }

    #[test]
    fn idempotency_keys_are_validated() {
        assert!(validate_idempotency_key("abc-123").is_ok());
        assert!(validate_idempotency_key("").is_err());
        assert!(validate_idempotency_key("has\"quote").is_err());
        assert!(validate_idempotency_key(&"x".repeat(256)).is_err());
        let key = SigningKey::from_seed("edge-1", [3; 32]);
        let mut w = write(b"{}");
        w.idempotency_key = "bad\nkey";
        assert!(signed_headers(&w, &key, 0, "n").is_err());
    }

    #[test]
    fn identity_and_signing_headers_are_reserved() {
        for name in [
            "Signature",
            "signature-input",
            "X-Edge-Claims",
            "x-user-id",
            "X-Forwarded-For",
            "Forwarded",
            "Content-Digest",
            "Transfer-Encoding",
            "cf-connecting-ip",
            "traceparent",
            "X-Request-Id",
        ] {
            assert!(is_reserved_for_edge(name), "{name}");
        }
        for name in [
            "accept",
            "content-type",
            "accept-language",
            "x-request-id-ish",
        ] {
            assert!(!is_reserved_for_edge(name), "{name}");
        }
    }
}
