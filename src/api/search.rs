//! `GET /api/v1/logs/search` (runs whose lines match, newest first) and
//! `GET /api/v1/logs` (the indexed logs, newest first): the questions asked
//! across runs rather than of one run.

use axum::extract::State;
use serde::Serialize;

use super::cursor;
use super::error::ApiError;
use super::json::{SizedJson, LINE_OVERHEAD};
use super::lanes::{self, Bound};
use super::logs::LogLine;
use super::pagination::{with_one_more, Pagination};
use super::params::{ListRequest, SearchRequest};
use super::AppState;
use crate::index::RunQuery;
use crate::service::runs::origin;
use crate::time_format;

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
    request: SearchRequest,
) -> Result<SizedJson<SearchPage>, ApiError> {
    let page = lanes::run(Bound::Search, move || -> Result<SearchPage, ApiError> {
        let scope = &request.scope;
        let landed = scope.by_landing.then_some(scope.landed);
        let highlight = request.highlight.then(|| request.filters.clone());
        let query = RunQuery {
            runs: scope.runs,
            filters: request.filters,
            only: None,
            limit: request.limit,
            lines_per_run: request.lines_per_run,
        };
        let (runs, has_more) = state.runs.search(query, landed)?;
        let pagination = Pagination::new(request.limit, has_more, runs.last(), |last| {
            cursor::encode_runs(&state.cursor_key, last.hit.run_id, request.digest)
        });
        let data = runs
            .into_iter()
            .map(|run| {
                let hit = run.hit;
                SearchHit {
                    run_id: hit.run_id,
                    landed_at: run.landed_ns.and_then(time_format::from_unix_nanos),
                    lines_total: hit.meta.lines,
                    match_count: hit.match_count,
                    lines: hit
                        .lines
                        .into_iter()
                        .map(|l| LogLine::owned(l, hit.run_id, highlight.as_ref()))
                        .collect(),
                }
            })
            .collect();
        Ok(SearchPage { data, pagination })
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
    request: ListRequest,
) -> Result<SizedJson<ListPage>, ApiError> {
    let runs = state.runs.clone();
    let scope = request.scope.clone();
    let mut listed = lanes::run(Bound::Page, move || {
        runs.list(scope.runs, scope.landed, with_one_more(request.limit))
    })
    .await??;
    let pagination = Pagination::cut(&mut listed, request.limit, |last| {
        cursor::encode_runs(&state.cursor_key, last.run_id, request.digest)
    });
    let data: Vec<ListedLog> = listed
        .into_iter()
        .map(|run| {
            let [debug, info, warning, error, critical] = run.levels;
            ListedLog {
                run_id: run.run_id,
                landed_at: time_format::from_unix_nanos(run.mtime_ns),
                bytes: run.size,
                lines_total: run.lines_indexed,
                levels: LevelCounts {
                    debug,
                    info,
                    warning,
                    error,
                    critical,
                },
                origin: origin(run.from_bucket),
            }
        })
        .collect();
    let capacity = 256 + data.len() * LISTED_LOG_BYTES;
    Ok(SizedJson {
        value: ListPage { data, pagination },
        capacity,
    })
}

/// About the JSON size of one listed run (they are all alike).
const LISTED_LOG_BYTES: usize = 200;
