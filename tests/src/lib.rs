//! Starting the whole system on one machine — reference origins and real
//! `wrangler dev` (workerd) — for end-to-end tests and `cargo xtask dev`.
//!
//! Every process is started in its own process group and owned by a
//! [`process::Supervised`] guard whose `Drop` ends the whole group, so no
//! process outlives a test, even one that panics.

pub mod cookies;
pub mod process;
pub mod system;
pub mod workspace;

pub use cookies::CookieJar;
pub use system::{System, SystemOptions};
pub use workspace::Workspace;
