//! Login: limit, ask the identity origin, open a new session, end the one
//! presented, and bring the guest cart along. The guest cart's cookie may
//! go only once nothing depends on it.

use durable_objects::cart::{CartLine, LineHold, MergeReport};
use durable_objects::cart_api::{self, AtLogin, CartKey, ClientRequest, Mutation, Op};
use durable_objects::guard::Limit;
use origin_adapter::wire::{Identity, LoginRequest, paths};

use super::ports::{CartRef, Carts, Entropy, Guard, OriginCall, Origins, Reservation};
use crate::error::EdgeError;
use crate::session::rules::new_session;
use crate::session::token::{SessionClaims, SessionKeys};

/// One login, with what the request carried and the settings it obeys.
pub struct Login<'a> {
    pub email: &'a str,
    pub password: &'a str,
    /// The session the request presented, if one opened.
    pub presented: Option<SessionClaims>,
    /// The guest cart id of a valid cart cookie.
    pub guest_cart: Option<String>,
    /// The client's address bucket (see `session::rules::address_bucket`).
    pub address: &'a str,
    /// Unix seconds.
    pub now: i64,
    pub settings: &'a Settings,
}

/// What a login obeys, from the configuration.
pub struct Settings {
    pub keys: std::rc::Rc<SessionKeys>,
    pub account_limit: Limit,
    pub address_limit: Limit,
    pub session_idle: i64,
    pub session_absolute: i64,
    pub guest_cart_idle: i64,
    pub customer_cart_idle: i64,
}

impl Settings {
    /// From the edge's configuration; `None` when no `SESSION_KEY` is set
    /// (logins are then refused).
    pub fn from_config(config: &crate::config::EdgeConfig) -> Option<Self> {
        Some(Self {
            keys: config.session_keys.clone()?,
            account_limit: config.login_account_limit,
            address_limit: config.login_address_limit,
            session_idle: config.session_idle,
            session_absolute: config.session_absolute,
            guest_cart_idle: config.cart_guest_idle,
            customer_cart_idle: config.cart_customer_idle,
        })
    }
}

/// Refuses credentials no identity service should be asked about.
pub fn check_credentials(email: &str, password: &str) -> Result<(), EdgeError> {
    if email.is_empty() || email.len() > 254 || !email.contains('@') {
        return Err(EdgeError::bad_request(
            "`email` must be an email address of at most 254 characters",
        ));
    }
    if password.is_empty() || password.len() > 1024 {
        return Err(EdgeError::bad_request(
            "`password` must be 1 to 1024 characters",
        ));
    }
    Ok(())
}

/// What became of the guest cart at login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestCart {
    /// No guest cart, or nothing in it to bring along.
    None,
    /// Merged into the customer's cart (and closed).
    Merged(MergeReport),
    /// Left as it is — its merge failed, or its order is still on its
    /// way — so its cookie must stay.
    Kept,
}

impl GuestCart {
    /// Whether the guest cart's cookie may be cleared: nothing waits in it.
    pub fn cookie_may_go(&self) -> bool {
        !matches!(self, GuestCart::Kept)
    }
}

/// A successful login.
#[derive(Debug)]
pub struct LoggedIn {
    pub identity: Identity,
    pub claims: SessionClaims,
    /// The sealed session token for the cookie.
    pub token: String,
    pub guest_cart: GuestCart,
    /// Why the guest cart was kept when its merge failed, for the log.
    pub merge_note: Option<String>,
}

/// Runs a login through the ports.
pub async fn login(
    guard: &impl Guard,
    origins: &impl Origins,
    carts: &impl Carts,
    entropy: &impl Entropy,
    l: Login<'_>,
) -> Result<LoggedIn, EdgeError> {
    check_credentials(l.email, l.password)?;
    let s = l.settings;
    // Limits per account and per client address, taken before the
    // identity service spends a password hash on the attempt.
    let limits = [
        (
            format!("account:{}", l.email.trim().to_lowercase()),
            s.account_limit,
        ),
        (format!("address:{}", l.address), s.address_limit),
    ];
    let reservation = reserve(guard, &limits, l.now).await?;
    let identity = match check_password(origins, entropy, l.email, l.password).await {
        // The place taken stays: it is this failure, counted.
        Err(e) if e.status() == 401 => return Err(e),
        other => {
            release(guard, reservation).await;
            other?
        }
    };
    // A new session id at every login: an id presented before never survives it.
    let claims = new_session(
        identity.user_id.clone(),
        identity.roles.clone(),
        identity.region.clone(),
        entropy.id()?,
        l.now,
        s.session_idle,
        s.session_absolute,
    );
    let token = s.keys.seal(&claims).map_err(|e| {
        EdgeError::internal("the edge could not create the session")
            .with_cause(format!("sealing a session: {e:?}"))
    })?;
    if let Some(replaced) = &l.presented {
        guard.revoke(&replaced.sid, replaced.exp).await?;
    }
    let (guest_cart, merge_note) = match &l.guest_cart {
        Some(guest) => merge_guest_cart(carts, guest, &identity, s).await,
        None => (GuestCart::None, None),
    };
    Ok(LoggedIn {
        identity,
        claims,
        token,
        guest_cart,
        merge_note,
    })
}

/// Takes a place for one login attempt under every key, checking each
/// limit in the same step (so concurrent attempts cannot all pass). Past
/// any limit: `429` with `Retry-After`, and the places taken are given back.
async fn reserve(
    guard: &impl Guard,
    keys: &[(String, Limit)],
    now: i64,
) -> Result<Reservation, EdgeError> {
    let mut taken = Reservation(Vec::with_capacity(keys.len()));
    for (key, limit) in keys {
        let verdict = match guard.reserve(key, *limit, now).await {
            Ok(v) => v,
            Err(e) => {
                release(guard, taken).await;
                return Err(e);
            }
        };
        if !verdict.allowed {
            release(guard, taken).await;
            return Err(EdgeError::too_many_requests(
                "too many failed logins; wait before trying again",
            )
            .with_header("retry-after", verdict.retry_after.max(1).to_string()));
        }
        taken.0.push((key.clone(), verdict.window_start));
    }
    Ok(taken)
}

/// Gives the places back: the attempt was not a failed login (it succeeded,
/// or the identity service never judged it). A place not given back counts
/// as a failure until its window ends — the safe side of the limit.
async fn release(guard: &impl Guard, reservation: Reservation) {
    for (key, window_start) in reservation.0 {
        let _ = guard.release(&key, window_start).await;
    }
}

/// Asks the identity origin; `401` never says which of the two was wrong.
async fn check_password(
    origins: &impl Origins,
    entropy: &impl Entropy,
    email: &str,
    password: &str,
) -> Result<Identity, EdgeError> {
    let body = serde_json::to_vec(&LoginRequest {
        email: email.to_owned(),
        password: password.to_owned(),
    })
    .map_err(|_| EdgeError::internal("the edge could not encode the login"))?;
    let key = format!("login-{}", entropy.id()?);
    let answer = origins
        .call(OriginCall {
            service: "identity",
            method: "POST",
            path: paths::LOGIN,
            query: None,
            body: Some(&body),
            idempotency_key: Some(&key),
            claims: None,
            home_region: None,
            flags: None,
        })
        .await?;
    match answer.status {
        200 => serde_json::from_slice(&answer.body).map_err(|_| {
            EdgeError::bad_gateway("the identity service answered with an unreadable identity")
        }),
        401 => Err(EdgeError::unauthorized(
            "the email or the password is wrong",
        )),
        400 => Err(EdgeError::bad_request(
            "the identity service refused the login as malformed",
        )),
        other => Err(EdgeError::bad_gateway(format!(
            "the identity service failed (status {other})"
        ))),
    }
}

/// The guest cart's lines go into the customer's cart, then the guest cart
/// closes. The merge carries a request id naming the guest cart, its
/// generation and version, so a login retried halfway merges once, and a
/// guest cart that expired and lived again is merged anew. Any failure
/// keeps the guest cart (and its cookie) as it was.
/// With the guest cart's fate, why it was kept when the merge failed (for
/// the log).
pub async fn merge_guest_cart(
    carts: &impl Carts,
    guest_id: &str,
    identity: &Identity,
    s: &Settings,
) -> (GuestCart, Option<String>) {
    match try_merge(carts, guest_id, identity, s).await {
        Ok(Err(why)) => (
            GuestCart::Kept,
            Some(format!("guest cart {guest_id} kept: {why}")),
        ),
        Ok(Ok(outcome)) => (outcome, None),
        Err(e) => (
            GuestCart::Kept,
            Some(format!("guest cart {guest_id} not merged: {e}")),
        ),
    }
}

/// The merge of the guest cart `view` into a customer's cart whose
/// orders go to `home`. A drop line's hold moves with it (the customer's
/// cart object moves it at the stock first) when it is held in the stock
/// of that region; one held for another region's origin stays behind,
/// reported, and its units go back when the guest cart closes.
fn merge_op(view: &cart_api::CartView, from: &str, home: &str) -> Op {
    let mut refused = Vec::new();
    let mut lines = Vec::with_capacity(view.lines.len());
    for l in &view.lines {
        let hold = match (&l.drop_id, &l.held_in) {
            (Some(drop), Some(stock)) => {
                if !stock.ends_with(&format!("@{home}")) {
                    refused.push(durable_objects::cart::MergeConflict {
                        sku: l.sku.clone(),
                        detail: format!(
                            "held in the stock {stock}, and your orders go to {home}; add it again from the drop"
                        ),
                    });
                    continue;
                }
                Some(LineHold {
                    drop: drop.clone(),
                    stock: stock.clone(),
                    until_ms: l
                        .held_until
                        .as_deref()
                        .and_then(durable_objects::drop::parse_time)
                        .unwrap_or(0),
                })
            }
            _ => None,
        };
        lines.push(CartLine {
            sku: l.sku.clone(),
            name: l.name.clone(),
            unit_price: l.unit_price.clone(),
            quantity: l.quantity,
            hold,
        });
    }
    Op::Merge {
        lines,
        from: from.to_owned(),
        refused,
    }
}

async fn try_merge(
    carts: &impl Carts,
    guest_id: &str,
    identity: &Identity,
    s: &Settings,
) -> Result<Result<GuestCart, String>, EdgeError> {
    let guest = CartRef {
        key: CartKey::Guest(guest_id.to_owned()),
        jurisdiction: None,
    };
    let view = carts.view(&guest).await?;
    match cart_api::at_login(&view) {
        AtLogin::Merge => {}
        AtLogin::Keep => return Ok(Ok(GuestCart::Kept)),
        AtLogin::Nothing => return Ok(Ok(GuestCart::None)),
    }
    let customer = CartRef {
        key: CartKey::Customer(identity.user_id.clone()),
        jurisdiction: (identity.region == "eu").then_some("eu"),
    };
    let actor = format!("user:{}", identity.user_id);
    let merge_id = format!(
        "merge-{}-{}-v{}",
        guest.key.short(),
        view.generation,
        view.version
    );
    let merge = Mutation {
        cart: customer.key.short(),
        actor: actor.clone(),
        if_match: None,
        request: Some(ClientRequest {
            fingerprint: merge_id.clone(),
            id: merge_id,
        }),
        idle_seconds: s.customer_cart_idle,
        op: merge_op(&view, &guest.key.short(), &identity.region),
    };
    let merged = carts.mutate(&customer, &merge).await?;
    if merged.status != 200 {
        let why = String::from_utf8_lossy(&merged.body).into_owned();
        return Ok(Err(format!("the customer's cart refused the merge: {why}")));
    }
    let merged: cart_api::CartView = serde_json::from_slice(&merged.body)
        .map_err(|_| EdgeError::internal("the merged cart was unreadable"))?;
    let close = Mutation {
        cart: guest.key.short(),
        actor,
        if_match: Some(view.version),
        request: None,
        idle_seconds: s.guest_cart_idle,
        op: Op::Close,
    };
    // Merged but still open: the cookie stays, so the next login finds it
    // and the merge's request id answers without merging twice.
    if carts.mutate(&guest, &close).await?.status != 200 {
        return Ok(Err("merged but not closed".into()));
    }
    Ok(Ok(GuestCart::Merged(merged.merge.unwrap_or_default())))
}

#[cfg(test)]
mod tests {
    use durable_objects::cart::CartStatus;
    use futures::executor::block_on;

    use super::*;
    use crate::shop::fakes::{
        CountingIds, MemoryCarts, MemoryGuard, Script, ScriptedOrigins, line,
    };

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";

    fn settings() -> Settings {
        Settings {
            keys: std::rc::Rc::new(SessionKeys::from_config(KEY, "").unwrap()),
            account_limit: Limit {
                max: 2,
                window: 900,
            },
            address_limit: Limit {
                max: 20,
                window: 900,
            },
            session_idle: 1800,
            session_absolute: 43200,
            guest_cart_idle: 60,
            customer_cart_idle: 600,
        }
    }

    fn alice() -> String {
        serde_json::json!({"user_id": "user-0001", "roles": ["customer"], "region": "us"})
            .to_string()
    }

    fn guest_ref() -> CartRef {
        CartRef {
            key: CartKey::Guest("g1".into()),
            jurisdiction: None,
        }
    }

    struct World {
        guard: MemoryGuard,
        origins: ScriptedOrigins,
        carts: MemoryCarts,
        ids: CountingIds,
        settings: Settings,
    }

    impl World {
        fn new(script: impl IntoIterator<Item = Script>, carts: MemoryCarts) -> Self {
            Self {
                guard: MemoryGuard::default(),
                origins: ScriptedOrigins::new(script),
                carts,
                ids: CountingIds::default(),
                settings: settings(),
            }
        }

        fn login(
            &self,
            presented: Option<SessionClaims>,
            guest: Option<&str>,
        ) -> Result<LoggedIn, EdgeError> {
            block_on(login(
                &self.guard,
                &self.origins,
                &self.carts,
                &self.ids,
                Login {
                    email: " Alice@Example.com",
                    password: "pw",
                    presented,
                    guest_cart: guest.map(str::to_owned),
                    address: "203.0.113.7",
                    now: 1_000,
                    settings: &self.settings,
                },
            ))
        }
    }

    #[test]
    fn a_login_opens_a_session_ends_the_presented_one_and_merges_the_guest_cart() {
        let carts = MemoryCarts::default().with_cart(&guest_ref(), &[line("A", 2)]);
        let w = World::new([Script::Answer(200, alice())], carts);
        let old = new_session(
            "user-0009".into(),
            vec![],
            "us".into(),
            "old".into(),
            0,
            60,
            600,
        );
        let done = w.login(Some(old), Some("g1")).unwrap();
        assert_eq!(done.identity.user_id, "user-0001");
        assert_eq!(done.claims.sub, "user-0001");
        assert_ne!(done.claims.sid, "old");
        assert!(w.settings.keys.open(&done.token, 1_000).is_ok());
        assert_eq!(
            *w.guard.revoked.borrow(),
            ["old"],
            "the replaced session ends"
        );
        assert_eq!(
            *w.guard.released.borrow(),
            2,
            "a success gives both places back (account and address)"
        );
        let GuestCart::Merged(report) = &done.guest_cart else {
            panic!("{:?}", done.guest_cart)
        };
        assert_eq!(report.merged, ["A"]);
        assert!(done.guest_cart.cookie_may_go());
        assert_eq!(w.carts.cart(&guest_ref()).status, CartStatus::Closed);
        let customer = CartRef {
            key: CartKey::Customer("user-0001".into()),
            jurisdiction: None,
        };
        assert_eq!(w.carts.cart(&customer).lines[0].quantity, 2);
    }

    #[test]
    fn a_wrong_password_is_counted_and_the_limit_then_holds() {
        let w = World::new(
            [
                Script::Answer(401, String::new()),
                Script::Answer(401, String::new()),
            ],
            MemoryCarts::default(),
        );
        for _ in 0..2 {
            assert_eq!(w.login(None, None).unwrap_err().status(), 401);
        }
        assert_eq!(*w.guard.released.borrow(), 0, "failures keep their places");
        let limited = w.login(None, None).unwrap_err();
        assert_eq!(limited.status(), 429);
        assert_eq!(
            w.origins.calls.borrow().len(),
            2,
            "the third never reached the origin"
        );
    }

    #[test]
    fn an_identity_service_that_fails_gives_the_place_back() {
        for (script, status) in [
            (Script::GiveUp(503), 503),
            (Script::Answer(500, String::new()), 502),
            (Script::Answer(200, "not an identity".into()), 502),
        ] {
            let w = World::new([script], MemoryCarts::default());
            assert_eq!(w.login(None, None).unwrap_err().status(), status);
            assert_eq!(*w.guard.released.borrow(), 2, "account and address");
        }
    }

    #[test]
    fn a_merge_that_fails_keeps_the_guest_cart_and_its_cookie() {
        let carts = MemoryCarts::default()
            .failing_merges()
            .with_cart(&guest_ref(), &[line("A", 1)]);
        let w = World::new([Script::Answer(200, alice())], carts);
        let done = w.login(None, Some("g1")).unwrap();
        assert_eq!(done.guest_cart, GuestCart::Kept);
        assert!(!done.guest_cart.cookie_may_go());
        assert!(
            done.merge_note.as_deref().is_some_and(|n| n.contains("g1")),
            "the log says why: {:?}",
            done.merge_note
        );
        assert_eq!(w.carts.cart(&guest_ref()).status, CartStatus::Open);
    }

    #[test]
    fn a_guest_cart_whose_order_is_on_its_way_is_left_alone() {
        let carts = MemoryCarts::default().with_cart(&guest_ref(), &[line("A", 1)]);
        let target = durable_objects::cart_api::OrderTarget {
            url: "https://us.example/orders".into(),
            region: "us".into(),
            claims: None,
            request_id: "r".into(),
            traceparent: "t".into(),
        };
        let freeze = Mutation {
            cart: guest_ref().key.short(),
            actor: "guest".into(),
            if_match: None,
            request: None,
            idle_seconds: 60,
            op: Op::Freeze { target },
        };
        block_on(carts.mutate(&guest_ref(), &freeze)).unwrap();
        let w = World::new([Script::Answer(200, alice())], carts);
        let done = w.login(None, Some("g1")).unwrap();
        assert_eq!(done.guest_cart, GuestCart::Kept);
        assert!(!w.carts.ops.borrow().contains(&"merge"));
    }
}
