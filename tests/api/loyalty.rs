//! loyalty (SPEC §6-§7).
