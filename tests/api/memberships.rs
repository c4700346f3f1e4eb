//! memberships (SPEC §6-§7).
