//! Who may use the shop's own APIs (support, admin): a bearer token kept
//! as the `ADMIN_TOKEN` secret, compared in constant time. A wrong or
//! missing token is a 401 that gives no hint which.

use subtle::ConstantTimeEq as _;

use super::runtime::RequestContext;
use crate::config::EdgeConfig;
use crate::error::EdgeError;

/// The admin token, when the request presents it.
pub(crate) fn authorise<'a>(
    rc: &RequestContext,
    config: &'a EdgeConfig,
) -> Result<&'a str, EdgeError> {
    let denied = || {
        EdgeError::unauthorized("this API needs the shop's bearer token")
            .with_header("www-authenticate", "Bearer")
    };
    let Some(expected) = &config.admin_token else {
        return Err(denied());
    };
    let presented = rc
        .header("authorization")
        .and_then(|v| v.strip_prefix("Bearer ").map(|t| t.trim().to_owned()))
        .ok_or_else(denied)?;
    // Equal length first (not secret: the length is public), then bytes.
    let same = presented.len() == expected.len()
        && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()));
    if same { Ok(expected) } else { Err(denied()) }
}
