//! A page's form post as the API request it stands for: the same use case
//! runs, with the same rules, on the JSON the form's fields make. Only the
//! method, path and body headers change; the cookies, `Origin` and
//! `Sec-Fetch-Site` stay as the browser sent them (the cross-site check
//! has already passed on them).

use serde::de::DeserializeOwned;

use crate::error::EdgeError;
use crate::incoming::Incoming;
use crate::shop::reply::Reply;

/// `rc` as `method path` with a JSON body of `body_len` bytes and, for a
/// change, the `Idempotency-Key` `key` (a form post is one attempt: a
/// browser that posts again makes a new one).
pub fn as_api(
    rc: &Incoming,
    method: &str,
    path: &str,
    body_len: usize,
    key: Option<&str>,
) -> Incoming {
    let mut api = rc.clone();
    api.method = method.to_owned();
    api.path = path.to_owned();
    api.query = None;
    api.headers.retain(|(n, _)| {
        !matches!(
            n.as_str(),
            "content-type" | "content-length" | "idempotency-key" | "if-match"
        )
    });
    if body_len > 0 {
        api.headers
            .push(("content-type".into(), "application/json".into()));
    }
    api.headers
        .push(("content-length".into(), body_len.to_string()));
    if let Some(key) = key {
        api.headers
            .push(("idempotency-key".into(), format!("\"{key}\"")));
    }
    api
}

/// A use case's JSON answer read back: the value for a 2xx, else the
/// problem it carries as an error with its status (and `Retry-After`).
pub fn answer<T: DeserializeOwned>(reply: &Reply) -> Result<T, EdgeError> {
    if (200..300).contains(&reply.status) {
        return serde_json::from_slice(&reply.body)
            .map_err(|_| EdgeError::internal("an answer for a page was unreadable"));
    }
    let problem: serde_json::Value = serde_json::from_slice(&reply.body).unwrap_or_default();
    let detail = problem["detail"]
        .as_str()
        .unwrap_or("the request was refused")
        .to_owned();
    let mut e = EdgeError::new(reply.status, detail);
    if let Some((_, v)) = reply.headers.iter().find(|(n, _)| *n == "retry-after") {
        e = e.with_header("retry-after", v.clone());
    }
    Err(e)
}

/// The cookies a use case's answer sets, for the redirect that follows.
pub fn cookies(reply: &Reply) -> impl Iterator<Item = &String> {
    reply
        .headers
        .iter()
        .filter(|(n, _)| *n == "set-cookie")
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::fakes::incoming;

    #[test]
    fn a_form_post_becomes_the_api_request_it_stands_for() {
        let mut rc = incoming("POST", "/cart", &[("origin", "https://shop.example")]);
        rc.headers.push((
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        ));
        rc.headers
            .push(("idempotency-key".into(), "\"client\"".into()));
        let api = as_api(&rc, "POST", "/api/cart/items", 30, Some("k-1"));
        assert_eq!(api.path, "/api/cart/items");
        assert_eq!(api.header("content-type"), Some("application/json"));
        assert_eq!(api.header("content-length"), Some("30"));
        assert_eq!(api.header("idempotency-key"), Some("\"k-1\""));
        assert_eq!(api.header("origin"), Some("https://shop.example"));
    }

    #[test]
    fn a_refusal_keeps_its_status_detail_and_retry_after() {
        let reply = Reply::raw(
            503,
            "application/problem+json",
            br#"{"detail":"paused"}"#.to_vec(),
        )
        .header("retry-after", "60");
        let e = answer::<serde_json::Value>(&reply).unwrap_err();
        assert_eq!(e.status(), 503);
        assert_eq!(e.detail(), "paused");
        assert!(
            e.headers()
                .iter()
                .any(|(n, v)| *n == "retry-after" && v == "60")
        );
    }
}
