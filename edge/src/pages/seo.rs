//! What search engines read: schema.org JSON-LD (`Product` with `Offer`,
//! `BreadcrumbList`), `robots.txt` and the sitemaps (sitemaps.org 0.9).

use maud::{Markup, PreEscaped, html};
use origin_adapter::wire::{Category, Product};
use serde_json::{Value, json};

use super::money;

/// A JSON-LD block's text, safe inside `<script type="application/ld+json">`:
/// a `<` could close the element, so it is written as the JSON escape
/// `\u003c`, which every JSON reader reads back as `<`.
pub fn ld_json(value: &Value) -> PreEscaped<String> {
    PreEscaped(value.to_string().replace('<', "\\u003c"))
}

/// A product and its offer (schema.org `Product`, `Offer`): the price as a
/// decimal in the currency's own places, availability from stock.
pub fn product(product: &Product, url: &str) -> Value {
    let availability = if product.stock > 0 {
        "https://schema.org/InStock"
    } else {
        "https://schema.org/OutOfStock"
    };
    json!({
        "@context": "https://schema.org",
        "@type": "Product",
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "url": url,
        "offers": {
            "@type": "Offer",
            "url": url,
            "price": money::decimal(product.price.amount_minor, &product.price.currency),
            "priceCurrency": product.price.currency,
            "availability": availability,
        }
    })
}

/// The trail to a page (schema.org `BreadcrumbList`): `(name, absolute URL)`
/// from the home page down.
pub fn breadcrumbs(trail: &[(&str, String)]) -> Value {
    let items: Vec<Value> = trail
        .iter()
        .enumerate()
        .map(|(i, (name, url))| {
            json!({ "@type": "ListItem", "position": i + 1, "name": name, "item": url })
        })
        .collect();
    json!({
        "@context": "https://schema.org",
        "@type": "BreadcrumbList",
        "itemListElement": items,
    })
}

/// `robots.txt`: everything but the personal pages and the API may be
/// crawled; where the sitemap is.
pub fn robots(origin: &str) -> String {
    format!(
        "User-agent: *\nDisallow: /api/\nDisallow: /admin/\nDisallow: /cart\nDisallow: /checkout\n\
         Disallow: /login\nDisallow: /orders\nDisallow: /drops/\nDisallow: /search\n\nSitemap: {origin}/sitemap.xml\n"
    )
}

/// The sitemap index: the pages' sitemap and one per category.
pub fn sitemap_index(origin: &str, categories: &[Category]) -> String {
    xml(html! {
        sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" {
            sitemap { loc { (origin) "/sitemaps/pages.xml" } }
            @for c in categories {
                sitemap { loc { (origin) "/sitemaps/category-" (c.slug) ".xml" } }
            }
        }
    })
}

/// A sitemap of absolute `urls`.
pub fn sitemap(urls: &[String]) -> String {
    xml(html! {
        urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" {
            @for url in urls { url { loc { (url) } } }
        }
    })
}

fn xml(body: Markup) -> String {
    // maud escapes text for HTML, which is escaping enough for XML text.
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}",
        body.into_string()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use origin_adapter::wire::Money;

    fn kettle(stock: i64) -> Product {
        Product {
            sku: "KIT-0001".into(),
            name: "Kettle </script><b>".into(),
            description: "Boils".into(),
            category: "kitchen".into(),
            price: Money {
                amount_minor: 3499,
                currency: "EUR".into(),
            },
            stock,
        }
    }

    #[test]
    fn the_offer_carries_the_decimal_price_and_availability() {
        let ld = product(&kettle(3), "https://shop.example/p/KIT-0001");
        assert_eq!(ld["offers"]["price"], "34.99");
        assert_eq!(ld["offers"]["priceCurrency"], "EUR");
        assert_eq!(ld["offers"]["availability"], "https://schema.org/InStock");
        let sold_out = product(&kettle(0), "u");
        assert_eq!(
            sold_out["offers"]["availability"],
            "https://schema.org/OutOfStock"
        );
    }

    #[test]
    fn a_json_ld_block_cannot_close_its_script_element() {
        let text = ld_json(&product(&kettle(1), "u")).0;
        assert!(!text.contains("</script"), "{text}");
        let back: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back["name"], "Kettle </script><b>");
    }

    #[test]
    fn breadcrumbs_number_their_items_from_one() {
        let ld = breadcrumbs(&[
            ("Home", "https://s/".into()),
            ("Kitchen", "https://s/c/kitchen".into()),
        ]);
        assert_eq!(ld["itemListElement"][1]["position"], 2);
        assert_eq!(ld["itemListElement"][1]["item"], "https://s/c/kitchen");
    }

    #[test]
    fn sitemaps_escape_what_they_list() {
        let map = sitemap(&["https://s/p/A&B".into()]);
        assert!(map.starts_with("<?xml"));
        assert!(map.contains("<loc>https://s/p/A&amp;B</loc>"), "{map}");
        let index = sitemap_index(
            "https://s",
            &[Category {
                slug: "kitchen".into(),
                name: "Kitchen".into(),
                product_count: 2,
            }],
        );
        assert!(index.contains("https://s/sitemaps/category-kitchen.xml"));
        assert!(robots("https://s").contains("Sitemap: https://s/sitemap.xml"));
        assert!(
            robots("https://s").contains("Disallow: /drops/\n"),
            "a waiting room is personal"
        );
    }
}
