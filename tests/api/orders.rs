//! orders (SPEC §6-§7).
