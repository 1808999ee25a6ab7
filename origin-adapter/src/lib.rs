//! The one contract between the storefront edge and the shop's origins.
//!
//! Everything both sides must agree on lives here and nowhere else:
//!
//! * [`digest`]: RFC 9530 `Content-Digest` of a body;
//! * [`signature`]: RFC 9421 HTTP Message Signatures (Ed25519) — the
//!   signature base, signing, and verification with a replay window;
//! * [`keys`]: signing keys and key rings, as they appear in configuration;
//! * [`forward`]: the edge side — which components a forwarded write covers
//!   and which client headers never reach an origin;
//! * [`purge`]: the other direction — an origin's signed purge to the edge;
//! * [`replay`]: a verifier's memory of nonces it has accepted;
//! * [`wire`]: the JSON bodies both sides speak, RFC 9457 problems included;
//! * [`trace`]: W3C `traceparent`, so edge and origin logs share a trace id;
//! * `idempotency` (feature `origin`): the `Idempotency-Key` draft with
//!   Stripe's semantics, over a store the origin provides;
//! * `layer` (feature `origin`): the origin side, a tower layer that verifies
//!   and rejects before any handler runs.
//!
//! This crate never depends on `worker`, tokio, axum or a database, so it
//! builds for wasm32 and native alike. Time and randomness are always passed
//! in by the caller.

pub mod digest;
pub mod forward;
pub mod keys;
pub mod purge;
pub mod replay;
pub mod signature;
pub mod trace;
pub mod wire;

#[cfg(feature = "origin")]
pub mod idempotency;
#[cfg(feature = "origin")]
pub mod layer;
