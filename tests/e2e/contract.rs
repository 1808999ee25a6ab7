//! Every answer the end-to-end tests receive from the edge's API is checked
//! against the edge's OpenAPI document (`edge/openapi.json`, the one it
//! serves): the operation must name the status, and a JSON body must
//! match the schema for that status (JSON Schema 2020-12). A drift between
//! what the edge answers and what it promises fails the test that saw it.
//! Pages (HTML) and routes the document does not describe are not the
//! API's and are let through.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

fn document() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = e2e::Workspace::here().root.join("edge/openapi.json");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::Null)
    })
}

/// The document's path template that `path` is an instance of.
fn template(doc: &Value, path: &str) -> Option<String> {
    let wanted: Vec<&str> = path.split('/').collect();
    doc["paths"].as_object()?.keys().find_map(|template| {
        let parts: Vec<&str> = template.split('/').collect();
        let fits = parts.len() == wanted.len()
            && parts
                .iter()
                .zip(&wanted)
                .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p);
        fits.then(|| template.clone())
    })
}

fn pointer_part(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// A validator for the schema at `pointer` in the document (references
/// resolved within it), made once.
fn validator(pointer: &str) -> Result<Arc<jsonschema::Validator>, String> {
    static MADE: OnceLock<Mutex<HashMap<String, Arc<jsonschema::Validator>>>> = OnceLock::new();
    let made = MADE.get_or_init(Mutex::default);
    if let Some(v) = made.lock().map_err(|e| e.to_string())?.get(pointer) {
        return Ok(Arc::clone(v));
    }
    let mut root = document().clone();
    // A JSON Pointer in a URI fragment: braces are percent-encoded.
    let fragment = pointer.replace('{', "%7B").replace('}', "%7D");
    root["$ref"] = Value::String(format!("#{fragment}"));
    root["$schema"] = Value::String("https://json-schema.org/draft/2020-12/schema".into());
    let v = Arc::new(
        jsonschema::draft202012::new(&root)
            .map_err(|e| format!("the document's schema at {pointer}: {e}"))?,
    );
    made.lock()
        .map_err(|e| e.to_string())?
        .insert(pointer.to_owned(), Arc::clone(&v));
    Ok(v)
}

/// Checks one answer: `method` to `path`, answered `status` with
/// `content_type` and `body`.
pub fn check(
    method: &str,
    path: &str,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> Result<(), String> {
    let doc = document();
    if doc.is_null() {
        return Err("edge/openapi.json could not be read".into());
    }
    let Some(template) = template(doc, path) else {
        // Not an operation: a page, or nothing — the API's prefixes answer
        // nothing but a problem there.
        let api = path.starts_with("/api/") || path.starts_with("/admin/");
        if api
            && !(matches!(status, 404 | 405)
                && content_type.starts_with("application/problem+json"))
        {
            return Err(format!(
                "{method} {path} answered {status} ({content_type}) where the document has no operation"
            ));
        }
        return Ok(());
    };
    let method = method.to_ascii_lowercase();
    let operation = &doc["paths"][&template][&method];
    // A method the route does not take is the router's 405, not an operation's.
    if operation.is_null() || status == 405 {
        return Ok(());
    }
    let answer = &operation["responses"][status.to_string()];
    if answer.is_null() {
        return Err(format!(
            "{} {template} answered {status}, which the document does not name",
            method.to_uppercase()
        ));
    }
    let media = content_type.split(';').next().unwrap_or_default().trim();
    let declared = answer["content"].as_object().is_some_and(|c| !c.is_empty());
    if method == "head" || (!declared && body.is_empty()) {
        return Ok(());
    }
    if answer["content"][media].is_null() {
        return Err(format!(
            "{} {template} {status} answered {media}, which the document does not name",
            method.to_uppercase()
        ));
    }
    let pointer = format!(
        "/paths/{}/{method}/responses/{status}/content/{}/schema",
        pointer_part(&template),
        pointer_part(media)
    );
    let instance: Value = serde_json::from_slice(body).map_err(|e| {
        format!(
            "{} {template} {status}: not JSON: {e}",
            method.to_uppercase()
        )
    })?;
    let v = validator(&pointer)?;
    let errors: Vec<String> = v
        .iter_errors(&instance)
        .take(3)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} {template} {status} does not match the document: {}",
            method.to_uppercase(),
            errors.join("; ")
        ))
    }
}

/// One answer to check: method, path, status, media type, body, and
/// whether it keeps to the document.
type Case<'a> = (&'a str, &'a str, u16, &'a str, &'a [u8], bool);

/// The check itself can fail: a drift in status, body or media type is
/// caught, and what the document does not describe passes.
pub fn a_drift_from_the_document_is_caught(_: &e2e::System) -> Result<(), libtest_mimic::Failed> {
    let json = "application/json";
    let product = br#"{"sku":"KIT-0001","name":"Knife","description":"d","category":"kitchen","price":{"amount_minor":100,"currency":"EUR"},"stock":1}"#;
    let cases: [Case; 9] = [
        ("GET", "/api/products/KIT-0001", 200, json, product, true),
        (
            "GET",
            "/api/products/KIT-0001",
            200,
            json,
            br#"{"sku":1}"#,
            false,
        ),
        ("GET", "/api/products/KIT-0001", 418, json, b"{}", false),
        (
            "GET",
            "/api/products/KIT-0001",
            200,
            "text/plain",
            b"x",
            false,
        ),
        ("POST", "/api/cart/items", 200, "text/html", b"<p>", false),
        ("GET", "/api/cart", 200, json, br#"{"cart_id":""}"#, false),
        ("GET", "/p/KIT-0001", 200, "text/html", b"<p>", true),
        ("GET", "/api/nothing", 200, json, b"{}", false),
        (
            "GET",
            "/api/nothing",
            404,
            "application/problem+json",
            b"{}",
            true,
        ),
    ];
    for (method, path, status, media, body, passes) in cases {
        let verdict = check(method, path, status, media, body);
        if verdict.is_ok() != passes {
            return Err(format!("{method} {path} {status} {media}: {verdict:?}").into());
        }
    }
    Ok(())
}

pub fn scenarios() -> super::Area {
    let shared: Vec<(&'static str, super::Scenario)> = vec![(
        "contract::a_drift_from_the_document_is_caught",
        a_drift_from_the_document_is_caught,
    )];
    (shared, Vec::new())
}
