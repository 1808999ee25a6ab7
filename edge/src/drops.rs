//! A drop at the edge, as plain data: the two passes a browser carries
//! (a ticket — its place in the queue — and, once admitted, an admission
//! bound to that ticket and to the customer), each an HMAC-SHA256-tagged
//! `__Host-` cookie the edge checks without a round trip; and what an add
//! of a drop SKU needs ([`terms`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use durable_objects::drop::{DropConfig, Phase, format_time, is_drop_id};
use durable_objects::drop_api::{HoldTerms, customer_holder, device_holder, stock_name};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::EdgeError;

/// What the pass keys are derived for (see `SessionKeys::derive`).
pub const KEY_PURPOSE: &str = "storefront-edge drop passes v1";
/// How long a browser keeps a ticket (seconds): a drop runs at most 31 days.
const TICKET_MAX_AGE: i64 = 31 * 24 * 3600;

/// The ticket cookie of drop `drop_id`.
pub fn ticket_cookie(drop_id: &str) -> String {
    format!("__Host-drop-{drop_id}")
}

/// The admission cookie of drop `drop_id`.
pub fn admission_cookie(drop_id: &str) -> String {
    format!("__Host-admit-{drop_id}")
}

/// The API path of a drop's queue.
pub fn queue_path(drop_id: &str) -> String {
    format!("/api/drops/{drop_id}/queue")
}

/// The drop id in `/api/drops/{drop_id}/queue` or `/admin/drops/{drop_id}`
/// (`400` when it cannot name a drop).
pub fn drop_id_in(path: &str) -> Result<&str, EdgeError> {
    let id = path
        .strip_prefix("/api/drops/")
        .and_then(|rest| rest.strip_suffix("/queue"))
        .or_else(|| path.strip_prefix("/admin/drops/"))
        .or_else(|| path.strip_prefix("/drops/"))
        .unwrap_or_default();
    if is_drop_id(id) {
        Ok(id)
    } else {
        Err(EdgeError::bad_request(
            "a drop id is 1-40 lower-case letters, digits or '-'",
        ))
    }
}

/// Signs and checks the passes; the first key signs, all verify.
pub struct PassKeys(pub Vec<[u8; 32]>);

fn tag(key: &[u8; 32], parts: &[&str]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    for part in parts {
        // Length-prefixed, so no two lists of parts read the same.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part.as_bytes());
    }
    Some(mac)
}

fn is_ticket(value: &str) -> bool {
    value.len() == 22 && URL_SAFE_NO_PAD.decode(value).is_ok_and(|b| b.len() == 16)
}

/// An admission the edge can trust: its ticket, and until when (Unix seconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admission {
    pub ticket: String,
    pub until: i64,
}

impl PassKeys {
    fn sign(&self, parts: &[&str]) -> String {
        self.0
            .first()
            .and_then(|k| tag(k, parts))
            .map(|m| URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()))
            .unwrap_or_default()
    }

    fn verify(&self, parts: &[&str], mac: &str) -> bool {
        let Ok(mac) = URL_SAFE_NO_PAD.decode(mac) else {
            return false;
        };
        self.0
            .iter()
            .filter_map(|k| tag(k, parts))
            .any(|m| m.verify_slice(&mac).is_ok())
    }

    /// `Set-Cookie` of `ticket`'s place in drop `drop_id`.
    pub fn set_ticket(&self, drop_id: &str, ticket: &str) -> String {
        let mac = self.sign(&["ticket", drop_id, ticket]);
        cookie(
            &ticket_cookie(drop_id),
            &format!("{ticket}.{mac}"),
            TICKET_MAX_AGE,
        )
    }

    /// The ticket of drop `drop_id` in a `Cookie` header: `None` without
    /// one, `400` for one this shop did not issue.
    pub fn ticket(&self, drop_id: &str, header: Option<&str>) -> Result<Option<String>, EdgeError> {
        let Some(value) = find(header, &ticket_cookie(drop_id)) else {
            return Ok(None);
        };
        match value.split_once('.') {
            Some((ticket, mac))
                if is_ticket(ticket) && self.verify(&["ticket", drop_id, ticket], mac) =>
            {
                Ok(Some(ticket.to_owned()))
            }
            _ => Err(EdgeError::bad_request(format!(
                "the {} cookie was not issued by this shop; delete it and join again",
                ticket_cookie(drop_id)
            ))),
        }
    }

    /// `Set-Cookie` of an admission to drop `drop_id` for `ticket` and
    /// `customer` (or the device alone), until Unix second `until`.
    pub fn set_admission(
        &self,
        drop_id: &str,
        (ticket, customer): (&str, Option<&str>),
        until: i64,
        now: i64,
    ) -> String {
        let until_text = until.to_string();
        let who = customer.unwrap_or("");
        let mac = self.sign(&["admit", drop_id, ticket, &until_text, who]);
        cookie(
            &admission_cookie(drop_id),
            &format!("{ticket}.{until}.{mac}"),
            (until - now).max(0),
        )
    }

    /// The admission to drop `drop_id` in a `Cookie` header, if it is this
    /// shop's, for the ticket beside it and for `customer` (the session's,
    /// or none for a guest), and not past at Unix second `now`.
    pub fn admission(
        &self,
        drop_id: &str,
        header: Option<&str>,
        customer: Option<&str>,
        now: i64,
    ) -> Option<Admission> {
        let ticket = self.ticket(drop_id, header).ok().flatten()?;
        let value = find(header, &admission_cookie(drop_id))?;
        let mut parts = value.splitn(3, '.');
        let (admitted, until, mac) = (parts.next()?, parts.next()?, parts.next()?);
        let until_s: i64 = until.parse().ok()?;
        let signed = ["admit", drop_id, admitted, until, customer.unwrap_or("")];
        (admitted == ticket && until_s > now && self.verify(&signed, mac)).then_some(Admission {
            ticket,
            until: until_s,
        })
    }
}

fn find(header: Option<&str>, name: &str) -> Option<String> {
    Cookie::split_parse(header?)
        .flatten()
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// The `Set-Cookie` that removes cookie `name` (a pass this shop cannot
/// read: the browser would otherwise present it for a month).
pub fn clear_cookie(name: &str) -> String {
    cookie(name, "", 0)
}

fn cookie(name: &str, value: &str, max_age: i64) -> String {
    Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(cookie::time::Duration::seconds(max_age))
        .build()
        .to_string()
}

/// Where a drop SKU's units are sold from: the region whose origin will
/// place the order (and check its stock), and that origin's base URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoldFrom {
    pub region: String,
    pub origin: String,
}

/// What an add of a drop SKU needs: the drop open and an admission (from
/// [`PassKeys::admission`]); the units then count against the device
/// (its ticket) and the customer, if logged in, in the stock of the region
/// the order will go to. Once the drop has closed anyone may add its SKUs
/// without an admission, but still as holds: the holds taken while it was
/// open keep their units until they end (an admin ends the drop for the
/// SKUs to be ordinary products again).
///
/// # Errors
/// `403` before the drop opens, or while it is open without an admission
/// (with a `Link` to the queue).
pub fn terms(
    (drop, sku): (&DropConfig, &str),
    admission: Option<Admission>,
    customer: Option<&str>,
    from: &SoldFrom,
    now_ms: i64,
) -> Result<Option<HoldTerms>, EdgeError> {
    let queue = queue_path(&drop.drop_id);
    let room = format!("/drops/{}", drop.drop_id);
    let refused = |detail: String| {
        EdgeError::forbidden(detail).with_header(
            "link",
            format!("<{queue}>; rel=\"https://storefront-edge.dev/rel/drop-queue\""),
        )
    };
    match drop.phase(now_ms) {
        Phase::Scheduled => {
            return Err(refused(format!(
                "this product is in a drop that opens at {}; join its queue at {room}",
                format_time(drop.opens_at_ms)
            )));
        }
        Phase::Closed => {}
        Phase::Open if admission.is_none() => {
            return Err(refused(format!(
                "this product is in a drop: it can be added once its queue admits you ({room})"
            )));
        }
        Phase::Open => {}
    }
    let mut holders: Vec<String> = admission.iter().map(|a| device_holder(&a.ticket)).collect();
    if let Some(customer) = customer {
        holders.push(customer_holder(&drop.drop_id, customer));
    }
    Ok(Some(HoldTerms {
        drop: drop.drop_id.clone(),
        stock: stock_name(sku, &from.region),
        holders,
        limit: drop.per_customer_limit,
        hold_seconds: drop.hold_seconds,
        source: format!(
            "{}{}{sku}",
            from.origin,
            origin_adapter::wire::paths::PRODUCT_PREFIX
        ),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use durable_objects::drop::{DropRequest, QueueOrder};

    fn keys() -> PassKeys {
        PassKeys(vec![[1; 32], [2; 32]])
    }

    fn pair(set: &str) -> String {
        set.split(';').next().unwrap().to_owned()
    }

    const TICKET: &str = "AAAAAAAAAAAAAAAAAAAAAA";

    fn drop() -> DropConfig {
        DropRequest {
            skus: vec!["KIT-0001".into()],
            opens_at: "2026-12-04T17:00:00Z".into(),
            closes_at: "2026-12-04T18:00:00Z".into(),
            admit_per_minute: 60,
            order: QueueOrder::Fifo,
            per_customer_limit: 2,
            hold_seconds: 300,
            joins_per_address: 20,
        }
        .validate("winter")
        .unwrap()
    }

    #[test]
    fn paths_name_a_drop_or_are_refused() {
        assert_eq!(drop_id_in("/api/drops/winter-1/queue"), Ok("winter-1"));
        assert_eq!(drop_id_in("/admin/drops/winter-1"), Ok("winter-1"));
        assert_eq!(drop_id_in("/drops/winter-1"), Ok("winter-1"));
        for bad in [
            "/api/drops/Winter/queue",
            "/admin/drops/",
            "/api/drops/a%2Fb/queue",
        ] {
            assert_eq!(drop_id_in(bad).unwrap_err().status(), 400, "{bad}");
        }
    }

    #[test]
    fn a_ticket_is_the_shops_and_its_drops() {
        let set = keys().set_ticket("winter", TICKET);
        for part in ["__Host-drop-winter=", "Path=/", "Secure", "HttpOnly"] {
            assert!(set.contains(part), "{set} lacks {part}");
        }
        let header = pair(&set);
        assert_eq!(
            keys().ticket("winter", Some(&header)),
            Ok(Some(TICKET.into()))
        );
        assert_eq!(keys().ticket("summer", Some(&header)), Ok(None));
        let moved = header.replace("drop-winter", "drop-summer");
        assert_eq!(
            keys().ticket("summer", Some(&moved)).unwrap_err().status(),
            400
        );
        let forged = PassKeys(vec![[9; 32]]).set_ticket("winter", TICKET);
        assert_eq!(
            keys()
                .ticket("winter", Some(&pair(&forged)))
                .unwrap_err()
                .status(),
            400
        );
    }

    #[test]
    fn an_admission_holds_only_with_its_ticket_its_customer_and_its_time() {
        let k = keys();
        let ticket = pair(&k.set_ticket("winter", TICKET));
        let admit = pair(&k.set_admission("winter", (TICKET, Some("u-1")), 1_600, 1_000));
        let both = format!("{ticket}; {admit}");
        let found = k.admission("winter", Some(&both), Some("u-1"), 1_000);
        assert_eq!(found.map(|a| a.until), Some(1_600));
        assert!(
            k.admission("winter", Some(&both), Some("u-2"), 1_000)
                .is_none(),
            "another customer"
        );
        assert!(
            k.admission("winter", Some(&both), None, 1_000).is_none(),
            "logged out"
        );
        assert!(
            k.admission("winter", Some(&both), Some("u-1"), 1_600)
                .is_none(),
            "past"
        );
        assert!(
            k.admission("winter", Some(&admit), Some("u-1"), 1_000)
                .is_none(),
            "no ticket"
        );
        let other = pair(&k.set_ticket("winter", "BBBBBBBBBBBBBBBBBBBBBB"));
        let swapped = format!("{other}; {admit}");
        assert!(
            k.admission("winter", Some(&swapped), Some("u-1"), 1_000)
                .is_none(),
            "another ticket"
        );
        let stretched = both.replace(".1600.", ".9999.");
        assert!(
            k.admission("winter", Some(&stretched), Some("u-1"), 1_000)
                .is_none()
        );
        let guest = format!(
            "{ticket}; {}",
            pair(&k.set_admission("winter", (TICKET, None), 1_600, 1_000))
        );
        assert!(k.admission("winter", Some(&guest), None, 1_000).is_some());
    }

    #[test]
    fn an_add_needs_an_open_drop_and_an_admission() {
        let d = drop();
        let admission = || {
            Some(Admission {
                ticket: TICKET.into(),
                until: i64::MAX,
            })
        };
        let us = SoldFrom {
            region: "us".into(),
            origin: "https://us.example".into(),
        };
        let of = (&d, "KIT-0001");
        let early = terms(of, admission(), None, &us, d.opens_at_ms - 1).unwrap_err();
        assert_eq!(early.status(), 403);
        assert!(early.detail().contains("opens at 2026-12-04T17:00:00Z"));
        assert!(early.detail().contains("/drops/winter"), "the waiting room");
        let none = terms(of, None, None, &us, d.opens_at_ms).unwrap_err();
        assert_eq!(none.status(), 403);
        assert!(
            none.headers()
                .iter()
                .any(|(n, v)| *n == "link" && v.contains("/api/drops/winter/queue"))
        );
        let late = terms(of, None, None, &us, d.closes_at_ms).unwrap().unwrap();
        assert!(
            late.holders.is_empty(),
            "closed: no admission, still a hold"
        );
        let t = terms(of, admission(), Some("u-1"), &us, d.opens_at_ms)
            .unwrap()
            .unwrap();
        assert_eq!(
            t.holders,
            vec![format!("device:{TICKET}"), "customer:winter:u-1".to_owned()]
        );
        assert_eq!((t.limit, t.hold_seconds), (2, 300));
        assert_eq!(t.stock, "KIT-0001@us");
        assert_eq!(t.source, "https://us.example/catalog/products/KIT-0001");
    }
}
