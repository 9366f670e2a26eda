//! Author pseudonyms: a keyed hash, so that the index can group posts by
//! author without holding the author id itself.

use std::io::Write;
use std::path::Path;

use crate::IndexError;

/// What the index stores of an author.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthorPolicy {
    /// A keyed hash of the author id (the default): stable for one key, not
    /// reversible without it.
    #[default]
    Pseudonymise,
    /// The author id as given.
    Raw,
    /// Nothing.
    Drop,
}

/// A keyed BLAKE3 hash of author ids, shown as `a-` and 16 hex digits.
#[derive(Clone)]
pub struct Pseudonymizer {
    key: [u8; 32],
}

impl std::fmt::Debug for Pseudonymizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pseudonymizer(<key>)")
    }
}

/// The key file in a data directory.
pub(crate) const KEY_FILE: &str = "author.key";

impl Pseudonymizer {
    /// From a 32-byte key.
    pub fn new(key: [u8; 32]) -> Self {
        Pseudonymizer { key }
    }

    /// The key in `data_dir/author.key` (64 hex digits), created with a
    /// random key (mode 0600) if absent. The same data directory keeps the
    /// same pseudonyms across restarts.
    pub fn from_data_dir(data_dir: &Path) -> Result<Self, IndexError> {
        let path = data_dir.join(KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(hex) => {
                let key = parse_hex_key(hex.trim()).ok_or_else(|| {
                    IndexError::io(
                        format!("reading {}", path.display()),
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "expected 64 hexadecimal digits (a 32-byte key)",
                        ),
                    )
                })?;
                Ok(Pseudonymizer { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut key = [0u8; 32];
                getrandom::fill(&mut key).map_err(|e| {
                    IndexError::io(
                        "drawing a random author key",
                        std::io::Error::other(e.to_string()),
                    )
                })?;
                let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use std::os::unix::fs::OpenOptionsExt;
                    options.mode(0o600);
                }
                let mut f = options
                    .open(&path)
                    .map_err(|e| IndexError::io(format!("creating {}", path.display()), e))?;
                writeln!(f, "{hex}")
                    .map_err(|e| IndexError::io(format!("writing {}", path.display()), e))?;
                Ok(Pseudonymizer { key })
            }
            Err(e) => Err(IndexError::io(format!("reading {}", path.display()), e)),
        }
    }

    /// The pseudonym of `author`.
    pub fn pseudonym(&self, author: &str) -> String {
        let h = blake3::keyed_hash(&self.key, author.as_bytes());
        let mut out = String::with_capacity(18);
        out.push_str("a-");
        for b in &h.as_bytes()[..8] {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }
}

fn parse_hex_key(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut key = [0u8; 32];
    for (i, k) in key.iter_mut().enumerate() {
        *k = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pseudonyms_are_stable_per_key_and_differ_across_keys() {
        let a = Pseudonymizer::new([1; 32]);
        let b = Pseudonymizer::new([2; 32]);
        assert_eq!(a.pseudonym("u123"), a.pseudonym("u123"));
        assert_ne!(a.pseudonym("u123"), a.pseudonym("u124"));
        assert_ne!(a.pseudonym("u123"), b.pseudonym("u123"));
        assert_eq!(a.pseudonym("u123").len(), 18);
        assert!(!a.pseudonym("u123").contains("u123"));
    }

    #[test]
    fn the_data_dir_key_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = Pseudonymizer::from_data_dir(dir.path()).unwrap();
        let b = Pseudonymizer::from_data_dir(dir.path()).unwrap();
        assert_eq!(a.pseudonym("x"), b.pseudonym("x"));
        std::fs::write(dir.path().join(KEY_FILE), "zz").unwrap();
        let e = Pseudonymizer::from_data_dir(dir.path()).unwrap_err();
        assert!(e.to_string().contains("64 hexadecimal digits"), "{e}");
    }
}
