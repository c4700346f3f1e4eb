//! Which scopes a staff member's token carries, from their roles.

crate::vocabulary! {
    /// What a staff member does; each role grants its scopes (`scopes_for_roles`).
    pub enum StaffRole {
        /// A store clerk: customers, orders, coupons, leads.
        Sales = "sales",
        /// A service agent: customers and tickets.
        Service = "service",
        Manager = "manager",
    }
}

pub fn scopes_for_roles(roles: &[StaffRole]) -> Vec<String> {
    let mut scopes: Vec<&str> = Vec::new();
    for role in roles {
        let granted: &[&str] = match role {
            StaffRole::Sales => &[
                "customers:read",
                "customers:write",
                "loyalty:read",
                "coupons:read",
                "coupons:redeem",
                "orders:read",
                "orders:write",
                "leads:read",
                "leads:write",
                "staff:read",
            ],
            StaffRole::Service => {
                &["customers:read", "customers:write", "loyalty:read", "tickets:read", "tickets:write", "staff:read"]
            }
            StaffRole::Manager => &[
                "customers:read",
                "customers:write",
                "customers:pii",
                "loyalty:read",
                "coupons:read",
                "orders:read",
                "campaigns:read",
                "leads:read",
                "leads:write",
                "tickets:read",
                "tickets:write",
                "analytics:read",
                "staff:read",
            ],
        };
        scopes.extend_from_slice(granted);
    }
    scopes.sort_unstable();
    scopes.dedup();
    scopes.into_iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_their_scopes_without_duplicates() {
        let sales = scopes_for_roles(&[StaffRole::Sales]);
        assert!(sales.contains(&"leads:write".to_string()));
        assert!(!sales.contains(&"customers:pii".to_string()));
        let both = scopes_for_roles(&[StaffRole::Sales, StaffRole::Manager]);
        assert!(both.contains(&"customers:pii".to_string()));
        assert_eq!(both.iter().filter(|s| *s == "customers:read").count(), 1);
        assert!(scopes_for_roles(&[]).is_empty());
    }
}
