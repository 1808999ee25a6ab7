//! Checks on a client's request body before anything acts on it.

use serde::de::DeserializeOwned;

use crate::error::EdgeError;

/// The largest JSON body the edge accepts from a client.
pub const MAX_JSON_BODY: usize = 16 * 1024;

/// Refuses anything but JSON (`415`) and declared lengths over the limit (`413`).
pub fn check_headers(
    content_type: Option<&str>,
    content_length: Option<&str>,
) -> Result<(), EdgeError> {
    let essence = content_type
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase());
    if essence.as_deref() != Some("application/json") {
        return Err(EdgeError::new(415, "the body must be application/json"));
    }
    if let Some(length) = content_length {
        match length.trim().parse::<u64>() {
            Ok(n) if n as usize > MAX_JSON_BODY => return Err(too_large()),
            Ok(_) => {}
            Err(_) => return Err(EdgeError::new(400, "Content-Length is not a number")),
        }
    }
    Ok(())
}

fn too_large() -> EdgeError {
    EdgeError::new(413, format!("the body exceeds {MAX_JSON_BODY} bytes"))
}

/// Parses a body already read, re-checking its real size.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, EdgeError> {
    if body.len() > MAX_JSON_BODY {
        return Err(too_large());
    }
    serde_json::from_slice(body).map_err(|e| {
        let kind = if e.is_data() {
            "does not match the expected fields"
        } else {
            "is not valid JSON"
        };
        EdgeError::new(400, format!("the body {kind}: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        sku: String,
        quantity: i64,
    }

    #[test]
    fn content_type_and_length_are_checked() {
        assert!(check_headers(Some("application/json; charset=utf-8"), Some("10")).is_ok());
        assert_eq!(
            check_headers(Some("text/plain"), None).unwrap_err().status,
            415
        );
        assert_eq!(check_headers(None, None).unwrap_err().status, 415);
        assert_eq!(
            check_headers(Some("application/json"), Some("99999999"))
                .unwrap_err()
                .status,
            413
        );
        assert_eq!(
            check_headers(Some("application/json"), Some("ten"))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn json_errors_say_what_was_wrong() {
        assert!(parse_json::<Item>(br#"{"sku":"A","quantity":1}"#).is_ok());
        let e = parse_json::<Item>(b"{not json").unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.detail.contains("not valid JSON"));
        let e = parse_json::<Item>(br#"{"sku":"A","quantity":1,"unit_price":1}"#).unwrap_err();
        assert!(e.detail.contains("unit_price"), "{}", e.detail);
        let e = parse_json::<Item>(br#"{"sku":"A","quantity":"two"}"#).unwrap_err();
        assert!(e.detail.contains("expected fields"));
        assert_eq!(
            parse_json::<Item>(&vec![b' '; MAX_JSON_BODY + 1])
                .unwrap_err()
                .status,
            413
        );
    }
}
