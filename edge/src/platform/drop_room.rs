//! A drop's waiting room and its join form, as the shell performs them:
//! the caller's place read through the queue API's own use cases (the
//! page's request as the API request it stands for), the products' names
//! through the catalog cache, rendered by [`crate::pages::drop_room`].

use durable_objects::drop::is_drop_id;
use futures::future::join_all;

use super::pages::{Platform, with_cookies};
use super::ports;
use crate::drops::queue_path;
use crate::error::EdgeError;
use crate::pages::api::{answer, as_api};
use crate::pages::drop_room::{self, Asked, Room};
use crate::pages::views::Shop;
use crate::pages::{forms, see_other};
use crate::shop::drops::QueueView;
use crate::shop::ports::Prices;
use crate::shop::reply::Reply;

/// The queue API's path for the page's `drop_id`; a path that can name no
/// drop is a page that is not there.
fn queue_of(drop_id: &str) -> Result<String, EdgeError> {
    if !is_drop_id(drop_id) {
        return Err(EdgeError::not_found("there is no such drop"));
    }
    Ok(queue_path(drop_id))
}

/// `GET /drops/{drop_id}`: the drop and where the caller stands, with the
/// cookie the queue sets once they are admitted (the admission their
/// adds need).
pub(crate) async fn show(
    shop: &Shop<'_>,
    p: &Platform<'_>,
    drop_id: &str,
) -> Result<Reply, EdgeError> {
    let (drops, guard) = (ports::DropObjects(p.env), ports::GuardObjects(p.env));
    let api = as_api(p.rc, "GET", &queue_of(drop_id)?, 0, None);
    let case = ports::drop_case(&drops, &guard, &api, p.config);
    let asked = case.standing().await;
    let view = match &asked {
        Ok(reply) => answer::<QueueView>(reply),
        Err(e) => Err(e.clone()),
    };
    let mut room = match Asked::of(view)? {
        Asked::Placed(view) => Room::joined(view),
        // The drop as anyone sees it: a `404` here is the page's.
        Asked::NoPlace | Asked::Unusable => {
            let (config, phase) = case.outline().await?;
            Room::outside(&config, phase, None)
        }
        Asked::TooSoon(retry) => {
            let (config, phase) = case.outline().await?;
            Room::outside(&config, phase, Some(retry))
        }
    };
    name_products(p, &mut room).await;
    let content = drop_room::page(&room);
    let page = forms::personal(shop, &room.title(), content, room.refresh());
    Ok(match &asked {
        Ok(reply) => with_cookies(page, reply),
        Err(e) if matches!(e.status(), 400 | 403) => page.header(
            "set-cookie",
            crate::drops::clear_cookie(&crate::drops::ticket_cookie(drop_id)),
        ),
        Err(_) => page,
    })
}

/// The products' names from the catalog, through this location's cache,
/// read side by side; a SKU stands in for a name the catalog cannot give
/// now (the room still shows where the caller stands).
async fn name_products(p: &Platform<'_>, room: &mut Room) {
    let prices = ports::CachedPrices {
        config: p.config,
        ctx: p.ctx,
    };
    let found = join_all(room.products.iter().map(|l| prices.product(&l.sku))).await;
    for (listed, product) in room.products.iter_mut().zip(found) {
        if let Ok(product) = product {
            listed.name = product.name;
        }
    }
}

/// `POST /drops/{drop_id}`: the queue API's join, then back to the room
/// (POST/redirect/GET) with the ticket's cookie. A drop that has closed
/// refuses the join (`409`); its room says it has closed.
pub(crate) async fn join(p: &Platform<'_>, drop_id: &str) -> Result<Reply, EdgeError> {
    let (drops, guard) = (ports::DropObjects(p.env), ports::GuardObjects(p.env));
    let api = as_api(p.rc, "POST", &queue_of(drop_id)?, 0, None);
    let back = see_other(&format!("/drops/{drop_id}"));
    match ports::drop_case(&drops, &guard, &api, p.config)
        .join()
        .await
    {
        Ok(reply) => {
            answer::<QueueView>(&reply)?;
            Ok(with_cookies(back, &reply))
        }
        Err(e) if e.status() == 409 => Ok(back),
        Err(e) => Err(e),
    }
}
