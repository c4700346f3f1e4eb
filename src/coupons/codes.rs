//! Coupon codes: 12 characters from an alphabet without the look-alikes 0/O, 1/I/L, drawn from
//! the OS CSPRNG (31^12 ≈ 2^59 codes, so guessing one is hopeless). Shown upper-case, accepted in
//! any case and with the spaces or dashes people type.

use rand::rngs::OsRng;
use rand::Rng;

pub const ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";
pub const LENGTH: usize = 12;

pub fn generate() -> String {
    let mut rng = OsRng;
    (0..LENGTH).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect()
}

/// The canonical form of a typed code, or `None` when it cannot be a code at all.
pub fn canonical(typed: &str) -> Option<String> {
    let code: String = typed.chars().filter(|c| !matches!(c, ' ' | '-')).map(|c| c.to_ascii_uppercase()).collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_12_unambiguous_characters() {
        for _ in 0..200 {
            let code = generate();
            assert_eq!(code.len(), 12);
            assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
            assert_eq!(canonical(&code).as_deref(), Some(code.as_str()));
        }
        assert_eq!(ALPHABET.len(), 31);
    }

    #[test]
    fn typed_codes_are_accepted_in_any_case_with_separators() {
        assert_eq!(canonical("k7m4-p9qx-2htr").as_deref(), Some("K7M4P9QX2HTR"));
        assert_eq!(canonical(" K7M4 P9QX 2HTR ").as_deref(), Some("K7M4P9QX2HTR"));
        assert_eq!(canonical("K7M4P9QX2HT0"), None, "0 is not in the alphabet");
        assert_eq!(canonical("K7M4P9QX2HT"), None, "too short");
        assert_eq!(canonical("K7M4P9QX2HTRR"), None, "too long");
        assert_eq!(canonical("K7M4P9QX2HTé"), None);
    }
}
