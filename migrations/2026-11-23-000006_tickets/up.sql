-- Service tickets (工单): routing to teams, SLA policies and the clock, comments, satisfaction.

CREATE TABLE sla_policies (
    priority text PRIMARY KEY CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    first_response_minutes integer NOT NULL CHECK (first_response_minutes > 0),
    resolution_minutes integer NOT NULL CHECK (resolution_minutes > 0),
    -- optional business hours (local time, CRM_TIMEZONE): the clock runs only inside them
    business_hours_start time,
    business_hours_end time,
    -- ISO weekdays the business hours apply to (1 = Monday); empty = every day
    business_days integer[] NOT NULL DEFAULT '{}',
    version integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((business_hours_start IS NULL) = (business_hours_end IS NULL)),
    CHECK (business_hours_start IS NULL OR business_hours_start < business_hours_end)
);
INSERT INTO sla_policies (priority, first_response_minutes, resolution_minutes) VALUES
    ('urgent', 120, 240),
    ('high', 120, 1440),
    ('normal', 120, 2880),
    ('low', 120, 4320);

CREATE TABLE ticket_routing_rules (
    id uuid PRIMARY KEY,
    name text NOT NULL,
    priority integer NOT NULL,
    -- absent = any
    match_type text,
    match_category text,
    match_channel text,
    match_priority text,
    team text NOT NULL,
    active boolean NOT NULL DEFAULT true,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ticket_routing_rules_order_idx ON ticket_routing_rules (priority, id) WHERE active;

-- Round-robin position within each team.
CREATE TABLE team_cursors (
    team text PRIMARY KEY,
    last_staff_id uuid
);

CREATE TABLE tickets (
    id uuid PRIMARY KEY,
    customer_id uuid REFERENCES customers (id),
    order_id uuid REFERENCES orders (id),
    type text NOT NULL CHECK (type IN ('complaint', 'after_sales', 'return', 'inquiry')),
    category text,
    channel text,
    priority text NOT NULL DEFAULT 'normal' CHECK (priority IN ('low', 'normal', 'high', 'urgent')),
    subject text NOT NULL,
    description text,
    status text NOT NULL DEFAULT 'open'
        CHECK (status IN ('open', 'in_progress', 'pending_customer', 'resolved', 'closed')),
    team text,
    assignee_staff_id uuid REFERENCES staff (id),
    store_id uuid REFERENCES stores (id),
    -- the SLA clock: seconds it has run (inside business hours, outside pending_customer), and
    -- since when it runs now (NULL while paused or stopped)
    sla_elapsed_seconds bigint NOT NULL DEFAULT 0,
    sla_running_since timestamptz,
    first_response_due_at timestamptz,
    resolution_due_at timestamptz,
    first_responded_at timestamptz,
    resolved_at timestamptz,
    closed_at timestamptz,
    first_response_breached boolean NOT NULL DEFAULT false,
    resolution_breached boolean NOT NULL DEFAULT false,
    satisfaction_score integer CHECK (satisfaction_score BETWEEN 1 AND 5),
    satisfaction_comment text,
    satisfaction_at timestamptz,
    version integer NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tickets_status_idx ON tickets (status, created_at, id);
CREATE INDEX tickets_team_idx ON tickets (team, created_at);
CREATE INDEX tickets_customer_idx ON tickets (customer_id, created_at) WHERE customer_id IS NOT NULL;
CREATE INDEX tickets_assignee_open_idx ON tickets (assignee_staff_id) WHERE status IN ('open', 'in_progress', 'pending_customer');

CREATE TABLE ticket_comments (
    id uuid PRIMARY KEY,
    ticket_id uuid NOT NULL REFERENCES tickets (id),
    visibility text NOT NULL CHECK (visibility IN ('internal', 'public')),
    body text NOT NULL,
    author text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX ticket_comments_ticket_idx ON ticket_comments (ticket_id, created_at);
