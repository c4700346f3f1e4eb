//! Which scopes a staff member's token carries, from their roles.

pub const ROLES: &[&str] = &["sales", "service", "manager"];

pub fn scopes_for_roles(roles: &[String]) -> Vec<String> {
    let mut scopes: Vec<&str> = Vec::new();
    for role in roles {
        let granted: &[&str] = match role.as_str() {
            "sales" => &[
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
            "service" => {
                &["customers:read", "customers:write", "loyalty:read", "tickets:read", "tickets:write", "staff:read"]
            }
            "manager" => &[
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
            _ => &[],
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
        let sales = scopes_for_roles(&["sales".into()]);
        assert!(sales.contains(&"leads:write".to_string()));
        assert!(!sales.contains(&"customers:pii".to_string()));
        let both = scopes_for_roles(&["sales".into(), "manager".into()]);
        assert!(both.contains(&"customers:pii".to_string()));
        assert_eq!(both.iter().filter(|s| *s == "customers:read").count(), 1);
        assert!(scopes_for_roles(&[]).is_empty());
    }
}
