//! The example repository bundled in the binary, so `runlogd serve` with no
//! configuration answers real queries on a fresh machine. The files are the
//! ones in `examples/repository/LogFiles/`; they are written under the data
//! directory on start (never over a file that is already there and equal).

use std::path::{Path, PathBuf};

macro_rules! example_logs {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_bytes!(concat!("../examples/repository/LogFiles/", $name)) as &[u8])),*]
    };
}

/// (file name, content) of every bundled log.
pub const FILES: &[(&str, &[u8])] = example_logs!(
    "9401.txt",
    "9402.txt",
    "9403.txt",
    "9404.txt",
    "9405.txt",
    "README.txt",
);

/// Writes the bundled repository to `{data}/example-repository` and returns
/// that path.
pub fn materialize(data: &Path) -> std::io::Result<PathBuf> {
    let repository = data.join("example-repository");
    let log_dir = repository.join("LogFiles");
    std::fs::create_dir_all(&log_dir)?;
    for (name, content) in FILES {
        let path = log_dir.join(name);
        if std::fs::read(&path).ok().as_deref() == Some(*content) {
            continue;
        }
        let tmp = log_dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, content)?;
        // These logs are finished: date them in the past so that a last line
        // without a newline is not held back as "still being written".
        std::fs::File::options()
            .write(true)
            .open(&tmp)?
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_741_564_800))?;
        std::fs::rename(&tmp, &path)?;
    }
    Ok(repository)
}
