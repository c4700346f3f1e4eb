-- Sales leads (销售线索 / 商机) and the rules that assign them to store staff.

CREATE TABLE lead_assignment_rules (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    priority integer NOT NULL,
    -- absent = any
    match_city text,
    match_district text,
    match_category text,
    match_source text,
    match_kind text,
    -- target: listed staff, or the staff of a store with a skill
    target_staff_ids uuid[] NOT NULL DEFAULT '{}',
    target_store_id uuid REFERENCES stores (id),
    target_skill text,
    strategy text NOT NULL CHECK (strategy IN ('round_robin', 'least_loaded')),
    -- on a missed response SLA, hand the lead to the next free person under the same rule
    reassign_on_breach boolean NOT NULL DEFAULT false,
    active boolean NOT NULL DEFAULT true,
    -- the round-robin position: the staff member who got the last lead under this rule
    last_staff_id uuid,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (cardinality(target_staff_ids) > 0 OR target_store_id IS NOT NULL)
);
CREATE INDEX lead_assignment_rules_order_idx ON lead_assignment_rules (priority, id) WHERE active;

CREATE TABLE leads (
    id uuid PRIMARY KEY,
    source text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('inquiry', 'cart_abandoned', 'walk_in', 'referral')),
    contact_name text,
    contact_phone text,
    contact_wechat text,
    city text,
    district text,
    category text,
    items jsonb NOT NULL DEFAULT '[]',
    estimated_value numeric(14, 2) CHECK (estimated_value >= 0),
    notes text,
    customer_id uuid REFERENCES customers (id),
    status text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'assigned', 'contacted', 'qualified', 'won', 'lost')),
    lost_reason text,
    assignee_staff_id uuid REFERENCES staff (id),
    store_id uuid REFERENCES stores (id),
    rule_id uuid REFERENCES lead_assignment_rules (id),
    assigned_at timestamptz,
    first_response_at timestamptz,
    response_due_at timestamptz,
    sla_breached boolean NOT NULL DEFAULT false,
    sla_breached_at timestamptz,
    qualified_at timestamptz,
    won_at timestamptz,
    lost_at timestamptz,
    order_id uuid REFERENCES orders (id),
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX leads_status_idx ON leads (status, created_at, id);
CREATE INDEX leads_store_idx ON leads (store_id, created_at);
CREATE INDEX leads_assignee_open_idx ON leads (assignee_staff_id) WHERE status IN ('assigned', 'contacted', 'qualified');
CREATE INDEX leads_customer_idx ON leads (customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX leads_response_due_idx ON leads (response_due_at)
    WHERE status = 'assigned' AND first_response_at IS NULL AND NOT sla_breached;
