//! Cache tags: what each catalog entry depends on, so a purge naming a SKU
//! or a category finds every entry that shows it.

use origin_adapter::wire::PurgeRequest;
use serde_json::Value;

use super::query::CatalogQuery;

fn sku_tags(products: Option<&Value>) -> impl Iterator<Item = String> + '_ {
    products
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| p["sku"].as_str())
        .map(|sku| format!("sku:{sku}"))
}

/// The tags of a stored answer to `query` whose JSON body is `body`.
pub fn entry_tags(query: &CatalogQuery, body: &Value) -> Vec<String> {
    let mut tags = match query {
        CatalogQuery::Categories => vec!["categories".to_owned()],
        CatalogQuery::Product { sku } => vec![format!("sku:{sku}")],
        CatalogQuery::Products { category, .. } => {
            let mut t = vec![format!("category:{}", category.as_deref().unwrap_or("*"))];
            t.extend(sku_tags(body.get("products")));
            t
        }
        CatalogQuery::Search { .. } => {
            let mut t = vec!["search".to_owned()];
            t.extend(sku_tags(body.get("products")));
            t
        }
    };
    tags.sort();
    tags.dedup();
    tags
}

/// The tags a purge removes: each SKU's entries, and for each category its
/// listings, the unfiltered listings and the category list.
pub fn purge_tags(purge: &PurgeRequest) -> Vec<String> {
    let mut tags: Vec<String> = purge.skus.iter().map(|s| format!("sku:{s}")).collect();
    for c in &purge.categories {
        tags.push(format!("category:{c}"));
    }
    if !purge.categories.is_empty() {
        tags.push("category:*".into());
        tags.push("categories".into());
    }
    tags.sort();
    tags.dedup();
    tags
}

/// The cache keys a purge deletes by name, index or not: each SKU's own
/// product entry. A tag's index is capped (and an update to it can be
/// lost), so listings and searches may fall out of it — the product
/// entry, which shows the price a cart line takes, never does.
pub fn purge_keys(purge: &PurgeRequest) -> Vec<String> {
    purge
        .skus
        .iter()
        .map(|sku| {
            let product = CatalogQuery::Product { sku: sku.clone() };
            super::cache_key(&product.canonical())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::query::Sort;
    use serde_json::json;

    #[test]
    fn listings_depend_on_their_category_and_every_product_shown() {
        let q = CatalogQuery::Products {
            category: Some("kitchen".into()),
            sort: Sort::Price,
            limit: 2,
            cursor: None,
        };
        let body =
            json!({"products": [{"sku": "KIT-0002"}, {"sku": "KIT-0001"}], "next_cursor": null});
        assert_eq!(
            entry_tags(&q, &body),
            ["category:kitchen", "sku:KIT-0001", "sku:KIT-0002"]
        );
        let search = CatalogQuery::Search {
            q: "oak".into(),
            limit: 24,
            cursor: None,
        };
        assert_eq!(
            entry_tags(&search, &json!({"products": [{"sku": "A"}]})),
            ["search", "sku:A"]
        );
    }

    #[test]
    fn a_purge_reaches_products_listings_and_searches() {
        let p = PurgeRequest {
            skus: vec!["KIT-0001".into()],
            categories: vec!["kitchen".into()],
        };
        let tags = purge_tags(&p);
        assert_eq!(
            tags,
            [
                "categories",
                "category:*",
                "category:kitchen",
                "sku:KIT-0001"
            ]
        );
        let listing = entry_tags(
            &CatalogQuery::Products {
                category: None,
                sort: Sort::Name,
                limit: 24,
                cursor: None,
            },
            &json!({"products": [{"sku": "KIT-0001"}]}),
        );
        assert!(listing.iter().any(|t| tags.contains(t)));
    }

    #[test]
    fn a_purge_names_each_skus_product_entry_whatever_the_index_holds() {
        let p = PurgeRequest {
            skus: vec!["KIT-0001".into(), "COF-0042".into()],
            categories: vec!["kitchen".into()],
        };
        let product_key = |sku: &str| {
            crate::catalog::cache_key(&CatalogQuery::Product { sku: sku.into() }.canonical())
        };
        assert_eq!(
            purge_keys(&p),
            [product_key("KIT-0001"), product_key("COF-0042")]
        );
        assert!(
            purge_keys(&PurgeRequest {
                skus: vec![],
                categories: vec!["kitchen".into()]
            })
            .is_empty()
        );
    }
}
