//! Whether a folder lives on a file system where inotify sees no changes made
//! elsewhere (NFS, SMB, FUSE mounts such as gcsfuse), read from
//! `/proc/self/mountinfo`: the mount with the longest matching mount point wins.

use std::path::Path;

/// File system types whose changes inotify cannot see.
const REMOTE: &[&str] = &[
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse", "afs", "ceph",
];

pub fn is_network_fs(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    fs_type_of(&dir, &info).is_some_and(|t| {
        let base = t.split('.').next().unwrap_or(t);
        REMOTE.contains(&base) || t.starts_with("fuse")
    })
}

/// The file system type of the mount holding `dir`, per a mountinfo text.
fn fs_type_of<'a>(dir: &Path, mountinfo: &'a str) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for line in mountinfo.lines() {
        // Fields: id parent major:minor root mount-point options... - fstype source super-options
        let mut parts = line.split(" - ");
        let (Some(head), Some(tail)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Some(mount_point) = head.split(' ').nth(4) else {
            continue;
        };
        let Some(fs_type) = tail.split(' ').next() else {
            continue;
        };
        let mount_point = mount_point.replace("\\040", " ");
        if dir.starts_with(&mount_point) && best.is_none_or(|(len, _)| mount_point.len() > len) {
            best = Some((mount_point.len(), fs_type));
        }
    }
    best.map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /srv/sample-platform/repository rw,nosuid - fuse.gcsfuse bucket rw
41 22 0:36 / /mnt/nfs rw - nfs4 server:/export rw
";

    #[test]
    fn longest_mount_point_decides() {
        assert_eq!(fs_type_of(Path::new("/var/lib/x"), INFO), Some("ext4"));
        assert_eq!(
            fs_type_of(Path::new("/srv/sample-platform/repository/LogFiles"), INFO),
            Some("fuse.gcsfuse")
        );
        assert_eq!(fs_type_of(Path::new("/mnt/nfs/a"), INFO), Some("nfs4"));
    }

    #[test]
    fn a_local_temp_dir_is_not_remote() {
        let dir = std::env::temp_dir();
        // The test machine's temp dir is local; if it were not, polling is the right call anyway.
        let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let t = fs_type_of(&dir.canonicalize().unwrap_or(dir.clone()), &info);
        assert!(t.is_some());
        assert_eq!(
            is_network_fs(&dir),
            t.is_some_and(|t| t.starts_with("fuse") || REMOTE.contains(&t))
        );
    }
}
