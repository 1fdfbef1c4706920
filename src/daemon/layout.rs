//! Whether the index on disk can be served as it is.
//!
//! The state database records what the index was written with: this
//! build's document layout and a fingerprint of the parser rules that set
//! every line's level and source. When either differs, the index is removed
//! and the start-up scan rebuilds it while the daemon serves.

use std::path::Path;

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::index::schema::LAYOUT_VERSION;
use crate::parse::RuleConfig;
use crate::store::Store;

/// The meta key under which the state database records what the index on
/// disk was written with.
const INDEX_LAYOUT_KEY: &str = "index_layout";

/// What an index must have been written with to be served as it is: this
/// build's document layout, and the parser rules that set every line's level
/// and source.
fn index_layout(rules: &[RuleConfig]) -> anyhow::Result<String> {
    let rules = serde_json::to_vec(rules).context("parser rules")?;
    let digest = Sha256::digest(&rules);
    let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{LAYOUT_VERSION} rules:{short}"))
}

/// Removes an index written by another layout or under other parser rules.
/// The runs' records stay: every run then disagrees with the (empty) index,
/// so the start-up scan indexes every file again while the daemon serves
/// (runs not rebuilt yet are indexed on their first request), keeping each
/// unchanged run's generation so that its cursors stay valid. Tokens, the
/// cursor key and the bucket's state are kept too. Returns why the index is
/// rebuilt, for `/readyz`.
pub(super) fn retire_outdated_index(
    store: &Store,
    dir: &Path,
    rules: &[RuleConfig],
) -> anyhow::Result<Option<String>> {
    let want = index_layout(rules)?;
    let have = store.meta_text(INDEX_LAYOUT_KEY)?;
    let index_exists = dir.join("meta.json").exists();
    let (runs, _) = store.totals()?;
    let reason = match &have {
        Some(have) if *have == want => return Ok(None),
        Some(have) if have.split(' ').next() == want.split(' ').next() => {
            "the parser rules changed: every run is re-indexed to re-classify its lines"
        }
        Some(_) => "the index was written by another version of runlogd",
        None if index_exists || runs > 0 => {
            "the index was written by an earlier version of runlogd"
        }
        None => {
            store.set_meta_text(INDEX_LAYOUT_KEY, &want)?;
            return Ok(None);
        }
    };
    tracing::warn!(
        index = %dir.display(),
        was = have.as_deref().unwrap_or("(unrecorded)"),
        now = %want,
        "{reason}; rebuilding the index in the background"
    );
    if dir.exists() {
        std::fs::remove_dir_all(dir)
            .with_context(|| format!("cannot remove the outdated index {}", dir.display()))?;
    }
    store.set_meta_text(INDEX_LAYOUT_KEY, &want)?;
    Ok(Some(reason.to_owned()))
}
