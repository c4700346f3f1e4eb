//! The OpenAPI document: a committed snapshot that fails on drift, and the conventions every
//! operation must document. `UPDATE_OPENAPI=1 cargo test --test api openapi` rewrites the snapshot.

use std::collections::HashSet;
use std::path::PathBuf;

use serde_json::Value;

const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("openapi").join("openapi.json")
}

fn document() -> &'static Value {
    retail_crm::openapi_document()
}

/// Every (path, method, operation) of the document.
fn operations() -> Vec<(String, String, &'static Value)> {
    let mut ops = Vec::new();
    let paths = document()["paths"].as_object().unwrap_or_else(|| panic!("the document has no paths"));
    for (path, item) in paths {
        let item = item.as_object().unwrap_or_else(|| panic!("{path} is not an object"));
        for (method, op) in item {
            if METHODS.contains(&method.as_str()) {
                ops.push((path.clone(), method.clone(), op));
            }
        }
    }
    ops
}

#[test]
fn snapshot_matches_the_code() {
    let rendered = serde_json::to_string_pretty(document()).unwrap_or_else(|e| panic!("{e}")) + "\n";
    let path = snapshot_path();
    if std::env::var("UPDATE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap_or_else(|| panic!("no parent")))
            .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        std::fs::write(&path, &rendered).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("reading {}: {e}\nrun `UPDATE_OPENAPI=1 cargo test --test api openapi` to create it", path.display())
    });
    if committed != rendered {
        let first_difference = committed
            .lines()
            .zip(rendered.lines())
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .map(|(i, (a, b))| format!("line {}:\n  committed: {a}\n  code:      {b}", i + 1))
            .unwrap_or_else(|| "one is a prefix of the other".to_string());
        panic!(
            "openapi/openapi.json is out of date with the code ({first_difference})\n\
             review the change and run `UPDATE_OPENAPI=1 cargo test --test api openapi` to update it"
        );
    }
}

#[test]
fn document_is_openapi_3_1_with_fixed_version() {
    let doc = document();
    let version = doc["openapi"].as_str().unwrap_or("");
    assert!(version.starts_with("3.1."), "openapi version {version}");
    assert_eq!(doc["info"]["version"], Value::String(retail_crm::openapi::API_VERSION.to_string()));
    assert!(doc["info"]["title"].is_string());
    assert_eq!(doc["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
    for (path, _, _) in operations() {
        assert!(path.starts_with("/v1/"), "{path} is outside /v1");
    }
}

#[test]
fn every_operation_is_fully_documented() {
    let ops = operations();
    assert!(ops.len() >= 15, "only {} operations", ops.len());
    let declared_tags: HashSet<&str> = document()["tags"]
        .as_array()
        .map(|tags| tags.iter().filter_map(|t| t["name"].as_str()).collect())
        .unwrap_or_default();
    let mut operation_ids = HashSet::new();
    for (path, method, op) in &ops {
        let here = format!("{} {path}", method.to_uppercase());
        let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{here}: no operationId"));
        assert!(operation_ids.insert(id.to_string()), "{here}: duplicate operationId {id}");

        let tags = op["tags"].as_array().cloned().unwrap_or_default();
        assert!(!tags.is_empty(), "{here}: no tag");
        for tag in tags {
            assert!(declared_tags.contains(tag.as_str().unwrap_or("")), "{here}: undeclared tag {tag}");
        }

        let security = op["security"].as_array().cloned().unwrap_or_default();
        if id == "issue_token" {
            assert!(security.is_empty(), "{here}: the token endpoint cannot require a token");
        } else {
            assert!(!security.is_empty(), "{here}: no security requirement");
            for requirement in &security {
                assert!(requirement.get("bearer").is_some(), "{here}: unknown security scheme {requirement}");
            }
            assert!(op["responses"]["401"].is_object(), "{here}: no 401 response");
        }

        let responses = op["responses"].as_object().unwrap_or_else(|| panic!("{here}: no responses"));
        assert!(responses.keys().any(|s| s.starts_with('2')), "{here}: no 2xx response");
        assert!(responses.keys().any(|s| s.starts_with('4')), "{here}: no 4xx response");
        for (status, response) in responses {
            assert!(response["description"].is_string(), "{here} {status}: no description");
        }

        if path.contains('{') {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            for name in path.split('{').skip(1).filter_map(|s| s.split('}').next()) {
                assert!(
                    params.iter().any(|p| p["in"] == "path" && p["name"] == name),
                    "{here}: path parameter {name} is not documented"
                );
            }
        }

        if method == "post" && !security.is_empty() {
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            assert!(
                params.iter().any(|p| p["in"] == "header" && p["name"] == "Idempotency-Key"),
                "{here}: no Idempotency-Key header parameter"
            );
        }
    }
}

#[test]
fn every_component_schema_has_an_example() {
    let schemas = document()["components"]["schemas"]
        .as_object()
        .unwrap_or_else(|| panic!("the document has no component schemas"));
    assert!(schemas.contains_key("Problem"), "the problem schema is a component");
    let missing: Vec<&String> = schemas
        .iter()
        .filter(|(_, schema)| schema.get("example").is_none() && schema.get("examples").is_none())
        .map(|(name, _)| name)
        .collect();
    assert!(missing.is_empty(), "component schemas without an example: {missing:?}");
}

#[test]
fn every_reference_resolves() {
    fn walk(value: &Value, refs: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    refs.push(r.clone());
                }
                map.values().for_each(|v| walk(v, refs));
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, refs)),
            _ => {}
        }
    }
    let mut refs = Vec::new();
    walk(document(), &mut refs);
    for r in refs {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("external reference {r}"));
        assert!(document().pointer(pointer).is_some(), "dangling reference {r}");
    }
}

/// Every `example` in a schema of the document conforms to that schema (JSON Schema 2020-12, as
/// OpenAPI 3.1 reads it): client generators and contract fuzzers take them as truth.
#[test]
fn every_schema_example_conforms_to_its_schema() {
    fn walk(value: &Value, at: String, found: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(map) => {
                if map.contains_key("example")
                    && (map.contains_key("type")
                        || map.contains_key("$ref")
                        || map.contains_key("properties")
                        || map.contains_key("oneOf")
                        || map.contains_key("allOf")
                        || map.contains_key("anyOf"))
                {
                    found.push((at.clone(), value.clone()));
                }
                for (k, v) in map {
                    // An example is data, not schema: what it holds is not walked.
                    if k != "example" && k != "examples" {
                        walk(v, format!("{at}/{k}"), found);
                    }
                }
            }
            Value::Array(items) => items.iter().enumerate().for_each(|(i, v)| walk(v, format!("{at}/{i}"), found)),
            _ => {}
        }
    }
    let doc = document();
    let mut schemas = Vec::new();
    walk(&doc["components"], "#/components".into(), &mut schemas);
    walk(&doc["paths"], "#/paths".into(), &mut schemas);
    assert!(schemas.len() > 100, "only {} schemas with examples", schemas.len());
    let mut wrong = Vec::new();
    for (at, schema) in schemas {
        let example = schema["example"].clone();
        // The schema with the document's components beside it, so that its references resolve.
        let mut rooted = schema;
        rooted["components"] = doc["components"].clone();
        let validator = jsonschema::draft202012::new(&rooted).unwrap_or_else(|e| panic!("{at}: not a schema: {e}"));
        for error in validator.iter_errors(&example) {
            wrong.push(format!("{at}: {error} (at {})", error.instance_path()));
        }
    }
    assert!(wrong.is_empty(), "{} examples do not conform:\n{}", wrong.len(), wrong.join("\n"));
}
