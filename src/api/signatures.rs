//! The failure signatures: `GET /api/v1/runs/{run_id}/signatures` (the
//! distinct messages of one run), `GET /api/v1/signatures` (across a window
//! of runs) and `GET /api/v1/signatures/{signature}/runs` (the runs holding
//! one). The lines of one signature are the logs endpoint's, with
//! `?signature=`.

use axum::extract::State;
use serde::Serialize;

use super::cursor;
use super::error::ApiError;
use super::json::SizedJson;
use super::lanes::{self, Bound};
use super::logs::{cut, LogLine};
use super::pagination::{with_one_more, Pagination};
use super::params::{RunSignaturesRequest, SignatureRunsRequest, SignaturesRequest};
use super::AppState;
use crate::parse::{Level, Source};
use crate::service::signatures::{RunSignature, WindowSignature};
use crate::service::FoundRun;
use crate::store::GroupStats;
use crate::time_format;

#[derive(Serialize)]
pub struct RunSignaturesPage {
    data: Vec<RunSignatureItem>,
    pagination: Pagination,
}

#[derive(Serialize)]
struct RunSignatureItem {
    signature: String,
    template: String,
    level: &'static str,
    source: &'static str,
    count: u64,
    first_line: u64,
    example: Option<LogLine<'static>>,
    runs_seen: u64,
    first_seen_run: Option<u64>,
    first_seen_at: Option<String>,
    new: bool,
}

#[derive(Serialize)]
pub struct SignaturesPage {
    data: Vec<SignatureItem>,
    pagination: Pagination,
}

#[derive(Serialize)]
struct SignatureItem {
    signature: String,
    template: String,
    level: &'static str,
    source: &'static str,
    runs: u64,
    lines: u64,
    first_seen_run: Option<u64>,
    first_seen_at: Option<String>,
    last_seen_run: Option<u64>,
    last_seen_at: Option<String>,
    example: Example,
}

#[derive(Serialize)]
struct Example {
    run_id: u64,
    line: u64,
    message: Option<String>,
}

#[derive(Serialize)]
pub struct SignatureRunsPage {
    data: Vec<SignatureRun>,
    pagination: Pagination,
}

#[derive(Serialize)]
struct SignatureRun {
    run_id: u64,
    landed_at: Option<String>,
    count: u64,
    first_line: u64,
}

/// A page of `items` items of about `item_bytes` of JSON each.
fn sized<T>(page: T, items: usize, item_bytes: usize) -> SizedJson<T> {
    SizedJson {
        value: page,
        capacity: 256 + items * item_bytes,
    }
}

fn level_name(code: u8) -> &'static str {
    Level::from_u64(u64::from(code)).map_or("info", Level::as_str)
}

fn source_name(code: u8) -> &'static str {
    Source::from_u64(u64::from(code)).map_or("other", Source::as_str)
}

fn landed(ns: i64) -> Option<String> {
    time_format::from_unix_nanos(ns)
}

pub async fn run_signatures(
    State(state): State<AppState>,
    request: RunSignaturesRequest,
) -> Result<SizedJson<RunSignaturesPage>, ApiError> {
    let FoundRun { snapshot, .. } = state.runs.find(request.run_id).await?;
    let signatures = state.signatures.clone();
    let page = lanes::run(Bound::Page, move || -> Result<_, ApiError> {
        let (items, has_more) = signatures.of_run(
            &snapshot,
            request.run_id,
            &request.kinds,
            request.order,
            request.after,
            request.limit,
        )?;
        let order = request.order;
        let pagination = Pagination::new(request.limit, has_more, items.last(), |last| {
            let (a, b) = last.position(order);
            cursor::encode_position(&state.cursor_key, [a, b, 0], request.digest)
        });
        let data = items
            .into_iter()
            .map(|item| run_item(request.run_id, item))
            .collect();
        Ok(RunSignaturesPage { data, pagination })
    })
    .await??;
    let items = page.data.len();
    Ok(sized(page, items, 1024))
}

fn run_item(run_id: u64, item: RunSignature) -> RunSignatureItem {
    let RunSignature {
        row,
        template,
        example,
        seen,
    } = item;
    let first_seen_run = seen.map(|s| s.first_run);
    RunSignatureItem {
        signature: row.group.to_string(),
        template,
        level: level_name(row.level),
        source: source_name(row.source),
        count: row.lines,
        first_line: row.first_line,
        example: example.map(|l| LogLine::owned(l, run_id, None)),
        runs_seen: seen.map_or(0, |s| s.runs),
        first_seen_run,
        first_seen_at: seen.and_then(|s| landed(s.first_at_ns)),
        // No lower run holds it (the run itself holds it).
        new: first_seen_run.is_none_or(|first| first >= run_id),
    }
}

pub async fn list_signatures(
    State(state): State<AppState>,
    request: SignaturesRequest,
) -> Result<SizedJson<SignaturesPage>, ApiError> {
    let signatures = state.signatures.clone();
    let page = lanes::run(Bound::Search, move || -> Result<_, ApiError> {
        let scope = &request.scope;
        let landed = scope.by_landing.then_some(scope.landed);
        let (items, has_more) = signatures.across(
            &request.kinds,
            scope.runs,
            landed,
            &request.text,
            request.order,
            request.after,
            request.limit,
        )?;
        let order = request.order;
        let pagination = Pagination::new(request.limit, has_more, items.last(), |last| {
            let (a, b, c) = last.position(order);
            cursor::encode_position(&state.cursor_key, [a, b, c], request.digest)
        });
        let data = items.into_iter().map(window_item).collect();
        Ok(SignaturesPage { data, pagination })
    })
    .await??;
    let items = page.data.len();
    Ok(sized(page, items, 1024))
}

fn window_item(item: WindowSignature) -> SignatureItem {
    let WindowSignature {
        row,
        template,
        seen,
        example,
        ..
    } = item;
    let stats = |f: fn(&GroupStats) -> (u64, i64)| seen.as_ref().map(f);
    let first = stats(|s| (s.first_run, s.first_at_ns));
    let last = stats(|s| (s.last_run, s.last_at_ns));
    SignatureItem {
        signature: row.group.to_string(),
        template,
        level: level_name(row.level),
        source: source_name(row.source),
        runs: row.runs,
        lines: row.lines,
        first_seen_run: first.map(|f| f.0),
        first_seen_at: first.and_then(|f| landed(f.1)),
        last_seen_run: last.map(|l| l.0),
        last_seen_at: last.and_then(|l| landed(l.1)),
        example: Example {
            run_id: row.example_run,
            line: row.example_line,
            message: example.map(|m| cut(&m).0.to_owned()),
        },
    }
}

pub async fn signature_runs(
    State(state): State<AppState>,
    request: SignatureRunsRequest,
) -> Result<SizedJson<SignatureRunsPage>, ApiError> {
    let signatures = state.signatures.clone();
    let page = lanes::run(Bound::Page, move || -> Result<_, ApiError> {
        let resolved = signatures.resolve(request.signature)?;
        let scope = &request.scope;
        let mut rows = signatures.runs_of(
            &resolved,
            scope.runs,
            scope.landed,
            with_one_more(request.limit),
        )?;
        let pagination = Pagination::cut(&mut rows, request.limit, |last| {
            cursor::encode_runs(&state.cursor_key, last.run_id, request.digest)
        });
        let data = rows
            .into_iter()
            .map(|r| SignatureRun {
                run_id: r.run_id,
                landed_at: landed(r.mtime_ns),
                count: r.lines,
                first_line: r.first_line,
            })
            .collect();
        Ok(SignatureRunsPage { data, pagination })
    })
    .await??;
    let items = page.data.len();
    Ok(sized(page, items, 120))
}
