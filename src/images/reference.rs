//! Image references (`busybox`, `ghcr.io/a/b:v1`, `x@sha256:…`) parsed and normalized the way
//! Docker's `reference.ParseNormalizedNamed` does, so names resolve to the same images as dockerd.

use std::fmt;

/// The registry that names without a domain belong to.
const DEFAULT_DOMAIN: &str = "docker.io";
/// The old spelling of the default registry, rewritten to `docker.io`.
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// The namespace of single-component names on the default registry.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag added when a reference names neither tag nor digest.
const DEFAULT_TAG: &str = "latest";
/// Docker's limit on the length of a full repository name.
const NAME_TOTAL_LENGTH_MAX: usize = 255;

/// Why a string is not a valid image reference; messages match dockerd's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The string does not follow the reference grammar.
    #[error("invalid reference format")]
    InvalidFormat,
    /// The repository path contains uppercase letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// The name is a 64-character hex string, which would be mistaken for an image ID.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    /// The full name exceeds 255 characters.
    #[error("repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")]
    NameTooLong,
    /// A tag given on its own does not follow the tag grammar.
    #[error("invalid tag format")]
    InvalidTag,
    /// The digest names an algorithm other than sha256, sha384 or sha512.
    #[error("unsupported digest algorithm")]
    UnsupportedDigestAlgorithm,
    /// The digest's hex part has the wrong length for its algorithm.
    #[error("invalid checksum digest length")]
    InvalidDigestLength,
    /// The digest's hex part is not lowercase hex.
    #[error("invalid checksum digest format")]
    InvalidDigestFormat,
    /// Import and tag need a tag, not a digest.
    #[error("cannot import digest reference")]
    DigestNotAllowed,
}

/// A parsed, normalized image reference: registry domain, repository path, optional tag and digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<String>,
}

impl Reference {
    /// Parses and normalizes a user-supplied reference without adding a default tag.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if is_hex_id(s) {
            return Err(ReferenceError::HexName(s.to_string()));
        }
        let (domain, remainder) = split_docker_domain(s);

        let remote_name = match remainder.find(':') {
            Some(i) => &remainder[..i],
            None => remainder.as_str(),
        };
        if remote_name.to_lowercase() != remote_name {
            return Err(ReferenceError::Uppercase(remote_name.to_string()));
        }

        if !is_valid_domain(&domain) {
            return Err(ReferenceError::InvalidFormat);
        }

        let (name_and_tag, digest) = match remainder.split_once('@') {
            Some((left, right)) => (left, Some(right)),
            None => (remainder.as_str(), None),
        };
        let (path, tag) = match name_and_tag.split_once(':') {
            Some((left, right)) => (left, Some(right)),
            None => (name_and_tag, None),
        };

        if !is_valid_path(path) {
            return Err(ReferenceError::InvalidFormat);
        }
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::InvalidFormat);
        }
        if let Some(digest) = digest
            && !is_digest_shaped(digest)
        {
            return Err(ReferenceError::InvalidFormat);
        }
        if domain.len() + 1 + path.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong);
        }
        if let Some(digest) = digest {
            validate_digest(digest)?;
        }

        Ok(Reference {
            domain,
            path: path.to_string(),
            tag: tag.map(str::to_string),
            digest: digest.map(str::to_string),
        })
    }

    /// Parses like [`Reference::parse`] plus `:latest` when untagged, as `docker pull` does.
    pub fn parse_normalized_with_default_tag(s: &str) -> Result<Reference, ReferenceError> {
        let mut reference = Reference::parse(s)?;
        if reference.tag.is_none() && reference.digest.is_none() {
            reference.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(reference)
    }

    /// Builds the tagged reference for import and tag (dockerd's `RepoTagReference`).
    pub fn repo_tag(repo: &str, tag: Option<&str>) -> Result<Reference, ReferenceError> {
        let mut reference = Reference::parse(repo)?;
        if reference.digest.is_some() {
            return Err(ReferenceError::DigestNotAllowed);
        }
        match tag {
            Some(tag) if !tag.is_empty() => {
                if !is_valid_tag(tag) {
                    return Err(ReferenceError::InvalidTag);
                }
                reference.tag = Some(tag.to_string());
            }
            _ => {
                if reference.tag.is_none() {
                    reference.tag = Some(DEFAULT_TAG.to_string());
                }
            }
        }
        Ok(reference)
    }

    /// The registry domain, e.g. `docker.io` or `localhost:5000`.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry, e.g. `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The tag, if the reference has one.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest (`sha256:…`), if the reference has one.
    pub fn digest(&self) -> Option<&str> {
        self.digest.as_deref()
    }

    /// The full repository name, e.g. `docker.io/library/busybox`, used as the storage key.
    pub fn repository(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The repository name as Docker shows it to users, e.g. `busybox` or `ghcr.io/a/b`.
    pub fn familiar_repository(&self) -> String {
        if self.domain == DEFAULT_DOMAIN {
            match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
                Some(short) if !short.contains('/') => short.to_string(),
                _ => self.path.clone(),
            }
        } else {
            self.repository()
        }
    }

    /// The whole reference as Docker shows it to users, e.g. `busybox:latest` (RepoTags form).
    pub fn familiar(&self) -> String {
        let mut out = self.familiar_repository();
        self.push_suffix(&mut out);
        out
    }

    /// A copy of this reference with `tag` set; the caller must pass a valid tag.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference { tag: Some(tag.to_string()), ..self.clone() }
    }

    /// Appends `:tag` and `@digest` when present.
    fn push_suffix(&self, out: &mut String) {
        if let Some(tag) = &self.tag {
            out.push(':');
            out.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            out.push('@');
            out.push_str(digest);
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = self.repository();
        self.push_suffix(&mut out);
        f.write_str(&out)
    }
}

/// Reports whether `tag` follows Docker's tag grammar `[\w][\w.-]{0,127}`.
pub fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    let is_word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    match bytes.split_first() {
        Some((first, rest)) => {
            is_word(*first) && rest.len() <= 127 && rest.iter().all(|&b| is_word(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// Reports whether `s` is exactly 64 lowercase hex characters (an image ID).
fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Splits off the registry domain like `splitDockerDomain`, adding `docker.io` and `library/`.
fn split_docker_domain(name: &str) -> (String, String) {
    let (mut domain, mut remainder) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" || first.to_lowercase() != first => {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    if domain == LEGACY_DEFAULT_DOMAIN {
        domain = DEFAULT_DOMAIN.to_string();
    }
    if domain == DEFAULT_DOMAIN && !remainder.contains('/') {
        remainder = format!("{OFFICIAL_REPO_PREFIX}{remainder}");
    }
    (domain, remainder)
}

/// Reports whether `domain` is a host name or bracketed IPv6 address, optionally with `:port`.
fn is_valid_domain(domain: &str) -> bool {
    let (host_ok, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        let address_ok = !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':');
        (address_ok, after)
    } else {
        let (host, port) = match domain.find(':') {
            Some(i) => domain.split_at(i),
            None => (domain, ""),
        };
        (is_valid_host_name(host), port)
    };
    let port_ok = match port.strip_prefix(':') {
        Some(digits) => !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()),
        None => port.is_empty(),
    };
    host_ok && port_ok
}

/// Reports whether `host` is dot-separated components of letters, digits and inner hyphens.
fn is_valid_host_name(host: &str) -> bool {
    host.split('.').all(|component| {
        let bytes = component.as_bytes();
        !bytes.is_empty()
            && bytes[0].is_ascii_alphanumeric()
            && bytes[bytes.len() - 1].is_ascii_alphanumeric()
            && bytes.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

/// Reports whether `path` is `/`-separated lowercase components joined by `.`, `_`, `__` or `-`+.
fn is_valid_path(path: &str) -> bool {
    path.split('/').all(is_valid_path_component)
}

/// Reports whether one repository path component follows Docker's grammar.
fn is_valid_path_component(component: &str) -> bool {
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    if bytes.is_empty() || !is_alnum(bytes[0]) || !is_alnum(bytes[bytes.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if is_alnum(bytes[i]) {
            i += 1;
            continue;
        }
        // A run of separator characters between two alphanumerics.
        let start = i;
        while i < bytes.len() && !is_alnum(bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// Reports whether `digest` matches the reference grammar's `algorithm:hex` shape.
fn is_digest_shaped(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let algorithm_ok = algorithm.split(['-', '_', '+', '.']).all(|part| {
        let bytes = part.as_bytes();
        !bytes.is_empty() && bytes[0].is_ascii_alphabetic() && bytes.iter().all(|b| b.is_ascii_alphanumeric())
    });
    algorithm_ok && hex.len() >= 32 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Checks a digest's algorithm and hex length the way go-digest does.
fn validate_digest(digest: &str) -> Result<(), ReferenceError> {
    let (algorithm, hex) = digest.split_once(':').ok_or(ReferenceError::InvalidFormat)?;
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(ReferenceError::UnsupportedDigestAlgorithm),
    };
    if hex.len() != expected_len {
        return Err(ReferenceError::InvalidDigestLength);
    }
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(ReferenceError::InvalidDigestFormat);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4";

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn error(s: &str) -> String {
        match Reference::parse(s) {
            Ok(r) => panic!("{s} parsed as {r}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn official_image_forms_are_equal() {
        let short = Reference::parse_normalized_with_default_tag("busybox").unwrap();
        let library = Reference::parse_normalized_with_default_tag("library/busybox").unwrap();
        let full = Reference::parse_normalized_with_default_tag("docker.io/library/busybox:latest").unwrap();
        let legacy = Reference::parse_normalized_with_default_tag("index.docker.io/busybox").unwrap();
        assert_eq!(short, library);
        assert_eq!(short, full);
        assert_eq!(short, legacy);
        assert_eq!(short.domain(), "docker.io");
        assert_eq!(short.path(), "library/busybox");
        assert_eq!(short.tag(), Some("latest"));
        assert_eq!(short.digest(), None);
        assert_eq!(short.repository(), "docker.io/library/busybox");
        assert_eq!(short.familiar_repository(), "busybox");
        assert_eq!(short.familiar(), "busybox:latest");
        assert_eq!(short.to_string(), "docker.io/library/busybox:latest");
    }

    #[test]
    fn parse_adds_no_default_tag() {
        let r = parse("busybox");
        assert_eq!(r.tag(), None);
        assert_eq!(r.to_string(), "docker.io/library/busybox");
        assert_eq!(r.familiar(), "busybox");
    }

    #[test]
    fn user_repository_with_tag() {
        let r = parse("myrepo/bb:v1");
        assert_eq!(r.domain(), "docker.io");
        assert_eq!(r.path(), "myrepo/bb");
        assert_eq!(r.tag(), Some("v1"));
        assert_eq!(r.familiar_repository(), "myrepo/bb");
        assert_eq!(r.familiar(), "myrepo/bb:v1");
        assert_eq!(r.to_string(), "docker.io/myrepo/bb:v1");
    }

    #[test]
    fn library_prefix_kept_for_nested_paths() {
        let r = parse("library/a/b");
        assert_eq!(r.familiar_repository(), "library/a/b");
    }

    #[test]
    fn localhost_domains() {
        let r = parse("localhost/foo");
        assert_eq!(r.domain(), "localhost");
        assert_eq!(r.path(), "foo");
        assert_eq!(r.familiar(), "localhost/foo");

        let r = parse("localhost:5000/foo:1");
        assert_eq!(r.domain(), "localhost:5000");
        assert_eq!(r.path(), "foo");
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.familiar(), "localhost:5000/foo:1");

        // Without a slash "localhost" is an image name and "5000" its tag.
        let r = parse("localhost:5000");
        assert_eq!(r.repository(), "docker.io/library/localhost");
        assert_eq!(r.tag(), Some("5000"));
    }

    #[test]
    fn ip_and_named_registries() {
        let r = parse("127.0.0.1:5000/busybox:latest");
        assert_eq!(r.domain(), "127.0.0.1:5000");
        assert_eq!(r.path(), "busybox");
        assert_eq!(r.familiar_repository(), "127.0.0.1:5000/busybox");
        assert_eq!(r.to_string(), "127.0.0.1:5000/busybox:latest");

        let r = parse("127.0.0.1:5000/x");
        assert_eq!(r.familiar_repository(), "127.0.0.1:5000/x");

        let r = parse("ghcr.io/a/b");
        assert_eq!(r.domain(), "ghcr.io");
        assert_eq!(r.path(), "a/b");
        assert_eq!(r.familiar_repository(), "ghcr.io/a/b");

        let r = parse("[::1]:5000/foo");
        assert_eq!(r.domain(), "[::1]:5000");
        assert_eq!(r.path(), "foo");

        let r = parse("Example.COM/foo");
        assert_eq!(r.domain(), "Example.COM");
    }

    #[test]
    fn digest_forms() {
        let digest = format!("sha256:{HEX}");
        let r = parse(&format!("busybox@{digest}"));
        assert_eq!(r.tag(), None);
        assert_eq!(r.digest(), Some(digest.as_str()));
        assert_eq!(r.familiar(), format!("busybox@{digest}"));
        assert_eq!(r.to_string(), format!("docker.io/library/busybox@{digest}"));

        let with_default = Reference::parse_normalized_with_default_tag(&format!("busybox@{digest}")).unwrap();
        assert_eq!(with_default.tag(), None);

        let r = parse(&format!("localhost:5000/foo:1@{digest}"));
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.digest(), Some(digest.as_str()));
        assert_eq!(r.to_string(), format!("localhost:5000/foo:1@{digest}"));
    }

    #[test]
    fn bad_digests() {
        assert_eq!(error("busybox@sha256:abc"), "invalid reference format");
        assert_eq!(error(&format!("busybox@sha256:{HEX}00")), "invalid checksum digest length");
        assert_eq!(error(&format!("busybox@md5:{HEX}")), "unsupported digest algorithm");
        assert_eq!(error(&format!("busybox@sha256:{}", HEX.to_uppercase())), "invalid checksum digest format");
        assert_eq!(error("busybox@"), "invalid reference format");
    }

    #[test]
    fn uppercase_is_rejected() {
        assert_eq!(error("Busybox"), "invalid reference format: repository name (library/Busybox) must be lowercase");
        assert_eq!(error("myrepo/BB:v1"), "invalid reference format: repository name (myrepo/BB) must be lowercase");
        // An uppercase first component is taken as a domain, so the path is still checked.
        assert_eq!(error("ghcr.io/A/b"), "invalid reference format: repository name (A/b) must be lowercase");
        // Tags may contain uppercase letters.
        assert_eq!(parse("busybox:V1").tag(), Some("V1"));
    }

    #[test]
    fn invalid_formats() {
        for s in [
            "",
            ":tag",
            "busybox:",
            "bus box",
            "busybox!",
            "-busybox",
            "busybox-",
            "bu..sybox",
            "bu___sybox",
            "a//b",
            "busybox/",
            "/busybox",
            "busybox:a:b",
            "busybox:-tag",
            "busybox:ta/g",
            "localhost:port/foo",
            "exa_mple.com/foo",
            "-example.com/foo",
            "[::1/foo",
        ] {
            assert_eq!(error(s), "invalid reference format", "{s:?}");
        }
    }

    #[test]
    fn valid_separators() {
        for s in ["a.b", "a_b", "a__b", "a-b", "a---b", "a0/b.c-d__e", "9"] {
            parse(s);
        }
    }

    #[test]
    fn tag_length_limit() {
        let ok = format!("busybox:{}", "a".repeat(128));
        assert_eq!(parse(&ok).tag().unwrap().len(), 128);
        let too_long = format!("busybox:{}", "a".repeat(129));
        assert_eq!(error(&too_long), "invalid reference format");
    }

    #[test]
    fn name_length_limit() {
        // "docker.io/" is 10 characters, so a 245-character path is the longest allowed.
        let ok = format!("a/{}", "b".repeat(243));
        parse(&ok);
        let too_long = format!("a/{}", "b".repeat(244));
        assert_eq!(error(&too_long), "repository name must not be more than 255 characters");
    }

    #[test]
    fn hex_name_is_rejected() {
        assert_eq!(error(HEX), format!("invalid repository name ({HEX}), cannot specify 64-byte hexadecimal strings"));
        // With a tag or a different length it is an ordinary name.
        parse(&format!("{HEX}:v1"));
        parse(&HEX[..63]);
    }

    #[test]
    fn repo_tag_rules() {
        let r = Reference::repo_tag("busybox", None).unwrap();
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");

        let r = Reference::repo_tag("busybox", Some("")).unwrap();
        assert_eq!(r.familiar(), "busybox:latest");

        let r = Reference::repo_tag("busybox:v2", None).unwrap();
        assert_eq!(r.familiar(), "busybox:v2");

        let r = Reference::repo_tag("busybox:v2", Some("v3")).unwrap();
        assert_eq!(r.familiar(), "busybox:v3");

        let r = Reference::repo_tag("localhost:5000/x", Some("1.0")).unwrap();
        assert_eq!(r.to_string(), "localhost:5000/x:1.0");

        let digest = format!("busybox@sha256:{HEX}");
        assert_eq!(Reference::repo_tag(&digest, None).unwrap_err(), ReferenceError::DigestNotAllowed);
        assert_eq!(Reference::repo_tag(&digest, Some("v1")).unwrap_err().to_string(), "cannot import digest reference");
        assert_eq!(Reference::repo_tag("busybox", Some("bad/tag")).unwrap_err().to_string(), "invalid tag format");
        assert_eq!(
            Reference::repo_tag("Busybox", None).unwrap_err(),
            ReferenceError::Uppercase("library/Busybox".to_string())
        );
    }

    #[test]
    fn with_tag_replaces_tag() {
        let r = parse("ghcr.io/a/b:old").with_tag("new");
        assert_eq!(r.to_string(), "ghcr.io/a/b:new");
        assert_eq!(parse("busybox").with_tag("1").familiar(), "busybox:1");
    }

    #[test]
    fn tag_grammar() {
        assert!(is_valid_tag("latest"));
        assert!(is_valid_tag("_x.Y-1"));
        assert!(!is_valid_tag(""));
        assert!(!is_valid_tag(".x"));
        assert!(!is_valid_tag("a+b"));
    }
}
