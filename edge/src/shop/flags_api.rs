//! The flags' HTTP use cases: what a browser sees (`/api/flags`), the
//! admin's document (`/admin/flags`, read and compare-and-set through the
//! flags object), and QA override tokens (`/admin/flags/overrides`). The
//! rules they apply are [`super::flags`]'s.

use durable_objects::flags_api::Save;

use super::flags::{self as rules, OverrideAsk};
use super::ports::{Entropy, FlagStore, Saved};
use super::reply::Reply;
use crate::config::EdgeConfig;
use crate::error::EdgeError;
use crate::flags::{self, FlagSet};
use crate::incoming::Incoming;
use crate::session::token::SessionClaims;

/// `GET /api/flags[/{key}]`: the client-visible flags for this browser,
/// evaluated for `session` (if any) at Unix second `now`. A guest without
/// an anonymous id gets one (a cookie) so rollouts stay sticky; at login
/// the bucket moves to the user id. One flag asked by name answers its
/// details only, and gives no cookie.
pub fn browser(
    (set, version): (&FlagSet, i64),
    (rc, config, now): (&Incoming, &EdgeConfig, i64),
    session: Option<&SessionClaims>,
    ids: &impl Entropy,
) -> Result<Reply, EdgeError> {
    let forced = rules::forced(rc, config, now);
    let new_anon = match (&rc.anonymous_id, session) {
        (None, None) => Some(ids.id()?),
        _ => None,
    };
    let anon = rc.anonymous_id.as_deref().or(new_anon.as_deref());
    let ctx = rules::context_of(rc, config, session, anon);
    if let Some(key) = rc.path.strip_prefix("/api/flags/") {
        let query = rc.query.as_deref();
        let details = rules::one_for_browser(set, key, query, &ctx, forced.as_ref(), now);
        return Reply::json(200, &details);
    }
    let body = rules::for_browser(set, version, &ctx, forced.as_ref(), now);
    let reply = Reply::json(200, &body)?;
    Ok(match new_anon {
        Some(id) => reply.header("set-cookie", crate::incoming::anonymous_cookie(&id)),
        None => reply,
    })
}

/// `GET /admin/flags`: the document as saved (the built-in one before the
/// first save), with its version as the `ETag` a save must send back.
pub async fn document(store: &impl FlagStore) -> Result<Reply, EdgeError> {
    let published = store.published().await?;
    let document = match published.document {
        Some(d) => d,
        None => serde_json::from_str(flags::BUILT_IN).unwrap_or_default(),
    };
    Ok(Reply::json(200, &document)?.header("etag", rules::etag(published.version)))
}

/// `PUT /admin/flags` of `body`, replacing version `if_match` (from
/// [`rules::save_version`], checked before the body was read): `200` with
/// the new version, or the store's refusal as it is (`412` when the
/// document changed meanwhile, `503` when saved but not yet published).
pub async fn save(
    store: &impl FlagStore,
    if_match: i64,
    body: Vec<u8>,
) -> Result<Reply, EdgeError> {
    let save: Save = rules::save(if_match, body)?;
    match store.save(save).await? {
        Saved::Published(published) => {
            let body = serde_json::json!({ "version": published.version });
            Ok(Reply::json(200, &body)?.header("etag", rules::etag(published.version)))
        }
        Saved::Refused(answer) => Ok(Reply::raw(
            answer.status,
            origin_adapter::wire::PROBLEM_JSON,
            answer.body,
        )),
    }
}

/// `POST /admin/flags/overrides` of `body`: a signed QA override token a
/// tester sends as `x-flag-override` (or the cookie), under a key derived
/// from `admin_token`.
pub fn override_token(body: &[u8], admin_token: &str, now: i64) -> Result<Reply, EdgeError> {
    let ask: OverrideAsk = crate::request_body::parse_json(body)?;
    Reply::json(200, &rules::override_token(&ask, admin_token, now)?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use durable_objects::flags_api::Published;
    use futures::executor::block_on;

    use super::*;
    use crate::shop::fakes::{CountingIds, config, incoming};
    use crate::shop::ports::ObjectAnswer;

    /// A flags object in memory: compare-and-set on the version.
    #[derive(Default)]
    struct MemoryStore(RefCell<Published>);

    impl FlagStore for MemoryStore {
        async fn published(&self) -> Result<Published, EdgeError> {
            Ok(self.0.borrow().clone())
        }

        async fn save(&self, save: Save) -> Result<Saved, EdgeError> {
            let mut current = self.0.borrow_mut();
            if current.version != save.if_match {
                let body = br#"{"status":412}"#.to_vec();
                let refused = ObjectAnswer {
                    status: 412,
                    body,
                    replayed: false,
                };
                return Ok(Saved::Refused(refused));
            }
            *current = Published {
                version: save.if_match + 1,
                document: Some(save.document),
            };
            Ok(Saved::Published(current.clone()))
        }
    }

    fn etag(reply: &Reply) -> &str {
        reply
            .headers
            .iter()
            .find(|(n, _)| *n == "etag")
            .map(|(_, v)| v.as_str())
            .unwrap()
    }

    #[test]
    fn a_save_replaces_only_the_version_it_read() {
        let store = MemoryStore::default();
        let read = block_on(document(&store)).unwrap();
        assert_eq!(etag(&read), "\"f0\"", "the built-in document is version 0");
        let doc = br#"{"flags":{}}"#.to_vec();
        let saved = block_on(save(&store, 0, doc.clone())).unwrap();
        assert_eq!((saved.status, etag(&saved)), (200, "\"f1\""));
        let stale = block_on(save(&store, 0, doc)).unwrap();
        assert_eq!(stale.status, 412, "a second save from the old read loses");
        let invalid = block_on(save(&store, 1, br#"{"flags":{"x":{}}}"#.to_vec()));
        assert_eq!(invalid.unwrap_err().status(), 400);
        assert_eq!(store.0.borrow().version, 1);
    }

    #[test]
    fn a_guest_gets_a_sticky_id_once_and_a_named_flag_gives_none() {
        let set = FlagSet::parse(flags::BUILT_IN).unwrap();
        let (config, ids) = (config(), CountingIds::default());
        let cookies = |rc: &Incoming| {
            let reply = browser((&set, 3), (rc, &config, 0), None, &ids).unwrap();
            reply
                .headers
                .iter()
                .filter(|(n, _)| *n == "set-cookie")
                .count()
        };
        assert_eq!(cookies(&incoming("GET", "/api/flags", &[])), 1);
        let known = incoming(
            "GET",
            "/api/flags",
            &[("cookie", "__Host-anon=AAAAAAAAAAAAAAAAAAAAAA")],
        );
        assert_eq!(cookies(&known), 0);
        assert_eq!(cookies(&incoming("GET", "/api/flags/new-checkout", &[])), 0);
    }
}
