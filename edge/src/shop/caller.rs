//! Who is asking: the session a request presents (unless revoked), the
//! cart it acts on, the claims it carries to origins — decided once here
//! for every use case (cart, checkout, orders, flags, forwarded routes).

use durable_objects::cart_api::{CartKey, ClientRequest};

use super::cart::Owner;
use super::ports::{Entropy, Guard};
use crate::cart_cookie::CookieKeys;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::incoming::Incoming;
use crate::session::token::SessionClaims;

/// The session `rc` presents, if its token opens at Unix second `now`;
/// anything else is anonymous, never an error. (Revocation is
/// [`active_session`]'s question.)
pub fn presented_session(rc: &Incoming, config: &EdgeConfig, now: i64) -> Option<SessionClaims> {
    let keys = config.session_keys.as_ref()?;
    keys.open(rc.session_token.as_deref()?, now).ok()
}

/// The presented session, unless it was revoked (one guard round trip).
pub async fn active_session(
    guard: &impl Guard,
    rc: &Incoming,
    config: &EdgeConfig,
    now: i64,
) -> Result<Option<SessionClaims>, EdgeError> {
    match presented_session(rc, config, now) {
        Some(claims) if guard.is_revoked(&claims.sid).await? => Ok(None),
        other => Ok(other),
    }
}

/// The keys that sign cart cookies; a 500 (logged with the key's name)
/// when `SESSION_KEY` is not set.
pub fn cookie_keys(config: &EdgeConfig) -> Result<CookieKeys, EdgeError> {
    config.cart_cookie_keys().ok_or_else(|| {
        EdgeError::internal("the edge is misconfigured; the operator has been told which key")
            .with_cause("carts need SESSION_KEY (their cookies are signed with it)")
    })
}

/// The caller's cart: a logged-in customer's own, else the guest cart in
/// the signed cookie, else (if `create`) a new guest cart.
///
/// # Errors
/// A cart cookie that is present but forged or malformed (`400`), or the
/// guard's failure.
pub async fn owner(
    (guard, ids): (&impl Guard, &impl Entropy),
    rc: &Incoming,
    config: &EdgeConfig,
    now: i64,
    create: bool,
) -> Result<Option<Owner>, EdgeError> {
    if let Some(s) = active_session(guard, rc, config, now).await? {
        return Ok(Some(Owner::customer(s, config)));
    }
    match cookie_keys(config)?.cart_id(rc.cookie.as_deref())? {
        Some(id) => Ok(Some(Owner::guest(id, false, config))),
        None if create => Ok(Some(Owner::guest(ids.id()?, true, config))),
        None => Ok(None),
    }
}

/// The `Set-Cookie` of a guest cart this request made.
pub fn new_guest_cookie(owner: &Owner, config: &EdgeConfig) -> Option<String> {
    match (&owner.cart.key, owner.new_guest) {
        (CartKey::Guest(id), true) => cookie_keys(config).ok().map(|k| k.set_cookie(id)),
        _ => None,
    }
}

/// The claims a forwarded request carries for this session (`x-edge-claims`).
pub fn edge_claims(claims: &SessionClaims) -> String {
    origin_adapter::forward::encode_claims(&origin_adapter::wire::EdgeClaims {
        user_id: claims.sub.clone(),
        roles: claims.roles.clone(),
        region: claims.region.clone(),
        session_id: claims.sid.clone(),
    })
}

/// The client's `Idempotency-Key` for a change, fingerprinted by what the
/// client sent: method, path and `body`. `None` without a key.
///
/// # Errors
/// A key that is not a structured-field string of 1–255 characters (`400`).
pub fn client_request(rc: &Incoming, body: &[u8]) -> Result<Option<ClientRequest>, EdgeError> {
    let Some(id) = crate::forwarding::client_key(rc.header("idempotency-key"))? else {
        return Ok(None);
    };
    Ok(Some(ClientRequest::from_client(
        id, &rc.method, &rc.path, body,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shop::fakes::{CountingIds, MemoryGuard, config, incoming, session_cookie};

    #[test]
    fn a_revoked_session_is_anonymous_and_a_guest_gets_a_cart_only_when_asked() {
        futures::executor::block_on(async {
            let config = config();
            let guard = MemoryGuard::default();
            let ids = CountingIds::default();
            let (cookie, sid) = session_cookie(&config, "u-1", 1_000);
            let rc = incoming("GET", "/api/cart", &[("cookie", &cookie)]);
            let owner = owner((&guard, &ids), &rc, &config, 1_000, false)
                .await
                .unwrap();
            assert_eq!(owner.unwrap().actor, "user:u-1");
            guard.revoked.borrow_mut().push(sid);
            assert!(owner_of(&guard, &ids, &rc, false).await.is_none());
            let made = owner_of(&guard, &ids, &rc, true).await.unwrap();
            assert!(made.new_guest);
            assert!(
                new_guest_cookie(&made, &config)
                    .unwrap()
                    .starts_with("__Host-cart=")
            );
        });
    }

    async fn owner_of(
        g: &MemoryGuard,
        ids: &CountingIds,
        rc: &Incoming,
        create: bool,
    ) -> Option<Owner> {
        owner((g, ids), rc, &config(), 1_000, create).await.unwrap()
    }

    #[test]
    fn a_forged_cart_cookie_is_refused_not_replaced() {
        futures::executor::block_on(async {
            let rc = incoming("GET", "/api/cart", &[("cookie", "__Host-cart=forged.x")]);
            let refused = owner(
                (&MemoryGuard::default(), &CountingIds::default()),
                &rc,
                &config(),
                1_000,
                true,
            )
            .await;
            assert_eq!(refused.unwrap_err().status(), 400);
        });
    }
}
