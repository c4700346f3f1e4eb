DROP TABLE idempotency_keys;
DROP TABLE event_sequencer;
DROP TABLE events;
DROP TABLE audit_log;
DROP TABLE api_clients;
DROP TABLE staff;
DROP TABLE stores;
