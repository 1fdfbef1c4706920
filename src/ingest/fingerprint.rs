//! A digest of a file's first `len` bytes, to tell "the file grew" from "the
//! file was replaced" without re-reading hundreds of megabytes on every change.
//!
//! Up to [`FULL_HASH_LIMIT`] the whole prefix is hashed. Past that, the digest
//! covers the length, the first and last [`EDGE`] bytes and [`SAMPLES`] blocks
//! spread evenly between them. Two different runs' logs share their opening
//! lines (the runner script prints the same preamble) but not their ends or
//! their middles, so a replacement changes the digest, and the cost stays
//! constant however large the log is.

use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

const FULL_HASH_LIMIT: u64 = 4 << 20;
const EDGE: u64 = 256 << 10;
const SAMPLES: u64 = 32;
const SAMPLE: u64 = 16 << 10;

pub fn fingerprint(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut h = Sha256::new();
    h.update(len.to_le_bytes());
    if len <= FULL_HASH_LIMIT {
        hash_range(file, &mut h, 0, len)?;
    } else {
        hash_range(file, &mut h, 0, EDGE)?;
        let middle = len - 2 * EDGE;
        for i in 0..SAMPLES {
            let at = EDGE + middle * i / SAMPLES;
            hash_range(file, &mut h, at, SAMPLE.min(len - EDGE - at))?;
        }
        hash_range(file, &mut h, len - EDGE, EDGE)?;
    }
    Ok(h.finalize().to_vec())
}

fn hash_range(file: &File, h: &mut Sha256, start: u64, len: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    let mut at = start;
    let end = start + len;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> std::io::Result<File> {
        let mut f = tempfile::tempfile()?;
        f.write_all(bytes)?;
        Ok(f)
    }

    #[test]
    fn prefix_digest_ignores_appended_bytes_but_sees_changes() -> std::io::Result<()> {
        for size in [0usize, 10, 5 << 20] {
            let mut content: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let base = fingerprint(&file_with(&content)?, size as u64)?;
            content.extend_from_slice(b"more lines\n");
            assert_eq!(fingerprint(&file_with(&content)?, size as u64)?, base);
            if size > 0 {
                content[size - 1] ^= 1;
                assert_ne!(fingerprint(&file_with(&content)?, size as u64)?, base);
            }
        }
        Ok(())
    }

    #[test]
    fn short_read_is_an_error_not_a_panic() -> std::io::Result<()> {
        let f = file_with(b"abc")?;
        assert!(fingerprint(&f, 10).is_err());
        Ok(())
    }
}
