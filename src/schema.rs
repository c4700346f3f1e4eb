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
    campaigns (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        status -> Text,
        segment_id -> Nullable<Uuid>,
        trigger -> Nullable<Jsonb>,
        actions -> Jsonb,
        starts_at -> Nullable<Timestamptz>,
        ends_at -> Nullable<Timestamptz>,
        budget -> Nullable<Numeric>,
        cost_per_message -> Numeric,
        holdout_percent -> Int4,
        attribution_days -> Int4,
        activated_at -> Nullable<Timestamptz>,
        completed_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_messages (id, customer_id) {
        id -> Uuid,
        campaign_id -> Uuid,
        customer_id -> Uuid,
        occurrence -> Text,
        channel -> Text,
        recipient -> Text,
        body -> Text,
        coupon_code -> Nullable<Text>,
        status -> Text,
        send_at -> Timestamptz,
        sent_at -> Nullable<Timestamptz>,
        reason -> Nullable<Text>,
        status_at -> Timestamptz,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    marketing_settings (singleton) {
        singleton -> Bool,
        frequency_max -> Int4,
        frequency_days -> Int4,
        quiet_start -> Nullable<Time>,
        quiet_end -> Nullable<Time>,
        version -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    segments (id) {
        id -> Uuid,
        name -> Text,
        definition -> Jsonb,
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
        tokens_valid_after -> Nullable<Timestamptz>,
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
        rate_limit_rps -> Nullable<Int4>,
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
    customer_identities (customer_id, kind, value) {
        kind -> Text,
        value -> Text,
        customer_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    identity_routes (kind, value) {
        kind -> Text,
        value -> Text,
        customer_id -> Uuid,
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
    customer_notes (customer_id, id) {
        id -> Uuid,
        customer_id -> Uuid,
        body -> Text,
        author -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    tiers (code) {
        code -> Text,
        name -> Text,
        rank -> Int4,
        min_annual_spend -> Numeric,
        discount_rate -> Numeric,
        points_multiplier -> Numeric,
        benefits -> Array<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    loyalty_program (singleton) {
        singleton -> Bool,
        earn_rate -> Numeric,
        redeem_unit_points -> Int8,
        redeem_unit_value -> Numeric,
        max_points_offset_ratio -> Numeric,
        points_ttl_days -> Int4,
        points_pending_days -> Int4,
        tier_validity_days -> Int4,
        version -> Int4,
        updated_at -> Timestamptz,
        max_adjustment_points -> Int8,
        catalogue_version -> Int8,
        max_campaign_award_points -> Nullable<Int8>,
    }
}

diesel::table! {
    message_categories (name) {
        name -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    memberships (customer_id) {
        customer_id -> Uuid,
        member_card -> Text,
        tier_code -> Text,
        enrolled_at -> Timestamptz,
        channel -> Nullable<Text>,
        store_id -> Nullable<Uuid>,
        tier_since -> Timestamptz,
        tier_valid_until -> Nullable<Timestamptz>,
        version -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    tier_changes (customer_id, id) {
        id -> Uuid,
        customer_id -> Uuid,
        from_tier -> Nullable<Text>,
        to_tier -> Text,
        reason -> Text,
        note -> Nullable<Text>,
        actor -> Text,
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    orders (id, owner_id) {
        id -> Uuid,
        external_id -> Text,
        channel -> Text,
        store_id -> Nullable<Uuid>,
        customer_id -> Nullable<Uuid>,
        occurred_at -> Timestamptz,
        pricing -> Text,
        total_amount -> Numeric,
        tier_discount -> Numeric,
        coupon_discount -> Numeric,
        points_redeemed -> Int8,
        points_offset -> Numeric,
        paid_amount -> Numeric,
        refunded_amount -> Numeric,
        points_earned -> Int8,
        points_clawed_back -> Int8,
        points_returned -> Int8,
        earn_rate -> Numeric,
        points_multiplier -> Numeric,
        tier_code -> Nullable<Text>,
        tier_after -> Nullable<Text>,
        tier_changed -> Bool,
        points_balance_after -> Nullable<Int8>,
        created_at -> Timestamptz,
        coupon_codes -> Array<Text>,
        reservation_id -> Nullable<Uuid>,
        owner_id -> Uuid,
    }
}

diesel::table! {
    order_lines (order_id, line_no, owner_id) {
        order_id -> Uuid,
        line_no -> Int4,
        sku -> Text,
        name -> Nullable<Text>,
        category -> Nullable<Text>,
        quantity -> Int4,
        unit_price -> Numeric,
        amount -> Numeric,
        discounted_amount -> Numeric,
        refunded_quantity -> Int4,
        tier_discount -> Numeric,
        coupon_discount -> Numeric,
        owner_id -> Uuid,
    }
}

diesel::table! {
    refunds (id, owner_id) {
        id -> Uuid,
        order_id -> Uuid,
        external_id -> Text,
        amount -> Numeric,
        lines -> Jsonb,
        points_clawed_back -> Int8,
        points_returned -> Int8,
        points_balance_after -> Nullable<Int8>,
        created_at -> Timestamptz,
        owner_id -> Uuid,
    }
}

diesel::table! {
    points_accounts (customer_id) {
        customer_id -> Uuid,
        balance -> Int8,
        debt -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    points_entries (customer_id, id) {
        id -> Int8,
        customer_id -> Uuid,
        kind -> Text,
        delta -> Int8,
        balance_after -> Int8,
        order_id -> Nullable<Uuid>,
        refund_id -> Nullable<Uuid>,
        reference -> Nullable<Text>,
        reason -> Nullable<Text>,
        actor -> Text,
        lots -> Jsonb,
        occurred_at -> Timestamptz,
    }
}

diesel::table! {
    points_lots (customer_id, id) {
        id -> Uuid,
        customer_id -> Uuid,
        entry_id -> Int8,
        order_id -> Nullable<Uuid>,
        amount -> Int8,
        remaining -> Int8,
        available_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    rewards (id) {
        id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        points_cost -> Int8,
        stock -> Int4,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    reward_redemptions (customer_id, id) {
        id -> Uuid,
        customer_id -> Uuid,
        reward_id -> Uuid,
        quantity -> Int4,
        points -> Int8,
        entry_id -> Int8,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    job_runs (job, business_date) {
        job -> Text,
        business_date -> Date,
        started_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        result -> Nullable<Jsonb>,
    }
}

diesel::table! {
    coupon_templates (id) {
        id -> Uuid,
        name -> Text,
        description -> Nullable<Text>,
        kind -> Text,
        threshold -> Nullable<Numeric>,
        discount -> Nullable<Numeric>,
        discount_rate -> Nullable<Numeric>,
        max_discount -> Nullable<Numeric>,
        gift_sku -> Nullable<Text>,
        valid_from -> Nullable<Timestamptz>,
        valid_to -> Nullable<Timestamptz>,
        valid_days_after_issue -> Nullable<Int4>,
        total_quantity -> Nullable<Int4>,
        per_customer_limit -> Nullable<Int4>,
        store_ids -> Array<Uuid>,
        channels -> Array<Text>,
        categories -> Array<Text>,
        skus -> Array<Text>,
        stackable -> Bool,
        unit_cost -> Numeric,
        status -> Text,
        issued_count -> Int4,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    coupons (code) {
        code -> Text,
        template_id -> Uuid,
        customer_id -> Uuid,
        source -> Text,
        source_ref -> Nullable<Text>,
        issued_at -> Timestamptz,
        valid_from -> Timestamptz,
        expires_at -> Timestamptz,
        status -> Text,
        redeemed_at -> Nullable<Timestamptz>,
        voided_at -> Nullable<Timestamptz>,
        void_reason -> Nullable<Text>,
        reserved_by -> Nullable<Uuid>,
        reserved_until -> Nullable<Timestamptz>,
        version -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    coupon_redemptions (id) {
        id -> Uuid,
        code -> Text,
        template_id -> Uuid,
        customer_id -> Uuid,
        order_id -> Nullable<Uuid>,
        order_reference -> Nullable<Text>,
        store_id -> Nullable<Uuid>,
        channel -> Nullable<Text>,
        amount -> Numeric,
        discount -> Numeric,
        actor -> Text,
        redeemed_at -> Timestamptz,
        undone_at -> Nullable<Timestamptz>,
        undone_reason -> Nullable<Text>,
    }
}

diesel::table! {
    checkout_reservations (id, customer_id) {
        id -> Uuid,
        customer_id -> Uuid,
        store_id -> Nullable<Uuid>,
        channel -> Text,
        points -> Int8,
        coupon_codes -> Array<Text>,
        quote -> Jsonb,
        status -> Text,
        expires_at -> Timestamptz,
        order_id -> Nullable<Uuid>,
        actor -> Text,
        created_at -> Timestamptz,
        closed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    lead_assignment_rules (id) {
        id -> Uuid,
        name -> Text,
        priority -> Int4,
        match_city -> Nullable<Text>,
        match_district -> Nullable<Text>,
        match_category -> Nullable<Text>,
        match_source -> Nullable<Text>,
        match_kind -> Nullable<Text>,
        target_staff_ids -> Array<Uuid>,
        target_store_id -> Nullable<Uuid>,
        target_skill -> Nullable<Text>,
        strategy -> Text,
        reassign_on_breach -> Bool,
        active -> Bool,
        last_staff_id -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    leads (id, owner_id) {
        id -> Uuid,
        source -> Text,
        kind -> Text,
        contact_name -> Nullable<Text>,
        contact_phone -> Nullable<Text>,
        contact_wechat -> Nullable<Text>,
        city -> Nullable<Text>,
        district -> Nullable<Text>,
        category -> Nullable<Text>,
        items -> Jsonb,
        estimated_value -> Nullable<Numeric>,
        notes -> Nullable<Text>,
        customer_id -> Nullable<Uuid>,
        status -> Text,
        lost_reason -> Nullable<Text>,
        assignee_staff_id -> Nullable<Uuid>,
        store_id -> Nullable<Uuid>,
        rule_id -> Nullable<Uuid>,
        assigned_at -> Nullable<Timestamptz>,
        first_response_at -> Nullable<Timestamptz>,
        response_due_at -> Nullable<Timestamptz>,
        sla_breached -> Bool,
        sla_breached_at -> Nullable<Timestamptz>,
        qualified_at -> Nullable<Timestamptz>,
        won_at -> Nullable<Timestamptz>,
        lost_at -> Nullable<Timestamptz>,
        order_id -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        owner_id -> Uuid,
    }
}

diesel::table! {
    sla_policies (priority) {
        priority -> Text,
        first_response_minutes -> Int4,
        resolution_minutes -> Int4,
        business_hours_start -> Nullable<Time>,
        business_hours_end -> Nullable<Time>,
        business_days -> Array<Int4>,
        version -> Int4,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    ticket_routing_rules (id) {
        id -> Uuid,
        name -> Text,
        priority -> Int4,
        match_type -> Nullable<Text>,
        match_category -> Nullable<Text>,
        match_channel -> Nullable<Text>,
        match_priority -> Nullable<Text>,
        team -> Text,
        active -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    team_cursors (team) {
        team -> Text,
        last_staff_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    tickets (id, owner_id) {
        id -> Uuid,
        customer_id -> Nullable<Uuid>,
        order_id -> Nullable<Uuid>,
        #[sql_name = "type"]
        ticket_type -> Text,
        category -> Nullable<Text>,
        channel -> Nullable<Text>,
        priority -> Text,
        subject -> Text,
        description -> Nullable<Text>,
        status -> Text,
        team -> Nullable<Text>,
        assignee_staff_id -> Nullable<Uuid>,
        store_id -> Nullable<Uuid>,
        sla_elapsed_seconds -> Int8,
        sla_running_since -> Nullable<Timestamptz>,
        first_response_due_at -> Nullable<Timestamptz>,
        resolution_due_at -> Nullable<Timestamptz>,
        first_responded_at -> Nullable<Timestamptz>,
        resolved_at -> Nullable<Timestamptz>,
        closed_at -> Nullable<Timestamptz>,
        first_response_breached -> Bool,
        resolution_breached -> Bool,
        satisfaction_score -> Nullable<Int4>,
        satisfaction_comment -> Nullable<Text>,
        satisfaction_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        owner_id -> Uuid,
    }
}

diesel::table! {
    ticket_comments (id, owner_id) {
        id -> Uuid,
        ticket_id -> Uuid,
        visibility -> Text,
        body -> Text,
        author -> Text,
        created_at -> Timestamptz,
        owner_id -> Uuid,
    }
}

diesel::table! {
    webhook_subscriptions (id) {
        id -> Uuid,
        url -> Text,
        event_types -> Array<Text>,
        active -> Bool,
        description -> Nullable<Text>,
        secret -> Text,
        previous_secret -> Nullable<Text>,
        previous_secret_until -> Nullable<Timestamptz>,
        disabled_reason -> Nullable<Text>,
        disabled_at -> Nullable<Timestamptz>,
        failing_since -> Nullable<Timestamptz>,
        cursor_seq -> Int8,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        created_by -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Uuid,
        subscription_id -> Uuid,
        event_id -> Uuid,
        event_seq -> Int8,
        event_type -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        first_failed_at -> Nullable<Timestamptz>,
        lease_until -> Nullable<Timestamptz>,
        last_response_code -> Nullable<Int4>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        replayed -> Bool,
    }
}

diesel::table! {
    webhook_attempts (id) {
        id -> Uuid,
        delivery_id -> Uuid,
        attempted_at -> Timestamptz,
        succeeded -> Bool,
        response_code -> Nullable<Int4>,
        duration_ms -> Int4,
        error -> Nullable<Text>,
    }
}

diesel::joinable!(staff -> stores (store_id));
diesel::joinable!(customer_identities -> customers (customer_id));
diesel::joinable!(identity_routes -> customers (customer_id));
diesel::joinable!(customer_tags -> customers (customer_id));
diesel::joinable!(customer_notes -> customers (customer_id));
diesel::joinable!(memberships -> tiers (tier_code));
diesel::joinable!(coupons -> coupon_templates (template_id));
diesel::joinable!(webhook_deliveries -> webhook_subscriptions (subscription_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));

diesel::allow_tables_to_appear_in_same_query!(
    identity_routes,
    stores,
    message_categories,
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
    tiers,
    loyalty_program,
    memberships,
    tier_changes,
    orders,
    order_lines,
    refunds,
    segments,
    campaigns,
    campaign_messages,
    marketing_settings,
    points_accounts,
    points_entries,
    points_lots,
    rewards,
    reward_redemptions,
    job_runs,
    coupon_templates,
    coupons,
    coupon_redemptions,
    checkout_reservations,
    lead_assignment_rules,
    leads,
    sla_policies,
    ticket_routing_rules,
    team_cursors,
    tickets,
    ticket_comments,
    webhook_subscriptions,
    webhook_deliveries,
    webhook_attempts,
);
