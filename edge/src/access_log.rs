//! One JSON line per request, the way Workers Logs and Logpush index a
//! `console.log` of JSON: every field a key an operator can filter on. It
//! names the request (ids), what was asked (method and the route's
//! template, never the raw path or query), how it ended (status, time, the
//! cache's verdict, where a forwarded call went and in how many attempts,
//! a checkout's outcome) — and never a cookie, token, email, address or
//! body. Liveness probes are not logged: they would drown the rest.

use serde::Serialize;

/// The fields of a request's line (see the module's docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestLine<'a> {
    /// When the answer was sent, RFC 3339 UTC with milliseconds.
    pub time: String,
    pub request_id: &'a str,
    /// The W3C trace id the origins log too.
    pub trace_id: String,
    /// [`method_name`].
    pub method: &'static str,
    /// The route's template, e.g. `/api/products/{sku}`.
    pub route: &'static str,
    pub status: u16,
    /// From the request's arrival to its answer, milliseconds.
    pub duration_ms: i64,
    /// The `Cache-Status` the answer carries (catalog reads and pages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'a str>,
    /// The region a forwarded call's last attempt went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// How many attempts forwarded calls made (retries and failover included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// A checkout's outcome: `placed`, `pending`, `refused` or `failed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkout: Option<&'static str>,
    /// On a sampled line ([`sample_rate`]), how many requests it stands
    /// for: counts weight each line by it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
}

impl RequestLine<'_> {
    /// The line as one JSON object (what `console.log` is given).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The method as logged: the standard ones by name, anything else
/// `(other)` (a method token is the client's to choose).
pub fn method_name(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "(other)",
    }
}

/// Whether a request's line is written, and for how many requests it
/// stands: `Some(1)` for every line but a fresh cache hit's (`cache` says
/// `hit` without `fwd`), which is written one time in `one_in` (config
/// `ACCESS_LOG_HIT_SAMPLE`), chosen by its random `request_id` (hex), so
/// a trace either has its line or is known to be unsampled; `None` for an
/// unsampled hit. Hits are most of a shop's requests and the least telling
/// of its lines, and each line is a log event someone pays for.
pub fn sample_rate(cache: Option<&str>, request_id: &str, one_in: u32) -> Option<u32> {
    let fresh_hit = cache.is_some_and(|c| c.contains(";hit") && !c.contains("fwd="));
    if !fresh_hit || one_in <= 1 {
        return Some(1);
    }
    let draw = request_id
        .get(..8)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .unwrap_or(0);
    (draw % one_in == 0).then_some(one_in)
}

/// RFC 3339 UTC, milliseconds, for Unix milliseconds `ms`.
pub fn rfc3339(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// What a checkout's answer means for the shop — `placed`, `pending`,
/// `refused` or `failed` — for a `POST` to the API's checkout or the
/// checkout page's form (whose `303` says by its `location`: the order's
/// page when placed, else the checkout page, which follows it); `None` for
/// any other request.
pub fn checkout_outcome(
    route: &str,
    method: &str,
    status: u16,
    location: Option<&str>,
) -> Option<&'static str> {
    let checkout = matches!(route, "/api/cart/checkout" | "/checkout") && method == "POST";
    checkout.then_some(match status {
        200..=201 => "placed",
        303 if location.is_some_and(|l| l.starts_with("/orders/")) => "placed",
        202 | 303 => "pending",
        400..=499 => "refused",
        _ => "failed",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_without_what_it_must_not_carry() {
        let line = RequestLine {
            time: rfc3339(1_764_547_200_123),
            request_id: "0123",
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            method: method_name("POST"),
            route: "/api/cart/checkout",
            status: 201,
            duration_ms: 42,
            cache: None,
            region: Some("eu".into()),
            attempts: Some(2),
            checkout: checkout_outcome("/api/cart/checkout", "POST", 201, None),
            sample_rate: None,
        };
        let json: serde_json::Value = serde_json::from_str(&line.to_json()).unwrap();
        assert_eq!(json["time"], "2025-12-01T00:00:00.123Z");
        assert_eq!(json["checkout"], "placed");
        assert_eq!(json["attempts"], 2);
        assert!(json.get("cache").is_none(), "absent fields are left out");
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        for forbidden in ["cookie", "token", "email", "body", "path", "query"] {
            assert!(!keys.iter().any(|k| k.contains(forbidden)), "{keys:?}");
        }
    }

    #[test]
    fn fresh_hits_are_sampled_by_request_id_and_nothing_else_is() {
        let hit = Some("storefront-edge;hit;ttl=30");
        // 0x00000064 = 100: a multiple of 100 and of 10.
        let chosen = "00000064aaaaaaaaaaaaaaaaaaaaaaaa";
        let not_chosen = "00000065aaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(sample_rate(hit, chosen, 100), Some(100));
        assert_eq!(sample_rate(hit, not_chosen, 100), None);
        assert_eq!(
            sample_rate(hit, not_chosen, 1),
            Some(1),
            "1 keeps every hit"
        );
        for kept in [
            None,
            Some("storefront-edge;fwd=uri-miss;stored"),
            Some("storefront-edge;hit;fwd=stale;detail=origin-unreachable"),
        ] {
            assert_eq!(sample_rate(kept, not_chosen, 100), Some(1), "{kept:?}");
        }
        let ids = (0u32..10_000).map(|i| format!("{:08x}", i.wrapping_mul(2_654_435_761)));
        let kept = ids.filter(|id| sample_rate(hit, id, 10).is_some()).count();
        assert!((900..=1100).contains(&kept), "about one in ten: {kept}");
    }

    #[test]
    fn a_clients_own_method_token_is_not_logged() {
        assert_eq!(method_name("GET"), "GET");
        assert_eq!(method_name("X-EVIL\"}"), "(other)");
    }

    #[test]
    fn only_a_checkout_has_an_outcome() {
        let api = |method, status| checkout_outcome("/api/cart/checkout", method, status, None);
        assert_eq!(api("POST", 202), Some("pending"));
        assert_eq!(api("POST", 409), Some("refused"));
        assert_eq!(api("POST", 502), Some("failed"));
        assert_eq!(api("GET", 200), None);
        let page = |to| checkout_outcome("/checkout", "POST", 303, Some(to));
        assert_eq!(page("/orders/ord-1?placed"), Some("placed"));
        assert_eq!(page("/checkout"), Some("pending"));
        assert_eq!(checkout_outcome("/api/cart", "POST", 200, None), None);
    }
}
