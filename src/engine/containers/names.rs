//! Container names: Docker's rule for what a name may be, and random names in Docker's
//! `adjective_scientist` style for containers created without one.

use rand::seq::IndexedRandom;

const ADJECTIVES: &[&str] = &[
    "admiring",
    "brave",
    "busy",
    "clever",
    "cool",
    "dreamy",
    "eager",
    "elegant",
    "focused",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "kind",
    "laughing",
    "lucid",
    "modest",
    "nifty",
    "optimistic",
    "peaceful",
    "quirky",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "trusting",
    "upbeat",
    "vibrant",
    "wizardly",
    "xenodochial",
    "zealous",
];

const SCIENTISTS: &[&str] = &[
    "agnesi",
    "babbage",
    "curie",
    "darwin",
    "euclid",
    "fermi",
    "galileo",
    "hopper",
    "hypatia",
    "johnson",
    "kepler",
    "lovelace",
    "meitner",
    "noether",
    "pasteur",
    "ritchie",
    "shannon",
    "thompson",
    "turing",
    "wozniak",
    "yalow",
    "zhukovsky",
    "bohr",
    "dijkstra",
    "feynman",
    "goldberg",
    "hamilton",
    "knuth",
    "lamarr",
    "mccarthy",
    "perlman",
];

/// A fresh random name.
pub fn random_name() -> String {
    let mut rng = rand::rng();
    format!(
        "{}_{}",
        ADJECTIVES.choose(&mut rng).copied().unwrap_or("busy"),
        SCIENTISTS.choose(&mut rng).copied().unwrap_or("turing")
    )
}

/// Docker's rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, an optional leading `/` removed.
pub fn validate_name(name: &str) -> Result<&str, String> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = bare.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok {
        Ok(bare)
    } else {
        Err(format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        assert_eq!(validate_name("/web-1").unwrap(), "web-1");
        assert_eq!(validate_name("a.b_c").unwrap(), "a.b_c");
        assert!(validate_name("x").is_err());
        assert!(validate_name("-x").is_err());
        assert!(validate_name("a/b").is_err());
        assert!(validate_name("").is_err());
        let name = random_name();
        assert!(validate_name(&name).is_ok(), "{name}");
    }
}
