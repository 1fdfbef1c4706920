//! Failure signatures: which log lines are "the same message with other
//! values". A CI log repeats a handful of messages with different numbers,
//! paths and names in them; grouping the lines by message lets a failure be
//! counted, followed and searched across runs instead of line by line.
//!
//! A signature is shown as its *template*: the message with each variable
//! part replaced by `<*>`, as the log-parsing literature writes templates,
//! e.g. `[ERROR] Warning: Ignoring a broken PES packet (size <*>)`.
//!
//! Two stages:
//!
//! * [`mask`]: a pure function of one message. Numbers, hexadecimal ids,
//!   UUIDs, paths and URLs, `key=value` values, weekday and month names
//!   become `<*>`; the masked tokens joined by one space are the message's
//!   base template ([`shape_of`]), and the stable hash of the template is
//!   its base [`SignatureId`] ([`signature_of`]). It needs nothing but the
//!   line, so the indexer computes it line by line.
//! * [`grouping`]: merges base templates that differ in one position where
//!   at least three values were seen (`Invalid user alice from <*>`, `…
//!   bob …`, `… carol …` → `Invalid user <*> from <*>`). It needs the set of
//!   templates seen so far, so it runs over the templates (not the lines)
//!   after each indexing commit; a group is named by its smallest base id.
//!
//! The module imports nothing from the rest of the crate.
//!
//! Tuning: `cargo run --release --example loghub_ga -- <loghub dir>` scores
//! both stages on the Loghub-2k benchmark (grouping accuracy, 0.92 on
//! average).

mod grouping;
mod mask;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

pub use grouping::Grouping;
pub use mask::{shape_of, signature_of, template_id, MAX_SIGNATURE_BYTES};

/// A signature id: 64 bits, shown as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SignatureId(pub u64);

impl SignatureId {
    /// The same 64 bits as an `i64`, for an SQLite INTEGER column.
    pub fn as_i64(self) -> i64 {
        self.0 as i64
    }

    /// The inverse of [`SignatureId::as_i64`].
    pub fn from_i64(v: i64) -> SignatureId {
        SignatureId(v as u64)
    }
}

impl fmt::Display for SignatureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Text that is not a signature id.
#[derive(Debug, thiserror::Error)]
#[error("a signature is 16 lowercase hexadecimal digits")]
pub struct MalformedSignature;

impl FromStr for SignatureId {
    type Err = MalformedSignature;

    /// Exactly 16 digits of `[0-9a-f]`: the one way ids are written, so a
    /// signature has one spelling (in URLs, caches, comparisons).
    fn from_str(s: &str) -> Result<SignatureId, MalformedSignature> {
        let ok = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !ok {
            return Err(MalformedSignature);
        }
        u64::from_str_radix(s, 16)
            .map(SignatureId)
            .map_err(|_| MalformedSignature)
    }
}

/// The literal text of a template: its pieces between spaces and `<*>`s.
/// Each is a substring of every message the template stands for (masking
/// only replaces ranges of a token, and merging only turns whole tokens
/// into `<*>`), so an index can look for them.
pub fn literal_fragments(template: &str) -> impl Iterator<Item = &str> {
    template
        .split(' ')
        .flat_map(|token| token.split(mask::STAR))
        .filter(|piece| !piece.is_empty())
}

/// The template and base id of one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    pub id: SignatureId,
    pub template: String,
}
