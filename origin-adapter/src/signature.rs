//! RFC 9421 HTTP Message Signatures, Ed25519 only.
//!
//! Structured fields are parsed and serialised by `sfv`; this module adds
//! only what RFC 9421 itself defines: derived components, the signature
//! base, and the checks a verifier owes (coverage, time window, key, tag).

use ed25519_dalek::{Signature, Signer as _};
use sfv::{
    BareItem, DictSerializer, Dictionary, InnerList, Item, KeyRef, ListEntry, ListSerializer,
    Parameters, Parser, StringRef,
};

use crate::keys::{KeyRing, SigningKey};

/// A covered component: a derived `@` component or a field, by lowercase name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Component {
    Method,
    Authority,
    Path,
    Query,
    Field(String),
}

impl Component {
    /// Parses a component identifier as written in `Signature-Input`.
    pub fn parse(identifier: &str) -> Result<Self, SignatureError> {
        Ok(match identifier {
            "@method" => Component::Method,
            "@authority" => Component::Authority,
            "@path" => Component::Path,
            "@query" => Component::Query,
            derived if derived.starts_with('@') => {
                return Err(SignatureError::UnsupportedComponent(derived.to_owned()));
            }
            field
                if field
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !field.is_empty() =>
            {
                Component::Field(field.to_owned())
            }
            other => return Err(SignatureError::UnsupportedComponent(other.to_owned())),
        })
    }

    /// The identifier as it appears in the signature base.
    pub fn identifier(&self) -> &str {
        match self {
            Component::Method => "@method",
            Component::Authority => "@authority",
            Component::Path => "@path",
            Component::Query => "@query",
            Component::Field(name) => name,
        }
    }
}

/// The parts of a request a signature can cover, as plain borrowed data.
#[derive(Debug, Clone)]
pub struct RequestView<'a> {
    pub method: &'a str,
    /// `host[:port]` as the client addressed it.
    pub authority: &'a str,
    /// The absolute path, without the query.
    pub path: &'a str,
    /// The query without its leading `?`, if the target had one.
    pub query: Option<&'a str>,
    /// Header fields in any case; repeated names are combined per RFC 9421 §2.1.
    pub fields: Vec<(&'a str, &'a str)>,
}

impl RequestView<'_> {
    fn component_value(&self, component: &Component) -> Result<String, SignatureError> {
        Ok(match component {
            Component::Method => self.method.to_owned(),
            Component::Authority => self.authority.to_ascii_lowercase(),
            Component::Path if self.path.is_empty() => "/".to_owned(),
            Component::Path => self.path.to_owned(),
            Component::Query => format!("?{}", self.query.unwrap_or("")),
            Component::Field(name) => {
                let values: Vec<&str> = self
                    .fields
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim())
                    .collect();
                if values.is_empty() {
                    return Err(SignatureError::MissingComponent(name.clone()));
                }
                values.join(", ")
            }
        })
    }
}

/// The `@authority` of a URL's host and explicit port (a default port, which
/// URL parsers report as absent, is left out as RFC 9421 §2.2.3 asks).
pub fn authority(host: &str, port: Option<u16>) -> String {
    match port {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// An absolute URL's parts as RFC 9421 derives its components: the scheme
/// and the `@authority` (lower case, a default port left out, credentials
/// dropped), the path (`/` when empty) and the query, if any. `None` for
/// anything that is not `scheme://authority[/path][?query][#fragment]`.
/// No URL crate: the edge reads every request URL through this, and a
/// full parser (with IDNA tables) costs the Worker more than the request.
pub fn split_url(url: &str) -> Option<UrlParts<'_>> {
    let url = url.split('#').next()?;
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, rest) = rest.split_at(end);
    let host = authority.rsplit('@').next()?;
    if scheme.is_empty() || host.is_empty() {
        return None;
    }
    let scheme = scheme.to_ascii_lowercase();
    let host = host.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => "",
    };
    let authority = match host.strip_suffix(default_port) {
        Some(bare) if !default_port.is_empty() => bare.to_owned(),
        _ => host,
    };
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    Some(UrlParts {
        scheme,
        authority,
        path: if path.is_empty() { "/" } else { path },
        query,
    })
}

/// See [`split_url`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlParts<'a> {
    pub scheme: String,
    pub authority: String,
    pub path: &'a str,
    pub query: Option<&'a str>,
}

/// Signature parameters this contract uses (RFC 9421 §2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureParams {
    /// Unix seconds at which the signer made the signature.
    pub created: i64,
    /// Unix seconds after which the signature is void.
    pub expires: Option<i64>,
    /// A single-use value; the verifier keeps a seen-set within the window.
    pub nonce: Option<String>,
    pub keyid: String,
    /// What the signature is for, so one direction's signature cannot be
    /// replayed as the other's.
    pub tag: Option<String>,
}

/// The two fields a signer adds to a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFields {
    pub signature_input: String,
    pub signature: String,
}

/// Why a signature could not be made or was refused. The text is safe to
/// show to the caller: it names what was wrong, never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureError {
    MissingHeaders,
    Malformed(&'static str),
    UnsupportedComponent(String),
    MissingComponent(String),
    NotCovered(String),
    MissingParameter(&'static str),
    WrongTag,
    CreatedInFuture,
    TooOld,
    Expired,
    UnknownKey(String),
    BadSignature,
}

impl std::fmt::Display for SignatureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignatureError::MissingHeaders => f.write_str(
                "the request is not signed (Signature and Signature-Input are required)",
            ),
            SignatureError::Malformed(what) => write!(f, "malformed signature fields: {what}"),
            SignatureError::UnsupportedComponent(c) => {
                write!(f, "unsupported covered component {c:?}")
            }
            SignatureError::MissingComponent(c) => {
                write!(f, "covered component {c:?} is absent from the message")
            }
            SignatureError::NotCovered(c) => write!(f, "the signature does not cover {c:?}"),
            SignatureError::MissingParameter(p) => {
                write!(f, "the signature has no `{p}` parameter")
            }
            SignatureError::WrongTag => f.write_str("the signature's tag is not for this purpose"),
            SignatureError::CreatedInFuture => {
                f.write_str("the signature was created in the future")
            }
            SignatureError::TooOld => f.write_str("the signature is older than the replay window"),
            SignatureError::Expired => f.write_str("the signature has expired"),
            SignatureError::UnknownKey(k) => write!(f, "unknown key id {k:?}"),
            SignatureError::BadSignature => f.write_str("the signature does not verify"),
        }
    }
}

/// The inner list of covered components with its parameters, as sent in
/// `Signature-Input` and as the `@signature-params` line of the base.
pub fn covered_list(
    components: &[Component],
    params: &SignatureParams,
) -> Result<InnerList, SignatureError> {
    let malformed =
        |_| SignatureError::Malformed("component or parameter is not a valid structured field");
    let items = components
        .iter()
        .map(|c| -> Result<Item, SignatureError> {
            Ok(Item::new(
                StringRef::from_str(c.identifier())
                    .map_err(malformed)?
                    .to_owned(),
            ))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut p = Parameters::new();
    p.insert(key("created"), BareItem::Integer(integer(params.created)?));
    if let Some(expires) = params.expires {
        p.insert(key("expires"), BareItem::Integer(integer(expires)?));
    }
    if let Some(nonce) = &params.nonce {
        p.insert(
            key("nonce"),
            BareItem::String(StringRef::from_str(nonce).map_err(malformed)?.to_owned()),
        );
    }
    p.insert(
        key("keyid"),
        BareItem::String(
            StringRef::from_str(&params.keyid)
                .map_err(malformed)?
                .to_owned(),
        ),
    );
    if let Some(tag) = &params.tag {
        p.insert(
            key("tag"),
            BareItem::String(StringRef::from_str(tag).map_err(malformed)?.to_owned()),
        );
    }
    Ok(InnerList::with_params(items, p))
}

fn key(name: &'static str) -> sfv::Key {
    // The names above are fixed lowercase ASCII, valid keys by construction.
    KeyRef::constant(name).to_owned()
}

fn integer(v: i64) -> Result<sfv::Integer, SignatureError> {
    sfv::Integer::try_from(v).map_err(|_| SignatureError::Malformed("integer out of range"))
}

fn serialize_inner_list(list: &InnerList) -> Result<String, SignatureError> {
    let mut ser = ListSerializer::new();
    ser.members([&ListEntry::InnerList(list.clone())]);
    ser.finish()
        .ok_or(SignatureError::Malformed("empty covered list"))
}

/// The signature base of RFC 9421 §2.5 for `components` of `message`, ending
/// with the `@signature-params` line built from `covered`.
pub fn signature_base(
    message: &RequestView<'_>,
    components: &[Component],
    covered: &InnerList,
) -> Result<String, SignatureError> {
    let mut base = String::new();
    for component in components {
        if component.identifier() == "@signature-params" {
            return Err(SignatureError::UnsupportedComponent(
                "@signature-params".into(),
            ));
        }
        base.push('"');
        base.push_str(component.identifier());
        base.push_str("\": ");
        base.push_str(&message.component_value(component)?);
        base.push('\n');
    }
    base.push_str("\"@signature-params\": ");
    base.push_str(&serialize_inner_list(covered)?);
    Ok(base)
}

/// Signs `message` under `label`, returning the two fields to add.
pub fn sign(
    message: &RequestView<'_>,
    components: &[Component],
    params: &SignatureParams,
    label: &str,
    key: &SigningKey,
) -> Result<SignatureFields, SignatureError> {
    let covered = covered_list(components, params)?;
    let base = signature_base(message, components, &covered)?;
    let signature = key.key().sign(base.as_bytes());
    let label = KeyRef::from_str(label)
        .map_err(|_| SignatureError::Malformed("label is not a valid key"))?;

    let mut input = DictSerializer::new();
    input.members([(label, &ListEntry::InnerList(covered))]);
    let mut sig = DictSerializer::new();
    let _ = sig.bare_item(label, signature.to_bytes().as_slice());
    Ok(SignatureFields {
        signature_input: input
            .finish()
            .ok_or(SignatureError::Malformed("empty Signature-Input"))?,
        signature: sig
            .finish()
            .ok_or(SignatureError::Malformed("empty Signature"))?,
    })
}

/// What a verifier insists on beyond a valid signature.
#[derive(Debug, Clone)]
pub struct VerifyPolicy<'a> {
    /// The label to read from `Signature-Input`/`Signature`.
    pub label: &'a str,
    /// Components that must be covered when present on the message.
    pub required: &'a [Component],
    /// The `tag` the signature must carry.
    pub tag: &'a str,
    /// How old `created` may be, in seconds (the replay window).
    pub max_age: i64,
    /// Tolerated clock skew between signer and verifier, in seconds.
    pub skew: i64,
}

/// A signature that verified, and the parameters it vouched for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub keyid: String,
    pub created: i64,
    pub expires: i64,
    pub nonce: String,
}

/// Verifies `message`'s signature under `policy` at time `now` (Unix seconds).
pub fn verify(
    message: &RequestView<'_>,
    policy: &VerifyPolicy<'_>,
    keys: &KeyRing,
    now: i64,
) -> Result<Verified, SignatureError> {
    let field = |name: &str| {
        let values: Vec<&str> = message
            .fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    };
    let (Some(input), Some(signature)) = (field("signature-input"), field("signature")) else {
        return Err(SignatureError::MissingHeaders);
    };
    let input: Dictionary = Parser::new(&input)
        .parse()
        .map_err(|_| SignatureError::Malformed("Signature-Input is not a dictionary"))?;
    let signature: Dictionary = Parser::new(&signature)
        .parse()
        .map_err(|_| SignatureError::Malformed("Signature is not a dictionary"))?;

    let Some(ListEntry::InnerList(covered)) = input.get(policy.label) else {
        return Err(SignatureError::Malformed(
            "no covered list under the expected label",
        ));
    };
    let Some(ListEntry::Item(Item {
        bare_item: BareItem::ByteSequence(sig_bytes),
        ..
    })) = signature.get(policy.label)
    else {
        return Err(SignatureError::Malformed(
            "no byte-sequence signature under the expected label",
        ));
    };

    let mut components = Vec::with_capacity(covered.items.len());
    for item in &covered.items {
        let (BareItem::String(id), true) = (&item.bare_item, item.params.is_empty()) else {
            return Err(SignatureError::Malformed(
                "component identifiers must be plain strings",
            ));
        };
        components.push(Component::parse(id.as_str())?);
    }
    for required in policy.required {
        let present = match required {
            Component::Field(name) => message
                .fields
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case(name)),
            _ => true,
        };
        if present && !components.contains(required) {
            return Err(SignatureError::NotCovered(required.identifier().to_owned()));
        }
    }

    let int = |name: &'static str| match covered.params.get(name) {
        Some(BareItem::Integer(v)) => Ok(i64::from(*v)),
        Some(_) => Err(SignatureError::Malformed(
            "time parameters must be integers",
        )),
        None => Err(SignatureError::MissingParameter(name)),
    };
    let string = |name: &'static str| match covered.params.get(name) {
        Some(BareItem::String(v)) => Ok(v.as_str().to_owned()),
        Some(_) => Err(SignatureError::Malformed(
            "keyid, nonce and tag must be strings",
        )),
        None => Err(SignatureError::MissingParameter(name)),
    };
    let created = int("created")?;
    let expires = int("expires")?;
    let nonce = string("nonce")?;
    let keyid = string("keyid")?;
    if string("tag")? != policy.tag {
        return Err(SignatureError::WrongTag);
    }
    if created > now + policy.skew {
        return Err(SignatureError::CreatedInFuture);
    }
    if now - created > policy.max_age {
        return Err(SignatureError::TooOld);
    }
    if now > expires + policy.skew {
        return Err(SignatureError::Expired);
    }

    let key = keys
        .get(&keyid)
        .ok_or_else(|| SignatureError::UnknownKey(keyid.clone()))?;
    let sig = Signature::from_slice(sig_bytes).map_err(|_| SignatureError::BadSignature)?;
    let base = signature_base(message, &components, covered)?;
    key.verify_strict(base.as_bytes(), &sig)
        .map_err(|_| SignatureError::BadSignature)?;
    Ok(Verified {
        keyid,
        created,
        expires,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_the_components_a_signature_covers() {
        let p = split_url("HTTPS://user:pw@Shop.Example:443/a/b?c=d&e#frag").unwrap();
        assert_eq!(
            (p.scheme.as_str(), p.authority.as_str()),
            ("https", "shop.example")
        );
        assert_eq!((p.path, p.query), ("/a/b", Some("c=d&e")));
        let p = split_url("http://127.0.0.1:8701").unwrap();
        assert_eq!(
            (p.authority.as_str(), p.path, p.query),
            ("127.0.0.1:8701", "/", None)
        );
        assert_eq!(split_url("http://h:80?q").unwrap().authority, "h");
        assert_eq!(split_url("http://h/p?").unwrap().query, Some(""));
        assert!(split_url("no-scheme/path").is_none());
        assert!(split_url("http:///path").is_none());
    }

    // RFC 9421 Appendix B.1.4 `test-key-ed25519`, as JWK `d` and `x` (base64url).
    const B14_SEED: &str = "n4Ni-HpISpVObnQMW0wOhCKROaIKqKtW_2ZYb2p9KcU";
    const B14_PUBLIC: &str = "JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs";

    // Appendix B.2: the test request.
    fn b2_request() -> RequestView<'static> {
        RequestView {
            method: "POST",
            authority: "example.com",
            path: "/foo",
            query: Some("param=Value&Pet=dog"),
            fields: vec![
                ("Host", "example.com"),
                ("Date", "Tue, 20 Apr 2021 02:07:55 GMT"),
                ("Content-Type", "application/json"),
                (
                    "Content-Digest",
                    "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
                ),
                ("Content-Length", "18"),
            ],
        }
    }

    fn b26_components() -> Vec<Component> {
        [
            "date",
            "@method",
            "@path",
            "@authority",
            "content-type",
            "content-length",
        ]
        .into_iter()
        .map(|c| Component::parse(c).unwrap())
        .collect()
    }

    fn b26_params() -> SignatureParams {
        SignatureParams {
            created: 1618884473,
            expires: None,
            nonce: None,
            keyid: "test-key-ed25519".into(),
            tag: None,
        }
    }

    const B26_BASE: &str = "\"date\": Tue, 20 Apr 2021 02:07:55 GMT\n\
\"@method\": POST\n\
\"@path\": /foo\n\
\"@authority\": example.com\n\
\"content-type\": application/json\n\
\"content-length\": 18\n\
\"@signature-params\": (\"date\" \"@method\" \"@path\" \"@authority\" \"content-type\" \"content-length\");created=1618884473;keyid=\"test-key-ed25519\"";

    #[test]
    fn rfc9421_b26_signature_base() {
        let covered = covered_list(&b26_components(), &b26_params()).unwrap();
        assert_eq!(
            signature_base(&b2_request(), &b26_components(), &covered).unwrap(),
            B26_BASE
        );
    }

    #[test]
    fn rfc9421_b26_signature_is_reproduced_exactly() {
        let key = SigningKey::from_config(&format!("test-key-ed25519:{B14_SEED}")).unwrap();
        let fields = sign(
            &b2_request(),
            &b26_components(),
            &b26_params(),
            "sig-b26",
            &key,
        )
        .unwrap();
        assert_eq!(
            fields.signature_input,
            r#"sig-b26=("date" "@method" "@path" "@authority" "content-type" "content-length");created=1618884473;keyid="test-key-ed25519""#
        );
        assert_eq!(
            fields.signature,
            "sig-b26=:wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==:"
        );
        assert_eq!(
            key.verifying_entry().to_config(),
            format!("test-key-ed25519:{B14_PUBLIC}")
        );
    }

    #[test]
    fn rfc9421_query_and_empty_path_components() {
        let mut req = b2_request();
        assert_eq!(
            req.component_value(&Component::Query).unwrap(),
            "?param=Value&Pet=dog"
        );
        req.query = None;
        assert_eq!(req.component_value(&Component::Query).unwrap(), "?");
        req.path = "";
        assert_eq!(req.component_value(&Component::Path).unwrap(), "/");
        req.authority = "Example.COM:8443";
        assert_eq!(
            req.component_value(&Component::Authority).unwrap(),
            "example.com:8443"
        );
    }

    // --- Our own profile: label "edge", tag, created/expires/nonce required.

    fn ring() -> KeyRing {
        KeyRing::from_config(&format!("test-key-ed25519:{B14_PUBLIC}")).unwrap()
    }

    fn profile() -> (Vec<Component>, SignatureParams) {
        let components = [
            "@method",
            "@authority",
            "@path",
            "@query",
            "content-type",
            "content-digest",
        ]
        .into_iter()
        .map(|c| Component::parse(c).unwrap())
        .collect();
        let params = SignatureParams {
            created: 1_000_000,
            expires: Some(1_000_060),
            nonce: Some("n-1".into()),
            keyid: "test-key-ed25519".into(),
            tag: Some("t".into()),
        };
        (components, params)
    }

    fn policy(required: &[Component]) -> VerifyPolicy<'_> {
        VerifyPolicy {
            label: "edge",
            required,
            tag: "t",
            max_age: 300,
            skew: 5,
        }
    }

    fn signed(params: &SignatureParams) -> Vec<(String, String)> {
        let key = SigningKey::from_config(&format!("test-key-ed25519:{B14_SEED}")).unwrap();
        let (components, _) = profile();
        let f = sign(&b2_request(), &components, params, "edge", &key).unwrap();
        vec![
            ("Signature-Input".into(), f.signature_input),
            ("Signature".into(), f.signature),
        ]
    }

    fn check(
        extra: &[(String, String)],
        tweak: impl FnOnce(&mut RequestView<'_>),
        now: i64,
    ) -> Result<Verified, SignatureError> {
        let mut req = b2_request();
        for (n, v) in extra {
            req.fields.push((n, v));
        }
        tweak(&mut req);
        let required = [
            Component::Method,
            Component::Path,
            Component::Field("content-digest".into()),
        ];
        verify(&req, &policy(&required), &ring(), now)
    }

    #[test]
    fn own_profile_round_trips() {
        let (_, params) = profile();
        let v = check(&signed(&params), |_| {}, 1_000_010).unwrap();
        assert_eq!(v.keyid, "test-key-ed25519");
        assert_eq!(v.nonce, "n-1");
    }

    #[test]
    fn tampering_with_any_covered_part_is_refused() {
        let (_, params) = profile();
        let sig = signed(&params);
        assert_eq!(
            check(&sig, |r| r.method = "PUT", 1_000_010),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            check(&sig, |r| r.path = "/bar", 1_000_010),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            check(&sig, |r| r.query = Some("param=Value&Pet=cat"), 1_000_010),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            check(&sig, |r| r.authority = "evil.example", 1_000_010),
            Err(SignatureError::BadSignature)
        );
        assert_eq!(
            check(
                &sig,
                |r| r.fields.retain(|(n, _)| *n != "Content-Digest"),
                1_000_010
            ),
            Err(SignatureError::MissingComponent("content-digest".into()))
        );
    }

    #[test]
    fn time_window_is_enforced() {
        let (_, params) = profile();
        let sig = signed(&params);
        assert_eq!(
            check(&sig, |_| {}, 1_000_061 + 5),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            check(&sig, |_| {}, 1_000_000 - 6),
            Err(SignatureError::CreatedInFuture)
        );
        let long = SignatureParams {
            expires: Some(2_000_000),
            ..params
        };
        assert_eq!(
            check(&signed(&long), |_| {}, 1_000_301),
            Err(SignatureError::TooOld)
        );
    }

    #[test]
    fn unknown_key_wrong_tag_and_missing_parameters_are_refused() {
        let (_, params) = profile();
        let other = SignatureParams {
            keyid: "someone-else".into(),
            ..params.clone()
        };
        assert_eq!(
            check(&signed(&other), |_| {}, 1_000_010),
            Err(SignatureError::UnknownKey("someone-else".into()))
        );
        let tag = SignatureParams {
            tag: Some("purge".into()),
            ..params.clone()
        };
        assert_eq!(
            check(&signed(&tag), |_| {}, 1_000_010),
            Err(SignatureError::WrongTag)
        );
        let no_nonce = SignatureParams {
            nonce: None,
            ..params.clone()
        };
        assert_eq!(
            check(&signed(&no_nonce), |_| {}, 1_000_010),
            Err(SignatureError::MissingParameter("nonce"))
        );
        let no_expiry = SignatureParams {
            expires: None,
            ..params
        };
        assert_eq!(
            check(&signed(&no_expiry), |_| {}, 1_000_010),
            Err(SignatureError::MissingParameter("expires"))
        );
    }

    #[test]
    fn a_signature_by_another_key_under_the_same_id_is_refused() {
        let (components, params) = profile();
        let impostor = SigningKey::from_seed("test-key-ed25519", [7; 32]);
        let f = sign(&b2_request(), &components, &params, "edge", &impostor).unwrap();
        let sig = vec![
            ("Signature-Input".into(), f.signature_input),
            ("Signature".into(), f.signature),
        ];
        assert_eq!(
            check(&sig, |_| {}, 1_000_010),
            Err(SignatureError::BadSignature)
        );
    }

    #[test]
    fn signatures_that_skip_required_components_are_refused() {
        let key = SigningKey::from_config(&format!("test-key-ed25519:{B14_SEED}")).unwrap();
        let (_, params) = profile();
        let f = sign(&b2_request(), &[Component::Method], &params, "edge", &key).unwrap();
        let sig = vec![
            ("Signature-Input".into(), f.signature_input),
            ("Signature".into(), f.signature),
        ];
        assert_eq!(
            check(&sig, |_| {}, 1_000_010),
            Err(SignatureError::NotCovered("@path".into()))
        );
    }

    #[test]
    fn garbage_fields_are_refused_not_panicked_on() {
        let (_, params) = profile();
        let good = signed(&params);
        for (input, sig) in [
            ("edge=(", good[1].1.as_str()),
            (good[0].1.as_str(), "edge=:!!!:"),
            (good[0].1.as_str(), "edge=\"text\""),
            ("edge=(\"@method\";x=1);created=1", good[1].1.as_str()),
            ("edge=(\"@unknown\");created=1", good[1].1.as_str()),
            ("other=(\"@method\")", good[1].1.as_str()),
            (good[0].1.as_str(), "edge=:AAAA:"),
        ] {
            let extra = vec![
                ("Signature-Input".to_string(), input.to_string()),
                ("Signature".to_string(), sig.to_string()),
            ];
            assert!(check(&extra, |_| {}, 1_000_010).is_err(), "{input} / {sig}");
        }
        assert_eq!(
            check(&[], |_| {}, 1_000_010),
            Err(SignatureError::MissingHeaders)
        );
    }
}
