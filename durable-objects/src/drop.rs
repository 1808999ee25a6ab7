//! A drop — limited products on sale from a set time — as plain data and
//! its rules: the configuration an admin sends (validated, errors naming
//! the field), the queue's order and pace of admission, and the decision
//! whether a cart may hold more units. Nothing here touches the platform;
//! the queue object ([`crate::drop_object`]) and each SKU's stock object
//! ([`crate::stock_object`]) apply these rules to what they store.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// At most this many SKUs in one drop.
pub const MAX_SKUS: usize = 20;
/// At most this many places in one drop's queue; a join past it is `503`.
pub const MAX_QUEUE: i64 = 200_000;
/// How long an admission lasts from the moment it is first given (seconds).
pub const ADMISSION_SECONDS: i64 = 600;
/// A ticket asks where it stands at most once per this many milliseconds.
pub const MIN_POLL_MS: i64 = 1_000;
/// How long a checkout keeps its holds out of the time limit before the
/// stock asks the cart again (milliseconds): an order on its way is never
/// released under it.
pub const CHECKOUT_PIN_MS: i64 = 10 * 60 * 1000;
/// The longest a drop may run (milliseconds): 31 days.
const MAX_LENGTH_MS: i64 = 31 * 24 * 3600 * 1000;

/// In which order the queue admits.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueueOrder {
    /// First come, first admitted.
    Fifo,
    /// Those who joined before `opens_at` in a random draw, then the rest
    /// in the order they came: arriving early at the second gains nothing.
    Random,
}

/// `PUT /admin/drops/{drop_id}`: a drop as an admin describes it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropRequest {
    /// 1–20 catalog SKUs, each in no other drop.
    pub skus: Vec<String>,
    /// RFC 3339, e.g. `2026-12-04T17:00:00Z`.
    pub opens_at: String,
    /// RFC 3339, after `opens_at`, at most 31 days later.
    pub closes_at: String,
    /// 1–1,000,000 places admitted per minute once open.
    pub admit_per_minute: i64,
    pub order: QueueOrder,
    /// 1–99 units of each SKU per customer (else per device), across carts.
    pub per_customer_limit: i64,
    /// 1–3,600: how long an added unit is held for its cart.
    pub hold_seconds: i64,
    /// 1–1,000,000 new places per client address (an IPv6 /64) in any
    /// [`JOIN_WINDOW_MS`]; 20 unless given. Tickets cost nothing to make,
    /// so one client would otherwise fill the queue and the draw.
    #[serde(default = "default_joins_per_address")]
    #[cfg_attr(
        feature = "openapi",
        schema(default = 20, minimum = 1, maximum = 1_000_000)
    )]
    pub joins_per_address: i64,
}

fn default_joins_per_address() -> i64 {
    20
}

/// The window over which an address's new places are counted: 10 minutes.
pub const JOIN_WINDOW_MS: i64 = 10 * 60 * 1000;

/// A drop as stored and applied: times in Unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DropConfig {
    pub drop_id: String,
    pub skus: Vec<String>,
    pub opens_at_ms: i64,
    pub closes_at_ms: i64,
    pub admit_per_minute: i64,
    pub order: QueueOrder,
    pub per_customer_limit: i64,
    pub hold_seconds: i64,
    #[serde(default = "default_joins_per_address")]
    pub joins_per_address: i64,
}

/// A configuration refused: the field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub detail: String,
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.detail)
    }
}

fn refuse(field: &'static str, detail: impl Into<String>) -> FieldError {
    FieldError {
        field,
        detail: detail.into(),
    }
}

/// Whether `id` can name a drop: 1–40 lower-case letters, digits or `-`
/// (it becomes part of object and cookie names).
pub fn is_drop_id(id: &str) -> bool {
    (1..=40).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Whether `sku` is a catalog SKU: 1–64 letters, digits, `-` or `_`.
pub fn is_sku(sku: &str) -> bool {
    (1..=64).contains(&sku.len())
        && sku
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Unix milliseconds of an RFC 3339 timestamp.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// RFC 3339 UTC of Unix milliseconds `ms`.
pub fn format_time(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

impl DropRequest {
    /// The drop `drop_id` as configured, or the first field that is wrong.
    pub fn validate(&self, drop_id: &str) -> Result<DropConfig, FieldError> {
        if !is_drop_id(drop_id) {
            return Err(refuse("drop_id", "1-40 lower-case letters, digits or '-'"));
        }
        if self.skus.is_empty() || self.skus.len() > MAX_SKUS {
            return Err(refuse("skus", format!("1 to {MAX_SKUS} SKUs")));
        }
        for (i, sku) in self.skus.iter().enumerate() {
            if !is_sku(sku) {
                return Err(refuse(
                    "skus",
                    format!("{sku:?} is not a SKU (1-64 letters, digits, '-' or '_')"),
                ));
            }
            if self.skus[..i].contains(sku) {
                return Err(refuse("skus", format!("{sku:?} is listed twice")));
            }
        }
        let opens = parse_time(&self.opens_at)
            .ok_or_else(|| refuse("opens_at", "an RFC 3339 time, e.g. 2026-12-04T17:00:00Z"))?;
        let closes = parse_time(&self.closes_at)
            .ok_or_else(|| refuse("closes_at", "an RFC 3339 time, e.g. 2026-12-04T18:00:00Z"))?;
        if closes <= opens {
            return Err(refuse("closes_at", "must be after opens_at"));
        }
        if closes - opens > MAX_LENGTH_MS {
            return Err(refuse("closes_at", "a drop runs at most 31 days"));
        }
        if !(1..=1_000_000).contains(&self.admit_per_minute) {
            return Err(refuse(
                "admit_per_minute",
                "a whole number from 1 to 1000000",
            ));
        }
        if !(1..=99).contains(&self.per_customer_limit) {
            return Err(refuse("per_customer_limit", "a whole number from 1 to 99"));
        }
        if !(1..=3600).contains(&self.hold_seconds) {
            return Err(refuse("hold_seconds", "a whole number from 1 to 3600"));
        }
        if !(1..=1_000_000).contains(&self.joins_per_address) {
            return Err(refuse(
                "joins_per_address",
                "a whole number from 1 to 1000000",
            ));
        }
        Ok(DropConfig {
            drop_id: drop_id.to_owned(),
            skus: self.skus.clone(),
            opens_at_ms: opens,
            closes_at_ms: closes,
            admit_per_minute: self.admit_per_minute,
            order: self.order,
            per_customer_limit: self.per_customer_limit,
            hold_seconds: self.hold_seconds,
            joins_per_address: self.joins_per_address,
        })
    }
}

/// Where a drop is in its life at a moment.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before `opens_at`: the queue fills, nobody is admitted.
    Scheduled,
    Open,
    /// From `closes_at`, or ended by an admin.
    Closed,
}

impl DropConfig {
    pub fn phase(&self, now_ms: i64) -> Phase {
        if now_ms < self.opens_at_ms {
            Phase::Scheduled
        } else if now_ms < self.closes_at_ms {
            Phase::Open
        } else {
            Phase::Closed
        }
    }

    /// How many places are admitted by `now_ms`: none before opening; at
    /// opening a second's worth (at least one), then `admit_per_minute`
    /// per minute, evenly.
    pub fn admitted_places(&self, now_ms: i64) -> i64 {
        if now_ms < self.opens_at_ms {
            return 0;
        }
        let elapsed = i128::from(now_ms - self.opens_at_ms) + 1_000;
        let places = ceil_div(i128::from(self.admit_per_minute) * elapsed, 60_000);
        i64::try_from(places).unwrap_or(i64::MAX)
    }

    /// Seconds until the place `rank` (1 = first) is admitted, from `now_ms`.
    pub fn wait_seconds(&self, rank: i64, now_ms: i64) -> i64 {
        if rank <= self.admitted_places(now_ms) {
            return 0;
        }
        // The first moment at which `admitted_places` reaches `rank`.
        let after_open =
            ceil_div(i128::from(rank) * 60_000, i128::from(self.admit_per_minute)) - 1_000;
        let at = i128::from(self.opens_at_ms) + after_open.max(0);
        let wait_ms = (at - i128::from(now_ms)).max(0);
        i64::try_from(ceil_div(wait_ms, 1_000)).unwrap_or(i64::MAX)
    }

    /// The key a ticket is ranked by, stored when it joins: `(band, draw)`,
    /// then its join sequence. With `random` order, those who join before
    /// opening share band 0 and are ordered by their random `draw`; every
    /// later ticket (and every ticket in a `fifo` queue) is band 1, draw 0.
    pub fn rank_key(&self, joined_ms: i64, draw: u32) -> (i64, i64) {
        match self.order {
            QueueOrder::Random if joined_ms < self.opens_at_ms => (0, i64::from(draw)),
            _ => (1, 0),
        }
    }

    /// Whether the queue's order can no longer change: once anyone has
    /// joined, `order` and `opens_at` are what their places were given by.
    pub fn same_queue(&self, other: &DropConfig) -> bool {
        self.order == other.order && self.opens_at_ms == other.opens_at_ms
    }

    /// Whether the position of a ticket in band `band` is known yet: a
    /// random draw is made at opening.
    pub fn position_known(&self, band: i64, now_ms: i64) -> bool {
        band != 0 || now_ms >= self.opens_at_ms
    }
}

/// `a / b` rounded up, for `a >= 0`, `b > 0` (`i128::div_ceil` is unstable).
fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}

/// How long a waiting client should wait before asking again (seconds):
/// the estimated wait, between 1 and 30.
pub fn retry_after(wait_seconds: i64) -> i64 {
    wait_seconds.clamp(1, 30)
}

/// Where one ticket stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    Waiting,
    Admitted,
    /// The admission was given and its time ran out; join again.
    Expired,
    Closed,
}

/// Why a cart may not hold the units it asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldRefusal {
    /// Only `available` more units are left (`409`).
    SoldOut { available: i64 },
    /// A holder (a customer or a device) would pass the drop's limit (`422`).
    OverLimit { limit: i64, holding: i64 },
}

impl HoldRefusal {
    pub fn status(&self) -> u16 {
        match self {
            HoldRefusal::SoldOut { .. } => 409,
            HoldRefusal::OverLimit { .. } => 422,
        }
    }
}

impl std::fmt::Display for HoldRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldRefusal::SoldOut { available: 0 } => {
                f.write_str("sold out: every unit is held or sold")
            }
            HoldRefusal::SoldOut { available } => {
                write!(f, "only {available} more can be held")
            }
            HoldRefusal::OverLimit { limit, holding } => write!(
                f,
                "limit: at most {limit} per customer in this drop ({holding} already in your other carts or orders)"
            ),
        }
    }
}

/// Whether a cart that holds `current` units may hold `wanted`: the units
/// it adds must be free (`free` = stock − every other cart's holds − sold)
/// and no holder of the cart may pass `limit` (`holders` = what each holder
/// — its customer, its device — holds or bought in other carts). Holding
/// fewer is always allowed.
pub fn decide_hold(
    current: i64,
    wanted: i64,
    free: i64,
    holders: &[i64],
    limit: i64,
) -> Result<(), HoldRefusal> {
    if wanted <= current {
        return Ok(());
    }
    if let Some(&holding) = holders.iter().filter(|&&h| h + wanted > limit).max() {
        return Err(HoldRefusal::OverLimit { limit, holding });
    }
    if wanted > free {
        return Err(HoldRefusal::SoldOut {
            available: (free - current).max(0),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> DropRequest {
        DropRequest {
            skus: vec!["KIT-0001".into()],
            opens_at: "2026-12-04T17:00:00Z".into(),
            closes_at: "2026-12-04T18:00:00Z".into(),
            admit_per_minute: 600,
            order: QueueOrder::Fifo,
            per_customer_limit: 2,
            hold_seconds: 600,
            joins_per_address: 20,
        }
    }

    #[test]
    fn a_configuration_is_refused_naming_the_field() {
        let ok = request().validate("winter-drop").unwrap();
        assert_eq!(ok.closes_at_ms - ok.opens_at_ms, 3_600_000);
        assert_eq!(format_time(ok.opens_at_ms), "2026-12-04T17:00:00Z");
        let field = |r: DropRequest, id: &str| r.validate(id).unwrap_err().field;
        assert_eq!(field(request(), "Winter"), "drop_id");
        let mut r = request();
        r.skus = vec![];
        assert_eq!(field(r, "d"), "skus");
        let mut r = request();
        r.skus = vec!["A".into(), "A".into()];
        assert_eq!(field(r, "d"), "skus");
        let mut r = request();
        r.skus = vec!["no spaces".into()];
        assert_eq!(field(r, "d"), "skus");
        let mut r = request();
        r.opens_at = "tomorrow".into();
        assert_eq!(field(r, "d"), "opens_at");
        let mut r = request();
        r.closes_at = r.opens_at.clone();
        assert_eq!(field(r, "d"), "closes_at");
        let mut r = request();
        r.closes_at = "2027-02-01T00:00:00Z".into();
        assert_eq!(field(r, "d"), "closes_at");
        let mut r = request();
        r.admit_per_minute = 0;
        assert_eq!(field(r, "d"), "admit_per_minute");
        let mut r = request();
        r.per_customer_limit = 100;
        assert_eq!(field(r, "d"), "per_customer_limit");
        let mut r = request();
        r.hold_seconds = 0;
        assert_eq!(field(r, "d"), "hold_seconds");
        let mut r = request();
        r.joins_per_address = 0;
        assert_eq!(field(r, "d"), "joins_per_address");
    }

    #[test]
    fn admission_follows_the_pace_from_opening() {
        let c = request().validate("d").unwrap();
        let open = c.opens_at_ms;
        assert_eq!(c.phase(open - 1), Phase::Scheduled);
        assert_eq!(c.admitted_places(open - 1), 0, "nobody before opening");
        assert_eq!(c.admitted_places(open), 10, "a second's worth at once");
        assert_eq!(c.admitted_places(open + 59_000), 600);
        assert_eq!(c.admitted_places(open + 119_000), 1_200);
        assert_eq!(c.wait_seconds(10, open), 0);
        assert_eq!(c.wait_seconds(11, open), 1);
        assert_eq!(c.wait_seconds(600, open), 59);
        assert_eq!(
            c.wait_seconds(5, open - 30_000),
            30,
            "waits for the opening"
        );
        for rank in [1, 11, 599, 1_234] {
            let at = open + c.wait_seconds(rank, open) * 1000;
            assert!(
                c.admitted_places(at) >= rank,
                "admitted when promised: {rank}"
            );
        }
        assert_eq!(c.phase(c.closes_at_ms), Phase::Closed);
        assert_eq!(retry_after(0), 1);
        assert_eq!(retry_after(400), 30);
        let mut slow = request();
        slow.admit_per_minute = 1;
        let slow = slow.validate("d").unwrap();
        assert_eq!(slow.admitted_places(slow.opens_at_ms), 1, "at least one");
    }

    #[test]
    fn a_random_draw_orders_only_those_who_came_before_opening() {
        let mut r = request();
        r.order = QueueOrder::Random;
        let c = r.validate("d").unwrap();
        let early = c.rank_key(c.opens_at_ms - 1, 7);
        let late = c.rank_key(c.opens_at_ms, 7);
        assert_eq!(early, (0, 7));
        assert!(early < late, "every early ticket ranks before a late one");
        assert!(c.rank_key(0, 3) < c.rank_key(0, 9), "by the draw");
        assert!(!c.position_known(0, c.opens_at_ms - 1));
        assert!(c.position_known(0, c.opens_at_ms));
        let fifo = request().validate("d").unwrap();
        assert_eq!(fifo.rank_key(0, 9), (1, 0), "first come, first served");
        assert!(!fifo.same_queue(&c));
    }

    #[test]
    fn a_hold_takes_only_free_units_within_every_holders_limit() {
        assert_eq!(decide_hold(0, 1, 1, &[0], 2), Ok(()));
        assert_eq!(
            decide_hold(0, 1, 0, &[0], 2),
            Err(HoldRefusal::SoldOut { available: 0 })
        );
        assert_eq!(
            decide_hold(1, 3, 2, &[0], 5),
            Err(HoldRefusal::SoldOut { available: 1 })
        );
        assert_eq!(
            decide_hold(0, 1, 10, &[0, 2], 2),
            Err(HoldRefusal::OverLimit {
                limit: 2,
                holding: 2
            }),
            "a device's other cart counts"
        );
        assert_eq!(decide_hold(2, 1, 0, &[5], 2), Ok(()), "fewer always");
        assert_eq!(HoldRefusal::SoldOut { available: 0 }.status(), 409);
        assert_eq!(
            HoldRefusal::OverLimit {
                limit: 1,
                holding: 1
            }
            .status(),
            422
        );
    }
}
