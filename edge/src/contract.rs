//! `GET /api/openapi.json`: the API's OpenAPI 3.1 document, served as
//! [`crate::openapi`] made it at build time (`edge/openapi.json`, checked
//! current by that module's test).

use crate::shop::reply::Reply;

/// The document's bytes.
pub const DOCUMENT: &[u8] = include_bytes!("../openapi.json");

/// The document with an `ETag` of its bytes (`304` when the client's copy
/// is current) and a shared lifetime of five minutes.
pub fn document(if_none_match: Option<&str>) -> Reply {
    use crate::catalog::report::{etag, not_modified};
    let tag = etag(DOCUMENT);
    let (status, body) = match not_modified(if_none_match, &tag) {
        true => (304, Vec::new()),
        false => (200, DOCUMENT.to_vec()),
    };
    Reply::raw(status, "application/json", body)
        .header("etag", tag)
        .header("cache-control", "public, max-age=300")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_served_document_is_openapi_3_1() {
        let doc: serde_json::Value = serde_json::from_slice(DOCUMENT).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/cart/items"]["post"].is_object());
        let first = document(None);
        let tag = first
            .headers
            .iter()
            .find(|(n, _)| *n == "etag")
            .unwrap()
            .1
            .clone();
        assert_eq!(document(Some(&tag)).status, 304);
    }
}
