//! Content checksums: SHA-256 of a script with line endings normalised, so
//! a checkout with CRLF line endings does not look like an edited migration.

use sha2::{Digest, Sha256};

/// The checksum of `text`, as 64 lowercase hex digits.
pub fn of(text: &str) -> String {
    let mut hasher = Sha256::new();
    let mut rest = text;
    while let Some(i) = rest.find("\r\n") {
        hasher.update(&rest.as_bytes()[..i]);
        hasher.update(b"\n");
        rest = &rest[i + 2..];
    }
    hasher.update(rest.as_bytes());
    hex(&hasher.finalize())
}

/// What identifies an applied migration, in 16 hex digits (64 bits): its
/// branch, name and checksum together. The startup check compares these
/// alone, so that it reads two short columns per record.
pub fn fingerprint(branch: &str, name: &str, checksum: &str) -> String {
    let mut hasher = Sha256::new();
    for part in [branch, name, checksum] {
        hasher.update(part.as_bytes());
        hasher.update(b"\n");
    }
    hex(&hasher.finalize()[..8])
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut hex = vec![0u8; bytes.len() * 2];
    for (pair, byte) in hex.chunks_exact_mut(2).zip(bytes) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 15)];
    }
    String::from_utf8(hex).expect("hex digits are ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_and_lf_give_the_same_checksum() {
        assert_eq!(of("CREATE TABLE a (x int);\r\nSELECT 1;\r\n"), of("CREATE TABLE a (x int);\nSELECT 1;\n"));
    }

    #[test]
    fn any_other_edit_changes_it() {
        assert_ne!(of("SELECT 1;\n"), of("SELECT 2;\n"));
        assert_ne!(of("SELECT 1;\n"), of("SELECT 1;\n\n"));
    }

    #[test]
    fn fingerprints_change_with_branch_name_or_checksum() {
        let f = fingerprint("expand", "add_email", &of("SELECT 1;"));
        assert_eq!(f.len(), 16);
        assert_ne!(f, fingerprint("contract", "add_email", &of("SELECT 1;")));
        assert_ne!(f, fingerprint("expand", "add_mail", &of("SELECT 1;")));
        assert_ne!(f, fingerprint("expand", "add_email", &of("SELECT 2;")));
        assert_eq!(f, fingerprint("expand", "add_email", &of("SELECT 1;\r\n".trim_end())));
    }

    #[test]
    fn is_sha256_hex() {
        assert_eq!(of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
