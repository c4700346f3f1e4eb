DROP TABLE ticket_comments;
DROP TABLE tickets;
DROP TABLE team_cursors;
DROP TABLE ticket_routing_rules;
DROP TABLE sla_policies;
