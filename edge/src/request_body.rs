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
        return Err(EdgeError::unsupported_media_type(
            "the body must be application/json",
        ));
    }
    if let Some(length) = content_length {
        match length.trim().parse::<u64>() {
            Ok(n) if n as usize > MAX_JSON_BODY => return Err(too_large()),
            Ok(_) => {}
            Err(_) => return Err(EdgeError::bad_request("Content-Length is not a number")),
        }
    }
    Ok(())
}

fn too_large() -> EdgeError {
    EdgeError::too_large(format!("the body exceeds {MAX_JSON_BODY} bytes"))
}

/// Reads a whole number from a client's JSON (`#[serde(deserialize_with)]`):
/// any integer, however large — past 2^63 too, which JSON allows — becomes
/// an `i64` held at its bounds, so the limit check that follows refuses it
/// naming the limit (`422`); a fraction is not a whole number (`400`).
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = <serde_json::Number as serde::Deserialize>::deserialize(d)?;
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Ok(i64::MAX);
    }
    match n.as_f64() {
        Some(f) if f.is_finite() && f.fract() == 0.0 => {
            Ok(if f > 0.0 { i64::MAX } else { i64::MIN })
        }
        _ => Err(serde::de::Error::custom(format!(
            "{n} is not a whole number"
        ))),
    }
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
        EdgeError::bad_request(format!("the body {kind}: {e}"))
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
        #[serde(deserialize_with = "whole_number")]
        quantity: i64,
    }

    #[test]
    fn whole_numbers_of_any_size_reach_the_limit_check() {
        let quantity = |json: &str| {
            parse_json::<Item>(format!(r#"{{"sku":"A","quantity":{json}}}"#).as_bytes())
                .map(|i| i.quantity)
        };
        assert_eq!(quantity("2"), Ok(2));
        assert_eq!(quantity("9007199254740993"), Ok(9_007_199_254_740_993));
        for huge in [
            "18446744073709551615",
            "18446744073709551616",
            "1e20",
            "1e300",
        ] {
            assert_eq!(quantity(huge), Ok(i64::MAX), "{huge}");
        }
        assert_eq!(quantity("-18446744073709551616"), Ok(i64::MIN));
        for bad in ["2.5", "\"two\"", "null"] {
            assert_eq!(quantity(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn content_type_and_length_are_checked() {
        assert!(check_headers(Some("application/json; charset=utf-8"), Some("10")).is_ok());
        assert_eq!(
            check_headers(Some("text/plain"), None)
                .unwrap_err()
                .status(),
            415
        );
        assert_eq!(check_headers(None, None).unwrap_err().status(), 415);
        assert_eq!(
            check_headers(Some("application/json"), Some("99999999"))
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            check_headers(Some("application/json"), Some("ten"))
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn json_errors_say_what_was_wrong() {
        assert!(parse_json::<Item>(br#"{"sku":"A","quantity":1}"#).is_ok());
        let e = parse_json::<Item>(b"{not json").unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.detail().contains("not valid JSON"));
        let e = parse_json::<Item>(br#"{"sku":"A","quantity":1,"unit_price":1}"#).unwrap_err();
        assert!(e.detail().contains("unit_price"), "{}", e.detail());
        let e = parse_json::<Item>(br#"{"sku":"A","quantity":"two"}"#).unwrap_err();
        assert!(e.detail().contains("expected fields"));
        assert_eq!(
            parse_json::<Item>(&vec![b' '; MAX_JSON_BODY + 1])
                .unwrap_err()
                .status(),
            413
        );
    }
}
