DROP TABLE customer_notes;
DROP TABLE customer_tags;
DROP TABLE tags;
DROP TABLE customer_identities;
DROP TABLE customers;
