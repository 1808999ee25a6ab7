//! The cart's live views: a WebSocket per open cart page, told of every
//! change within a second, refused to other sites' pages and to visitors
//! without a cart.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use e2e::System;
use libtest_mimic::Failed;
use serde_json::{Value, json};
use tungstenite::client::IntoClientRequest as _;
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use super::{Outcome, add_to_cart, cart_cookie, check, login, set_cookie};

type Socket = WebSocket<MaybeTlsStream<TcpStream>>;

/// Opens `/api/cart/live` as a page of the shop with `cookie`, or the
/// status the handshake was refused with.
fn open(sys: &System, cookie: Option<&str>, origin: &str) -> Result<Result<Socket, u16>, Failed> {
    let url = format!("{}/api/cart/live", sys.edge_url.replacen("http", "ws", 1));
    let mut request = url.into_client_request()?;
    request.headers_mut().insert("origin", origin.parse()?);
    if let Some(c) = cookie {
        request.headers_mut().insert("cookie", c.parse()?);
    }
    match tungstenite::connect(request) {
        Ok((socket, _)) => {
            if let MaybeTlsStream::Plain(s) = socket.get_ref() {
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
            }
            Ok(Ok(socket))
        }
        Err(tungstenite::Error::Http(refused)) => Ok(Err(refused.status().as_u16())),
        Err(e) => Err(e.into()),
    }
}

/// The socket's next frame before `until`; `None` when none came.
fn next_frame(socket: &mut Socket, until: Instant) -> Result<Option<Message>, tungstenite::Error> {
    while Instant::now() < until {
        match socket.read() {
            Ok(frame) => return Ok(Some(frame)),
            // The read timeout (200 ms): look at the clock again.
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// The next cart view for which `wanted` holds, within `within`.
fn view_where(
    socket: &mut Socket,
    within: Duration,
    wanted: impl Fn(&Value) -> bool,
) -> Result<Value, Failed> {
    let until = Instant::now() + within;
    loop {
        match next_frame(socket, until) {
            Ok(Some(Message::Text(text))) => {
                let view: Value = serde_json::from_str(&text)?;
                if wanted(&view) {
                    return Ok(view);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err(format!("no such cart view within {within:?}").into()),
            Err(e) => return Err(format!("the live view broke: {e}").into()),
        }
    }
}

fn has_sku(view: &Value, sku: &str) -> bool {
    view["lines"]
        .as_array()
        .is_some_and(|lines| lines.iter().any(|l| l["sku"] == sku))
}

pub fn two_pages_of_one_cart_see_each_change_within_a_second(sys: &System) -> Outcome {
    let first = add_to_cart(sys, None, json!({"sku": "HOM-0003", "quantity": 1}));
    check(first.status() == 200, format!("add: {}", first.status()))?;
    let guest = cart_cookie(&first)?;
    let mut tabs = Vec::new();
    for _ in 0..2 {
        let mut tab =
            open(sys, Some(&guest), &sys.edge_url)?.map_err(|s| format!("refused: {s}"))?;
        let now = view_where(&mut tab, Duration::from_secs(2), |v| has_sku(v, "HOM-0003"))?;
        tabs.push((tab, now["version"].as_i64().unwrap_or(0)));
    }
    // A change from elsewhere (the API, as another device would make it).
    let second = add_to_cart(sys, Some(&guest), json!({"sku": "HOM-0004", "quantity": 2}));
    check(
        second.status() == 200,
        format!("second add: {}", second.status()),
    )?;
    for (tab, before) in &mut tabs {
        let seen = view_where(tab, Duration::from_secs(1), |v| has_sku(v, "HOM-0004"))?;
        check(
            seen["version"].as_i64().unwrap_or(0) > *before,
            format!("a newer version: {seen}"),
        )?;
    }

    // A login merges the guest cart: the customer's pages see the lines.
    let session = set_cookie(
        &login(sys, "alice@example.com", "alice-demo-password", None)?,
        "__Host-session=",
    )?;
    let mut customer =
        open(sys, Some(&session), &sys.edge_url)?.map_err(|s| format!("refused: {s}"))?;
    view_where(&mut customer, Duration::from_secs(2), |_| true)?;
    let merged = login(
        sys,
        "alice@example.com",
        "alice-demo-password",
        Some(&guest),
    )?;
    check(
        merged.status() == 200,
        format!("login: {}", merged.status()),
    )?;
    view_where(&mut customer, Duration::from_secs(1), |v| {
        has_sku(v, "HOM-0004")
    })?;
    let (guest_tab, _) = &mut tabs[0];
    view_where(guest_tab, Duration::from_secs(1), |v| {
        v["status"]["state"] == "closed"
    })?;
    Ok(())
}

pub fn only_the_carts_own_pages_may_open_a_live_view(sys: &System) -> Outcome {
    let added = add_to_cart(sys, None, json!({"sku": "HOM-0005", "quantity": 1}));
    let guest = cart_cookie(&added)?;
    let evil = open(sys, Some(&guest), "https://evil.example")?;
    check(
        matches!(evil, Err(403)),
        format!("another site's page: {:?}", evil.err()),
    )?;
    let nobody = open(sys, None, &sys.edge_url)?;
    check(
        matches!(nobody, Err(403)),
        format!("no cart: {:?}", nobody.err()),
    )?;
    let forged = open(sys, Some("__Host-cart=g-forged.AAAA"), &sys.edge_url)?;
    check(
        matches!(forged, Err(400 | 403)),
        format!("a forged cart: {:?}", forged.err()),
    )?;
    let plain = super::client()
        .get(format!("{}/api/cart/live", sys.edge_url))
        .header("cookie", &guest)
        .send()?;
    check(
        plain.status() == 426,
        format!("no upgrade: {}", plain.status()),
    )?;
    Ok(())
}

pub fn a_logout_closes_the_live_views_its_session_opened(sys: &System) -> Outcome {
    let login = login(sys, "carol@example.com", "carol-demo-password", None)?;
    let session = set_cookie(&login, "__Host-session=")?;
    let mut page =
        open(sys, Some(&session), &sys.edge_url)?.map_err(|s| format!("refused: {s}"))?;
    view_where(&mut page, Duration::from_secs(2), |_| true)?;
    let out = super::client()
        .delete(format!("{}/api/session", sys.edge_url))
        .header("cookie", &session)
        .send()?;
    check(out.status() == 200, format!("logout: {}", out.status()))?;
    let until = Instant::now() + Duration::from_secs(2);
    loop {
        match next_frame(&mut page, until) {
            Ok(Some(Message::Close(frame))) => {
                let code = frame.map(|f| u16::from(f.code));
                return check(code == Some(1008), format!("closed with {code:?}"));
            }
            Ok(Some(_)) => {}
            Ok(None) => return Err("the live view stayed open after logout".into()),
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return Ok(());
            }
            Err(e) => return Err(format!("the live view broke: {e}").into()),
        }
    }
}

pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![
        (
            "live::two_pages_of_one_cart_see_each_change_within_a_second",
            two_pages_of_one_cart_see_each_change_within_a_second,
        ),
        (
            "live::only_the_carts_own_pages_may_open_a_live_view",
            only_the_carts_own_pages_may_open_a_live_view,
        ),
        (
            "live::a_logout_closes_the_live_views_its_session_opened",
            a_logout_closes_the_live_views_its_session_opened,
        ),
    ];
    (shared, Vec::new())
}
