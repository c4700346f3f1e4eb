DROP TABLE leads;
DROP TABLE lead_assignment_rules;
