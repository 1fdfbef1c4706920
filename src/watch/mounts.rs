//! Whether a folder lives on a file system where inotify sees no changes made
//! elsewhere (NFS, SMB, FUSE mounts such as gcsfuse), read from
//! `/proc/self/mountinfo`: the mount with the longest matching mount point wins.

use std::path::Path;

/// File system types (before any `.subtype`) whose changes inotify cannot see.
const REMOTE: &[&str] = &[
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse", "afs", "ceph",
];

/// Whether `dir` (which must exist) is on a network or FUSE file system, per
/// this process's mount table; `false` when that cannot be told.
pub fn is_network_fs(dir: &Path) -> bool {
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    is_network_fs_in(&dir, &info)
}

/// Whether the absolute, canonical path `dir` is on a network or FUSE file
/// system according to the mountinfo text `mountinfo`.
pub fn is_network_fs_in(dir: &Path, mountinfo: &str) -> bool {
    fs_type_of(dir, mountinfo).is_some_and(is_remote_type)
}

/// Whether a mountinfo file system type (`nfs4`, `fuse.gcsfuse`, `ext4`...)
/// is one inotify cannot see changes on: a network file system, or any FUSE
/// mount (whose changes happen in a daemon, often on another machine).
fn is_remote_type(fs_type: &str) -> bool {
    let base = fs_type.split('.').next().unwrap_or(fs_type);
    REMOTE.contains(&base) || fs_type.starts_with("fuse")
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
42 41 8:2 / /mnt/nfs/cache rw - ext4 /dev/sdb1 rw
43 22 0:37 / /mnt/team\\040share rw - cifs //fileserver/share rw
44 22 0:38 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
45 22 0:39 / /tmp rw - tmpfs tmpfs rw
";

    #[test]
    fn longest_mount_point_decides() {
        assert_eq!(fs_type_of(Path::new("/var/lib/x"), INFO), Some("ext4"));
        assert_eq!(
            fs_type_of(Path::new("/srv/sample-platform/repository/LogFiles"), INFO),
            Some("fuse.gcsfuse")
        );
        assert_eq!(fs_type_of(Path::new("/mnt/nfs/a"), INFO), Some("nfs4"));
        assert_eq!(
            fs_type_of(Path::new("/mnt/nfs/cache/a"), INFO),
            Some("ext4")
        );
        assert_eq!(fs_type_of(Path::new("/x"), ""), None);
    }

    #[test]
    fn file_system_types_are_classified() {
        let cases = [
            ("nfs", true),
            ("nfs4", true),
            ("cifs", true),
            ("smb3", true),
            ("smbfs", true),
            ("9p", true),
            ("afs", true),
            ("ceph", true),
            ("fuse", true),
            ("fuse.gcsfuse", true),
            ("fuse.sshfs", true),
            ("fuseblk", true),
            ("ext4", false),
            ("xfs", false),
            ("btrfs", false),
            ("zfs", false),
            ("overlay", false),
            ("tmpfs", false),
            ("nfsd", false),
            ("", false),
        ];
        for (fs_type, remote) in cases {
            assert_eq!(is_remote_type(fs_type), remote, "{fs_type:?}");
        }
    }

    #[test]
    fn a_folder_is_remote_when_the_mount_holding_it_is() {
        let cases = [
            ("/var/lib/runlogd", false),
            ("/srv/sample-platform/repository", true),
            ("/srv/sample-platform/repository/LogFiles", true),
            // A sibling whose name merely starts like the mount point.
            ("/srv/sample-platform/repository-old/LogFiles", false),
            ("/mnt/nfs/LogFiles", true),
            ("/mnt/nfs/cache/LogFiles", false),
            ("/mnt/team share/LogFiles", true),
            ("/var/lib/docker/overlay2/x/merged/LogFiles", false),
            ("/tmp/LogFiles", false),
        ];
        for (dir, remote) in cases {
            assert_eq!(is_network_fs_in(Path::new(dir), INFO), remote, "{dir}");
        }
        assert!(!is_network_fs_in(Path::new("/mnt/nfs/a"), ""));
    }

    #[test]
    fn this_machines_temp_dir_is_not_remote() {
        // Test machines keep their temp dir on a local disk, tmpfs or
        // overlay; a suite run with TMPDIR on NFS would see this fail.
        assert!(!is_network_fs(&std::env::temp_dir()));
        assert!(!is_network_fs(Path::new("/no/such/folder")));
    }
}
