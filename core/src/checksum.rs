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
    let digest = hasher.finalize();
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
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
    fn is_sha256_hex() {
        assert_eq!(of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
