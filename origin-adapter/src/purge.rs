//! The other direction: an origin telling the edge what changed. The origin
//! signs with its own key (RFC 9421, label `origin`, its own tag) so an edge
//! signature can never pass as a purge, nor a purge as a forwarded write.

use crate::digest::content_digest;
use crate::keys::SigningKey;
use crate::signature::{
    Component, RequestView, SignatureError, SignatureParams, VerifyPolicy, sign,
};

pub const LABEL: &str = "origin";
pub const PURGE_TAG: &str = "storefront-origin-purge/v1";
/// Seconds a purge signature stays valid; the edge's replay memory covers it.
pub const SIGNATURE_LIFETIME: i64 = 60;

/// What a purge signature covers.
pub fn covered_components() -> Vec<Component> {
    vec![
        Component::Method,
        Component::Authority,
        Component::Path,
        Component::Field("content-type".into()),
        Component::Field("content-digest".into()),
    ]
}

/// What the edge insists on.
pub fn purge_policy(required: &[Component]) -> VerifyPolicy<'_> {
    VerifyPolicy {
        label: LABEL,
        required,
        tag: PURGE_TAG,
        max_age: SIGNATURE_LIFETIME,
        skew: crate::forward::CLOCK_SKEW,
    }
}

/// The headers an origin adds to `POST {authority}{path}` with a JSON `body`.
pub fn signed_purge_headers(
    authority: &str,
    path: &str,
    body: &[u8],
    key: &SigningKey,
    now: i64,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, SignatureError> {
    let digest = content_digest(body);
    let view = RequestView {
        method: "POST",
        authority,
        path,
        query: None,
        fields: vec![
            ("content-type", "application/json"),
            ("content-digest", &digest),
        ],
    };
    let params = SignatureParams {
        created: now,
        expires: Some(now + SIGNATURE_LIFETIME),
        nonce: Some(nonce.to_owned()),
        keyid: key.keyid().to_owned(),
        tag: Some(PURGE_TAG.to_owned()),
    };
    let fields = sign(&view, &covered_components(), &params, LABEL, key)?;
    Ok(vec![
        ("content-type", "application/json".to_owned()),
        ("content-digest", digest),
        ("signature-input", fields.signature_input),
        ("signature", fields.signature),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forward::{ForwardedWrite, edge_policy, signed_headers};
    use crate::keys::KeyRing;
    use crate::signature::verify;

    fn view<'a>(headers: &'a [(&'static str, String)]) -> RequestView<'a> {
        RequestView {
            method: "POST",
            authority: "edge.test",
            path: "/api/purge",
            query: None,
            fields: headers.iter().map(|(n, v)| (*n, v.as_str())).collect(),
        }
    }

    #[test]
    fn a_purge_verifies_under_the_purge_policy_only() {
        let key = SigningKey::from_seed("origin-us", [4; 32]);
        let ring = KeyRing::from_config(&key.verifying_entry().to_config()).unwrap();
        let headers =
            signed_purge_headers("edge.test", "/api/purge", b"{}", &key, 100, "n").unwrap();
        let required = covered_components();
        assert!(verify(&view(&headers), &purge_policy(&required), &ring, 110).is_ok());
        let edge_required = crate::forward::covered_components();
        assert!(verify(&view(&headers), &edge_policy(&edge_required), &ring, 110).is_err());
    }

    #[test]
    fn an_edge_write_signature_is_not_a_purge() {
        let key = SigningKey::from_seed("k", [4; 32]);
        let ring = KeyRing::from_config(&key.verifying_entry().to_config()).unwrap();
        let write = ForwardedWrite {
            method: "POST",
            authority: "edge.test",
            path: "/api/purge",
            query: None,
            content_type: "application/json",
            idempotency_key: "x",
            body: b"{}",
            context: Default::default(),
        };
        let headers = signed_headers(&write, &key, 100, "n").unwrap();
        let required = covered_components();
        assert!(verify(&view(&headers), &purge_policy(&required), &ring, 110).is_err());
    }
}
