//! The storefront's pages, as the shell performs them: the data read
//! through the same use cases as the API (catalog reads through the edge
//! cache, the cart, the session, the orders service), rendered by
//! [`crate::pages`]. A form post runs the API's use case on the JSON its
//! fields make, then redirects (POST/redirect/GET).

use durable_objects::cart_api::CartView;
use origin_adapter::wire::{Category, Product, ProductPage};
use worker::{Context, Env, Request};

use super::runtime::{PlatformIds, RequestContext, now_ms, random};
use super::{catalog, flags, ports};
use crate::catalog::query::{self, CatalogQuery};
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::pages::api::{answer, as_api, cookies};
use crate::pages::views::{self, Meta, Shop};
use crate::pages::{self, Page, assets, seo};
use crate::shop::cart_changes::CartCase;
use crate::shop::catalog::CatalogAnswer;
use crate::shop::reply::Reply;

/// The shop's name on its pages.
pub(crate) const SHOP_NAME: &str = "Edge Shop";
/// Products per listing page.
const PER_PAGE: u32 = 24;

/// What a page needs of the platform.
pub(crate) struct Platform<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub config: &'a EdgeConfig,
    pub rc: &'a RequestContext,
}

/// Runs `page`; an error is answered as a page by [`error_page`].
pub(crate) async fn handle(page: Page, req: Request, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let shop_categories = categories(p).await;
    let shop = Shop {
        name: SHOP_NAME,
        categories: &shop_categories,
    };
    let answered = match page {
        Page::Home => home(&shop, p).await,
        Page::Category(slug) => category(&shop, p, &slug).await,
        Page::Product(sku) => product(&shop, p, &sku).await,
        Page::Search => search(&shop, p).await,
        Page::Robots => Ok(text(
            "text/plain; charset=utf-8",
            seo::robots(&p.rc.own_origin),
        )),
        Page::SitemapIndex => Ok(xml(seo::sitemap_index(&p.rc.own_origin, &shop_categories))),
        Page::Sitemap(name) => sitemap(p, &shop_categories, &name).await,
        Page::Asset(name) => assets::asset(&name, p.rc.header("if-none-match")),
        personal => return super::page_forms::handle(personal, req, &shop, p).await,
    };
    answered.or_else(|e| Ok(error_page(&shop, &e)))
}

/// An error as a page (a 404 for what is not there, the status's words
/// for the rest); its cause is logged by the caller, never shown.
pub(crate) fn error_page(shop: &Shop, e: &EdgeError) -> Reply {
    if let Some(cause) = e.cause() {
        worker::console_error!("edge: page failed: {e} ({cause})");
    }
    pages::problem_page(shop, e)
}

/// The categories for the layout's navigation; none if the catalog
/// cannot say (the page still renders).
pub(crate) async fn categories(p: &Platform<'_>) -> Vec<Category> {
    match catalog::read(p.config, &CatalogQuery::Categories, p.ctx).await {
        Ok(a) if a.entry.status == 200 => serde_json::from_str(&a.entry.body).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A catalog read's data, or its failure as the page's error.
async fn data<T: serde::de::DeserializeOwned>(
    p: &Platform<'_>,
    query: &CatalogQuery,
) -> Result<(T, CatalogAnswer), EdgeError> {
    let read = catalog::read(p.config, query, p.ctx).await?;
    match read.entry.status {
        200 => {
            let value = serde_json::from_str(&read.entry.body).map_err(|_| {
                EdgeError::bad_gateway("the catalog answered with something unreadable")
            })?;
            Ok((value, read))
        }
        404 => Err(EdgeError::not_found("no such page")),
        400 => Err(EdgeError::bad_request("that is not a page of this shop")),
        status => Err(EdgeError::bad_gateway(format!(
            "the catalog failed ({status})"
        ))),
    }
}

/// A shared page's answer: the HTML with its data's cache status and tags,
/// an `ETag` of its own bytes (304 when the browser's copy is current).
fn shared(markup: maud::Markup, read: &CatalogAnswer, p: &Platform<'_>) -> Reply {
    use crate::catalog::report::{cache_status, etag, not_modified};
    let reply = pages::html(200, markup);
    let tag = etag(&reply.body);
    let reply = match not_modified(p.rc.header("if-none-match"), &tag) {
        true => Reply {
            status: 304,
            body: Vec::new(),
            ..reply
        },
        false => reply,
    };
    reply
        .header("etag", tag)
        .header("cache-status", cache_status(read.outcome))
        .header("cache-tag", read.entry.tags.join(","))
        .header("cache-control", crate::catalog::BROWSER_CACHE_CONTROL)
}

async fn home(shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let newest = CatalogQuery::Products {
        category: None,
        sort: query::Sort::Newest,
        limit: 8,
        cursor: None,
    };
    let (page, read): (ProductPage, _) = data(p, &newest).await?;
    let meta = Meta {
        title: "Home",
        description: "Browse the shop's categories and newest products.",
        canonical: Some(format!("{}/", p.rc.own_origin)),
        ld: Vec::new(),
        index: true,
    };
    Ok(shared(
        views::page(shop, &meta, views::home(shop, &page.products)),
        &read,
        p,
    ))
}

async fn category(shop: &Shop<'_>, p: &Platform<'_>, slug: &str) -> Result<Reply, EdgeError> {
    let Some(category) = shop.categories.iter().find(|c| c.slug == slug) else {
        return Err(EdgeError::not_found("no such category"));
    };
    // The page's own parameters (sort, cursor) are the listing's, checked
    // by the same parser; tracking parameters are dropped.
    let raw = format!(
        "category={slug}&limit={PER_PAGE}{}",
        p.rc.query
            .as_deref()
            .map(|q| format!("&{q}"))
            .unwrap_or_default()
    );
    let listing = match query::parse("/api/products", Some(&raw)) {
        Some(q) => q?,
        None => return Err(EdgeError::not_found("no such page")),
    };
    let CatalogQuery::Products { sort, cursor, .. } = &listing else {
        return Err(EdgeError::not_found("no such page"));
    };
    let (page, read): (ProductPage, _) = data(p, &listing).await?;
    let origin = &p.rc.own_origin;
    let url = format!("{origin}/c/{slug}");
    let canonical = match cursor {
        Some(c) => format!("{url}?cursor={c}"),
        None => url.clone(),
    };
    let description = format!("{} — {} products.", category.name, category.product_count);
    let meta = Meta {
        title: &category.name,
        description: &description,
        canonical: Some(canonical),
        ld: vec![seo::breadcrumbs(&[
            ("Home", format!("{origin}/")),
            (&category.name, url),
        ])],
        index: true,
    };
    let body = views::category(
        category,
        &page.products,
        sort.as_str(),
        page.next_cursor.as_deref(),
    );
    Ok(shared(views::page(shop, &meta, body), &read, p))
}

async fn product(shop: &Shop<'_>, p: &Platform<'_>, sku: &str) -> Result<Reply, EdgeError> {
    crate::catalog::validate_sku(sku).map_err(|_| EdgeError::not_found("no such product"))?;
    let query = CatalogQuery::Product {
        sku: sku.to_owned(),
    };
    let (product, read): (Product, _) = data(p, &query).await?;
    let origin = &p.rc.own_origin;
    let url = format!("{origin}/p/{sku}");
    let category = shop.categories.iter().find(|c| c.slug == product.category);
    let mut trail = vec![("Home", format!("{origin}/"))];
    if let Some(c) = category {
        trail.push((c.name.as_str(), format!("{origin}/c/{}", c.slug)));
    }
    trail.push((product.name.as_str(), url.clone()));
    let meta = Meta {
        title: &product.name,
        description: &product.description,
        canonical: Some(url.clone()),
        ld: vec![seo::product(&product, &url), seo::breadcrumbs(&trail)],
        index: true,
    };
    let body = views::product(&product, category);
    Ok(shared(views::page(shop, &meta, body), &read, p))
}

async fn search(shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let asked = p.rc.query.as_deref().filter(|q| q.contains("q="));
    let meta = |title| Meta {
        title,
        description: "Search the shop's products.",
        canonical: None,
        ld: Vec::new(),
        index: false,
    };
    let Some(raw) = asked else {
        let page = views::page(shop, &meta("Search"), views::search("", &[], None));
        return Ok(pages::html(200, page));
    };
    let raw = format!("limit={PER_PAGE}&{raw}");
    let Some(parsed) = query::parse("/api/search", Some(&raw)) else {
        return Err(EdgeError::not_found("no such page"));
    };
    let found = parsed?;
    let CatalogQuery::Search { q, .. } = &found else {
        return Err(EdgeError::not_found("no such page"));
    };
    let (page, read): (ProductPage, _) = data(p, &found).await?;
    let body = views::search(q, &page.products, page.next_cursor.as_deref());
    Ok(shared(
        views::page(shop, &meta("Search results"), body),
        &read,
        p,
    ))
}

/// `/sitemaps/pages.xml` (home and categories) or
/// `/sitemaps/category-{slug}.xml` (its products, every page of them).
async fn sitemap(
    p: &Platform<'_>,
    categories: &[Category],
    name: &str,
) -> Result<Reply, EdgeError> {
    let origin = &p.rc.own_origin;
    if name == "pages.xml" {
        let mut urls = vec![format!("{origin}/")];
        urls.extend(categories.iter().map(|c| format!("{origin}/c/{}", c.slug)));
        return Ok(xml(seo::sitemap(&urls)));
    }
    let slug = name
        .strip_prefix("category-")
        .and_then(|n| n.strip_suffix(".xml"))
        .filter(|s| categories.iter().any(|c| c.slug == *s))
        .ok_or_else(|| EdgeError::not_found("no such sitemap"))?;
    // Bounded: 100 pages of 100 products, well within a sitemap's 50,000.
    let (mut urls, mut cursor) = (Vec::new(), None);
    for _ in 0..100 {
        let listing = CatalogQuery::Products {
            category: Some(slug.to_owned()),
            sort: query::Sort::Name,
            limit: 100,
            cursor: cursor.take(),
        };
        let (page, _): (ProductPage, _) = data(p, &listing).await?;
        urls.extend(
            page.products
                .iter()
                .map(|x| format!("{origin}/p/{}", x.sku)),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    Ok(xml(seo::sitemap(&urls)))
}

fn text(content_type: &'static str, body: String) -> Reply {
    Reply::raw(200, content_type, body.into_bytes()).header("cache-control", "public, max-age=3600")
}

fn xml(body: String) -> Reply {
    text("application/xml; charset=utf-8", body)
}

/// The cart's use cases for a page, over the platform's ports.
pub(crate) fn cart_case<'a>(
    carts: &'a ports::ObjectCarts<'a>,
    guard: &'a ports::GuardObjects<'a>,
    rc: &'a RequestContext,
    config: &'a EdgeConfig,
) -> CartCase<'a, ports::ObjectCarts<'a>, ports::GuardObjects<'a>, PlatformIds> {
    CartCase {
        carts,
        guard,
        ids: &PlatformIds,
        rc,
        config,
        now: now_ms() / 1000,
    }
}

/// A fresh `Idempotency-Key` for one form post.
pub(crate) fn form_key() -> Result<String, EdgeError> {
    let bytes: [u8; 16] = random()?;
    Ok(format!("form-{}", crate::incoming::request_id(&bytes)))
}

/// The cart a page shows.
pub(crate) async fn cart_view(p: &Platform<'_>) -> Result<CartView, EdgeError> {
    let (carts, guard) = (ports::ObjectCarts(p.env), ports::GuardObjects(p.env));
    let api = as_api(p.rc, "GET", "/api/cart", 0, None);
    let reply = cart_case(&carts, &guard, &api, p.config).show().await?;
    answer(&reply)
}

/// Whether the checkout-flow variant (`new-checkout-flow`) is on for `rc`.
pub(crate) async fn express_checkout(p: &Platform<'_>) -> bool {
    let (set, _) = flags::current(p.env, p.config).await;
    crate::shop::flags::enabled(
        &set,
        p.rc,
        p.config,
        "new-checkout-flow",
        false,
        now_ms() / 1000,
    )
}

/// The orders service's answer for the caller at `api_path`.
pub(crate) async fn orders_of<T: serde::de::DeserializeOwned>(
    p: &Platform<'_>,
    api_path: &str,
) -> Result<T, EdgeError> {
    let api = as_api(p.rc, "GET", api_path, 0, None);
    let reply = super::proxy::orders(p.env, p.config, &api).await?;
    answer(&reply)
}

/// Copies a use case's cookies onto a page's answer.
pub(crate) fn with_cookies(mut to: Reply, from: &Reply) -> Reply {
    for cookie in cookies(from) {
        to = to.header("set-cookie", cookie.clone());
    }
    to
}
