//! The storefront's pages, as the shell performs them: the data read
//! through the same use cases as the API (catalog reads through the edge
//! cache, the cart, the session, the orders service), rendered by
//! [`crate::pages`]. A form post runs the API's use case on the JSON its
//! fields make, then redirects (POST/redirect/GET).

use durable_objects::cart_api::CartView;
use origin_adapter::wire::{Category, Product, ProductPage};
use worker::{Context, Env, Request};

use super::runtime::{RequestContext, now_ms, random};
use super::{catalog, flags, ports};
use crate::catalog::query::CatalogQuery;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::pages::api::{answer, as_api, cookies};
use crate::pages::catalog_pages as made;
use crate::pages::views::Shop;
use crate::pages::{self, Page, assets, seo};
use crate::shop::catalog::CatalogAnswer;
use crate::shop::reply::Reply;

/// The shop's name on its pages.
pub(crate) const SHOP_NAME: &str = "Edge Shop";

/// What a page needs of the platform.
pub(crate) struct Platform<'a> {
    pub env: &'a Env,
    pub ctx: &'a Context,
    pub config: &'a EdgeConfig,
    pub rc: &'a RequestContext,
}

impl<'a> Platform<'a> {
    pub(crate) fn new(
        env: &'a Env,
        ctx: &'a Context,
        config: &'a EdgeConfig,
        rc: &'a RequestContext,
    ) -> Self {
        Self {
            env,
            ctx,
            config,
            rc,
        }
    }
}

/// A refusal before any page ran (a wrong method, a cross-site form, a
/// paused shop, nothing at the address), as a page with the shop's
/// navigation.
pub(crate) async fn refused(p: &Platform<'_>, e: &EdgeError) -> Reply {
    let categories = categories(p).await;
    let shop = Shop {
        name: SHOP_NAME,
        categories: &categories,
        signed_in: false,
    };
    error_page(&shop, e, p.rc.is_write())
}

/// Runs `page`; an error is answered as a page by [`error_page`].
pub(crate) async fn handle(page: Page, req: Request, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let if_none_match = p.rc.header("if-none-match");
    // What needs no catalog at all.
    match &page {
        Page::Asset(name) => return assets::asset(name, if_none_match),
        Page::Robots => {
            let robots = seo::robots(&p.rc.own_origin);
            return Ok(text("text/plain; charset=utf-8", robots));
        }
        _ => {}
    }
    // A page stored rendered, still fresh: one cache read answers.
    let stored = made::stored_read(&page, p.rc.query.as_deref());
    if let Some(read) = &stored {
        let key = made::page_key(&p.rc.own_origin, read);
        let found = catalog::lookup(&key).await;
        if let Some(hit) = found.and_then(|e| made::stored_page(e, now_ms(), if_none_match)) {
            return Ok(hit);
        }
    }
    let shop_categories = categories(p).await;
    let shop = Shop {
        name: SHOP_NAME,
        categories: &shop_categories,
        signed_in: false,
    };
    let answered = match page {
        Page::Home => home(&shop, p).await,
        Page::Category(slug) => category(&shop, p, &slug).await,
        Page::Product(sku) => product(&shop, p, &sku).await,
        Page::Search => search(&shop, p).await,
        Page::SitemapIndex => Ok(xml(seo::sitemap_index(&p.rc.own_origin, &shop_categories))),
        Page::Sitemap(name) => sitemap(p, &shop_categories, &name).await,
        Page::Asset(_) | Page::Robots => Err(EdgeError::not_found("no such page")),
        personal => return super::page_forms::handle(personal, req, &shop, p).await,
    };
    answered.or_else(|e| Ok(error_page(&shop, &e, false)))
}

/// An error as a page (a 404 for what is not there, the status's words
/// for the rest); its cause is logged, never shown.
/// `posted`: a form post's 404 names what the form asked for, not the
/// address.
pub(crate) fn error_page(shop: &Shop, e: &EdgeError, posted: bool) -> Reply {
    if let Some(cause) = e.cause() {
        worker::console_error!("edge: page failed: {e} ({cause})");
    }
    pages::problem_page(shop, e, posted)
}

/// The categories for the layout's navigation; none if the catalog
/// cannot say (the page still renders).
pub(crate) async fn categories(p: &Platform<'_>) -> Vec<Category> {
    match catalog::read(p.config, &CatalogQuery::Categories, p.ctx).await {
        Ok(a) if a.entry.status == 200 => serde_json::from_str(&a.entry.body).unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// A catalog read through the edge cache, and its data.
async fn read<T: serde::de::DeserializeOwned>(
    p: &Platform<'_>,
    query: &CatalogQuery,
) -> Result<(T, CatalogAnswer), EdgeError> {
    let read = catalog::read(p.config, query, p.ctx).await?;
    Ok((pages::catalog_pages::data(&read.entry)?, read))
}

/// A page made of `data` (the answer to `read`), answered now and stored
/// rendered after the answer, beside its data with its lifetime and tags.
fn keep(p: &Platform<'_>, read: &CatalogQuery, html: maud::Markup, data: &CatalogAnswer) -> Reply {
    let page = made::page_entry(html.into_string(), &data.entry);
    let reply = made::page_answer(&page, data.outcome, p.rc.header("if-none-match"));
    let key = made::page_key(&p.rc.own_origin, read);
    p.ctx.wait_until(async move {
        catalog::store_tagged(&key, &page).await;
    });
    reply
}

async fn home(shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let newest = made::newest();
    let (page, read): (ProductPage, _) = read(p, &newest).await?;
    let html = made::home(shop, &p.rc.own_origin, &page.products);
    Ok(keep(p, &newest, html, &read))
}

async fn category(shop: &Shop<'_>, p: &Platform<'_>, slug: &str) -> Result<Reply, EdgeError> {
    let category = made::category_named(shop, slug)?;
    let listing = made::listing(slug, p.rc.query.as_deref())?;
    let (page, read): (ProductPage, _) = read(p, &listing).await?;
    let html = made::category(shop, &p.rc.own_origin, category, &listing, &page);
    Ok(keep(p, &listing, html, &read))
}

async fn product(shop: &Shop<'_>, p: &Platform<'_>, sku: &str) -> Result<Reply, EdgeError> {
    crate::catalog::validate_sku(sku).map_err(|_| EdgeError::not_found("no such product"))?;
    let query = CatalogQuery::Product {
        sku: sku.to_owned(),
    };
    let (product, read): (Product, _) = read(p, &query).await?;
    let html = made::product(shop, &p.rc.own_origin, &product);
    Ok(keep(p, &query, html, &read))
}

async fn search(shop: &Shop<'_>, p: &Platform<'_>) -> Result<Reply, EdgeError> {
    let Some(found) = made::search_query(p.rc.query.as_deref()) else {
        return Ok(pages::html(200, made::search(shop, None)));
    };
    let found = found?;
    let (page, read): (ProductPage, _) = read(p, &found).await?;
    let html = made::search(shop, Some((&found, &page)));
    Ok(made::shared(html, &read, p.rc.header("if-none-match")))
}

/// `/sitemaps/pages.xml` (home and categories) or
/// `/sitemaps/category-{slug}.xml` (its products, every page of them).
async fn sitemap(
    p: &Platform<'_>,
    categories: &[Category],
    name: &str,
) -> Result<Reply, EdgeError> {
    let origin = &p.rc.own_origin;
    let Some(slug) = made::sitemap_of(name, categories)? else {
        return Ok(xml(made::pages_sitemap(origin, categories)));
    };
    let (mut urls, mut cursor) = (Vec::new(), None);
    for _ in 0..made::SITEMAP_READS {
        let (page, _): (ProductPage, _) =
            read(p, &made::sitemap_listing(slug, cursor.take())).await?;
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

/// A fresh `Idempotency-Key` for one form post.
pub(crate) fn form_key() -> Result<String, EdgeError> {
    let bytes: [u8; 16] = random()?;
    Ok(format!("form-{}", crate::incoming::request_id(&bytes)))
}

/// The cart a page shows.
pub(crate) async fn cart_view(p: &Platform<'_>) -> Result<CartView, EdgeError> {
    let (carts, guard) = (ports::ObjectCarts(p.env), ports::GuardObjects(p.env));
    let api = as_api(p.rc, "GET", "/api/cart", 0, None);
    let reply = ports::cart_case(&carts, &guard, &api, p.config)
        .show()
        .await?;
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
