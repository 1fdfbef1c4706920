//! `GET /api/v1/runs/{run_id}/logs`: validation, existence, one page.

use std::borrow::Cow;

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::cursor::{self, Resume};
use super::error::ApiError;
use super::highlight;
use super::json::{json_response, write_str, write_u64, LINE_OVERHEAD};
use super::lanes;
use super::pagination::Pagination;
use super::params::LogRequest;
use super::AppState;
use crate::index::block::LineRef;
use crate::index::grams::template_grams;
use crate::index::{Filters, IndexedLine, Page, RunMeta};
use crate::service::FoundRun;

/// Served messages are cut to this many characters (the published maximum).
pub const MAX_MESSAGE_CHARS: usize = 4000;

#[derive(Serialize)]
pub struct LogPage<'a> {
    data: Vec<LogLine<'a>>,
    pagination: Pagination,
}

/// A line as every endpoint shows it; borrowed from the page it is on
/// where it can be.
#[derive(Serialize)]
pub(super) struct LogLine<'a> {
    line: u64,
    timestamp: Option<Cow<'a, str>>,
    level: &'static str,
    source: &'static str,
    message: Cow<'a, str>,
    truncated: bool,
    run_id: u64,
    sample_id: Option<u64>,
    /// With `highlight=true`: where the filters matched, in UTF-16 units
    /// of `message` (see [`super::highlight`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    matches: Option<Vec<[usize; 2]>>,
}

pub async fn get_logs(
    State(state): State<AppState>,
    mut request: LogRequest,
) -> Result<Response, ApiError> {
    let FoundRun { snapshot, meta } = state.runs.find(request.run_id).await?;
    if let Some(signature) = &mut request.filters.signature {
        // The group as it stands now: a page reads the lines of every
        // signature merged into it so far, in the blocks holding its
        // template's literal text.
        let resolved = state.signatures.resolve(signature.id)?;
        signature.grams = template_grams(&resolved.template);
        signature.members = resolved.members;
    }
    if let Some(Resume::Signed { generation, .. }) = request.resume {
        if generation != meta.generation {
            return Err(ApiError::invalid(
                "cursor",
                "the log was replaced since this cursor was issued; start again without a cursor",
            ));
        }
    }
    // A signature, like a needle, names blocks that may not hold it.
    let filtered_by_text = request.filters.contains.is_some()
        || request.filters.signature.is_some()
        || request.filters.regex.is_some();
    let bound = lanes::for_page(filtered_by_text, meta.lines);
    let (page, request) = lanes::run(bound, move || {
        let after = request.resume.map(Resume::after).unwrap_or(0);
        let page = snapshot.page(request.run_id, meta, &request.filters, after, request.limit);
        page.map(|p| (p, request))
    })
    .await??;
    Ok(json_response(
        render(&state, &request, meta, &page).to_json(),
    ))
}

fn render<'a>(
    state: &AppState,
    request: &LogRequest,
    meta: RunMeta,
    page: &'a Page,
) -> LogPage<'a> {
    let pagination = Pagination::new(request.limit, page.has_more, page.last_line(), |last| {
        cursor::encode(
            &state.cursor_key,
            request.run_id,
            meta.generation,
            last,
            &request.filters,
        )
    });
    let highlight = request.highlight.then_some(&request.filters);
    let data = page
        .lines()
        .map(|l| LogLine::borrowed(l, request.run_id, highlight))
        .collect();
    LogPage { data, pagination }
}

impl LogPage<'_> {
    /// The page as JSON, byte for byte what its `Serialize` writes (a test
    /// holds them together), with the lines written by hand.
    pub fn to_json(&self) -> Vec<u8> {
        let capacity = 256 + self.data.iter().map(LogLine::size_hint).sum::<usize>();
        let mut out = Vec::with_capacity(capacity);
        out.extend_from_slice(b"{\"data\":[");
        for (i, line) in self.data.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            line.write_json(&mut out);
        }
        out.extend_from_slice(b"],\"pagination\":");
        // Small, and nothing in it to escape quickly: serde writes it.
        let _ = serde_json::to_writer(&mut out, &self.pagination);
        out.push(b'}');
        out
    }
}

impl<'a> LogLine<'a> {
    /// The line as JSON, byte for byte what its `Serialize` writes.
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"line\":");
        write_u64(out, self.line);
        out.extend_from_slice(b",\"timestamp\":");
        match &self.timestamp {
            Some(t) => write_str(out, t),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"level\":");
        write_str(out, self.level);
        out.extend_from_slice(b",\"source\":");
        write_str(out, self.source);
        out.extend_from_slice(b",\"message\":");
        write_str(out, &self.message);
        out.extend_from_slice(if self.truncated {
            b",\"truncated\":true"
        } else {
            b",\"truncated\":false"
        });
        out.extend_from_slice(b",\"run_id\":");
        write_u64(out, self.run_id);
        out.extend_from_slice(b",\"sample_id\":");
        match self.sample_id {
            Some(id) => write_u64(out, id),
            None => out.extend_from_slice(b"null"),
        }
        if let Some(ranges) = &self.matches {
            out.extend_from_slice(b",\"matches\":[");
            for (i, [from, to]) in ranges.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                write_u64(out, *from as u64);
                out.push(b',');
                write_u64(out, *to as u64);
                out.push(b']');
            }
            out.push(b']');
        }
        out.push(b'}');
    }

    /// A line of a page, borrowed from it; with `highlight`, the matches
    /// of those filters.
    pub(super) fn borrowed(
        l: LineRef<'a>,
        run_id: u64,
        highlight: Option<&Filters>,
    ) -> LogLine<'a> {
        let (message, truncated) = cut(l.text);
        let matches = highlight.map(|f| highlight::matches(l.text, message.len(), f));
        LogLine {
            line: l.line,
            timestamp: (!l.timestamp.is_empty()).then_some(Cow::Borrowed(l.timestamp)),
            level: l.level.as_str(),
            source: l.source.as_str(),
            message: Cow::Borrowed(message),
            truncated,
            run_id,
            sample_id: None,
            matches,
        }
    }

    /// A line read out on its own (search across runs); with
    /// `highlight`, the matches of those filters.
    pub(super) fn owned(
        l: IndexedLine,
        run_id: u64,
        highlight: Option<&Filters>,
    ) -> LogLine<'static> {
        let matches = highlight.map(|f| highlight::matches(&l.text, cut(&l.text).0.len(), f));
        let (message, truncated) = match cut(&l.text) {
            (_, false) => (l.text, false),
            (cut, true) => (cut.to_owned(), true),
        };
        LogLine {
            line: l.line,
            timestamp: l.timestamp.map(Cow::Owned),
            level: l.level.as_str(),
            source: l.source.as_str(),
            message: Cow::Owned(message),
            truncated,
            run_id,
            sample_id: None,
            matches,
        }
    }

    /// About how many bytes the line takes in JSON.
    pub(super) fn size_hint(&self) -> usize {
        LINE_OVERHEAD
            + self.message.len()
            + self.timestamp.as_ref().map_or(0, |t| t.len())
            + self.matches.as_ref().map_or(0, |m| 16 + m.len() * 16)
    }
}

/// A message cut to [`MAX_MESSAGE_CHARS`] characters, and whether it was.
pub(super) fn cut(text: &str) -> (&str, bool) {
    // A character is at least a byte: a short text needs no count.
    if text.len() <= MAX_MESSAGE_CHARS {
        return (text, false);
    }
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((byte, _)) => (&text[..byte], true),
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_counts_characters_not_bytes() {
        let (e4000, e4001, a4001) = ("é".repeat(4000), "é".repeat(4001), "a".repeat(4001));
        let (m, t) = cut(&e4000);
        assert_eq!((m.chars().count(), t), (4000, false));
        let (m, t) = cut(&e4001);
        assert_eq!((m.chars().count(), t), (4000, true));
        assert_eq!(cut(""), ("", false));
        let (m, t) = cut(&a4001);
        assert_eq!((m.len(), t), (4000, true));
        assert!(!cut(&"a".repeat(4000)).1);
    }

    #[test]
    fn a_page_written_by_hand_is_what_serde_writes() -> anyhow::Result<()> {
        use crate::parse::{Level, Source};
        let texts = [
            "plain line",
            "a \"quoted\" C:\\path\tand tab",
            "café € 𝄞 \u{0}\u{1f}\u{7f}",
            "",
        ];
        let lines: Vec<IndexedLine> = (0..12u64)
            .map(|i| IndexedLine {
                line: i * 1000 + 1,
                level: Level::ALL[(i % 5) as usize],
                source: Source::ALL[(i % 5) as usize],
                timestamp: (i % 3 == 0).then(|| format!("2025-03-09T23:55:0{}Z", i % 10)),
                text: texts[(i % 4) as usize].repeat(1 + i as usize * 400),
            })
            .collect();
        // Highlighted (`matches` written) and not (left out).
        let highlight = Filters {
            contains: Some(crate::index::grams::Needle::new("b")),
            ..Filters::default()
        };
        for (next_cursor, highlight) in [
            (None, None),
            (Some("AQID\"x".to_owned()), None),
            (None, Some(&highlight)),
        ] {
            let page = LogPage {
                data: lines
                    .iter()
                    .cloned()
                    .map(|l| LogLine::owned(l, 9401, highlight))
                    .collect(),
                pagination: Pagination::new(12, next_cursor.is_some(), next_cursor, |c| c),
            };
            // Some lines are past the cap, and cut.
            assert!(page.data.iter().any(|l| l.truncated));
            let by_hand = String::from_utf8(page.to_json())?;
            assert_eq!(by_hand, serde_json::to_string(&page)?);
        }
        let sampled = LogLine {
            sample_id: Some(77),
            ..LogLine::owned(lines[0].clone(), 1, None)
        };
        let mut out = Vec::new();
        sampled.write_json(&mut out);
        assert_eq!(out, serde_json::to_vec(&sampled)?);
        Ok(())
    }
}
