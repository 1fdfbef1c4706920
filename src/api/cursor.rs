//! Pagination cursors: opaque, tamper-evident, and bound to the run, the
//! filters and the content generation they were issued for.
//!
//! A cursor is `base64url(payload || mac)`, where the payload holds a format
//! version, the run id, the generation, the last line served and a digest of
//! the filters, and the MAC is HMAC-SHA256 (truncated to 16 bytes) under a key
//! generated once per data directory. Cursors name line numbers, never index
//! internals, so they survive restarts and segment merges. A plain
//! non-negative integer is the platform's older cursor: "after line N".

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

#[cfg(test)]
use crate::index::grams::Needle;
use crate::index::Filters;
use crate::parse::{Level, Source};
use std::collections::BTreeSet;

const VERSION: u8 = 1;
/// Cursors of listings across runs carry another version byte, so one kind
/// is never accepted as the other.
const RUNS_VERSION: u8 = 2;
/// Cursors of the signature listings, which resume after a position (up to
/// three numbers) rather than a line or a run.
const POSITION_VERSION: u8 = 3;
const PAYLOAD_LEN: usize = 1 + 8 + 8 + 8 + 8;
const MAC_LEN: usize = 16;

/// The meta-table key of the signing key.
pub const KEY_NAME: &str = "cursor_hmac_key";

/// The signing key, ready to MAC (cloned per use).
#[derive(Clone)]
pub struct CursorKey(Hmac<Sha256>);

impl CursorKey {
    pub fn new(key: &[u8]) -> Result<CursorKey, hmac::digest::InvalidLength> {
        <Hmac<Sha256> as Mac>::new_from_slice(key).map(CursorKey)
    }

    fn mac(&self) -> Hmac<Sha256> {
        self.0.clone()
    }
}

/// Where a page starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// A signed cursor; `generation` must still be the run's.
    Signed { after: u64, generation: u64 },
    /// A legacy numeric cursor: after this line, whatever the content.
    Line(u64),
}

impl Resume {
    pub fn after(self) -> u64 {
        match self {
            Resume::Signed { after, .. } | Resume::Line(after) => after,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("malformed cursor; use next_cursor from a previous response as it is")]
    Malformed,
    #[error("cursor was issued for another run or other filters; send the same run_id, level, source, contains, regex and signature as the request that returned it")]
    Mismatch,
    #[error("cursor was issued for other parameters; send the same parameters (all but limit) as the request that returned it")]
    QueryMismatch,
}

/// What a cursor is bound to: the one encoder of a request's selecting
/// parameters into the 8-byte digest a cursor carries (SHA-256, cut). Every
/// part has a fixed width or a terminator, and the one free text
/// (`contains`) comes last, so two different requests never write the same
/// bytes. A per-run cursor binds the filters alone (its bytes are those of
/// every runlogd release, so cursors survive upgrades); a listing across
/// runs starts with its kind, then its numbers, then its filters.
pub struct Binding(Sha256);

impl Binding {
    /// The binding of a per-run page: its filters.
    pub fn of_run(filters: &Filters) -> [u8; 8] {
        Binding(Sha256::new()).filters(filters).finish()
    }

    /// The binding of a listing across runs of `kind` (`b"search"`,
    /// `b"list"`); add its numbers, then its filters.
    pub fn listing(kind: &'static [u8]) -> Binding {
        let mut h = Sha256::new();
        h.update(kind);
        h.update(b"\0");
        Binding(h)
    }

    pub fn number(mut self, n: u64) -> Binding {
        self.0.update(n.to_be_bytes());
        self
    }

    /// Levels and sources (closed sets, each name ended by a comma), the
    /// signature (fixed width), the regex (length first), then `contains`,
    /// which must come last.
    pub fn filters(mut self, filters: &Filters) -> Binding {
        self = self.levels_and_sources(&filters.levels, &filters.sources);
        // Written only when given, so cursors without it keep their bytes.
        if let Some(s) = &filters.signature {
            self.0.update(b"s");
            self.0.update(s.id.0.to_be_bytes());
        }
        if let Some(r) = &filters.regex {
            self = self.regex(r.as_str());
        }
        if let Some(c) = &filters.contains {
            self.0.update(b"c");
            self.0.update(c.as_str().as_bytes());
        }
        self
    }

    /// Levels and sources of a signature listing (closed sets, each name
    /// ended by a comma).
    pub fn kinds(self, kinds: &crate::service::signatures::Kinds) -> Binding {
        self.levels_and_sources(&kinds.levels, &kinds.sources)
    }

    fn levels_and_sources(
        mut self,
        levels: &BTreeSet<Level>,
        sources: &BTreeSet<Source>,
    ) -> Binding {
        for l in levels {
            self.0.update(l.as_str());
            self.0.update(b",");
        }
        self.0.update(b"|");
        for s in sources {
            self.0.update(s.as_str());
            self.0.update(b",");
        }
        self.0.update(b"|");
        self
    }

    /// A regular expression: a second free text, so its length goes
    /// first and it cannot run into the text that follows.
    pub fn regex(mut self, source: &str) -> Binding {
        self.0.update(b"r");
        self.0.update((source.len() as u64).to_be_bytes());
        self.0.update(source.as_bytes());
        self
    }

    /// A free text; must come last.
    pub fn text(mut self, text: &str) -> Binding {
        self.0.update(b"t");
        self.0.update(text.as_bytes());
        self
    }

    pub fn finish(self) -> [u8; 8] {
        let d = self.0.finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(&d[..8]);
        out
    }
}

pub fn encode(
    key: &CursorKey,
    run_id: u64,
    generation: u64,
    after: u64,
    filters: &Filters,
) -> String {
    seal(
        key,
        VERSION,
        [run_id, generation, after],
        Binding::of_run(filters),
    )
}

pub fn decode(
    key: &CursorKey,
    text: &str,
    run_id: u64,
    filters: &Filters,
) -> Result<Resume, CursorError> {
    if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
        return text
            .parse()
            .map(Resume::Line)
            .map_err(|_| CursorError::Malformed);
    }
    let ([cursor_run, generation, after], digest) = open(key, VERSION, text)?;
    if cursor_run != run_id || digest != Binding::of_run(filters) {
        return Err(CursorError::Mismatch);
    }
    Ok(Resume::Signed { generation, after })
}

/// The cursor of a listing across runs (`/api/v1/logs` and its search): the
/// page ended at `last_run`, and the next one starts below it. `query` is a
/// [`Binding::listing`] of everything that selects the runs.
pub fn encode_runs(key: &CursorKey, last_run: u64, query: [u8; 8]) -> String {
    seal(key, RUNS_VERSION, [last_run, 0, 0], query)
}

/// The last run id of the previous page, from a cursor of [`encode_runs`].
pub fn decode_runs(key: &CursorKey, text: &str, query: [u8; 8]) -> Result<u64, CursorError> {
    let ([last_run, _, _], digest) = open(key, RUNS_VERSION, text)?;
    if digest != query {
        return Err(CursorError::QueryMismatch);
    }
    Ok(last_run)
}

/// The cursor of a listing that resumes after `position` (the last item
/// served, in the listing's order); `query` binds what selects the items.
pub fn encode_position(key: &CursorKey, position: [u64; 3], query: [u8; 8]) -> String {
    seal(key, POSITION_VERSION, position, query)
}

/// The position of a cursor of [`encode_position`].
pub fn decode_position(
    key: &CursorKey,
    text: &str,
    query: [u8; 8],
) -> Result<[u64; 3], CursorError> {
    let (position, digest) = open(key, POSITION_VERSION, text)?;
    if digest != query {
        return Err(CursorError::QueryMismatch);
    }
    Ok(position)
}

/// `base64url(version, three numbers, digest, MAC)`.
fn seal(key: &CursorKey, version: u8, numbers: [u64; 3], digest: [u8; 8]) -> String {
    let mut buf = Vec::with_capacity(PAYLOAD_LEN + MAC_LEN);
    buf.push(version);
    for n in numbers {
        buf.extend_from_slice(&n.to_be_bytes());
    }
    buf.extend_from_slice(&digest);
    let mut mac = key.mac();
    mac.update(&buf);
    buf.extend_from_slice(&mac.finalize().into_bytes()[..MAC_LEN]);
    URL_SAFE_NO_PAD.encode(buf)
}

/// The numbers and digest of a cursor sealed with `version` under `key`.
fn open(key: &CursorKey, version: u8, text: &str) -> Result<([u64; 3], [u8; 8]), CursorError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| CursorError::Malformed)?;
    if bytes.len() != PAYLOAD_LEN + MAC_LEN || bytes[0] != version {
        return Err(CursorError::Malformed);
    }
    let (payload, tag) = bytes.split_at(PAYLOAD_LEN);
    let mut mac = key.mac();
    mac.update(payload);
    mac.verify_truncated_left(tag)
        .map_err(|_| CursorError::Malformed)?;
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&payload[i..i + 8]);
        u64::from_be_bytes(b)
    };
    let mut digest = [0u8; 8];
    digest.copy_from_slice(&payload[25..33]);
    Ok(([u64_at(1), u64_at(9), u64_at(17)], digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::Level;

    fn key() -> CursorKey {
        CursorKey::new(&[7; 32]).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn round_trip_and_binding() {
        let f = Filters::default();
        let c = encode(&key(), 42, 3, 100, &f);
        assert_eq!(
            decode(&key(), &c, 42, &f),
            Ok(Resume::Signed {
                after: 100,
                generation: 3
            })
        );
        assert_eq!(decode(&key(), &c, 43, &f), Err(CursorError::Mismatch));
        let mut errors = f.clone();
        errors.levels.insert(Level::Error);
        assert_eq!(decode(&key(), &c, 42, &errors), Err(CursorError::Mismatch));
        let other_key = CursorKey::new(&[8; 32]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(decode(&other_key, &c, 42, &f), Err(CursorError::Malformed));
    }

    #[test]
    fn tampered_truncated_and_junk_cursors_are_malformed() {
        let f = Filters::default();
        let c = encode(&key(), 42, 3, 100, &f);
        let mut bytes = URL_SAFE_NO_PAD.decode(&c).unwrap_or_default();
        bytes[20] ^= 1; // after line 100 -> something else
        let forged = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(decode(&key(), &forged, 42, &f), Err(CursorError::Malformed));
        assert_eq!(
            decode(&key(), &c[..c.len() - 3], 42, &f),
            Err(CursorError::Malformed)
        );
        for junk in ["", "abc", "-1", "1.5", "%%%", "99999999999999999999999"] {
            assert_eq!(
                decode(&key(), junk, 42, &f),
                Err(CursorError::Malformed),
                "{junk}"
            );
        }
        assert_eq!(decode(&key(), "250", 42, &f), Ok(Resume::Line(250)));
        assert_eq!(decode(&key(), "0", 42, &f), Ok(Resume::Line(0)));
    }

    #[test]
    fn per_run_bindings_are_those_of_earlier_releases() {
        // The format cursors in clients' hands were made with: level names
        // and source names each ended by a comma, `|` after each list, then
        // `c` and the lowercased needle.
        let mut f = Filters::default();
        f.levels.insert(Level::Error);
        f.levels.insert(Level::Critical);
        f.sources.insert(crate::parse::Source::Build);
        f.contains = Some(Needle::new("Exit Code"));
        let mut h = Sha256::new();
        h.update(b"error,critical,|build,|cexit code");
        let earlier = h.finalize();
        assert_eq!(Binding::of_run(&f)[..], earlier[..8]);
        let mut h = Sha256::new();
        h.update(b"||");
        assert_eq!(Binding::of_run(&Filters::default())[..], h.finalize()[..8]);
    }

    #[test]
    fn listing_bindings_tell_every_part_apart() {
        let f = Filters::default();
        let a = Binding::listing(b"search")
            .number(1)
            .number(2)
            .filters(&f)
            .finish();
        let b = Binding::listing(b"search")
            .number(2)
            .number(1)
            .filters(&f)
            .finish();
        let c = Binding::listing(b"list")
            .number(1)
            .number(2)
            .filters(&f)
            .finish();
        assert!(a != b && a != c && b != c);
    }

    #[test]
    fn run_listing_cursors_are_bound_to_their_query_and_kind() {
        let filters = |c: &str| Filters {
            contains: Some(Needle::new(c)),
            ..Filters::default()
        };
        let q = Binding::listing(b"search")
            .filters(&filters("segfault"))
            .finish();
        let c = encode_runs(&key(), 9401, q);
        assert_eq!(decode_runs(&key(), &c, q), Ok(9401));
        let other = Binding::listing(b"search")
            .filters(&filters("segfaults"))
            .finish();
        assert_eq!(
            decode_runs(&key(), &c, other),
            Err(CursorError::QueryMismatch)
        );
        // A per-run cursor is not a listing cursor, nor the other way round.
        let per_run = encode(&key(), 9401, 1, 5, &Filters::default());
        assert_eq!(
            decode_runs(&key(), &per_run, q),
            Err(CursorError::Malformed)
        );
        assert_eq!(
            decode(&key(), &c, 9401, &Filters::default()),
            Err(CursorError::Malformed)
        );
        assert_eq!(decode_runs(&key(), "12", q), Err(CursorError::Malformed));
    }
}
