use serde_json::{Value, json};

use super::*;

fn set(doc: Value) -> FlagSet {
    FlagSet::from_value(&doc).unwrap()
}

fn ctx(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

const NOW: i64 = 1_800_000_000;

/// The example of flagd's "Flag Definitions" page: an email rule.
fn flagd_example() -> Value {
    json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "new-welcome-banner": {
                "state": "ENABLED",
                "variants": { "true": true, "false": false },
                "defaultVariant": "false",
                "targeting": { "in": ["@example.com", { "var": "email" }] }
            },
            "color": {
                "state": "ENABLED",
                "variants": { "red": "#f00", "blue": "#00f", "yellow": "#ff0" },
                "defaultVariant": "yellow",
                "targeting": {
                    "if": [{ "$ref": "isEmployee" }, "red", { "ends_with": [{ "var": "email" }, ".org"] }, "blue", null]
                },
                "metadata": { "owner": "web" }
            },
            "app-version-gate": {
                "state": "ENABLED",
                "variants": { "on": true, "off": false },
                "defaultVariant": "off",
                "targeting": { "if": [{ "sem_ver": [{ "var": "version" }, ">=", "2.1.0"] }, "on", "off"] }
            },
            "off-flag": {
                "state": "DISABLED",
                "variants": { "on": true, "off": false },
                "defaultVariant": "on"
            },
            "zeroes": {
                "state": "ENABLED",
                "variants": { "zero": 0, "one": 1 },
                "defaultVariant": "zero"
            },
            "no-default": {
                "state": "ENABLED",
                "variants": { "a": "A", "b": "B" },
                "defaultVariant": null,
                "targeting": { "if": [{ "starts_with": [{ "var": "email" }, "admin@"] }, "a", null] }
            }
        },
        "$evaluators": {
            "isEmployee": { "ends_with": [{ "var": "email" }, "@shop.example"] }
        },
        "metadata": { "version": "7", "owner": "platform" }
    })
}

#[test]
fn flagds_documented_rules_evaluate_as_documented() {
    let s = set(flagd_example());
    let banner = s.evaluate(
        "new-welcome-banner",
        &ctx(json!({"email": "ann@example.com"})),
        &json!(false),
        NOW,
    );
    assert_eq!(
        (banner.value.clone(), banner.reason),
        (json!(true), Reason::TargetingMatch)
    );
    assert_eq!(
        banner.variant.as_deref(),
        Some("true"),
        "a boolean result names a variant"
    );
    let other = s.evaluate(
        "new-welcome-banner",
        &ctx(json!({"email": "ann@else.net"})),
        &json!(false),
        NOW,
    );
    assert_eq!(
        (other.value, other.reason),
        (json!(false), Reason::TargetingMatch)
    );

    let staff = s.evaluate(
        "color",
        &ctx(json!({"email": "bo@shop.example"})),
        &json!(""),
        NOW,
    );
    assert_eq!(
        (staff.value, staff.variant.as_deref()),
        (json!("#f00"), Some("red"))
    );
    let org = s.evaluate("color", &ctx(json!({"email": "x@y.org"})), &json!(""), NOW);
    assert_eq!(org.value, json!("#00f"));
    let none = s.evaluate("color", &ctx(json!({"email": "x@y.com"})), &json!(""), NOW);
    assert_eq!((none.value, none.reason), (json!("#ff0"), Reason::Default));
    assert_eq!(
        none.flag_metadata["owner"], "web",
        "the flag's metadata wins"
    );
    assert_eq!(
        none.flag_metadata["version"], "7",
        "the document's fills in"
    );

    for (version, expected) in [("2.1.0", true), ("v2.3", true), ("2.0.9", false)] {
        let d = s.evaluate(
            "app-version-gate",
            &ctx(json!({"version": version})),
            &json!(false),
            NOW,
        );
        assert_eq!(d.value, json!(expected), "{version}");
    }
}

#[test]
fn flagds_rules_for_the_edges_of_resolution() {
    let s = set(flagd_example());
    let missing = s.evaluate("nope", &Map::new(), &json!("fallback"), NOW);
    assert_eq!(
        (missing.value, missing.reason, missing.error_code),
        (
            json!("fallback"),
            Reason::Error,
            Some(ErrorCode::FlagNotFound)
        )
    );
    let disabled = s.evaluate("off-flag", &Map::new(), &json!(false), NOW);
    assert_eq!(
        (
            disabled.value,
            disabled.reason,
            disabled.variant,
            disabled.error_code
        ),
        (json!(false), Reason::Disabled, None, None)
    );
    let zero = s.evaluate("zeroes", &Map::new(), &json!(5), NOW);
    assert_eq!(
        (zero.value, zero.variant.as_deref(), zero.reason),
        (json!(0), Some("zero"), Reason::Static),
        "a zero value is a value"
    );
    let mismatch = s.evaluate("zeroes", &Map::new(), &json!(true), NOW);
    assert_eq!(
        (mismatch.value, mismatch.reason, mismatch.error_code),
        (json!(true), Reason::Error, Some(ErrorCode::TypeMismatch))
    );
    let code_default = s.evaluate(
        "no-default",
        &ctx(json!({"email": "ann@x"})),
        &json!("mine"),
        NOW,
    );
    assert_eq!(
        (
            code_default.value,
            code_default.reason,
            code_default.variant
        ),
        (json!("mine"), Reason::Default, None)
    );
    let matched = s.evaluate(
        "no-default",
        &ctx(json!({"email": "admin@x"})),
        &json!("mine"),
        NOW,
    );
    assert_eq!(matched.value, json!("A"));
}

#[test]
fn rules_see_the_flag_key_and_the_time() {
    let s = set(json!({"flags": {"f": {
        "state": "ENABLED", "variants": {"yes": true, "no": false}, "defaultVariant": "no",
        "targeting": {"if": [{"and": [
            {"==": [{"var": "$flagd.flagKey"}, "f"]},
            {">": [{"var": "$flagd.timestamp"}, 1_700_000_000]}
        ]}, "yes", "no"]}
    }}}));
    assert_eq!(
        s.evaluate("f", &Map::new(), &json!(false), NOW).value,
        json!(true)
    );
    assert_eq!(
        s.evaluate("f", &Map::new(), &json!(false), 1_600_000_000)
            .value,
        json!(false)
    );
}

fn rollout(key: &str, percent: i64) -> Value {
    json!({
        "state": "ENABLED",
        "variants": { "on": true, "off": false },
        "defaultVariant": "off",
        "targeting": { "fractional": [["on", percent], ["off", 100 - percent]] }
    })
    .as_object()
    .map(|o| {
        let _ = key;
        Value::Object(o.clone())
    })
    .unwrap_or_default()
}

fn subject(i: usize) -> Map<String, Value> {
    ctx(json!({ "targetingKey": format!("user-{i:05}") }))
}

#[test]
fn a_ten_percent_rollout_lands_within_one_point_and_is_sticky() {
    let s = set(json!({"flags": {"new-checkout": rollout("new-checkout", 10)}}));
    let on: Vec<bool> = (0..10_000)
        .map(|i| {
            s.evaluate("new-checkout", &subject(i), &json!(false), NOW)
                .value
                == json!(true)
        })
        .collect();
    let share = on.iter().filter(|b| **b).count();
    assert!(
        (900..=1100).contains(&share),
        "{share} of 10,000 got the 10 % variant"
    );
    for (i, was) in on.iter().enumerate().step_by(97) {
        let again = s.evaluate("new-checkout", &subject(i), &json!(false), NOW);
        assert_eq!(again.value == json!(true), *was, "subject {i} moved");
        assert_eq!(again.reason, Reason::TargetingMatch);
    }
}

#[test]
fn changing_one_rollout_does_not_reshuffle_another() {
    let before = set(json!({"flags": {"a": rollout("a", 10), "b": rollout("b", 50)}}));
    let after = set(json!({"flags": {"a": rollout("a", 60), "b": rollout("b", 50)}}));
    for i in 0..2_000 {
        assert_eq!(
            before.evaluate("b", &subject(i), &json!(false), NOW).value,
            after.evaluate("b", &subject(i), &json!(false), NOW).value,
            "subject {i}"
        );
    }
    // Raising a rollout only adds subjects: everyone in at 10 % is in at 60 %.
    for i in 0..2_000 {
        if before.evaluate("a", &subject(i), &json!(false), NOW).value == json!(true) {
            assert_eq!(
                after.evaluate("a", &subject(i), &json!(false), NOW).value,
                json!(true)
            );
        }
    }
}

#[test]
fn fractional_with_an_explicit_bucketing_key() {
    let s = set(json!({"flags": {"banner": {
        "state": "ENABLED", "variants": {"a": "A", "b": "B"}, "defaultVariant": "a",
        "targeting": {"fractional": [{"var": "email"}, ["a", 50], ["b", 50]]}
    }}}));
    let one = s.evaluate(
        "banner",
        &ctx(json!({"email": "x@y.z", "targetingKey": "1"})),
        &json!(""),
        NOW,
    );
    let two = s.evaluate(
        "banner",
        &ctx(json!({"email": "x@y.z", "targetingKey": "2"})),
        &json!(""),
        NOW,
    );
    assert_eq!(
        one.value, two.value,
        "the bucket follows the email, not the targeting key"
    );
}

#[test]
fn bad_documents_name_the_path_of_the_first_error() {
    let base = flagd_example();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/flags/color/state", json!("ON"), "flags.color.state"),
        (
            "/flags/color/defaultVariant",
            json!("green"),
            "flags.color.defaultVariant",
        ),
        (
            "/flags/color/variants/blue",
            json!(7),
            "flags.color.variants.blue",
        ),
        ("/flags/color/variants", json!({}), "flags.color.variants"),
        (
            "/flags/color/targeting",
            json!({"no_such_op": [1]}),
            "flags.color.targeting",
        ),
        (
            "/flags/color/targeting",
            json!({"$ref": "missing"}),
            "flags.color.targeting.$ref",
        ),
        (
            "/flags/color/targeting",
            json!("red"),
            "flags.color.targeting",
        ),
        (
            "/flags/color/metadata",
            json!({"nested": {"a": 1}}),
            "flags.color.metadata.nested",
        ),
        ("/flags/color/colour", json!(1), "flags.color.colour"),
    ];
    for (pointer, value, path) in cases {
        let mut doc = base.clone();
        let (parent, field) = pointer.rsplit_once('/').unwrap();
        doc.pointer_mut(parent).unwrap()[field] = value.clone();
        let Err(e) = FlagSet::from_value(&doc) else {
            panic!("{pointer} = {value:?} was accepted");
        };
        assert_eq!(e.path, path, "{pointer}: {e}");
    }
    assert_eq!(FlagSet::parse("{").unwrap_err().path, "$");
    assert_eq!(FlagSet::parse("{}").unwrap_err().path, "flags");
    assert_eq!(
        FlagSet::parse(r#"{"flags":{},"extra":1}"#)
            .unwrap_err()
            .path,
        "$.extra"
    );
}

#[test]
fn details_serialise_as_openfeature_names_them() {
    let s = set(flagd_example());
    let d = s.evaluate("nope", &Map::new(), &json!(false), NOW);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(v["reason"], "ERROR");
    assert_eq!(v["errorCode"], "FLAG_NOT_FOUND");
    assert!(v.get("flagMetadata").is_some());
    let ok = serde_json::to_value(s.evaluate("zeroes", &Map::new(), &json!(1), NOW)).unwrap();
    assert_eq!(ok["reason"], "STATIC");
    assert_eq!(ok["errorCode"], Value::Null);
}

#[test]
fn the_built_in_document_is_valid_and_defines_what_the_edge_obeys() {
    let s = FlagSet::parse(BUILT_IN).unwrap();
    let none = Map::new();
    let on = s.evaluate(obeyed::CHECKOUT_ENABLED, &none, &json!(true), NOW);
    assert_eq!(on.value, json!(true));
    let maintenance = s.evaluate(obeyed::MAINTENANCE_MODE, &none, &json!(false), NOW);
    assert_eq!(maintenance.value, json!(false));
    let ttl = s.evaluate(obeyed::CATALOG_MAX_AGE, &none, &json!(0), NOW);
    assert_eq!(ttl.value, json!(-1), "no override unless someone sets one");
    assert!(client_visible(s.flag("new-checkout-flow").unwrap()));
    assert!(!client_visible(s.flag("maintenance-mode").unwrap()));
}

#[test]
fn the_request_context_keys_by_user_then_anonymous_id() {
    let roles = vec!["support".to_owned()];
    let guest = context(
        None,
        Some("anon-1"),
        &[],
        Some("DE"),
        Some("EU"),
        "/api/flags",
    );
    assert_eq!(guest["targetingKey"], "anon-1");
    assert_eq!(guest["loggedIn"], false);
    assert_eq!(guest["country"], "DE");
    let customer = context(Some("user-0001"), Some("anon-1"), &roles, None, None, "/");
    assert_eq!(customer["targetingKey"], "user-0001");
    assert_eq!(
        customer["anonymousId"], "anon-1",
        "kept for rules that bucket by it"
    );
    assert_eq!(customer["roles"], json!(["support"]));
    assert!(!context(None, None, &[], None, None, "/").contains_key("targetingKey"));
}

#[test]
fn a_shared_decision_knows_nothing_of_the_requester() {
    let shared = shared_context("/api/products/KIT-0001");
    assert!(!shared.contains_key("targetingKey"));
    assert!(!shared.contains_key("anonymousId"));
    assert!(!shared.contains_key("country"));
    assert_eq!(shared["loggedIn"], false);
    assert_eq!(shared["path"], "/api/products/KIT-0001");
}

#[test]
fn numbers_javascript_cannot_read_exactly_are_refused() {
    let with_weight = |weight: Value| {
        json!({"flags": {"f": {
            "state": "ENABLED",
            "variants": {"a": true, "b": false},
            "defaultVariant": "a",
            "targeting": {"fractional": [["a", weight], ["b", 1]]}
        }}})
    };
    assert!(FlagSet::from_value(&with_weight(json!(50))).is_ok());
    for weight in [
        json!(9_007_199_254_740_993_i64),
        json!(18_446_744_073_709_551_615_u64),
        json!(-9_007_199_254_740_993_i64),
        json!(1e300),
    ] {
        let e = FlagSet::from_value(&with_weight(weight.clone()))
            .err()
            .unwrap_or_else(|| panic!("{weight} accepted"));
        assert!(e.path.starts_with("flags.f.targeting"), "{e}");
        assert!(e.problem.contains("2^53"), "{e}");
    }
    // Weights a 64-bit bucket computation cannot hold, or that are not
    // whole, would silently send everyone to the first variant.
    for (weights, ok) in [
        ((json!(1), json!(1)), true),
        ((json!(1_073_741_823), json!(1_073_741_823)), true),
        ((json!(1_u64 << 40), json!(1_u64 << 40)), false),
        ((json!(2_147_483_647), json!(1)), false),
        ((json!(0.5), json!(1)), false),
        ((json!(-1), json!(1)), false),
        ((json!(0), json!(0)), false),
    ] {
        let doc = json!({"flags": {"f": {
            "state": "ENABLED",
            "variants": {"a": true, "b": false},
            "defaultVariant": "a",
            "targeting": {"fractional": [["a", weights.0], ["b", weights.1]]}
        }}});
        assert_eq!(FlagSet::from_value(&doc).is_ok(), ok, "{weights:?}");
    }
    let halves = set(json!({"flags": {"f": {
        "state": "ENABLED",
        "variants": {"a": "a", "b": "b"},
        "defaultVariant": "a",
        "targeting": {"fractional": [["a", 1_073_741_823], ["b", 1_073_741_823]]}
    }}}));
    let a = (0..1000)
        .filter(|i| {
            let c = ctx(json!({"targetingKey": format!("user-{i}")}));
            halves.evaluate("f", &c, &json!("x"), NOW).value == json!("a")
        })
        .count();
    assert!(
        (400..=600).contains(&a),
        "the largest weights still split: {a}"
    );
    let big_variant = json!({"flags": {"n": {
        "state": "ENABLED", "variants": {"big": 9_007_199_254_740_992_i64}, "defaultVariant": "big"
    }}});
    assert!(FlagSet::from_value(&big_variant).is_err());
}

#[test]
fn refs_that_multiply_are_bounded_by_their_expanded_size() {
    // Each evaluator names the next one twice: 2^15 copies at depth 16,
    // within the depth limit but past the expanded-size limit.
    let mut evaluators = serde_json::Map::new();
    for level in 0..15 {
        let next = json!({"$ref": format!("e{}", level + 1)});
        evaluators.insert(format!("e{level}"), json!({"or": [next.clone(), next]}));
    }
    evaluators.insert("e15".into(), json!({"==": [1, 1]}));
    let doc = json!({
        "$evaluators": evaluators,
        "flags": {"f": {
            "state": "ENABLED",
            "variants": {"on": true, "off": false},
            "defaultVariant": "off",
            "targeting": {"if": [{"$ref": "e0"}, "on", "off"]}
        }}
    });
    let Err(e) = FlagSet::from_value(&doc) else {
        panic!("a document whose rules multiply was accepted")
    };
    assert!(e.problem.contains("expand to more than"), "{e}");
    // A few references of modest size are fine.
    let small = json!({
        "$evaluators": {"eu": {"in": [{"var": "country"}, ["DE", "FR"]]}},
        "flags": {"f": {
            "state": "ENABLED",
            "variants": {"on": true, "off": false},
            "defaultVariant": "off",
            "targeting": {"if": [{"and": [{"$ref": "eu"}, {"$ref": "eu"}]}, "on", "off"]}
        }}
    });
    assert!(FlagSet::from_value(&small).is_ok());
}
