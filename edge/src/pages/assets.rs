//! The storefront's two static files: its stylesheet and the small ES
//! module that enhances the pages (no build step: what is here is what the
//! browser gets). Served by the edge itself, from the Worker's own bytes.

use crate::error::EdgeError;
use crate::shop::reply::Reply;

pub const STYLE_PATH: &str = "/assets/app.css";
pub const SCRIPT_PATH: &str = "/assets/app.js";

const STYLE: &str = include_str!("assets/app.css");
const SCRIPT: &str = include_str!("assets/app.js");

/// The file named `name` (`app.css`, `app.js`), with a short shared
/// lifetime and an `ETag` from its bytes; `404` for any other name.
pub fn asset(name: &str, if_none_match: Option<&str>) -> Result<Reply, EdgeError> {
    let (content_type, text) = match name {
        "app.css" => ("text/css; charset=utf-8", STYLE),
        "app.js" => ("text/javascript; charset=utf-8", SCRIPT),
        _ => return Err(EdgeError::not_found(format!("no asset named {name:?}"))),
    };
    let etag = crate::catalog::report::etag(text.as_bytes());
    let fresh = crate::catalog::report::not_modified(if_none_match, &etag);
    let (status, body) = if fresh {
        (304, Vec::new())
    } else {
        (200, text.as_bytes().to_vec())
    };
    Ok(Reply::raw(status, content_type, body)
        .header("etag", etag)
        .header(
            "cache-control",
            "public, max-age=300, stale-while-revalidate=3600",
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assets_are_served_with_an_etag_and_revalidated() {
        let css = asset("app.css", None).unwrap();
        assert_eq!(css.status, 200);
        let etag = css
            .headers
            .iter()
            .find(|(n, _)| *n == "etag")
            .map(|(_, v)| v.clone())
            .unwrap();
        assert_eq!(asset("app.css", Some(&etag)).unwrap().status, 304);
        assert_eq!(asset("../secrets", None).unwrap_err().status(), 404);
    }
}
