//! A browser's cookies, kept by hand. The edge's cookies are `Secure`
//! `__Host-` cookies and the system under test speaks plain HTTP on
//! 127.0.0.1, where a client's cookie store would not send them back.

use std::collections::BTreeMap;

/// Name → value, as the edge last set them.
#[derive(Debug, Clone, Default)]
pub struct CookieJar(pub BTreeMap<String, String>);

impl CookieJar {
    /// Keeps what an answer's `Set-Cookie` headers set; `Max-Age=0` removes.
    pub fn absorb(&mut self, headers: &reqwest::header::HeaderMap) {
        for set in headers.get_all("set-cookie") {
            let Ok(set) = set.to_str() else { continue };
            let pair = set.split(';').next().unwrap_or_default();
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            if set.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    /// The `Cookie` header a browser would send.
    pub fn header(&self) -> String {
        self.0
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}
