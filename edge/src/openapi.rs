//! The edge API as an OpenAPI 3.1 document (`GET /api/openapi.json`). Its
//! schemas are made from the Rust types the edge reads and answers (utoipa,
//! at build time: this module is compiled only with the `openapi` feature,
//! natively); its operations — routes, parameters with their limits,
//! statuses, headers, cookies, links — are written here once. The Worker
//! serves the document as generated (`edge/openapi.json`); a unit test
//! fails when the committed file is not what this module makes
//! (`OPENAPI_WRITE=1 cargo test -p edge --features openapi openapi` writes
//! it again).

use serde_json::{Map, Value, json};
use utoipa::openapi::ComponentsBuilder;

use durable_objects::cart::{CartStatus, MergeConflict, MergeReport};
use durable_objects::cart_api::{CartView, LineView, LogEntry, OutboxView};
use origin_adapter::wire::{
    Address, AddressRequest, Category, Identity, LoginRequest, Money, Order, OrderLine, Payment,
    Problem, Product, ProductPage, PurgeRequest, Review, ReviewRequest,
};

use crate::shop::cart::{AddItem, SetQuantity};
use crate::shop::drops::{DropCounts, DropView, QueueView};
use crate::shop::session::SessionView;
use durable_objects::drop::{DropRequest, Phase, QueueOrder, Standing};
use durable_objects::drop_api::StockCounts;

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn json_body(schema_value: Value) -> Value {
    json!({ "application/json": { "schema": schema_value } })
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": { "schema": schema("Problem") } },
    })
}

/// The headers every answer carries, added to each response.
fn with_common_headers(mut responses: Value) -> Value {
    if let Some(all) = responses.as_object_mut() {
        for (status, answer) in all.iter_mut() {
            let headers = answer
                .as_object_mut()
                .map(|a| a.entry("headers").or_insert_with(|| json!({})));
            if let Some(Value::Object(h)) = headers {
                h.insert("X-Request-Id".into(), header("X-Request-Id"));
                h.insert("Server-Timing".into(), header("Server-Timing"));
                if matches!(status.as_str(), "429" | "503") {
                    h.insert("Retry-After".into(), header("Retry-After"));
                }
            }
        }
    }
    responses
}

fn header(name: &str) -> Value {
    json!({ "$ref": format!("#/components/headers/{name}") })
}

fn param(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

/// An answer with a JSON body of `body` and the headers named.
fn ok(description: &str, body: Value, headers: &[&str]) -> Value {
    let mut answer = json!({ "description": description, "content": json_body(body) });
    if !headers.is_empty() {
        let named: Map<String, Value> = headers
            .iter()
            .map(|h| ((*h).to_owned(), header(h)))
            .collect();
        answer["headers"] = Value::Object(named);
    }
    answer
}

/// The problems every operation may answer, besides its own.
fn with_problems(mut responses: Value, own: &[(&str, &str)]) -> Value {
    for (status, why) in own {
        responses[*status] = problem(why);
    }
    responses["500"] = problem("the edge failed; the cause is logged, never sent");
    with_common_headers(responses)
}

fn catalog_read(id: &str, summary: &str, body: Value, params: Vec<Value>) -> Value {
    json!({
        "get": {
            "operationId": id,
            "summary": summary,
            "tags": ["catalog"],
            "parameters": params,
            "responses": with_problems(json!({
                "200": ok("from the edge cache or the catalog origin", body,
                          &["ETag", "Cache-Status", "Cache-Control", "Server-Timing"]),
                "304": { "description": "the client's copy (If-None-Match) is current" },
            }), &[("400", "a bad parameter, named"), ("404", "no such resource"),
                  ("502", "the catalog origin failed"), ("504", "the catalog origin did not answer in time")]),
        }
    })
}

fn paths() -> Value {
    let sku = json!({ "name": "sku", "in": "path", "required": true,
                      "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$" } });
    let drop_id = json!({ "name": "drop_id", "in": "path", "required": true,
                          "schema": { "type": "string", "pattern": "^[a-z0-9-]{1,40}$" } });
    let cart_ok = |d: &str| ok(d, schema("CartView"), &["ETag", "Idempotent-Replayed"]);
    let change_problems = [
        ("400", "a malformed body or key"),
        (
            "403",
            "a cross-site write, or a drop SKU without an admission (Link: the drop's queue)",
        ),
        ("404", "no cart or line"),
        (
            "409",
            "the cart is checking out or checked out, or a drop SKU is sold out",
        ),
        ("412", "If-Match names another version"),
        ("413", "the body is over 16 KiB"),
        ("415", "not application/json"),
        (
            "422",
            "a quantity outside 1–99, a full cart, a drop's per-customer limit, or a key reused with another body",
        ),
        ("503", "maintenance: changes are paused (Retry-After)"),
    ];
    json!({
        "/healthz": { "get": { "operationId": "liveness", "summary": "The isolate answers.", "tags": ["operations"],
            "responses": { "200": ok("alive", json!({"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]}), &[]) } } },
        "/api/openapi.json": { "get": { "operationId": "openapi", "summary": "This document.", "tags": ["operations"],
            "parameters": [param("IfNoneMatch")],
            "responses": with_common_headers(json!({
                "200": ok("OpenAPI 3.1", json!({ "type": "object" }), &["ETag", "Cache-Control"]),
                "304": { "description": "the client's copy (If-None-Match) is current", "headers": { "ETag": header("ETag") } } })) } },
        "/api/categories": catalog_read("listCategories", "The categories with their product counts.",
            json!({ "type": "array", "items": schema("Category") }), vec![param("IfNoneMatch")]),
        "/api/products": catalog_read("listProducts", "A page of products.", schema("ProductPage"),
            vec![param("Category"), param("Sort"), param("Limit"), param("Cursor"), param("IfNoneMatch")]),
        "/api/products/{sku}": catalog_read("getProduct", "A product.", schema("Product"), vec![sku.clone(), param("IfNoneMatch")]),
        "/api/search": catalog_read("searchProducts", "Full-text search over names and descriptions.", schema("ProductPage"),
            vec![param("Query"), param("Limit"), param("Cursor"), param("IfNoneMatch")]),
        "/api/purge": { "post": { "operationId": "purge", "tags": ["origins"],
            "summary": "For origins only: purge cached entries, RFC 9421-signed with an origin key.",
            "security": [{ "originSignature": [] }],
            "requestBody": { "required": true, "content": json_body(schema("PurgeRequest")) },
            "responses": with_problems(json!({ "200": ok("purged", json!({"type": "object",
                "properties": {"purged_entries": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "string"}}}}), &[]) }),
                &[("400", "a malformed purge, or over 100 SKUs or categories"), ("401", "not signed by an origin key"),
                  ("413", "a body over 16 KiB"), ("503", "too many purges at once (Retry-After)")]) } },
        "/api/session": {
            "get": { "operationId": "whoAmI", "summary": "Who the session is (renewed when it slides).", "tags": ["session"],
                "security": [{}, { "session": [] }],
                "responses": with_problems(json!({ "200": ok("the session, or anonymous", schema("SessionView"), &[]) }), &[]) },
            "post": { "operationId": "logIn", "summary": "Log in; a guest cart is merged.", "tags": ["session"],
                "requestBody": { "required": true, "content": json_body(schema("LoginRequest")) },
                "responses": with_problems(json!({ "200": {
                    "description": "logged in: the identity, and the guest cart's merge; sets `__Host-session`",
                    "content": json_body(json!({ "allOf": [schema("Identity"), {"type": "object", "properties": {"cart_merge": schema("MergeReport")}}] })),
                    "links": { "orders": { "operationId": "listOrders" }, "cart": { "operationId": "getCart" } } } }),
                    &[("400", "a malformed body"), ("401", "wrong email or password (never says which)"),
                      ("413", "the body is over 16 KiB"), ("415", "not application/json"),
                      ("403", "a cross-site login"), ("429", "too many failed logins (Retry-After)"),
                      ("502", "the identity service failed"), ("503", "the identity service is shedding load or its breaker is open"), ("504", "the identity service did not answer in time")]) },
            "delete": { "operationId": "logOut", "summary": "Log out: the session is revoked everywhere.", "tags": ["session"],
                "security": [{}, { "session": [] }],
                "responses": with_problems(json!({ "200": ok("anonymous; the cookie cleared", schema("SessionView"), &[]) }), &[("403", "a cross-site write")]) } },
        "/api/orders": { "get": { "operationId": "listOrders", "summary": "The customer's orders (home region).", "tags": ["orders"],
            "security": [{ "session": [] }],
            "responses": with_problems(json!({ "200": ok("their orders", json!({"type": "object", "properties": {"orders": {"type": "array", "items": schema("Order")}}, "required": ["orders"]}), &[]) }),
                &[("401", "not logged in"), ("502", "the orders service failed"), ("503", "the orders service is shedding load or its breaker is open"), ("504", "the orders service did not answer in time")]) } },
        "/api/orders/{id}": { "get": { "operationId": "getOrder", "summary": "One of the customer's orders.", "tags": ["orders"],
            "security": [{ "session": [] }],
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[A-Za-z0-9-]{1,64}$" } }],
            "responses": with_problems(json!({ "200": ok("the order", schema("Order"), &[]) }),
                &[("401", "not logged in"), ("404", "no such order of theirs"), ("502", "the orders service failed"), ("503", "the orders service is shedding load or its breaker is open"), ("504", "the orders service did not answer in time")]) } },
        "/api/cart": {
            "get": { "operationId": "getCart", "summary": "The caller's cart (a customer's, else the guest's, else an empty one).",
                "tags": ["cart"], "security": [{}, { "session": [] }, { "guestCart": [] }],
                "responses": with_problems(json!({ "200": {
                    "description": "the cart", "content": json_body(schema("CartView")),
                    "headers": { "ETag": header("ETag") },
                    "links": { "checkout": { "operationId": "checkOut" }, "add": { "operationId": "addToCart" } } } }),
                    &[("400", "an unreadable cart cookie")]) },
            "delete": { "operationId": "clearCart", "summary": "Empty the cart.", "tags": ["cart"],
                "security": [{}, { "session": [] }, { "guestCart": [] }],
                "parameters": [param("IdempotencyKey"), param("IfMatch")],
                "responses": with_problems(json!({ "200": cart_ok("the emptied cart") }), &change_problems) } },
        "/api/cart/items": { "post": { "operationId": "addToCart", "summary": "Add a line, priced from the catalog; a guest gets a cart (and `__Host-cart`).",
            "tags": ["cart"], "security": [{}, { "session": [] }, { "guestCart": [] }],
            "parameters": [param("IdempotencyKey"), param("IfMatch")],
            "requestBody": { "required": true, "content": json_body(schema("AddItem")) },
            "responses": with_problems(json!({ "200": { "description": "the cart after the change",
                "content": json_body(schema("CartView")),
                "headers": { "ETag": header("ETag"), "Idempotent-Replayed": header("Idempotent-Replayed") },
                "links": { "cart": { "operationId": "getCart" }, "checkout": { "operationId": "checkOut" } } } }), &change_problems) } },
        "/api/cart/items/{sku}": {
            "put": { "operationId": "setQuantity", "summary": "Set a line's quantity.", "tags": ["cart"],
                "security": [{}, { "session": [] }, { "guestCart": [] }],
                "parameters": [sku.clone(), param("IdempotencyKey"), param("IfMatch")],
                "requestBody": { "required": true, "content": json_body(schema("SetQuantity")) },
                "responses": with_problems(json!({ "200": cart_ok("the cart after the change") }), &change_problems) },
            "patch": { "operationId": "patchQuantity", "summary": "Set a line's quantity (as PUT).", "tags": ["cart"],
                "security": [{}, { "session": [] }, { "guestCart": [] }],
                "parameters": [sku.clone(), param("IdempotencyKey"), param("IfMatch")],
                "requestBody": { "required": true, "content": json_body(schema("SetQuantity")) },
                "responses": with_problems(json!({ "200": cart_ok("the cart after the change") }), &change_problems) },
            "delete": { "operationId": "removeLine", "summary": "Remove a line.", "tags": ["cart"],
                "security": [{}, { "session": [] }, { "guestCart": [] }],
                "parameters": [sku, param("IdempotencyKey"), param("IfMatch")],
                "responses": with_problems(json!({ "200": cart_ok("the cart after the change") }), &change_problems) } },
        "/api/cart/checkout": {
            "post": { "operationId": "checkOut", "summary": "Check out: the order is placed exactly once (retried by the cart's outbox).",
                "tags": ["cart"], "security": [{}, { "session": [] }, { "guestCart": [] }],
                "parameters": [param("IdempotencyKey"), param("IfMatch")],
                "requestBody": { "required": false, "description": "nothing, or a JSON object (kept with the order request's fingerprint)",
                    "content": json_body(json!({ "type": "object" })) },
                "responses": with_problems(json!({
                    "200": { "description": "placed before: a retry with the same key answered as the first was, or a cart already checked out (its order's id)",
                        "content": json_body(json!({"type": "object",
                            "properties": {"order": {"anyOf": [schema("Order"), {"type": "object",
                                "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}]},
                                "cart": schema("CartView")}, "required": ["order", "cart"]})),
                        "headers": { "ETag": header("ETag"), "Idempotent-Replayed": header("Idempotent-Replayed") },
                        "links": { "status": { "operationId": "checkoutStatus" }, "orders": { "operationId": "listOrders" } } },
                    "201": { "description": "placed", "content": json_body(json!({"type": "object",
                        "properties": {"order": schema("Order"), "cart": schema("CartView")}, "required": ["order", "cart"]})),
                        "headers": { "ETag": header("ETag"), "Idempotent-Replayed": header("Idempotent-Replayed") },
                        "links": { "status": { "operationId": "checkoutStatus" }, "orders": { "operationId": "listOrders" } } },
                    "202": { "description": "on its way: follow Location", "content": json_body(json!({"type": "object",
                        "properties": {"status": {"const": "pending"}, "detail": {"type": "string"}, "status_url": {"type": "string"}, "cart": schema("CartView")}})),
                        "headers": { "Location": header("Location"), "Retry-After": header("Retry-After"), "ETag": header("ETag") },
                        "links": { "status": { "operationId": "checkoutStatus" } } } }),
                    &[("400", "a malformed key or body, or an unreadable cart cookie"), ("403", "a cross-site write"),
                      ("404", "no cart"), ("409", "the cart is empty, or the order was refused"), ("413", "a body over 16 KiB"),
                      ("415", "a body that is not application/json"),
                      ("412", "If-Match names another version"),
                      ("422", "the key was used with another request"), ("502", "the orders service failed"),
                      ("503", "checkout is switched off, or the orders service is shedding load or its breaker is open (Retry-After)"),
                      ("504", "the orders service did not answer in time")]) },
            "get": { "operationId": "checkoutStatus", "summary": "Where the checkout stands.", "tags": ["cart"],
                "security": [{}, { "session": [] }, { "guestCart": [] }],
                "responses": with_problems(json!({ "200": cart_ok("the cart, with any order waiting in its outbox") }),
                    &[("400", "an unreadable cart cookie"), ("404", "no cart")]) } },
        "/api/cart/live": { "get": { "operationId": "liveCart",
            "summary": "A WebSocket (Upgrade: websocket) that receives the cart (a CartView as JSON) at once and after every change.",
            "tags": ["cart"], "security": [{}, { "session": [] }, { "guestCart": [] }],
            "responses": with_problems(json!({ "101": { "description": "switched to WebSocket" } }),
                &[("403", "another site's page, or no cart or session"), ("426", "no Upgrade: websocket"), ("429", "too many live views of this cart")]) } },
        "/api/flags": { "get": { "operationId": "browserFlags", "summary": "Every client-visible flag, evaluated (OpenFeature details).", "tags": ["flags"],
            "responses": with_problems(json!({ "200": ok("the flags", json!({"type": "object"}), &[]) }), &[]) } },
        "/api/flags/{key}": { "get": { "operationId": "browserFlag", "summary": "One client-visible flag, evaluated.", "tags": ["flags"],
            "parameters": [{ "name": "key", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": with_problems(json!({ "200": ok("the flag's evaluation details; an unknown or hidden flag is FLAG_NOT_FOUND", json!({"type": "object"}), &[]) }), &[]) } },
        "/admin/flags": {
            "get": { "operationId": "getFlagDocument", "summary": "Admin: the flagd document and its version.", "tags": ["admin"],
                "security": [{ "adminToken": [] }],
                "responses": with_problems(json!({ "200": ok("the document", json!({"type": "object"}), &["ETag"]) }), &[("401", "no or a wrong token")]) },
            "put": { "operationId": "putFlagDocument", "summary": "Admin: replace the flagd document (compare-and-set on If-Match).", "tags": ["admin"],
                "security": [{ "adminToken": [] }],
                "parameters": [{ "name": "If-Match", "in": "header", "required": true,
                    "description": "The document's ETag (`\"f<version>\"`) from GET: a compare-and-set.", "schema": { "type": "string" } }],
                "requestBody": { "required": true, "content": json_body(json!({"type": "object"})) },
                "responses": with_problems(json!({ "200": ok("saved", json!({"type": "object"}), &["ETag"]) }),
                    &[("400", "an invalid document, the JSON path named"), ("401", "no or a wrong token"),
                      ("412", "If-Match names another version"), ("413", "over 512 KiB"), ("415", "not application/json"),
                      ("428", "no If-Match"), ("503", "saved but not yet published (Retry-After)")]) } },
        "/admin/flags/overrides": { "post": { "operationId": "overrideToken", "summary": "Admin: a signed QA override token.", "tags": ["admin"],
            "security": [{ "adminToken": [] }],
            "requestBody": { "required": true, "content": json_body(json!({"type": "object"})) },
            "responses": with_problems(json!({ "200": ok("the token", json!({"type": "object"}), &[]) }),
                &[("400", "a malformed request"), ("401", "no or a wrong token"), ("413", "a body over 16 KiB"),
                  ("415", "not application/json"), ("422", "a lifetime outside 1 s to 7 days")]) } },
        "/api/drops/{drop_id}/queue": {
            "post": { "operationId": "joinDropQueue", "summary": "Join a drop's queue: a place (the same one again for the same ticket or customer; a ticket this shop cannot read is replaced) and a signed ticket in `__Host-drop-{drop_id}`.",
                "tags": ["drops"], "security": [{}, { "session": [] }],
                "parameters": [drop_id.clone()],
                "responses": with_problems(json!({ "202": { "description": "in the queue (or admitted already: then `__Host-admit-{drop_id}` is set too)",
                    "content": json_body(schema("QueueView")),
                    "headers": { "Retry-After": header("Retry-After") },
                    "links": { "standing": { "operationId": "dropQueueStanding" } } } }),
                    &[("400", "a malformed drop id"), ("403", "a cross-site write"),
                      ("404", "no such drop"), ("409", "the drop has closed"),
                      ("429", "asked again within a second, or past the network's share of new places (Retry-After)"),
                      ("503", "the queue is full (Retry-After)")]) },
            "get": { "operationId": "dropQueueStanding", "summary": "Where the caller's ticket stands: waiting (position, Retry-After), admitted (a signed admission in `__Host-admit-{drop_id}`, minutes long), expired or closed.",
                "tags": ["drops"], "security": [{}, { "session": [] }],
                "parameters": [drop_id.clone()],
                "responses": with_problems(json!({ "200": { "description": "where the ticket stands",
                    "content": json_body(schema("QueueView")),
                    "headers": { "Retry-After": header("Retry-After") },
                    "links": { "add": { "operationId": "addToCart" } } } }),
                    &[("400", "a malformed drop id, or a ticket this shop did not issue (the cookie is cleared)"),
                      ("403", "the place is another customer's"),
                      ("404", "no such drop, or no place in its queue (join first)"),
                      ("429", "asked again within a second (Retry-After)")]) } },
        "/admin/drops/{drop_id}": {
            "put": { "operationId": "putDrop", "summary": "Admin: create (201) or change (200) a drop.", "tags": ["admin"],
                "security": [{ "adminToken": [] }], "parameters": [drop_id.clone()],
                "requestBody": { "required": true, "content": json_body(schema("DropRequest")) },
                "responses": with_problems(json!({
                    "200": ok("changed", schema("DropView"), &[]),
                    "201": ok("created", schema("DropView"), &[]) }),
                    &[("400", "a malformed id or body"), ("401", "no or a wrong token"),
                      ("409", "a SKU in another drop, people already queued under another order or opening, or the drop ended"),
                      ("413", "a body over 16 KiB"), ("415", "not application/json"),
                      ("422", "an invalid field, named (or a SKU the catalog lacks)")]) },
            "get": { "operationId": "getDrop", "summary": "Admin: a drop with its live counts (waiting, admitted, held, sold) and each SKU's stock.", "tags": ["admin"],
                "security": [{ "adminToken": [] }], "parameters": [drop_id.clone()],
                "responses": with_problems(json!({ "200": ok("the drop", schema("DropView"), &[]) }),
                    &[("400", "a malformed drop id"), ("401", "no or a wrong token"), ("404", "no such drop")]) },
            "delete": { "operationId": "endDrop", "summary": "Admin: end a drop now; its SKUs become ordinary products (holds run their course).", "tags": ["admin"],
                "security": [{ "adminToken": [] }], "parameters": [drop_id],
                "responses": with_problems(json!({ "200": ok("the ended drop", schema("DropView"), &[]) }),
                    &[("400", "a malformed drop id"), ("401", "no or a wrong token"), ("404", "no such drop")]) } },
        "/api/support/carts/{cart}": { "get": { "operationId": "supportCart", "summary": "Admin: a cart and its audit log, for support.", "tags": ["admin"],
            "security": [{ "adminToken": [] }],
            "parameters": [{ "name": "cart", "in": "path", "required": true, "schema": { "type": "string", "pattern": "^[gu]-[A-Za-z0-9_-]{1,64}$" } },
                           { "name": "region", "in": "query", "schema": { "type": "string" } }],
            "responses": with_problems(json!({ "200": ok("the cart and its log", json!({"type": "object",
                "properties": {"cart": schema("CartView"), "log": {"type": "array", "items": schema("LogEntry")}}}), &[]) }),
                &[("400", "an unknown region"), ("401", "no or a wrong token"), ("404", "not a cart's name")]) } },
        "/api/reviews": { "post": { "operationId": "postReview", "summary": "Forwarded to the reviews service (the default SERVICES table).", "tags": ["forwarded"],
            "security": [{ "session": [] }], "parameters": [param("IdempotencyKey")],
            "requestBody": { "required": true, "content": json_body(schema("ReviewRequest")) },
            "responses": with_problems(json!({ "201": ok("stored", schema("Review"), &[]) }),
                &[("400", "a malformed body or key"), ("401", "not logged in"), ("403", "a cross-site write"),
                  ("409", "the same key is still being answered (Retry-After)"), ("413", "a body over 16 KiB"),
                  ("414", "a query over 2 KiB"), ("415", "not application/json"), ("422", "an invalid review"),
                  ("502", "the service failed"), ("503", "the service is shedding load or its breaker is open"), ("504", "the service did not answer in time")]) } },
        "/api/account/addresses": {
            "get": { "operationId": "listAddresses", "summary": "Forwarded to the account service (home region).", "tags": ["forwarded"],
                "security": [{ "session": [] }],
                "responses": with_problems(json!({ "200": ok("their addresses", json!({"type": "object",
                    "properties": {"addresses": {"type": "array", "items": schema("Address")}}, "required": ["addresses"]}), &[]) }),
                    &[("401", "not logged in"), ("502", "the service failed"), ("503", "the service is shedding load or its breaker is open"), ("504", "the service did not answer in time")]) },
            "post": { "operationId": "addAddress", "summary": "Forwarded to the account service (home region).", "tags": ["forwarded"],
                "security": [{ "session": [] }], "parameters": [param("IdempotencyKey")],
                "requestBody": { "required": true, "content": json_body(schema("AddressRequest")) },
                "responses": with_problems(json!({ "201": ok("stored", schema("Address"), &[]) }),
                    &[("400", "a malformed body or key"), ("401", "not logged in"), ("403", "a cross-site write"),
                      ("409", "the same key is still being answered (Retry-After)"), ("413", "a body over 16 KiB"),
                      ("414", "a query over 2 KiB"), ("415", "not application/json"), ("422", "an invalid address"),
                      ("502", "the service failed"), ("503", "the service is shedding load or its breaker is open"), ("504", "the service did not answer in time")]) } },
    })
}

fn shared_components() -> Value {
    let header = |description: &str, schema_value: Value| json!({ "description": description, "schema": schema_value });
    let string = json!({ "type": "string" });
    json!({
        "headers": {
            "ETag": header("A strong entity tag (RFC 9110); send it back in If-Match or If-None-Match.", string.clone()),
            "Cache-Status": header("RFC 9211: how the edge cache answered, e.g. `storefront-edge;hit;ttl=59`.", string.clone()),
            "Cache-Control": header("RFC 9111 caching for browsers.", string.clone()),
            "Server-Timing": header("The edge's time (and the origin's), ms.", string.clone()),
            "Idempotent-Replayed": header("`true` when the answer is the recorded one of an earlier request with the same Idempotency-Key.", json!({"type": "string", "enum": ["true"]})),
            "Retry-After": header("Seconds to wait before trying again.", json!({"type": "integer"})),
            "Location": header("Where to follow the request's outcome.", string.clone()),
            "X-Request-Id": header("This request's id (32 hex digits), in the edge's log line and the origins' too.", json!({"type": "string", "pattern": "^[0-9a-f]{32}$"})),
        },
        "parameters": {
            "IdempotencyKey": { "name": "Idempotency-Key", "in": "header", "description": "draft-ietf-httpapi-idempotency-key-header: a structured-field string (in double quotes) of 1–255 printable ASCII characters other than `\"` and `\\`, or the same characters bare; empty is no key. A retry with the same key and body gets the recorded answer.", "schema": { "type": "string", "pattern": "^(\"[ !#-\\[\\]-~]{1,255}\"|([!#-\\[\\]-~][ !#-\\[\\]-~]{0,254})?)$" } },
            "IfMatch": { "name": "If-Match", "in": "header", "description": "The cart's strong ETag (`\"v<version>\"`, or `*`): the change applies only to that version; any other value matches no version (412, RFC 9110 §13.1.1).", "schema": { "type": "string" } },
            "IfNoneMatch": { "name": "If-None-Match", "in": "header", "description": "A 304 when it names the current ETag (or `*`); any other value is a full answer (RFC 9110 §13.1.2).", "schema": { "type": "string" } },
            "Category": { "name": "category", "in": "query", "schema": { "type": "string", "pattern": "^[a-z0-9-]{1,64}$" } },
            "Sort": { "name": "sort", "in": "query", "schema": { "type": "string", "enum": ["name", "price", "newest"], "default": "name" } },
            "Limit": { "name": "limit", "in": "query", "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 24 } },
            "Cursor": { "name": "cursor", "in": "query", "description": "The next_cursor of the previous page (opaque, signed by the catalog: another is refused).", "schema": { "type": "string", "pattern": "^[A-Za-z0-9._-]{1,256}$" } },
            "Query": { "name": "q", "in": "query", "required": true, "schema": { "type": "string", "minLength": 1, "maxLength": 100 } },
        },
        "securitySchemes": {
            "session": { "type": "apiKey", "in": "cookie", "name": "__Host-session", "description": "A PASETO v4.local session token (HttpOnly, Secure, SameSite=Lax)." },
            "guestCart": { "type": "apiKey", "in": "cookie", "name": "__Host-cart", "description": "A guest cart's id, HMAC-signed by the edge." },
            "adminToken": { "type": "http", "scheme": "bearer", "description": "The edge's ADMIN_TOKEN secret." },
            "originSignature": { "type": "apiKey", "in": "header", "name": "Signature", "description": "RFC 9421 HTTP Message Signatures with an origin's Ed25519 key (Signature-Input, Content-Digest)." },
        },
    })
}

/// The whole document, as JSON.
pub fn document() -> Value {
    let components = ComponentsBuilder::new()
        .schema_from::<Money>()
        .schema_from::<Product>()
        .schema_from::<Category>()
        .schema_from::<ProductPage>()
        .schema_from::<Order>()
        .schema_from::<OrderLine>()
        .schema_from::<Payment>()
        .schema_from::<Problem>()
        .schema_from::<PurgeRequest>()
        .schema_from::<LoginRequest>()
        .schema_from::<Identity>()
        .schema_from::<Review>()
        .schema_from::<ReviewRequest>()
        .schema_from::<Address>()
        .schema_from::<AddressRequest>()
        .schema_from::<CartView>()
        .schema_from::<LineView>()
        .schema_from::<OutboxView>()
        .schema_from::<CartStatus>()
        .schema_from::<MergeReport>()
        .schema_from::<MergeConflict>()
        .schema_from::<LogEntry>()
        .schema_from::<AddItem>()
        .schema_from::<SetQuantity>()
        .schema_from::<SessionView>()
        .schema_from::<QueueView>()
        .schema_from::<DropView>()
        .schema_from::<DropCounts>()
        .schema_from::<DropRequest>()
        .schema_from::<QueueOrder>()
        .schema_from::<Phase>()
        .schema_from::<Standing>()
        .schema_from::<StockCounts>()
        .build();
    let mut components = serde_json::to_value(components).unwrap_or_default();
    if let (Some(into), Value::Object(more)) = (components.as_object_mut(), shared_components()) {
        into.extend(more);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "storefront-edge",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The edge API of the storefront: catalog reads from the edge cache, carts (one Durable Object each), sessions, flags, and writes forwarded — signed (RFC 9421) and idempotent — to the shop's regional origins. Every error is an RFC 9457 problem; money is integer minor units with an ISO 4217 currency. Every GET here but a drop queue's (a poll, counted) also answers HEAD (the same status and headers, no body). The storefront's HTML pages and their forms are not part of this API.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" },
        },
        "servers": [{ "url": "/" }],
        "tags": [
            { "name": "catalog" }, { "name": "cart" }, { "name": "session" }, { "name": "orders" },
            { "name": "flags" }, { "name": "drops", "description": "A drop's fair queue; its SKUs are added to carts with an admission (exact holds)." }, { "name": "forwarded" }, { "name": "origins", "description": "For the shop's origins, not browsers." },
            { "name": "admin", "description": "Bearer ADMIN_TOKEN." }, { "name": "operations" },
        ],
        "paths": paths(),
        "components": components,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = include_str!("../openapi.json");

    #[test]
    fn the_committed_document_is_what_the_types_make() {
        let made = serde_json::to_string_pretty(&document()).unwrap() + "\n";
        if std::env::var_os("OPENAPI_WRITE").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"), &made).unwrap();
            return;
        }
        assert!(
            made == COMMITTED,
            "edge/openapi.json is stale: OPENAPI_WRITE=1 cargo test -p edge --features openapi openapi"
        );
    }

    #[test]
    fn every_schema_referenced_is_defined() {
        let doc = document();
        let text = doc.to_string();
        for reference in text.split("\"$ref\":\"").skip(1) {
            let target = reference.split('"').next().unwrap();
            let path: Vec<&str> = target.trim_start_matches("#/").split('/').collect();
            let mut at = &doc;
            for part in &path {
                at = &at[*part];
            }
            assert!(!at.is_null(), "{target} is referenced but not defined");
        }
    }
}
