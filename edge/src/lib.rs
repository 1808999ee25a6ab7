//! The storefront edge Worker.
//!
//! Pure decisions live in plain modules, unit-tested on the host:
//! [`routes`], [`config`], [`catalog`], [`cart_cookie`], [`checkout`], [`drops`],
//! [`incoming`] (a request parsed once), [`request_body`], [`forwarding`], [`flags`], [`error`], and the use cases
//! in [`shop`], which reach the platform through small traits (ports). The [`platform`] module is the only one
//! that touches `worker`: it reads inputs, calls the core and performs the
//! effects (Cache API, Durable Objects, origin fetches).

pub mod access_log;
pub mod cart_cookie;
pub mod catalog;
pub mod checkout;
pub mod config;
pub mod contract;
pub mod drops;
pub mod error;
pub mod flags;
pub mod forwarding;
pub mod incoming;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod pages;
pub mod request_body;
pub mod routes;
pub mod session;
pub mod shop;

mod platform;
