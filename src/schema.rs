// @generated-style Diesel table definitions (kept in step with migrations/).

diesel::table! {
    stores (id) {
        id -> Uuid,
        code -> Text,
        name -> Text,
        city -> Nullable<Text>,
        district -> Nullable<Text>,
        kind -> Text,
        daily_sales_target -> Nullable<Numeric>,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    staff (id) {
        id -> Uuid,
        name -> Text,
        phone -> Nullable<Text>,
        store_id -> Nullable<Uuid>,
        roles -> Array<Text>,
        skills -> Array<Text>,
        capacity -> Int4,
        team -> Nullable<Text>,
        active -> Bool,
        username -> Nullable<Text>,
        password_hash -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Uuid,
        client_id -> Text,
        name -> Text,
        secret_hash -> Text,
        scopes -> Array<Text>,
        store_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Int8,
        at -> Timestamptz,
        actor -> Text,
        action -> Text,
        resource -> Text,
        resource_id -> Nullable<Text>,
        request_id -> Nullable<Text>,
        detail -> Jsonb,
    }
}

diesel::table! {
    events (id) {
        id -> Uuid,
        seq -> Nullable<Int8>,
        #[sql_name = "type"]
        event_type -> Text,
        occurred_at -> Timestamptz,
        subject_id -> Nullable<Uuid>,
        data -> Jsonb,
    }
}

diesel::table! {
    idempotency_keys (principal, key) {
        principal -> Text,
        key -> Text,
        request_hash -> Text,
        created_at -> Timestamptz,
        completed_at -> Nullable<Timestamptz>,
        status -> Nullable<Int2>,
        response_headers -> Nullable<Jsonb>,
        response_body -> Nullable<Bytea>,
    }
}

diesel::table! {
    customers (id) {
        id -> Uuid,
        name -> Nullable<Text>,
        gender -> Text,
        birthday -> Nullable<Date>,
        phone -> Nullable<Text>,
        email -> Nullable<Text>,
        city -> Nullable<Text>,
        district -> Nullable<Text>,
        address -> Nullable<Text>,
        source_channel -> Nullable<Text>,
        home_store_id -> Nullable<Uuid>,
        consents -> Jsonb,
        attributes -> Jsonb,
        status -> Text,
        merged_into -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        phone_last4 -> Nullable<Text>,
    }
}

diesel::table! {
    customer_identities (kind, value) {
        kind -> Text,
        value -> Text,
        customer_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tags (name) {
        name -> Text,
        kind -> Text,
        description -> Nullable<Text>,
        definition -> Nullable<Jsonb>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    customer_tags (customer_id, tag) {
        customer_id -> Uuid,
        tag -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    customer_notes (id) {
        id -> Uuid,
        customer_id -> Uuid,
        body -> Text,
        author -> Text,
        created_at -> Timestamptz,
    }
}

diesel::joinable!(staff -> stores (store_id));
diesel::joinable!(customer_identities -> customers (customer_id));
diesel::joinable!(customer_tags -> customers (customer_id));
diesel::joinable!(customer_notes -> customers (customer_id));

diesel::allow_tables_to_appear_in_same_query!(
    stores,
    staff,
    api_clients,
    audit_log,
    events,
    idempotency_keys,
    customers,
    customer_identities,
    tags,
    customer_tags,
    customer_notes,
);
