//! The id mapping of a user-namespaced container: container ids 0..size are host ids
//! base..base+size, for uids and gids alike.

use serde::{Deserialize, Serialize};

/// The id the kernel shows for an id that has no mapping (`/proc/sys/kernel/overflowuid`).
pub const OVERFLOW_ID: u32 = 65534;

/// Container uids/gids `0..size` are host uids `host_uid..host_uid+size` and gids
/// `host_gid..host_gid+size`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    /// The host uid of the container's root.
    pub host_uid: u32,
    /// The host gid of the container's root group.
    pub host_gid: u32,
    /// How many ids are mapped.
    pub size: u32,
}

impl IdMapping {
    /// The mapping every tenant's range gets: `size` ids from `base`, uids and gids alike.
    pub fn range(base: u32, size: u32) -> IdMapping {
        IdMapping { host_uid: base, host_gid: base, size }
    }

    /// The text written to `/proc/<pid>/uid_map` (one line, one write).
    pub fn uid_map(&self) -> String {
        format!("0 {} {}\n", self.host_uid, self.size)
    }

    /// The text written to `/proc/<pid>/gid_map`.
    pub fn gid_map(&self) -> String {
        format!("0 {} {}\n", self.host_gid, self.size)
    }

    /// The host uid of a container uid, None when it is not mapped.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        (uid < self.size).then(|| self.host_uid + uid)
    }

    /// The host gid of a container gid, None when it is not mapped.
    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        (gid < self.size).then(|| self.host_gid + gid)
    }

    /// The container uid of a host uid, None when it is outside the range.
    pub fn container_uid(&self, uid: u32) -> Option<u32> {
        uid.checked_sub(self.host_uid).filter(|id| *id < self.size)
    }

    /// The container gid of a host gid, None when it is outside the range.
    pub fn container_gid(&self, gid: u32) -> Option<u32> {
        gid.checked_sub(self.host_gid).filter(|id| *id < self.size)
    }

    /// The host owner a file owned by container ids (`uid`, `gid`) gets in a shifted copy: ids
    /// beyond the range become the range's nobody, as they show inside through an idmapped mount;
    /// ids already in the host range stay (a file seen with the mapping applied), so shifting
    /// twice changes nothing.
    pub fn shift_owner(&self, uid: u32, gid: u32) -> (u32, u32) {
        let nobody_uid = self.host_uid(OVERFLOW_ID).unwrap_or(self.host_uid);
        let nobody_gid = self.host_gid(OVERFLOW_ID).unwrap_or(self.host_gid);
        let uid = self.host_uid(uid).or(self.container_uid(uid).map(|_| uid)).unwrap_or(nobody_uid);
        let gid = self.host_gid(gid).or(self.container_gid(gid).map(|_| gid)).unwrap_or(nobody_gid);
        (uid, gid)
    }

    /// The owner an archive of the container's files records for host ids (`uid`, `gid`):
    /// ids in the range become the container's; others (an image file seen without the
    /// mapping) are already the container's and stay.
    pub fn unshift_owner(&self, uid: u32, gid: u32) -> (u32, u32) {
        (self.container_uid(uid).unwrap_or(uid), self.container_gid(gid).unwrap_or(gid))
    }

    /// Whether a `/proc/<pid>/uid_map` text maps exactly this range for uids.
    pub fn matches_uid_map(&self, text: &str) -> bool {
        parse_map(text) == [(0, self.host_uid, self.size)]
    }
}

/// The lines of a `uid_map`/`gid_map` text as (inside, outside, count).
pub fn parse_map(text: &str) -> Vec<(u32, u32, u32)> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().map(|w| w.parse::<u32>().ok());
            Some((words.next()??, words.next()??, words.next()??))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_text_is_one_line() {
        let m = IdMapping::range(165_536, 65_536);
        assert_eq!(m.uid_map(), "0 165536 65536\n");
        assert_eq!(m.gid_map(), "0 165536 65536\n");
        let odd = IdMapping { host_uid: 1, host_gid: 2, size: 3 };
        assert_eq!((odd.uid_map().as_str(), odd.gid_map().as_str()), ("0 1 3\n", "0 2 3\n"));
    }

    #[test]
    fn ids_translate_both_ways_inside_the_range_only() {
        let m = IdMapping::range(100_000, 65_536);
        assert_eq!(m.host_uid(0), Some(100_000));
        assert_eq!(m.host_gid(65_535), Some(165_535));
        assert_eq!(m.host_uid(65_536), None);
        assert_eq!(m.container_uid(100_000), Some(0));
        assert_eq!(m.container_gid(165_535), Some(65_535));
        assert_eq!(m.container_uid(99_999), None);
        assert_eq!(m.container_uid(165_536), None);
        assert_eq!(m.container_uid(0), None);
    }

    #[test]
    fn owners_shift_and_unshift() {
        let m = IdMapping::range(100_000, 65_536);
        assert_eq!(m.shift_owner(0, 0), (100_000, 100_000));
        assert_eq!(m.shift_owner(1000, 50), (101_000, 100_050));
        // Beyond the range: the container's nobody, as an idmapped mount shows it.
        assert_eq!(m.shift_owner(70_000, 0), (165_534, 100_000));
        assert_eq!(m.shift_owner(101_000, 100_050), (101_000, 100_050), "already shifted");
        assert_eq!(m.unshift_owner(101_000, 100_050), (1000, 50));
        // An image file seen without the mapping keeps its ids.
        assert_eq!(m.unshift_owner(0, 42), (0, 42));
    }

    #[test]
    fn uid_maps_are_compared_by_content() {
        let m = IdMapping::range(100_000, 65_536);
        assert!(m.matches_uid_map("         0     100000      65536\n"));
        assert!(!m.matches_uid_map("         0          0 4294967295\n"));
        assert!(!m.matches_uid_map("0 100000 65536\n1 2 3\n"));
        assert_eq!(parse_map("0 0 4294967295\n"), [(0, 0, u32::MAX)]);
    }
}
