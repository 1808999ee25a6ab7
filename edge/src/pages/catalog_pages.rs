//! The catalog's pages (home, category, product, search) and the crawl
//! files, from catalog data: which catalog read a page needs, and the page
//! made of what it read. Plain functions over plain data; the shell only
//! performs the reads (through the edge cache, as the API's).

use maud::Markup;
use origin_adapter::wire::{Category, Product, ProductPage};

use super::seo;
use super::views::{self, Meta, Shop};
use crate::catalog::cache_key;
use crate::catalog::freshness::{Freshness, freshness};
use crate::catalog::query::{self, CatalogQuery, Sort};
use crate::catalog::report::Outcome;
use crate::error::EdgeError;
use crate::shop::catalog::{CatalogAnswer, Entry};
use crate::shop::reply::Reply;

/// Products per listing and search page.
pub const PER_PAGE: u32 = 24;
/// A category's sitemap reads at most this many listing pages of
/// [`SITEMAP_PAGE`] products: 10,000 URLs, within a sitemap's 50,000.
pub const SITEMAP_READS: usize = 100;
pub const SITEMAP_PAGE: u32 = 100;

/// The home page's read: the newest products.
pub fn newest() -> CatalogQuery {
    CatalogQuery::Products {
        category: None,
        sort: Sort::Newest,
        limit: 8,
        cursor: None,
    }
}

/// `400` if `raw_query` names a parameter the page sets itself.
fn refuse_own(raw_query: Option<&str>, own: &[&str], allowed: &str) -> Result<(), EdgeError> {
    let names = raw_query
        .unwrap_or_default()
        .split('&')
        .map(|p| p.split('=').next().unwrap_or_default());
    match names.into_iter().find(|n| own.contains(n)) {
        Some(name) => Err(EdgeError::bad_request(format!(
            "query parameter `{name}` is not known here (allowed: {allowed})"
        ))),
        None => Ok(()),
    }
}

/// The listing a category page shows: its own parameters (`sort`,
/// `cursor`) checked by the API's parser, tracking parameters dropped.
///
/// # Errors
/// `400` naming a bad or unknown parameter (as the API's).
pub fn listing(slug: &str, raw_query: Option<&str>) -> Result<CatalogQuery, EdgeError> {
    refuse_own(raw_query, &["category", "limit"], "sort, cursor")?;
    let extra = raw_query.map(|q| format!("&{q}")).unwrap_or_default();
    let raw = format!("category={slug}&limit={PER_PAGE}{extra}");
    query::parse("/api/products", Some(&raw))
        .unwrap_or_else(|| Err(EdgeError::not_found("no such page")))
}

/// The search a search page shows; `None` when nothing was asked (no
/// `q`, or an empty one).
pub fn search_query(raw_query: Option<&str>) -> Option<Result<CatalogQuery, EdgeError>> {
    let raw = raw_query.filter(|q| q.split('&').any(|p| p.starts_with("q=") && p.len() > 2))?;
    if let Err(e) = refuse_own(Some(raw), &["limit"], "q, cursor") {
        return Some(Err(e));
    }
    let raw = format!("limit={PER_PAGE}&{raw}");
    Some(
        query::parse("/api/search", Some(&raw))
            .unwrap_or_else(|| Err(EdgeError::not_found("no such page"))),
    )
}

/// A catalog entry's data, or the page's error: the catalog's `404` is the
/// page's, its failures a `502`.
pub fn data<T: serde::de::DeserializeOwned>(entry: &Entry) -> Result<T, EdgeError> {
    match entry.status {
        200 => serde_json::from_str(&entry.body)
            .map_err(|_| EdgeError::bad_gateway("the catalog answered with something unreadable")),
        404 => Err(EdgeError::not_found("no such page")),
        400 => Err(EdgeError::bad_request("that is not a page of this shop")),
        status => Err(EdgeError::bad_gateway(format!(
            "the catalog failed ({status})"
        ))),
    }
}

/// A page made of catalog data: its HTML with the data's `Cache-Status`
/// and `Cache-Tag`, an `ETag` of its own bytes (`304` when the browser's
/// copy is current) and the catalog's browser lifetime. Shared: it says
/// nothing of the requester.
pub fn shared(markup: Markup, read: &CatalogAnswer, if_none_match: Option<&str>) -> Reply {
    let body = markup.into_string().into_bytes();
    let tag = crate::catalog::report::etag(&body);
    answer(body, tag, read.outcome, &read.entry.tags, if_none_match)
}

fn answer(
    body: Vec<u8>,
    etag: String,
    outcome: Outcome,
    tags: &[String],
    if_none_match: Option<&str>,
) -> Reply {
    use crate::catalog::report::{cache_status, not_modified};
    let fresh = not_modified(if_none_match, &etag);
    let mut reply = super::with_page_headers(Reply::raw(
        if fresh { 304 } else { 200 },
        "text/html; charset=utf-8",
        if fresh { Vec::new() } else { body },
    ));
    reply = reply
        .header("etag", etag)
        .header("cache-status", cache_status(outcome))
        .header("cache-tag", tags.join(","))
        .header("cache-control", crate::catalog::BROWSER_CACHE_CONTROL);
    reply
}

/// The catalog read behind a page that is stored rendered (home, a
/// category page, a product page); `None` for the others.
pub fn stored_read(page: &super::Page, raw_query: Option<&str>) -> Option<CatalogQuery> {
    match page {
        super::Page::Home => Some(newest()),
        super::Page::Product(sku) => crate::catalog::validate_sku(sku)
            .ok()
            .map(|()| CatalogQuery::Product { sku: sku.clone() }),
        super::Page::Category(slug) => listing(slug, raw_query).ok(),
        _ => None,
    }
}

/// Where the page made of `read` for the site at `origin` is stored: beside
/// its data, per site (the page names its own URLs).
pub fn page_key(origin: &str, read: &CatalogQuery) -> String {
    cache_key(&format!(
        "/pages/{}{}",
        origin.replace("://", "/"),
        read.canonical()
    ))
}

/// A rendered page as a cache entry: its data's time and windows, so the
/// page is fresh exactly as long as its data, and its data's tags — a purge
/// of a product or category takes the page with the data — with the
/// categories' (its navigation).
pub fn page_entry(html: String, data: &Entry) -> Entry {
    let mut tags = data.tags.clone();
    if !tags.iter().any(|t| t == "categories") {
        tags.push("categories".to_owned());
    }
    Entry {
        status: 200,
        etag: crate::catalog::report::etag(html.as_bytes()),
        body: html,
        tags,
        stored_at: data.stored_at,
        windows: data.windows,
    }
}

/// A rendered page's answer, with how its data was had (`outcome`).
pub fn page_answer(page: &Entry, outcome: Outcome, if_none_match: Option<&str>) -> Reply {
    let body = page.body.clone().into_bytes();
    answer(body, page.etag.clone(), outcome, &page.tags, if_none_match)
}

/// A stored page's answer while it is fresh (a hit); `None` once it is not
/// (the page is made again from its data, which has its own stale rules).
pub fn stored_page(entry: Entry, now_ms: i64, if_none_match: Option<&str>) -> Option<Reply> {
    let Freshness::Fresh { ttl } = freshness(entry.stored_at, entry.windows?, now_ms) else {
        return None;
    };
    (entry.status == 200).then(|| page_answer(&entry, Outcome::Hit { ttl }, if_none_match))
}

pub fn home(shop: &Shop, origin: &str, featured: &[Product]) -> Markup {
    let meta = Meta {
        title: "Home",
        description: "Browse the shop's categories and newest products.",
        canonical: Some(format!("{origin}/")),
        ld: Vec::new(),
        index: true,
        refresh: None,
    };
    views::page(shop, &meta, views::home(shop, featured))
}

/// The category `slug` among the shop's; `404` for another.
pub fn category_named<'a>(shop: &Shop<'a>, slug: &str) -> Result<&'a Category, EdgeError> {
    shop.categories
        .iter()
        .find(|c| c.slug == slug)
        .ok_or_else(|| EdgeError::not_found("no such category"))
}

/// A category page: `listing` (from [`listing`]) and the page it read. Its
/// canonical link names the category and the page's cursor, nothing else.
pub fn category(
    shop: &Shop,
    origin: &str,
    category: &Category,
    listing: &CatalogQuery,
    page: &ProductPage,
) -> Markup {
    let (sort, cursor) = match listing {
        CatalogQuery::Products { sort, cursor, .. } => (*sort, cursor.as_deref()),
        _ => (Sort::Name, None),
    };
    let url = format!("{origin}/c/{}", category.slug);
    // Sort orders are the same page; a later page is its own, and its
    // cursor belongs to its sort.
    let canonical = match cursor {
        Some(c) => format!(
            "{url}?sort={}&cursor={}",
            sort.as_str(),
            super::views::query_value(c)
        ),
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
        refresh: None,
    };
    let body = views::category(
        category,
        &page.products,
        sort.as_str(),
        page.next_cursor.as_deref(),
    );
    views::page(shop, &meta, body)
}

/// A product page, with its `Product`/`Offer` and breadcrumbs as JSON-LD.
pub fn product(shop: &Shop, origin: &str, product: &Product) -> Markup {
    let url = format!("{origin}/p/{}", product.sku);
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
        ld: vec![seo::product(product, &url), seo::breadcrumbs(&trail)],
        index: true,
        refresh: None,
    };
    views::page(shop, &meta, views::product(product, category))
}

/// A search page: the form alone (`found` is `None`), or the results of
/// `found` (from [`search_query`]). Never indexed.
pub fn search(shop: &Shop, found: Option<(&CatalogQuery, &ProductPage)>) -> Markup {
    let (title, body) = match found {
        Some((CatalogQuery::Search { q, .. }, page)) => (
            "Search results",
            views::search(q, &page.products, page.next_cursor.as_deref()),
        ),
        _ => ("Search", views::search("", &[], None)),
    };
    let meta = Meta {
        title,
        description: "Search the shop's products.",
        canonical: None,
        ld: Vec::new(),
        index: false,
        refresh: None,
    };
    views::page(shop, &meta, body)
}

/// What a sitemap `name` lists: the pages' sitemap (`None`) or a
/// category's (its slug); `404` for any other name.
pub fn sitemap_of<'a>(
    name: &'a str,
    categories: &[Category],
) -> Result<Option<&'a str>, EdgeError> {
    if name == "pages.xml" {
        return Ok(None);
    }
    name.strip_prefix("category-")
        .and_then(|n| n.strip_suffix(".xml"))
        .filter(|s| categories.iter().any(|c| c.slug == *s))
        .map(Some)
        .ok_or_else(|| EdgeError::not_found("no such sitemap"))
}

/// The pages' sitemap: home and every category.
pub fn pages_sitemap(origin: &str, categories: &[Category]) -> String {
    let mut urls = vec![format!("{origin}/")];
    urls.extend(categories.iter().map(|c| format!("{origin}/c/{}", c.slug)));
    seo::sitemap(&urls)
}

/// The `n`-th listing read of a category's sitemap, after `cursor`.
pub fn sitemap_listing(slug: &str, cursor: Option<String>) -> CatalogQuery {
    CatalogQuery::Products {
        category: Some(slug.to_owned()),
        sort: Sort::Name,
        limit: SITEMAP_PAGE,
        cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use origin_adapter::wire::Money;

    fn kitchen() -> Category {
        Category {
            slug: "kitchen".into(),
            name: "Kitchen".into(),
            product_count: 3,
        }
    }

    fn knife() -> Product {
        Product {
            sku: "KIT-0001".into(),
            name: "Knife".into(),
            description: "Sharp".into(),
            category: "kitchen".into(),
            price: Money {
                amount_minor: 1999,
                currency: "EUR".into(),
            },
            stock: 0,
        }
    }

    #[test]
    fn a_category_page_reads_its_listing_with_the_apis_rules() {
        let q = listing("kitchen", Some("sort=price&utm_source=x")).unwrap();
        assert_eq!(
            q.canonical(),
            "/catalog/products?category=kitchen&limit=24&sort=price"
        );
        assert_eq!(
            listing("kitchen", Some("sort=loudest"))
                .unwrap_err()
                .status(),
            400
        );
        assert_eq!(
            listing("kitchen", Some("limit=5")).unwrap_err().status(),
            400
        );
        assert!(search_query(None).is_none());
        assert!(search_query(Some("utm_source=x")).is_none());
        assert!(search_query(Some("q=knife")).unwrap().is_ok());
    }

    #[test]
    fn the_canonical_link_keeps_the_page_and_drops_the_rest() {
        let categories = [kitchen()];
        let shop = Shop {
            name: "S",
            categories: &categories,
            signed_in: false,
        };
        let q = listing("kitchen", Some("sort=price&fbclid=1")).unwrap();
        let page = ProductPage {
            products: vec![knife()],
            next_cursor: None,
        };
        let html = category(&shop, "https://s", &kitchen(), &q, &page).into_string();
        assert!(
            html.contains(r#"<link rel="canonical" href="https://s/c/kitchen">"#),
            "{html}"
        );
        assert!(html.contains("BreadcrumbList"));
    }

    #[test]
    fn a_product_page_offers_what_the_catalog_says() {
        let categories = [kitchen()];
        let shop = Shop {
            name: "S",
            categories: &categories,
            signed_in: false,
        };
        let html = product(&shop, "https://s", &knife()).into_string();
        assert!(html.contains(r#""price":"19.99""#));
        assert!(html.contains("OutOfStock"));
        assert!(html.contains("Sold out") && !html.contains("Add to cart"));
        assert!(html.contains(r#"href="/c/kitchen""#));
    }

    #[test]
    fn a_stored_page_lives_and_dies_with_its_data() {
        let data = Entry {
            status: 200,
            body: "{}".into(),
            etag: String::new(),
            tags: vec!["sku:KIT-0001".into()],
            stored_at: 1_000_000,
            windows: Some(crate::catalog::freshness::Windows {
                max_age: 60,
                stale_while_revalidate: 30,
                stale_if_error: 600,
            }),
        };
        let page = page_entry("<p>knife</p>".into(), &data);
        assert_eq!(page.tags, ["sku:KIT-0001", "categories"]);
        let hit = stored_page(page.clone(), 1_000_000 + 59_000, None).unwrap();
        assert_eq!(hit.body, b"<p>knife</p>");
        let status = hit
            .headers
            .iter()
            .find(|(n, _)| *n == "cache-status")
            .unwrap();
        assert!(status.1.contains("hit"), "{status:?}");
        let etag = page.etag.clone();
        assert_eq!(
            stored_page(page.clone(), 1_000_000, Some(&etag))
                .unwrap()
                .status,
            304
        );
        assert!(
            stored_page(page, 1_000_000 + 61_000, None).is_none(),
            "stale: made again"
        );
        let product = CatalogQuery::Product {
            sku: "KIT-0001".into(),
        };
        assert_ne!(
            page_key("https://a.example", &product),
            page_key("https://b.example", &product)
        );
        assert!(stored_read(&crate::pages::Page::Product("../x".into()), None).is_none());
        assert!(stored_read(&crate::pages::Page::Cart, None).is_none());
    }

    #[test]
    fn catalog_failures_become_the_pages_errors() {
        let entry = |status| Entry {
            status,
            body: "{}".into(),
            etag: String::new(),
            tags: Vec::new(),
            stored_at: 0,
            windows: None,
        };
        assert_eq!(data::<Product>(&entry(404)).unwrap_err().status(), 404);
        assert_eq!(data::<Product>(&entry(503)).unwrap_err().status(), 502);
        assert_eq!(data::<Product>(&entry(200)).unwrap_err().status(), 502);
        assert_eq!(
            sitemap_of("category-nope.xml", &[kitchen()])
                .unwrap_err()
                .status(),
            404
        );
        assert_eq!(
            sitemap_of("category-kitchen.xml", &[kitchen()]).unwrap(),
            Some("kitchen")
        );
    }
}
