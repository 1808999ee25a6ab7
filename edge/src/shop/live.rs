//! `GET /api/cart/live`: who may watch a cart. A WebSocket carries the
//! browser's cookies from any site that opens it (cross-site WebSocket
//! hijacking), and the handshake is exempt from CORS, so the page's
//! `Origin` is checked like a write's; and only the cart's own customer or
//! guest may watch it.

use super::cart::Owner;
use super::cart_changes::CartCase;
use super::ports::{Carts, Entropy, Guard};
use crate::error::EdgeError;

/// The cart a live view may watch: `426` without `Upgrade: websocket`,
/// `403` from another site's page or without a cart or session.
pub async fn admit<C: Carts, G: Guard, I: Entropy>(
    case: &CartCase<'_, C, G, I>,
) -> Result<Owner, EdgeError> {
    let rc = case.rc;
    let upgrade = rc.header("upgrade").unwrap_or_default();
    if !upgrade.eq_ignore_ascii_case("websocket") {
        return Err(
            EdgeError::upgrade_required("this is a WebSocket: send Upgrade: websocket")
                .with_header("upgrade", "websocket"),
        );
    }
    match rc.header("origin") {
        Some(o) if o == rc.own_origin || case.config.allowed_origins.iter().any(|a| a == o) => {}
        Some(_) => {
            return Err(EdgeError::forbidden(
                "live views are opened from this shop's pages only",
            ));
        }
        // Not a browser: it carries no one else's cookies.
        None => {}
    }
    case.owner(false).await?.ok_or_else(|| {
        EdgeError::forbidden("there is no cart to watch: add something first or log in")
    })
}

#[cfg(test)]
mod tests {
    use futures::executor::block_on;

    use super::*;
    use crate::shop::fakes::{
        CountingIds, MemoryCarts, MemoryGuard, config, incoming, session_cookie,
    };

    fn case_for<'a>(
        carts: &'a MemoryCarts,
        guard: &'a MemoryGuard,
        ids: &'a CountingIds,
        rc: &'a crate::incoming::Incoming,
        config: &'a crate::config::EdgeConfig,
    ) -> CartCase<'a, MemoryCarts, MemoryGuard, CountingIds> {
        CartCase {
            carts,
            guard,
            ids,
            rc,
            config,
            now: 1_000,
            now_ms: 1_000_000,
        }
    }

    #[test]
    fn only_the_carts_own_pages_may_watch_it() {
        block_on(async {
            let (config, carts, guard, ids) = (
                config(),
                MemoryCarts::default(),
                MemoryGuard::default(),
                CountingIds::default(),
            );
            let (cookie, _) = session_cookie(&config, "user-1", 1_000);
            let ws = [("upgrade", "websocket"), ("cookie", cookie.as_str())];
            let own = incoming(
                "GET",
                "/api/cart/live",
                &[ws[0], ws[1], ("origin", "https://shop.example")],
            );
            let owner = admit(&case_for(&carts, &guard, &ids, &own, &config))
                .await
                .unwrap();
            assert!(owner.session.is_some());

            let evil = incoming(
                "GET",
                "/api/cart/live",
                &[ws[0], ws[1], ("origin", "https://evil.example")],
            );
            let e = admit(&case_for(&carts, &guard, &ids, &evil, &config))
                .await
                .unwrap_err();
            assert_eq!(e.status(), 403);

            let nobody = incoming(
                "GET",
                "/api/cart/live",
                &[ws[0], ("origin", "https://shop.example")],
            );
            let e = admit(&case_for(&carts, &guard, &ids, &nobody, &config))
                .await
                .unwrap_err();
            assert_eq!(e.status(), 403);

            let plain = incoming("GET", "/api/cart/live", &[ws[1]]);
            let e = admit(&case_for(&carts, &guard, &ids, &plain, &config))
                .await
                .unwrap_err();
            assert_eq!(e.status(), 426);
        });
    }
}
