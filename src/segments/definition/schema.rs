//! The definition language as JSON Schema, for the OpenAPI document: built from the same tables
//! the parser reads (`super`), so the document and the parser never disagree.

use super::*;

/// The language as JSON Schema, from the same tables the parser reads, as named component schemas
/// (each a name and its schema; `refs` is the prefix a reference to one of them takes, e.g.
/// `#/components/schemas/`): `SegmentNode` is a plain `oneOf` of objects — the group nodes
/// `SegmentAll`, `SegmentAny` and `SegmentNot`, whose children are `SegmentNode`s again, and
/// `SegmentCondition`, itself a `oneOf` of one object per field and operator group
/// (`SegmentConditionCityCompare`, `SegmentConditionCityIn`, `SegmentConditionAgeBetween`,
/// `SegmentConditionTierExists`, ...). Each branch requires a member no other branch allows, so
/// exactly one matches, and a client generator can follow the recursion through named objects.
/// Depth, the number of conditions and `between`'s order are stated in the descriptions (JSON Schema
/// cannot count them).
pub fn json_schemas(refs: &str) -> Vec<(String, Value)> {
    use serde_json::json;
    let op_name = |op: &Op| OPS.iter().find(|(_, o)| o == op).map(|(n, _)| *n).unwrap_or_default();
    let reference = |name: &str| json!({"$ref": format!("{refs}{name}")});
    let text = json!({"type": "string", "minLength": 1, "maxLength": 200, "format": "non-blank"});
    let mut conditions = Vec::new();
    let mut schemas = Vec::new();
    for (name, field) in FIELDS {
        let kind = field.kind();
        let [sample, low, high] = samples(name, *field);
        let scalar = match kind {
            Kind::Text | Kind::Set | Kind::Bought => text.clone(),
            Kind::Code => match field.codes() {
                Some(codes) => json!({"type": "string", "enum": codes}),
                None => text.clone(),
            },
            Kind::Integer => json!({"type": "integer", "minimum": 0, "maximum": 1_000_000_000}),
            Kind::Money => json!({"type": "string", "format": "money"}),
            Kind::Date => json!({"type": "string", "format": "date"}),
            Kind::Id => json!({"type": "string", "format": "uuid"}),
            Kind::Flag => json!({"type": "boolean"}),
        };
        // Each group: its name, its operators, the value's schema and an example value.
        let groups: [(&str, Vec<Op>, Option<Value>, Value); 4] = [
            (
                "Compare",
                vec![Op::Eq, Op::Ne, Op::Gt, Op::Gte, Op::Lt, Op::Lte, Op::Contains],
                Some(scalar.clone()),
                sample.clone(),
            ),
            (
                "In",
                vec![Op::In, Op::NotIn],
                Some(json!({"type": "array", "minItems": 1, "maxItems": 1000, "items": scalar})),
                json!([sample]),
            ),
            (
                "Between",
                vec![Op::Between],
                Some(json!({"type": "array", "minItems": 2, "maxItems": 2, "items": scalar})),
                json!([low, high]),
            ),
            ("Exists", vec![Op::Exists], None, json!(true)),
        ];
        for (group, ops, value, example_value) in groups {
            let ops: Vec<&str> = ops.iter().filter(|o| field_ops(*field).contains(o)).map(op_name).collect();
            let Some(first_op) = ops.first().copied() else { continue };
            let mut example = json!({"field": name, "op": first_op, "value": example_value});
            if field.takes_window() {
                example["window_days"] = json!(90);
            }
            let mut properties =
                json!({"field": {"type": "string", "const": name}, "op": {"type": "string", "enum": ops}});
            let mut required = vec!["field", "op"];
            match value {
                Some(v) => {
                    properties["value"] = v;
                    required.push("value");
                }
                None => properties["value"] = json!({"type": "boolean"}),
            }
            if field.takes_window() {
                properties["window_days"] =
                    json!({"type": ["integer", "null"], "minimum": 1, "maximum": MAX_WINDOW_DAYS});
            }
            let schema_name = format!("SegmentCondition{}{group}", crate::events::contract::schema_name(name));
            conditions.push(reference(&schema_name));
            schemas.push((
                schema_name,
                json!({"type": "object", "required": required, "properties": properties,
                       "additionalProperties": false, "example": example}),
            ));
        }
    }
    let node = reference("SegmentNode");
    let list = json!({"type": "array", "minItems": 1, "maxItems": MAX_CONDITIONS, "items": node});
    let sms = json!({"field": "consent.marketing_sms", "op": "eq", "value": true});
    let dormant = json!({"field": "lifecycle_stage", "op": "eq", "value": "dormant"});
    let group = |key: &str, description: &str, children: &Value, example: Value| {
        json!({"type": "object", "description": description, "required": [key], "properties": {key: children},
               "additionalProperties": false, "example": {key: example}})
    };
    let mut named = vec![
        (
            "SegmentNode".to_string(),
            json!({
                "description": format!("A segment definition (SPEC §9): all, any, not, or a condition on a field. At \
                    most {MAX_DEPTH} levels deep and {MAX_CONDITIONS} conditions; `between` takes [low, high] with \
                    low not above high."),
                "oneOf": [reference("SegmentAll"), reference("SegmentAny"), reference("SegmentNot"),
                          reference("SegmentCondition")],
                "example": {"all": [{"field": "consent.marketing_sms", "op": "eq", "value": true},
                                    {"field": "days_since_last_order", "op": "gt", "value": 90}]},
            }),
        ),
        ("SegmentAll".into(), group("all", "Every child node holds.", &list, json!([sms, dormant]))),
        ("SegmentAny".into(), group("any", "At least one child node holds.", &list, json!([sms, dormant]))),
        ("SegmentNot".into(), group("not", "The child node does not hold.", &node, dormant)),
        (
            "SegmentCondition".into(),
            json!({"description": "A condition on one field: `field`, `op`, `value` (`window_days` on the \
                                   order-history fields).",
                   "oneOf": conditions,
                   "example": {"field": "spend", "op": "gte", "value": "300.00", "window_days": 90}}),
        ),
    ];
    named.extend(schemas);
    named
}

/// Example values for a field's conditions: one value, and a low and a high one for `between`.
fn samples(name: &str, field: Field) -> [Value; 3] {
    use serde_json::json;
    match field.kind() {
        Kind::Text | Kind::Set | Kind::Bought => {
            let text = match field {
                Field::Tags => "vip",
                Field::District => "朝阳区",
                Field::BoughtCategory => "女装",
                _ => "上海",
            };
            [json!(text), json!(text), json!(text)]
        }
        Kind::Code => {
            let code = field.codes().and_then(|codes| codes.first().copied()).unwrap_or("gold");
            [json!(code), json!(code), json!(code)]
        }
        Kind::Integer if name.starts_with("rfm.") => [json!(4), json!(3), json!(5)],
        Kind::Integer => [json!(30), json!(18), json!(35)],
        Kind::Money => [json!("300.00"), json!("300.00"), json!("1000.00")],
        Kind::Date => [json!("2026-01-01"), json!("2026-01-01"), json!("2026-06-30")],
        Kind::Id => {
            let id = json!("0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f");
            [id.clone(), id.clone(), id]
        }
        Kind::Flag => [json!(true), json!(true), json!(true)],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_example_is_a_definition_the_parser_takes() {
        let schemas = json_schemas("#/components/schemas/");
        assert!(schemas.len() > 40, "{} schemas", schemas.len());
        for (name, schema) in schemas {
            let example = &schema["example"];
            assert!(parse(example, "definition").is_ok(), "{name}: {example} is refused: {:?}", parse(example, "x"));
        }
    }
}
