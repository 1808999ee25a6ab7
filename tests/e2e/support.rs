//! What every scenario uses: an HTTP client with a deadline, assertions
//! that say what was expected, and the few requests most scenarios make.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use e2e::System;
use libtest_mimic::Failed;
use origin_adapter::wire::Product;
use reqwest::blocking::Response;
use serde_json::Value;

pub type Outcome = Result<(), Failed>;

/// An HTTP client with a deadline, no redirects followed, whose every
/// answer is checked against the edge's OpenAPI document
/// ([`super::contract`]) before the scenario sees it.
pub fn client() -> Client {
    Client(
        reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("an HTTP client"),
    )
}

/// See [`client`].
#[derive(Clone)]
pub struct Client(reqwest::blocking::Client);

impl Client {
    pub fn request(&self, method: reqwest::Method, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.request(method, url))
    }
    pub fn get(&self, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.get(url))
    }
    pub fn post(&self, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.post(url))
    }
    pub fn put(&self, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.put(url))
    }
    pub fn patch(&self, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.patch(url))
    }
    pub fn delete(&self, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.delete(url))
    }
    pub fn head(&self, url: impl reqwest::IntoUrl) -> Request {
        Request(self.0.head(url))
    }
}

/// A request being built; [`Request::send`] checks its answer.
pub struct Request(reqwest::blocking::RequestBuilder);

/// A request that failed, or whose answer broke the API's contract.
#[derive(Debug)]
pub struct SendError(String);

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SendError {}

impl Request {
    pub fn header<K, V>(self, name: K, value: V) -> Self
    where
        reqwest::header::HeaderName: TryFrom<K>,
        <reqwest::header::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        reqwest::header::HeaderValue: TryFrom<V>,
        <reqwest::header::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        Self(self.0.header(name, value))
    }
    pub fn json<T: serde::Serialize + ?Sized>(self, body: &T) -> Self {
        Self(self.0.json(body))
    }
    pub fn body(self, body: impl Into<reqwest::blocking::Body>) -> Self {
        Self(self.0.body(body))
    }
    pub fn bearer_auth(self, token: impl std::fmt::Display) -> Self {
        Self(self.0.bearer_auth(token))
    }

    /// Sends it; the answer, once its status and body are what the
    /// document promises for the operation.
    pub fn send(self) -> Result<Response, SendError> {
        let (client, request) = self.0.build_split();
        let request = request.map_err(|e| SendError(e.to_string()))?;
        let (method, path) = (
            request.method().to_string(),
            request.url().path().to_owned(),
        );
        let answer = client
            .execute(request)
            .map_err(|e| SendError(e.to_string()))?;
        let (status, headers) = (answer.status(), answer.headers().clone());
        let body = answer.bytes().map_err(|e| SendError(e.to_string()))?;
        let media = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        super::contract::check(&method, &path, status.as_u16(), media, &body).map_err(SendError)?;
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.headers_mut() = headers;
        Ok(Response::from(rebuilt))
    }
}

pub fn check(condition: bool, message: impl Into<String>) -> Outcome {
    if condition {
        Ok(())
    } else {
        Err(message.into().into())
    }
}

pub fn header(r: &Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// Asserts an RFC 9457 problem with `status`, returning its body.
pub fn expect_problem(r: Response, status: u16) -> Result<Value, Failed> {
    let got = r.status().as_u16();
    let content_type = header(&r, "content-type");
    let body: Value = r
        .json()
        .map_err(|e| format!("problem body is not JSON: {e}"))?;
    check(
        got == status,
        format!("expected {status}, got {got}: {body}"),
    )?;
    check(
        content_type.starts_with("application/problem+json"),
        format!("content-type was {content_type:?}"),
    )?;
    check(
        body["status"] == status && body["title"].is_string() && body["detail"].is_string(),
        format!("not a problem body: {body}"),
    )?;
    Ok(body)
}

/// The `name=value` part of the `Set-Cookie` for `prefix` (a cookie name,
/// possibly followed by the start of its value), checked to be HttpOnly,
/// Secure, SameSite=Lax and host-wide.
pub fn set_cookie(r: &Response, prefix: &str) -> Result<String, Failed> {
    let set = header(r, "set-cookie");
    check(
        set.starts_with(prefix),
        format!("no {prefix} cookie in {set:?}"),
    )?;
    for attribute in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        check(
            set.contains(attribute),
            format!("cookie lacks {attribute}: {set}"),
        )?;
    }
    Ok(set.split(';').next().unwrap_or_default().to_owned())
}

/// The `name=value` part of the cart cookie the edge set.
pub fn cart_cookie(r: &Response) -> Result<String, Failed> {
    set_cookie(r, "__Host-cart=")
}

pub fn add_to_cart(sys: &System, cookie: Option<&str>, body: Value) -> Response {
    let mut req = client()
        .post(format!("{}/api/cart/items", sys.edge_url))
        .json(&body);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    req.send().expect("the edge answers")
}

pub fn view_cart(sys: &System, cookie: &str) -> Result<Value, Failed> {
    let url = format!("{}/api/cart", sys.edge_url);
    Ok(client().get(url).header("cookie", cookie).send()?.json()?)
}

pub fn origin_product(sys: &System, sku: &str) -> Result<Product, Failed> {
    let url = format!(
        "{}/catalog/products/{sku}",
        sys.origin_url("us").unwrap_or_default()
    );
    Ok(client().get(url).send()?.json()?)
}

pub fn order_count(sys: &System) -> Result<i64, Failed> {
    let url = format!("{}/_test/counts", sys.origin_url("us").unwrap_or_default());
    let v: Value = client().get(url).send()?.json()?;
    v["orders"].as_i64().ok_or_else(|| "no order count".into())
}

pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// `POST /api/session` with `email` and `password`, presenting `cookie`.
pub fn login(
    sys: &System,
    email: &str,
    password: &str,
    cookie: Option<&str>,
) -> Result<Response, Failed> {
    let mut req = client()
        .post(format!("{}/api/session", sys.edge_url))
        .json(&serde_json::json!({"email": email, "password": password}));
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    Ok(req.send()?)
}

/// The `ttl` a `Cache-Status` field reports (RFC 9211), in seconds.
pub fn cache_ttl(cache_status: &str) -> Result<i64, Failed> {
    cache_status
        .split("ttl=")
        .nth(1)
        .and_then(|t| t.split(|c: char| c != '-' && !c.is_ascii_digit()).next())
        .and_then(|t| t.parse().ok())
        .ok_or_else(|| format!("no ttl in {cache_status:?}").into())
}

/// A back-office price change at the `us` origin, which purges the edge.
pub fn change_price(sys: &System, sku: &str, price_minor: i64) -> Result<Value, Failed> {
    back_office(sys, sku, serde_json::json!({ "price_minor": price_minor }))
}

/// A back-office change of `sku` at the `us` origin (`price_minor`,
/// `stock`), which purges the edge.
pub fn back_office(sys: &System, sku: &str, change: Value) -> Result<Value, Failed> {
    let url = format!(
        "{}/catalog/products/{sku}",
        sys.origin_url("us").unwrap_or_default()
    );
    let r = client()
        .patch(url)
        .bearer_auth(&sys.admin_token)
        .json(&change)
        .send()?;
    check(
        r.status() == 200,
        format!("back office change: {}", r.status()),
    )?;
    Ok(r.json()?)
}

/// The edge's JSON log lines that contain `needle` and have the field
/// `field`, parsed.
pub fn log_lines(sys: &System, needle: &str, field: &str) -> Vec<Value> {
    sys.edge_log_with(needle)
        .iter()
        .filter_map(|line| line.find('{').map(|at| &line[at..]))
        .filter_map(|json| serde_json::from_str::<Value>(json.trim()).ok())
        .filter(|v| v.get(field).is_some())
        .collect()
}
