//! The event contract in the OpenAPI document: one schema per payload, one envelope per event
//! type (what the feed lists and a webhook posts), and the 3.1 `webhooks` a subscriber receives —
//! all generated from `types::EventData`, so the document and the payloads cannot drift.

use serde_json::{json, Map, Value};

use super::types::{payload_schemas, EVENT_CATALOGUE, EVENT_TYPES};

/// `customer.created` → `CustomerCreatedEvent`.
pub fn envelope_name(event_type: &str) -> String {
    schema_name(event_type) + "Event"
}

/// A dotted, snake-cased name as a component schema's name: `consent.marketing_sms` → `ConsentMarketingSms`.
pub fn schema_name(dotted: &str) -> String {
    let mut name = String::new();
    for word in dotted.split(['.', '_']) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.extend(first.to_uppercase());
            name.push_str(chars.as_str());
        }
    }
    name
}

fn envelope(event_type: &str, description: &str, payload: &str, payload_example: Value) -> Value {
    json!({
        "example": {
            "id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e", "type": event_type, "occurred_at": "2026-11-23T08:00:00Z",
            "subject_id": "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5f", "seq": 42, "data": payload_example,
        },
        "type": "object",
        "description": description,
        "required": ["id", "type", "occurred_at", "subject_id", "seq", "data"],
        "properties": {
            "id": {"type": "string", "format": "uuid",
                   "description": "The event's id; a webhook's `webhook-id`, the same on every attempt."},
            "type": {"type": "string", "enum": [event_type]},
            "occurred_at": {"type": "string", "format": "date-time"},
            "subject_id": {"type": ["string", "null"], "format": "uuid",
                           "description": "The customer the event is about (a lead's own id for a lead without one); \
                                           null when there is none (a guest's order, a ticket without a customer)."},
            "seq": {"type": "integer", "format": "int64", "minimum": 1,
                    "description": "Position in the feed: receivers order by it."},
            "data": {"$ref": format!("#/components/schemas/{payload}")},
        },
        "additionalProperties": false,
    })
}

fn header(name: &str, description: &str, example: &str) -> Value {
    json!({"name": name, "in": "header", "required": true, "description": description,
           "schema": {"type": "string"}, "example": example})
}

fn webhook(event_type: &str, description: &str) -> Value {
    let schema = json!({"$ref": format!("#/components/schemas/{}", envelope_name(event_type))});
    json!({"post": {
        "operationId": format!("webhook_{}", event_type.replace('.', "_")),
        "summary": description,
        "description": "Sent to each active subscription that lists this type (Standard Webhooks). Answer 2xx within \
                        15 s; anything else is retried at 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h \
                        (429/503 with `Retry-After` are honoured); 410 disables the subscription.",
        "tags": ["webhooks"],
        "security": [],
        "parameters": [
            header("webhook-id", "The event's id, the same on every attempt: drop duplicates by it.",
                   "0192f0c4-5b6e-7d7a-9c1e-3f1a2b3c4d5e"),
            header("webhook-timestamp", "Unix seconds when this attempt was signed; reject stale ones.", "1795420800"),
            header("webhook-signature",
                   "`v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` keyed by the \
                    base64-decoded secret (after `whsec_`). During a rotation, two signatures separated by a space.",
                   "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
        "responses": {
            "200": {"description": "Received (any 2xx)."},
            "410": {"description": "Gone: the subscription is disabled at once."},
            "429": {"description": "Busy: retried after `Retry-After` when given, else on the schedule."},
        },
    }})
}

/// Adds the payload and envelope schemas, the feed's `Event` as their union, and `webhooks`.
pub fn document(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    for (name, schema) in payload_schemas() {
        schemas[name.as_str()] = serde_json::to_value(schema).unwrap_or(Value::Null);
    }
    let mut webhooks = Map::new();
    let mut variants = Vec::new();
    let mut mapping = Map::new();
    for (event_type, description, payload) in EVENT_CATALOGUE {
        let name = envelope_name(event_type);
        let payload_example = schemas[*payload]["example"].clone();
        schemas[name.as_str()] = envelope(event_type, description, payload, payload_example);
        let reference = format!("#/components/schemas/{name}");
        variants.push(json!({"$ref": reference}));
        mapping.insert(event_type.to_string(), json!(reference));
        webhooks.insert(event_type.to_string(), webhook(event_type, description));
    }
    for input in ["SubscriptionInput", "SubscriptionCreate"] {
        if schemas.get(input).is_some() {
            schemas[input]["properties"]["event_types"]["items"] = json!({"enum": EVENT_TYPES});
        }
    }
    let example = schemas["Event"]["example"].take();
    schemas["Event"] = json!({
        "description": "An event, as the feed lists it and a webhook posts it: its `data` follows its `type`.",
        "oneOf": variants,
        "discriminator": {"propertyName": "type", "mapping": mapping},
        "example": example,
    });
    doc["webhooks"] = Value::Object(webhooks);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_names_are_camel_case() {
        assert_eq!(envelope_name("customer.created"), "CustomerCreatedEvent");
        assert_eq!(envelope_name("ticket.survey_requested"), "TicketSurveyRequestedEvent");
    }
}
