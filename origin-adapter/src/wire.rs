//! The JSON bodies the edge and the origins exchange, and the paths they
//! live at. Prices are integer minor units with an ISO 4217 currency.

use serde::{Deserialize, Serialize};

/// Paths on an origin, relative to its base URL.
pub mod paths {
    pub const HEALTH: &str = "/healthz";
    /// Followed by the SKU.
    pub const PRODUCT_PREFIX: &str = "/catalog/products/";
    pub const PRODUCTS: &str = "/catalog/products";
    pub const CATEGORIES: &str = "/catalog/categories";
    pub const ORDERS: &str = "/orders";
    pub const SEARCH: &str = "/catalog/search";
    pub const LOGIN: &str = "/identity/login";
    /// The reviews service: a customer's product review.
    pub const REVIEWS: &str = "/reviews";
    /// The account service: a customer's saved addresses (personal data).
    pub const ADDRESSES: &str = "/account/addresses";
    /// On the edge: where an origin sends signed purges.
    pub const EDGE_PURGE: &str = "/api/purge";
}

/// An amount of money in minor units (cents, pence…).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    pub amount_minor: i64,
    pub currency: String,
}

/// A product as the catalog publishes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub stock: i64,
}

/// A category with how many products it holds.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub slug: String,
    pub name: String,
    pub product_count: i64,
}

/// A page of products.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPage {
    pub products: Vec<Product>,
    pub next_cursor: Option<String>,
}

/// One line of an order as the edge forwards it: the price is what the
/// customer saw in their cart, which the origin checks against its own.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: String,
    pub quantity: i64,
    pub unit_price: Money,
}

/// `POST /orders`: place an order for a cart's lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRequest {
    pub cart_id: String,
    pub cart_version: i64,
    pub lines: Vec<OrderLine>,
}

/// The origin's answer to a placed order.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: String,
    pub status: String,
    pub region: String,
    pub cart_id: String,
    pub lines: Vec<OrderLine>,
    /// The lines' sum.
    pub subtotal: Money,
    /// The promotion applied, if any, and what it took off.
    pub promotion: Option<String>,
    pub discount: Money,
    pub tax: Money,
    /// What the customer pays: subtotal − discount + tax.
    pub total: Money,
    pub payment: Payment,
}

/// The (simulated) payment that captured an order's total.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub payment_id: String,
    pub status: String,
    pub amount: Money,
}

/// `POST /api/purge` on the edge: the origin names what changed.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurgeRequest {
    #[serde(default)]
    pub skus: Vec<String>,
    #[serde(default)]
    pub categories: Vec<String>,
}

/// `PATCH /catalog/products/{sku}` on the reference origin: a back-office
/// change of price or stock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductChange {
    pub price_minor: Option<i64>,
    pub stock: Option<i64>,
}

/// `POST /identity/login` on an origin, forwarded by the edge.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// An email address (with an `@`), at most 254 characters.
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 3, max_length = 254, pattern = "^[^@]+@[^@]+$")
    )]
    pub email: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1024))]
    pub password: String,
}

/// Who a customer is, as the identity service vouches.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    pub user_id: String,
    pub roles: Vec<String>,
    /// Home region, for data residency.
    pub region: String,
}

/// The customer an edge request speaks for, carried in the signed
/// `x-edge-claims` header (see `forward::encode_claims`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeClaims {
    pub user_id: String,
    pub roles: Vec<String>,
    pub region: String,
    pub session_id: String,
}

/// `POST /reviews`: a customer's review of a product.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Za-z0-9_-]{1,64}$"))]
    pub sku: String,
    /// 1 to 5 stars.
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 5))]
    pub rating: i64,
    /// 1–120 characters, not only spaces.
    #[cfg_attr(feature = "openapi", schema(max_length = 120, pattern = "\\S"))]
    pub title: String,
    /// At most 4,000 characters.
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub body: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    pub review_id: String,
    pub sku: String,
    pub rating: i64,
    pub title: String,
    pub body: String,
    pub user_id: String,
    /// The region whose origin stored it.
    pub region: String,
}

/// `POST /account/addresses`: a saved delivery address.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressRequest {
    /// 1–200 characters, not only spaces (so are the others, to their maximum).
    #[cfg_attr(feature = "openapi", schema(max_length = 200, pattern = "\\S"))]
    pub name: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 200, pattern = "\\S"))]
    pub line1: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 100, pattern = "\\S"))]
    pub city: String,
    #[cfg_attr(feature = "openapi", schema(max_length = 20, pattern = "\\S"))]
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    #[cfg_attr(feature = "openapi", schema(pattern = "^[A-Z]{2}$"))]
    pub country: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub address_id: String,
    pub name: String,
    pub line1: String,
    pub city: String,
    pub postal_code: String,
    pub country: String,
    pub region: String,
}

/// The media type of RFC 9457 problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The largest integer every JSON reader reads exactly (RFC 7493 I-JSON
/// §2.2): JavaScript's `JSON.parse`, and so a Durable Object's or KV's
/// reader, rounds anything larger. Numbers that cross into the platform
/// are checked against it first.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// Whether `n` survives a trip through JavaScript unchanged.
pub fn is_safe_integer(n: i64) -> bool {
    (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n)
}

/// An RFC 9457 problem details body. `type` defaults to `about:blank`,
/// whose title is the HTTP status phrase; `detail` says what was wrong.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type", default = "about_blank")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

impl Problem {
    /// A problem of type `about:blank` for `status`, saying `detail`.
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            problem_type: about_blank(),
            title: status_title(status).to_owned(),
            status,
            detail: Some(detail.into()),
            instance: None,
        }
    }

    pub fn to_json(&self) -> String {
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// The reason phrase of the statuses this system answers with.
pub fn status_title(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_serialises_as_rfc9457() {
        let p = Problem::new(404, "no product with SKU \"X\"");
        let v: serde_json::Value = serde_json::from_str(&p.to_json()).unwrap();
        assert_eq!(v["type"], "about:blank");
        assert_eq!(v["title"], "Not Found");
        assert_eq!(v["status"], 404);
        assert_eq!(v["detail"], "no product with SKU \"X\"");
        assert!(v.get("instance").is_none());
    }

    #[test]
    fn order_request_refuses_unknown_fields() {
        let ok = r#"{"cart_id":"c","cart_version":1,"lines":[]}"#;
        assert!(serde_json::from_str::<OrderRequest>(ok).is_ok());
        let sneaky = r#"{"cart_id":"c","cart_version":1,"lines":[],"discount":100}"#;
        assert!(serde_json::from_str::<OrderRequest>(sneaky).is_err());
    }
}
