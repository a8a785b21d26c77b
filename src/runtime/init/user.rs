//! `--user` resolution against the container's own /etc/passwd and /etc/group, with the same
//! rules and messages as runc (which Docker users see).

/// A user as init switches to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    /// The uid to run as.
    pub uid: u32,
    /// The primary gid.
    pub gid: u32,
    /// Supplementary gids: memberships from /etc/group, then `--group-add`.
    pub groups: Vec<u32>,
    /// The home directory, for HOME when the environment has none.
    pub home: String,
}

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Names of the members.
    pub members: Vec<String>,
}

/// Parses /etc/passwd (`name:x:uid:gid:gecos:home:shell`), skipping comments and bad lines.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let fields: Vec<&str> = line.split(':').collect();
            Some(PasswdEntry {
                name: fields.first()?.to_string(),
                uid: fields.get(2)?.parse().ok()?,
                gid: fields.get(3)?.parse().ok()?,
                home: fields.get(5).map(|h| h.to_string()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Parses /etc/group (`name:x:gid:member,member`), skipping comments and bad lines.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let fields: Vec<&str> = line.split(':').collect();
            Some(GroupEntry {
                name: fields.first()?.to_string(),
                gid: fields.get(2)?.parse().ok()?,
                members: fields
                    .get(3)
                    .map(|m| m.split(',').map(str::trim).filter(|m| !m.is_empty()).map(str::to_string).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The largest id runc accepts.
const MAX_ID: u64 = i32::MAX as u64;

/// Resolves `user` ("", "uid", "uid:gid", "name", "name:group") and the extra groups against the
/// container's passwd and group files (None when a file is missing).
pub fn resolve(
    user: &str,
    additional_groups: &[String],
    passwd: Option<&str>,
    group: Option<&str>,
) -> Result<ExecUser, String> {
    let (user_arg, group_arg) = match user.split_once(':') {
        Some((u, g)) => (u, g),
        None => (user, ""),
    };
    let users = passwd.map(parse_passwd).unwrap_or_default();
    let groups = group.map(parse_group).unwrap_or_default();
    let numeric_uid = parse_id(user_arg);
    let numeric_gid = parse_id(group_arg);

    let mut resolved = ExecUser { uid: 0, gid: 0, groups: Vec::new(), home: "/".to_string() };
    let matched = users.iter().find(|u| match (user_arg, numeric_uid) {
        ("", _) => u.uid == 0,
        (_, Some(uid)) => u.uid == uid,
        (name, None) => u.name == name,
    });
    match (matched, numeric_uid) {
        (Some(entry), _) => {
            resolved.uid = entry.uid;
            resolved.gid = entry.gid;
            resolved.home = entry.home.clone();
        }
        (None, Some(uid)) => resolved.uid = uid,
        (None, None) if user_arg.is_empty() => {}
        (None, None) => {
            return Err(format!("unable to find user {user_arg}: no matching entries in passwd file"));
        }
    }

    if !group_arg.is_empty() {
        let found = groups.iter().find(|g| match numeric_gid {
            Some(gid) => g.gid == gid,
            None => g.name == group_arg,
        });
        resolved.gid = match (found, numeric_gid) {
            (Some(entry), _) => entry.gid,
            (None, Some(gid)) => gid,
            (None, None) => {
                return Err(format!("unable to find group {group_arg}: no matching entries in group file"));
            }
        };
    } else if let Some(entry) = matched {
        // Memberships only count when the group was not given explicitly.
        resolved.groups = groups.iter().filter(|g| g.members.contains(&entry.name)).map(|g| g.gid).collect();
    }

    for extra in additional_groups {
        let gid = match groups.iter().find(|g| g.name == *extra) {
            Some(entry) => entry.gid,
            None => parse_id(extra)
                .ok_or_else(|| format!("unable to find group {extra}: no matching entries in group file"))?,
        };
        resolved.groups.push(gid);
    }
    let mut seen = Vec::new();
    resolved.groups.retain(|gid| {
        let new = !seen.contains(gid);
        seen.push(*gid);
        new
    });
    Ok(resolved)
}

/// A decimal id in runc's accepted range.
fn parse_id(text: &str) -> Option<u32> {
    let value: u64 = text.parse().ok()?;
    (value <= MAX_ID).then_some(value as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/sh
# a comment
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
bob:x:1000:1000:Bob:/home/bob:/bin/sh
broken line
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
";
    const GROUP: &str = "\
root:x:0:
wheel:x:10:bob,alice
audio:x:29:bob
bob:x:1000:
staff:x:50:
";

    fn resolve_ok(user: &str, extra: &[&str]) -> ExecUser {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        resolve(user, &extra, Some(PASSWD), Some(GROUP)).unwrap()
    }

    #[test]
    fn parses_files() {
        let users = parse_passwd(PASSWD);
        assert_eq!(users.len(), 4);
        assert_eq!(users[2].home, "/home/bob");
        let groups = parse_group(GROUP);
        assert_eq!(groups[1].members, ["bob", "alice"]);
        assert!(groups[0].members.is_empty());
    }

    #[test]
    fn default_is_root() {
        let user = resolve_ok("", &[]);
        assert_eq!((user.uid, user.gid, user.home.as_str()), (0, 0, "/root"));
        let without_files = resolve("", &[], None, None).unwrap();
        assert_eq!(without_files.home, "/");
    }

    #[test]
    fn by_name_with_memberships() {
        let user = resolve_ok("bob", &[]);
        assert_eq!((user.uid, user.gid), (1000, 1000));
        assert_eq!(user.groups, [10, 29]);
        assert_eq!(user.home, "/home/bob");
    }

    #[test]
    fn explicit_group_drops_memberships() {
        let user = resolve_ok("bob:staff", &[]);
        assert_eq!((user.uid, user.gid), (1000, 50));
        assert!(user.groups.is_empty());
        let user = resolve_ok("bob:4242", &[]);
        assert_eq!(user.gid, 4242);
    }

    #[test]
    fn numeric_without_entry() {
        let user = resolve_ok("4000:4001", &[]);
        assert_eq!((user.uid, user.gid, user.home.as_str()), (4000, 4001, "/"));
        let user = resolve_ok("1", &[]);
        assert_eq!((user.uid, user.gid, user.home.as_str()), (1, 1, "/usr/sbin"));
    }

    #[test]
    fn unknown_names_fail_with_runc_wording() {
        assert_eq!(
            resolve("nosuch", &[], Some(PASSWD), Some(GROUP)).unwrap_err(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        assert_eq!(
            resolve("nosuch", &[], None, None).unwrap_err(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
        assert_eq!(
            resolve("bob:nogroup", &[], Some(PASSWD), Some(GROUP)).unwrap_err(),
            "unable to find group nogroup: no matching entries in group file"
        );
        assert!(resolve("", &["nogroup".into()], Some(PASSWD), Some(GROUP)).is_err());
    }

    #[test]
    fn additional_groups_by_name_or_id() {
        let user = resolve_ok("bob", &["staff", "777", "wheel"]);
        assert_eq!(user.groups, [10, 29, 50, 777]);
    }
}
