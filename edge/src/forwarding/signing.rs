//! What one attempt to an origin sends: its URL, and the RFC 9421
//! signature over it with the edge's context (claims, flags, request id,
//! trace). Each attempt gets a fresh nonce; time and nonce come in.

use origin_adapter::forward::{
    EdgeContext, ForwardedRead, ForwardedWrite, signed_headers, signed_read_headers,
};
use origin_adapter::keys::SigningKey;
use origin_adapter::trace::TraceParent;

use crate::error::EdgeError;
use crate::shop::ports::OriginCall;

/// Where one attempt goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    /// `host[:port]`, as the signature covers it.
    pub authority: String,
    pub path: String,
    pub query: Option<String>,
}

/// The target of `path` (and `query`) at an origin's `base` URL.
pub fn target(base: &str, path: &str, query: Option<&str>) -> Result<Target, EdgeError> {
    let url = match query {
        Some(q) => format!("{base}{path}?{q}"),
        None => format!("{base}{path}"),
    };
    let parsed =
        url::Url::parse(&url).map_err(|_| EdgeError::new(500, "an origin URL is invalid"))?;
    Ok(Target {
        authority: origin_adapter::signature::authority(
            parsed.host_str().unwrap_or_default(),
            parsed.port(),
        ),
        path: parsed.path().to_owned(),
        query: parsed.query().map(str::to_owned),
        url,
    })
}

/// Who the attempt is for: the request's ids.
pub struct Ids<'a> {
    pub request_id: &'a str,
    pub trace: &'a TraceParent,
}

/// The signed headers of one attempt: a read (`GET`) or a keyed write.
/// Unix seconds `now`; `nonce` fresh for this attempt.
pub fn sign(
    key: &SigningKey,
    call: &OriginCall<'_>,
    t: &Target,
    ids: Ids<'_>,
    now: i64,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, EdgeError> {
    let traceparent = ids.trace.to_string();
    let context = EdgeContext {
        claims: call.claims,
        flags: call.flags,
        request_id: Some(ids.request_id),
        traceparent: Some(&traceparent),
    };
    let signed = match (call.method, call.idempotency_key) {
        ("GET", _) => signed_read_headers(
            &ForwardedRead {
                authority: &t.authority,
                path: &t.path,
                query: t.query.as_deref(),
                context,
            },
            key,
            now,
            nonce,
        ),
        (_, Some(idempotency_key)) => signed_headers(
            &ForwardedWrite {
                method: call.method,
                authority: &t.authority,
                path: &t.path,
                query: t.query.as_deref(),
                content_type: "application/json",
                idempotency_key,
                body: call.body.unwrap_or_default(),
                context,
            },
            key,
            now,
            nonce,
        ),
        (_, None) => return Err(EdgeError::new(500, "the edge sends no write without a key")),
    };
    signed.map_err(|_| EdgeError::new(500, "the edge could not sign its request to an origin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(method: &'a str, key: Option<&'a str>) -> OriginCall<'a> {
        OriginCall {
            service: "reviews",
            method,
            path: "/reviews",
            query: None,
            body: Some(b"{}"),
            idempotency_key: key,
            claims: None,
            home_region: None,
            flags: None,
        }
    }

    #[test]
    fn targets_name_what_the_signature_covers() {
        let t = target(
            "http://127.0.0.1:8701",
            "/catalog/products",
            Some("limit=2"),
        )
        .unwrap();
        assert_eq!(t.url, "http://127.0.0.1:8701/catalog/products?limit=2");
        assert_eq!(t.authority, "127.0.0.1:8701");
        assert_eq!(
            (t.path.as_str(), t.query.as_deref()),
            ("/catalog/products", Some("limit=2"))
        );
        assert!(target("not a url", "/x", None).is_err());
    }

    #[test]
    fn writes_are_signed_only_with_a_key() {
        let key = SigningKey::from_seed("edge-1", [1; 32]);
        let trace = TraceParent::child_of(None, [2; 16], [3; 8]);
        let t = target("https://us.example", "/reviews", None).unwrap();
        let ids = || Ids {
            request_id: "r1",
            trace: &trace,
        };
        let signed = sign(
            &key,
            &call("POST", Some("k1")),
            &t,
            ids(),
            1_800_000_000,
            "n1",
        )
        .unwrap();
        let names: Vec<&str> = signed.iter().map(|(n, _)| *n).collect();
        for wanted in [
            "signature",
            "signature-input",
            "content-digest",
            "idempotency-key",
        ] {
            assert!(names.contains(&wanted), "{wanted} in {names:?}");
        }
        let unkeyed = sign(&key, &call("POST", None), &t, ids(), 1_800_000_000, "n2");
        assert_eq!(unkeyed.unwrap_err().status, 500);
        assert!(sign(&key, &call("GET", None), &t, ids(), 1_800_000_000, "n3").is_ok());
    }
}
