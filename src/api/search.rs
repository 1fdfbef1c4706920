//! `GET /api/v1/logs/search` (runs whose lines match, newest first) and
//! `GET /api/v1/logs` (the indexed logs, newest first): the questions asked
//! across runs rather than of one run.

use std::collections::BTreeSet;

use axum::extract::{RawQuery, State};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::cursor;
use super::error::ApiError;
use super::json::{SizedJson, LINE_OVERHEAD};
use super::lanes::{self, Bound};
use super::logs::{LogLine, Pagination};
use super::params::{self, RawParams};
use super::AppState;
use crate::index::RunQuery;

#[derive(Serialize)]
pub struct SearchPage {
    data: Vec<SearchHit>,
    pagination: Pagination,
}

#[derive(Serialize)]
struct SearchHit {
    run_id: u64,
    landed_at: Option<String>,
    lines_total: u64,
    match_count: u64,
    lines: Vec<LogLine<'static>>,
}

#[derive(Serialize)]
pub struct ListPage {
    data: Vec<ListedLog>,
    pagination: Pagination,
}

#[derive(Serialize)]
struct ListedLog {
    run_id: u64,
    landed_at: Option<String>,
    bytes: u64,
    lines_total: u64,
    levels: LevelCounts,
    origin: &'static str,
}

#[derive(Serialize)]
struct LevelCounts {
    debug: u64,
    info: u64,
    warning: u64,
    error: u64,
    critical: u64,
}

pub async fn search_logs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<SizedJson<SearchPage>, ApiError> {
    let request = params::validate_search(&RawParams::parse(query.as_deref()), &state.cursor_key)?;
    let page = lanes::run(Bound::Search, move || -> Result<SearchPage, ApiError> {
        let scope = &request.scope;
        let only = if scope.by_landing {
            let ids = state
                .store
                .run_ids_landed(scope.runs, scope.landed)
                .map_err(ApiError::internal)?;
            Some(ids.into_iter().collect::<BTreeSet<u64>>())
        } else {
            None
        };
        let found = state
            .index
            .snapshot()
            .search_runs(&RunQuery {
                filters: request.filters.clone(),
                runs: scope.runs,
                only,
                limit: request.limit,
                lines_per_run: request.lines_per_run,
            })
            .map_err(ApiError::internal)?;
        let next_cursor = match (found.has_more, found.runs.last()) {
            (true, Some(last)) => Some(cursor::encode_runs(
                &state.cursor_key,
                last.run_id,
                request.digest,
            )),
            _ => None,
        };
        let mut data = Vec::with_capacity(found.runs.len());
        for hit in found.runs {
            let record = state.store.run(hit.run_id).map_err(ApiError::internal)?;
            data.push(SearchHit {
                run_id: hit.run_id,
                landed_at: record.as_ref().and_then(|r| landed_at(r.mtime_ns)),
                lines_total: hit.meta.lines,
                match_count: hit.match_count,
                lines: hit
                    .lines
                    .into_iter()
                    .map(|l| LogLine::owned(l, hit.run_id))
                    .collect(),
            });
        }
        Ok(SearchPage {
            data,
            pagination: Pagination::new(request.limit, next_cursor),
        })
    })
    .await??;
    let capacity = 256
        + page
            .data
            .iter()
            .flat_map(|hit| &hit.lines)
            .map(LogLine::size_hint)
            .sum::<usize>()
        + page.data.len() * LINE_OVERHEAD;
    Ok(SizedJson {
        value: page,
        capacity,
    })
}

pub async fn list_logs(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<SizedJson<ListPage>, ApiError> {
    let request = params::validate_list(&RawParams::parse(query.as_deref()), &state.cursor_key)?;
    let store = state.store.clone();
    let scope = request.scope.clone();
    let mut runs = lanes::run(Bound::Page, move || {
        store.list_runs(scope.runs, scope.landed, request.limit + 1)
    })
    .await?
    .map_err(ApiError::internal)?;
    let has_more = runs.len() > request.limit;
    runs.truncate(request.limit);
    let next_cursor = match (has_more, runs.last()) {
        (true, Some(last)) => Some(cursor::encode_runs(
            &state.cursor_key,
            last.run_id,
            request.digest,
        )),
        _ => None,
    };
    let data: Vec<ListedLog> = runs
        .into_iter()
        .map(|run| {
            let [debug, info, warning, error, critical] = run.levels;
            ListedLog {
                run_id: run.run_id,
                landed_at: landed_at(run.mtime_ns),
                bytes: run.size,
                lines_total: run.lines_indexed,
                levels: LevelCounts {
                    debug,
                    info,
                    warning,
                    error,
                    critical,
                },
                origin: if run.from_bucket { "gcs" } else { "local" },
            }
        })
        .collect();
    let capacity = 256 + data.len() * LISTED_LOG_BYTES;
    Ok(SizedJson {
        value: ListPage {
            data,
            pagination: Pagination::new(request.limit, next_cursor),
        },
        capacity,
    })
}

/// About the JSON size of one listed run (they are all alike).
const LISTED_LOG_BYTES: usize = 200;

/// When the run's file landed (its mtime, which the bucket mirror sets to the
/// object's update time), to the second, in RFC 3339.
fn landed_at(mtime_ns: i64) -> Option<String> {
    let secs = mtime_ns.div_euclid(1_000_000_000);
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
}
