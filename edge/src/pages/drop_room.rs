//! A drop's waiting room (`/drops/{drop_id}`): the drop's products and
//! times, and where the caller stands in its queue — no place yet,
//! waiting, admitted, expired, closed. The page is the caller's own (it
//! shows their place). It follows the queue by itself: without script it
//! loads itself again when the queue says to ask again (`Retry-After`);
//! with script, `app.js` asks the queue's API instead, updates the place
//! in a live region and, once admitted, goes on to the first product.

use durable_objects::drop::{
    DropConfig, Phase, QueueOrder, Standing, format_time, parse_time, retry_after,
};
use maud::{Markup, html};

use super::views::Refresh;
use crate::error::EdgeError;
use crate::shop::drops::QueueView;

/// A product of the drop as the room lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub sku: String,
    /// The catalog's name; the SKU stands in when the catalog cannot say.
    pub name: String,
}

/// Where the caller stands, as the room shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// No place in the queue: the join form, unless the drop has closed;
    /// `order` says how places are given.
    Out { phase: Phase, order: QueueOrder },
    /// A place, asked about again within the second the queue allows (a
    /// quick reload, another tab following the same place): still
    /// waiting, with nothing new to say; asked again after `retry` seconds.
    Asking { retry: u32 },
    /// The queue's own answer about the place.
    In(QueueView),
}

/// The room: the drop, and the caller's place in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    pub drop_id: String,
    pub products: Vec<Listed>,
    /// RFC 3339, as the queue's API writes them.
    pub opens_at: String,
    pub closes_at: String,
    pub place: Place,
}

/// What the standing use case's answer means for the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// The caller's place.
    Placed(QueueView),
    /// No place (`404`): no ticket, one the queue does not know, or no
    /// drop — the drop itself is read next, and says which.
    NoPlace,
    /// A ticket this browser cannot use (`400`: not this shop's; `403`:
    /// another customer's place): it is cleared, and the room offers the
    /// queue as to someone without one.
    Unusable,
    /// Asked again too soon (`429`): the place is there, and may be asked
    /// about after this many seconds. A page shows it rather than an
    /// error: the room and its script, or two tabs, share one ticket.
    TooSoon(u32),
}

impl Asked {
    /// # Errors
    /// Any other refusal, as it came (a `5xx`).
    pub fn of(answer: Result<QueueView, EdgeError>) -> Result<Asked, EdgeError> {
        match answer {
            Ok(view) => Ok(Asked::Placed(view)),
            Err(e) if e.status() == 404 => Ok(Asked::NoPlace),
            Err(e) if matches!(e.status(), 400 | 403) => Ok(Asked::Unusable),
            Err(e) if e.status() == 429 => {
                let retry = e
                    .headers()
                    .iter()
                    .find(|(n, _)| *n == "retry-after")
                    .and_then(|(_, v)| v.trim().parse::<i64>().ok())
                    .unwrap_or(1);
                Ok(Asked::TooSoon(seconds(retry_after(retry))))
            }
            Err(e) => Err(e),
        }
    }
}

fn listed(skus: &[String]) -> Vec<Listed> {
    skus.iter()
        .map(|sku| Listed {
            sku: sku.clone(),
            name: sku.clone(),
        })
        .collect()
}

fn seconds(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

impl Room {
    /// The room of a caller the queue answered about.
    pub fn joined(view: QueueView) -> Room {
        Room {
            drop_id: view.drop_id.clone(),
            products: listed(&view.skus),
            opens_at: view.opens_at.clone(),
            closes_at: view.closes_at.clone(),
            place: Place::In(view),
        }
    }

    /// The room from the drop as anyone sees it ([`crate::shop::drops::DropCase::outline`]):
    /// for a caller with no place, or one who asked too soon (`asking`).
    /// A closed drop is closed either way.
    pub fn outside(config: &DropConfig, phase: Phase, asking: Option<u32>) -> Room {
        let place = match asking {
            Some(retry) if phase != Phase::Closed => Place::Asking { retry },
            _ => Place::Out {
                phase,
                order: config.order,
            },
        };
        Room {
            drop_id: config.drop_id.clone(),
            products: listed(&config.skus),
            opens_at: format_time(config.opens_at_ms),
            closes_at: format_time(config.closes_at_ms),
            place,
        }
    }

    /// When the page loads itself again: while waiting, when the queue
    /// says to ask again — and only without script, which asks by itself.
    pub fn refresh(&self) -> Option<Refresh> {
        match &self.place {
            Place::Asking { retry } => Some(Refresh::WithoutScript(*retry)),
            Place::In(view) if view.state == Standing::Waiting => Some(Refresh::WithoutScript(
                seconds(retry_after(view.estimated_wait_seconds)),
            )),
            _ => None,
        }
    }

    /// The page's title.
    pub fn title(&self) -> String {
        format!("Drop: {}", self.drop_id)
    }

    /// What `app.js` reads: the state, and while waiting, when to ask.
    fn state(&self) -> (&'static str, Option<u32>) {
        match &self.place {
            Place::Out {
                phase: Phase::Closed,
                ..
            } => ("closed", None),
            Place::Out { .. } => ("out", None),
            Place::Asking { retry } => ("waiting", Some(*retry)),
            Place::In(view) => match view.state {
                Standing::Waiting => (
                    "waiting",
                    Some(seconds(retry_after(view.estimated_wait_seconds))),
                ),
                Standing::Admitted => ("admitted", None),
                Standing::Expired => ("expired", None),
                Standing::Closed => ("closed", None),
            },
        }
    }
}

/// A moment the customer reads: UTC in words, in a `<time>` that
/// `app.js` puts in the reader's own zone.
pub(crate) fn when(rfc3339: &str) -> Markup {
    let words = parse_time(rfc3339)
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000)).ok())
        .map(|t| {
            format!(
                "{} {} {}, {:02}:{:02} UTC",
                t.day(),
                t.month(),
                t.year(),
                t.hour(),
                t.minute()
            )
        })
        .unwrap_or_else(|| rfc3339.to_owned());
    html! { time datetime=(rfc3339) data-local { (words) } }
}

/// An estimated wait in words (`app.js` words it the same way).
pub fn wait_words(seconds: i64) -> String {
    let plural = |n: i64, one: &str, unit: &str| {
        if n == 1 {
            format!("about {one}")
        } else {
            format!("about {n} {unit}")
        }
    };
    match seconds {
        s if s <= 0 => "any moment now".into(),
        s if s < 60 => "less than a minute".into(),
        // Up to 59 minutes; from there the hour is nearer.
        s if s <= 59 * 60 => plural((s + 59) / 60, "a minute", "minutes"),
        s if s < 48 * 3_600 => plural((s + 1_800) / 3_600, "an hour", "hours"),
        s => plural((s + 43_200) / 86_400, "a day", "days"),
    }
}

/// The join form: a button, no fields (the ticket is a cookie).
fn join(drop_id: &str, label: &str) -> Markup {
    html! {
        form method="post" action={ "/drops/" (drop_id) } class="join" {
            button type="submit" { (label) }
        }
    }
}

/// Where the caller stands, in words; the live region is the part
/// `app.js` rewrites while waiting.
fn place(room: &Room) -> Markup {
    let first = room.products.first();
    html! {
        @match &room.place {
            Place::Out { phase: Phase::Closed, .. } => { (closed()) }
            Place::Out { phase, order } => {
                @if *phase == Phase::Scheduled {
                    p { "The drop opens " (when(&room.opens_at)) ". Join the queue now to have a place when it does." }
                } @else {
                    p { "The drop is open. Join the queue: people are let in a few at a time." }
                }
                @if *order == QueueOrder::Random && *phase == Phase::Scheduled {
                    p { "Everyone who joins before it opens is placed by a random draw at opening, so there is no need to hurry." }
                } @else {
                    p { "Places are given in the order people join." }
                }
                (join(&room.drop_id, "Join the queue"))
            }
            Place::Asking { .. } => {
                p id="drop-place" role="status" aria-live="polite" { "You are in the queue. Checking your place…" }
                (keep_open())
            }
            Place::In(view) => { @match view.state {
                Standing::Waiting => {
                    p id="drop-place" role="status" aria-live="polite" {
                        @match view.position {
                            Some(n) => { "You are number " strong { (n) } " in the queue. " }
                            None => { "Your place will be drawn when the drop opens. " }
                        }
                        "Estimated wait: " (wait_words(view.estimated_wait_seconds)) "."
                    }
                    (keep_open())
                }
                Standing::Admitted => {
                    p id="drop-place" role="status" aria-live="polite" {
                        strong { "It is your turn." }
                        @if let Some(until) = &view.admitted_until {
                            " You may add this drop's products to your cart until " (when(until)) "."
                        }
                    }
                    @if let Some(first) = first {
                        p { a class="button" href={ "/p/" (first.sku) } { "Shop " (first.name) " now" } }
                    }
                }
                Standing::Expired => {
                    p id="drop-place" role="status" {
                        "Your turn has ended"
                        @if let Some(until) = &view.admitted_until { " (at " (when(until)) ")" }
                        "."
                    }
                    (join(&room.drop_id, "Join the queue again"))
                }
                Standing::Closed => { (closed()) }
            } }
        }
    }
}

fn keep_open() -> Markup {
    html! { p { "Keep this page open: it follows your place, and lets you in when it is your turn." } }
}

fn closed() -> Markup {
    html! {
        p id="drop-place" role="status" { "This drop has closed." }
        a href="/" { "Back to the shop" }
    }
}

/// The waiting room.
pub fn page(room: &Room) -> Markup {
    let (state, retry) = room.state();
    let next = room.products.first().map(|p| format!("/p/{}", p.sku));
    html! {
        h1 { (room.title()) }
        dl class="sums" {
            dt { "Opens" } dd { (when(&room.opens_at)) }
            dt { "Closes" } dd { (when(&room.closes_at)) }
        }
        section id="drop-room" class="drop" aria-labelledby="drop-place-heading"
            data-drop=(room.drop_id) data-state=(state) data-retry=[retry] data-next=[next] {
            h2 id="drop-place-heading" { "Your place" }
            (place(room))
        }
        section aria-labelledby="drop-products" {
            h2 id="drop-products" { "In this drop" }
            ul class="products" {
                @for p in &room.products {
                    li { a href={ "/p/" (p.sku) } { (p.name) } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-04T17:00:00Z, in Unix milliseconds.
    const OPENS: i64 = 1_796_403_600_000;

    fn config(order: QueueOrder) -> DropConfig {
        DropConfig {
            drop_id: "winter".into(),
            skus: vec!["KIT-0002".into(), "KIT-0003".into()],
            opens_at_ms: OPENS,
            closes_at_ms: OPENS + 3_600_000,
            admit_per_minute: 60,
            order,
            per_customer_limit: 1,
            hold_seconds: 300,
            joins_per_address: 20,
        }
    }

    fn view(state: Standing, position: Option<i64>, wait: i64) -> QueueView {
        QueueView {
            drop_id: "winter".into(),
            state,
            position,
            estimated_wait_seconds: wait,
            opens_at: "2026-12-04T17:00:00Z".into(),
            closes_at: "2026-12-04T18:00:00Z".into(),
            admitted_until: matches!(state, Standing::Admitted | Standing::Expired)
                .then(|| "2026-12-04T17:10:00Z".into()),
            skus: vec!["KIT-0002".into(), "KIT-0003".into()],
        }
    }

    fn render(room: &Room) -> String {
        page(room).into_string()
    }

    #[test]
    fn the_standing_use_case_answers_a_place_no_place_or_ask_again() {
        let placed = view(Standing::Waiting, Some(3), 120);
        assert_eq!(Asked::of(Ok(placed.clone())), Ok(Asked::Placed(placed)));
        let none = EdgeError::not_found("you have no place in this drop's queue");
        assert_eq!(Asked::of(Err(none)), Ok(Asked::NoPlace));
        let soon = EdgeError::too_many_requests("asked too soon").with_header("retry-after", "1");
        assert_eq!(Asked::of(Err(soon)), Ok(Asked::TooSoon(1)));
        let forged = EdgeError::bad_request("the cookie was not issued by this shop");
        assert_eq!(Asked::of(Err(forged)), Ok(Asked::Unusable));
        let theirs = EdgeError::forbidden("this place in the queue is another customer's");
        assert_eq!(Asked::of(Err(theirs)), Ok(Asked::Unusable));
        let down = EdgeError::unavailable("the queue is down");
        assert_eq!(Asked::of(Err(down)).unwrap_err().status(), 503);
    }

    #[test]
    fn without_a_place_the_room_offers_the_queue() {
        let room = Room::outside(&config(QueueOrder::Random), Phase::Scheduled, None);
        let html = render(&room);
        assert!(html.contains("<h1>Drop: winter</h1>"), "{html}");
        assert!(html.contains(r#"<form method="post" action="/drops/winter" class="join">"#));
        assert!(html.contains(">Join the queue<"));
        assert!(html.contains("random draw at opening"));
        assert!(html.contains(
            r#"<time datetime="2026-12-04T17:00:00Z" data-local>4 December 2026, 17:00 UTC</time>"#
        ));
        assert!(html.contains(r#"<a href="/p/KIT-0003">KIT-0003</a>"#));
        assert!(html.contains(r#"data-state="out""#) && !html.contains("data-retry"));
        assert_eq!(room.refresh(), None, "nothing changes until they join");
        let open = render(&Room::outside(&config(QueueOrder::Fifo), Phase::Open, None));
        assert!(open.contains("The drop is open") && open.contains("in the order people join"));
    }

    #[test]
    fn a_waiting_place_says_where_and_how_long_and_follows_itself() {
        let room = Room::joined(view(Standing::Waiting, Some(3), 120));
        let html = render(&room);
        assert!(html.contains("You are number <strong>3</strong> in the queue."));
        assert!(html.contains("Estimated wait: about 2 minutes."));
        assert!(html.contains(r#"role="status" aria-live="polite""#));
        assert!(html.contains(r#"data-state="waiting""#) && html.contains(r#"data-retry="30""#));
        assert!(
            !html.contains("<form method=\"post\" action=\"/drops/"),
            "no second join"
        );
        // The queue's Retry-After (the wait, within 1-30 s), and only without script.
        assert_eq!(room.refresh(), Some(Refresh::WithoutScript(30)));
        let soon = Room::joined(view(Standing::Waiting, Some(1), 4));
        assert_eq!(soon.refresh(), Some(Refresh::WithoutScript(4)));
        let drawn = render(&Room::joined(view(Standing::Waiting, None, 600)));
        assert!(drawn.contains("Your place will be drawn when the drop opens."));
    }

    #[test]
    fn asked_too_soon_the_room_still_waits_rather_than_failing() {
        let room = Room::outside(&config(QueueOrder::Fifo), Phase::Open, Some(1));
        let html = render(&room);
        assert!(html.contains("Checking your place"));
        assert!(html.contains(r#"data-state="waiting""#) && html.contains(r#"data-retry="1""#));
        assert!(!html.contains("Join the queue<"));
        assert_eq!(room.refresh(), Some(Refresh::WithoutScript(1)));
        let closed = Room::outside(&config(QueueOrder::Fifo), Phase::Closed, Some(1));
        assert!(render(&closed).contains("This drop has closed."));
        assert_eq!(closed.refresh(), None);
    }

    #[test]
    fn an_admitted_place_leads_to_the_first_product() {
        let mut room = Room::joined(view(Standing::Admitted, Some(0), 0));
        room.products[0].name = "Chef's <knife>".into();
        let html = render(&room);
        assert!(html.contains("It is your turn."));
        assert!(html.contains("4 December 2026, 17:10 UTC"));
        assert!(
            html.contains(
                r#"<a class="button" href="/p/KIT-0002">Shop Chef's &lt;knife&gt; now</a>"#
            )
        );
        assert!(
            html.contains(r#"data-state="admitted""#)
                && html.contains(r#"data-next="/p/KIT-0002""#)
        );
        assert_eq!(room.refresh(), None);
    }

    #[test]
    fn an_expired_place_may_join_again_and_a_closed_drop_offers_nothing() {
        let html = render(&Room::joined(view(Standing::Expired, None, 0)));
        assert!(html.contains("Your turn has ended"));
        assert!(html.contains(">Join the queue again<"));
        assert!(html.contains(r#"data-state="expired""#));
        for room in [
            Room::joined(view(Standing::Closed, None, 0)),
            Room::outside(&config(QueueOrder::Fifo), Phase::Closed, None),
        ] {
            let html = render(&room);
            assert!(
                html.contains("This drop has closed.")
                    && !html.contains("<form method=\"post\" action=\"/drops/")
            );
            assert!(html.contains(r#"data-state="closed""#));
            assert_eq!(room.refresh(), None);
        }
    }

    #[test]
    fn waits_are_worded_for_people() {
        let cases = [
            (0, "any moment now"),
            (59, "less than a minute"),
            (60, "about a minute"),
            (61, "about 2 minutes"),
            (59 * 60, "about 59 minutes"),
            (59 * 60 + 1, "about an hour"),
            (3_600, "about an hour"),
            (5 * 3_600, "about 5 hours"),
            (3 * 86_400, "about 3 days"),
        ];
        for (seconds, words) in cases {
            assert_eq!(wait_words(seconds), words, "{seconds}");
        }
    }
}
