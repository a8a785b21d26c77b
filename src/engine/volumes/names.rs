//! Volume names as Docker's local driver accepts them, and the names of anonymous volumes.

/// The label Docker (≥ 23) puts on anonymous volumes; `docker volume prune` without `--all`
/// removes only volumes that carry it.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// The characters a volume name may have, as dockerd words them in its error.
const RESTRICTED_NAME_CHARS: &str = "[a-zA-Z0-9][a-zA-Z0-9_.-]";

/// Checks a volume name against `^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`, with dockerd's messages.
pub fn validate_name(name: &str) -> Result<(), String> {
    if name.chars().count() == 1 {
        return Err("volume name is too short, names should be at least two alphanumeric characters".into());
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !first_ok || !rest_ok {
        return Err(format!(
            "{name:?} includes invalid characters for a local volume name, only {RESTRICTED_NAME_CHARS:?} are allowed. If you intended to pass a host directory, use absolute path"
        ));
    }
    Ok(())
}

/// A new anonymous volume's name: 64 random hex digits, as dockerd's.
pub fn random_name() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_local_driver() {
        for good in ["data", "my-vol.1", "a_b", "0x", &random_name()] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        assert!(validate_name("x").unwrap_err().contains("too short"));
        let slash = validate_name("a/b").unwrap_err();
        assert_eq!(
            slash,
            "\"a/b\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        );
        for bad in ["", "-a", ".hidden", "a b", "a:b", "ü1"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert_eq!(random_name().len(), 64);
    }
}
