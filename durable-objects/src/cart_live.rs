//! A cart's live views: the WebSockets of the pages that have the cart
//! open, accepted with the hibernation API so an idle socket costs nothing
//! (the object may be evicted while its sockets stay open). Every change to
//! the cart is sent to each of them as the new [`CartView`] (its `version`
//! says which state it is).

use worker::{Date, Response, Result, State, WebSocket, WebSocketPair};

use crate::cart_api::CartView;
use crate::respond::problem;

/// Open live views per cart: a customer's few tabs and devices, with room
/// to spare; past it a new one is refused (`429`), never an old one cut.
pub const MAX_LIVE_VIEWS: usize = 32;

/// Who watches: the session a live view was opened with, and the time
/// (Unix seconds) that session ends at the latest. A guest's view has none.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Watcher {
    pub session_id: String,
    pub until: i64,
}

fn tag(session_id: &str) -> String {
    format!("session:{session_id}")
}

/// Accepts a live view of the cart now showing `view`, opened by
/// `watcher` (a customer's session) or a guest: `101` with the client's
/// socket, which receives `view` at once.
pub fn open(state: &State, view: &CartView, watcher: Option<&Watcher>) -> Result<Response> {
    if state.get_websockets().len() >= MAX_LIVE_VIEWS {
        return problem(429, "this cart has too many live views open");
    }
    let pair = WebSocketPair::new()?;
    match watcher {
        Some(w) => {
            state.accept_websocket_with_tags(&pair.server, &[&tag(&w.session_id)]);
            pair.server.serialize_attachment(w)?;
        }
        None => state.accept_web_socket(&pair.server),
    }
    pair.server.send_with_str(serde_json::to_string(view)?)?;
    Response::from_websocket(pair.client)
}

/// Sends `view` to every live view of the cart; a view whose session has
/// ended by now is closed instead. A socket that cannot take it is
/// closing; the runtime drops it.
pub fn broadcast(state: &State, view: &CartView) {
    let sockets = state.get_websockets();
    if sockets.is_empty() {
        return;
    }
    let Ok(text) = serde_json::to_string(view) else {
        return;
    };
    let now = (Date::now().as_millis() / 1000) as i64;
    for socket in sockets {
        let watcher = socket.deserialize_attachment::<Watcher>().ok().flatten();
        if watcher.is_some_and(|w| w.until <= now) {
            let _ = socket.close(Some(1008), Some("the session ended"));
            continue;
        }
        let _ = socket.send_with_str(&text);
    }
}

/// Closes the live views `session_id` opened (it logged out): how many.
pub fn end(state: &State, session_id: &str) -> usize {
    let sockets = state.get_websockets_with_tag(&tag(session_id));
    for socket in &sockets {
        let _ = socket.close(Some(1008), Some("logged out"));
    }
    sockets.len()
}

/// A message from a page: the only one understood is `"view"` (send the
/// cart again, e.g. after the page was asleep); anything else is ignored.
pub fn answer(socket: &WebSocket, text: Option<&str>, view: impl FnOnce() -> Option<CartView>) {
    if text.map(str::trim) == Some("view")
        && let Some(view) = view()
        && let Ok(text) = serde_json::to_string(&view)
    {
        let _ = socket.send_with_str(&text);
    }
}
