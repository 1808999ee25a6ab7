//! Catalog reads: the Cache API in front of the catalog origin.

use origin_adapter::wire::{Product, paths};
use worker::{Cache, Headers, Method, Request, RequestInit, Response};

use super::{internal, now_ms, origin};
use crate::catalog::{
    BROWSER_CACHE_CONTROL, Freshness, PRODUCT_MAX_AGE, STORED_AT_HEADER, cache_status_forward,
    cache_status_hit, freshness, product_cache_key, validate_sku,
};
use crate::config::EdgeConfig;
use crate::error::EdgeError;

/// A product and how it was obtained.
pub(crate) struct CatalogRead {
    pub product: Product,
    pub body: String,
    pub cache_status: String,
}

/// Reads a product through the edge cache.
pub(crate) async fn read_product(config: &EdgeConfig, sku: &str) -> Result<CatalogRead, EdgeError> {
    validate_sku(sku)?;
    let cache = Cache::default();
    let key = product_cache_key(sku);
    if let Some(mut cached) = cache
        .get(key.as_str(), false)
        .await
        .map_err(internal("read the cache"))?
    {
        let stored_at = cached
            .headers()
            .get(STORED_AT_HEADER)
            .ok()
            .flatten()
            .and_then(|v| v.parse::<i64>().ok());
        if let Some(Freshness::Fresh { ttl }) =
            stored_at.map(|at| freshness(at, PRODUCT_MAX_AGE, now_ms()))
        {
            let body = cached
                .text()
                .await
                .map_err(internal("read a cached product"))?;
            if let Ok(product) = serde_json::from_str(&body) {
                return Ok(CatalogRead {
                    product,
                    body,
                    cache_status: cache_status_hit(ttl),
                });
            }
        }
    }

    let url = format!(
        "{}{}{}",
        config.default_origin(),
        paths::PRODUCT_PREFIX,
        sku
    );
    let headers = Headers::new();
    headers
        .set("accept", "application/json")
        .map_err(internal("built a catalog request"))?;
    let request = Request::new_with_init(
        &url,
        RequestInit::new()
            .with_method(Method::Get)
            .with_headers(headers),
    )
    .map_err(internal("built a catalog request"))?;
    let mut response = origin::send(request, config.origin_timeout_ms, "catalog service").await?;
    match response.status_code() {
        200 => {}
        404 => return Err(EdgeError::new(404, format!("no product with SKU {sku:?}"))),
        status => {
            worker::console_error!("edge: catalog answered {status} for {sku}");
            return Err(EdgeError::new(502, "the catalog service failed"));
        }
    }
    let body = response
        .text()
        .await
        .map_err(internal("read the catalog's answer"))?;
    let product: Product = serde_json::from_str(&body).map_err(|_| {
        EdgeError::new(
            502,
            "the catalog service answered with an unreadable product",
        )
    })?;

    let stored = Headers::new();
    let store = |h: &Headers| -> worker::Result<()> {
        h.set("content-type", "application/json")?;
        h.set(
            "cache-control",
            &format!("public, max-age={PRODUCT_MAX_AGE}"),
        )?;
        h.set(STORED_AT_HEADER, &now_ms().to_string())
    };
    store(&stored).map_err(internal("prepared a cache entry"))?;
    let entry = Response::ok(body.clone())
        .map_err(internal("prepared a cache entry"))?
        .with_headers(stored);
    let was_stored = match cache.put(key.as_str(), entry).await {
        Ok(()) => true,
        Err(e) => {
            // A cache that refuses an entry costs speed, not correctness.
            worker::console_warn!("edge: cache put failed for {sku}: {e}");
            false
        }
    };
    Ok(CatalogRead {
        product,
        body,
        cache_status: cache_status_forward("uri-miss", was_stored),
    })
}

/// `GET /api/products/{sku}`.
pub(crate) async fn get_product(config: &EdgeConfig, sku: &str) -> Result<Response, EdgeError> {
    let read = read_product(config, sku).await?;
    let headers = Headers::new();
    let set = |h: &Headers| -> worker::Result<()> {
        h.set("content-type", "application/json")?;
        h.set("cache-control", BROWSER_CACHE_CONTROL)?;
        h.set("cache-status", &read.cache_status)
    };
    set(&headers).map_err(internal("answered"))?;
    Ok(Response::ok(read.body)
        .map_err(internal("answered"))?
        .with_headers(headers))
}
