//! The requests' parameters, checked all at once so one 400 names every
//! bad parameter in `details.fields`; the query is read through
//! [`RawParams`] (strict encoding, no repeats) and cursors are checked
//! against what they were bound to.

use std::collections::{BTreeMap, BTreeSet};

use crate::index::grams::Needle;
use crate::index::pattern::{Pattern, PatternError};
use crate::index::{Filters, SignatureFilter};
use crate::logfiles::MAX_RUN_ID;
use crate::parse::{Level, Source};
use crate::signature::SignatureId;

use super::cursor::{self, Binding, CursorKey, Resume};
use super::error::ApiError;
pub use super::query::{RawParams, LIST_PARAMS};
use crate::service::signatures::{Kinds, RunOrder, TemplateText, WindowOrder};

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 100;
pub const MAX_CONTAINS_CHARS: usize = 100;

/// Where a filter is applied: a pattern with no required text scans one
/// run, but cannot be searched across runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Within {
    OneRun,
    AllRuns,
}

/// A validated request for a page of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub run_id: u64,
    pub limit: usize,
    pub filters: Filters,
    pub resume: Option<Resume>,
    /// Each line carries where `contains` and `regex` matched it.
    pub highlight: bool,
}

/// The path's run id: an integer from 1 to [`MAX_RUN_ID`].
pub fn parse_run_id(run_id: &str) -> Result<u64, String> {
    match run_id.parse::<u64>() {
        Ok(id) if (1..=MAX_RUN_ID).contains(&id) && !run_id.starts_with('+') => Ok(id),
        _ => Err(format!("must be an integer from 1 to {MAX_RUN_ID}")),
    }
}

/// Checks the path's run id and the query, in that order of reporting.
pub fn validate(run_id: &str, params: &RawParams, key: &CursorKey) -> Result<LogRequest, ApiError> {
    let mut bad = Problems::default();

    let run = bad.run_id(run_id);
    let limit = bad.number(params, "limit", DEFAULT_LIMIT, 1..=MAX_LIMIT);
    bad.no_offset(params);
    let (levels, sources) = bad.levels_and_sources(params);
    let contains = bad.contains(params, 0);
    let signature = bad.signature(params);
    let regex = bad.regex(params, Within::OneRun);
    let highlight = bad.flag(params, "highlight");
    let filters = Filters {
        levels,
        sources,
        contains,
        signature,
        regex,
    };

    let resume = match (single(params, "cursor"), run) {
        (Err(msg), _) => {
            bad.fields.insert("cursor".into(), msg);
            None
        }
        (Ok(None), _) => None,
        (Ok(Some("")), _) => None,
        (Ok(Some(c)), Some(run)) => match cursor::decode(key, c, run, &filters) {
            Ok(r) => Some(r),
            Err(e) => {
                bad.fields.insert("cursor".into(), e.to_string());
                None
            }
        },
        // The run id is already wrong; the cursor cannot be checked against it.
        (Ok(Some(_)), None) => None,
    };

    match (run, limit) {
        (Some(run_id), Some(limit)) if bad.fields.is_empty() => Ok(LogRequest {
            run_id,
            limit,
            filters,
            resume,
            highlight,
        }),
        _ => Err(bad.into_error()),
    }
}

// ---- listings across runs: /api/v1/logs and /api/v1/logs/search ----

/// Default and largest page of `/api/v1/logs/search`, in runs.
pub const SEARCH_DEFAULT_LIMIT: usize = 20;
/// Default page of `/api/v1/logs`, in runs.
pub const LIST_DEFAULT_LIMIT: usize = 50;
pub const DEFAULT_LINES_PER_RUN: usize = 3;
pub const MAX_LINES_PER_RUN: usize = 20;
/// Shorter needles match too much to answer across runs from the index.
pub const MIN_SEARCH_CONTAINS_CHARS: usize = 3;

/// Which runs a listing covers: ids and landing times.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunScope {
    /// Inclusive run id range.
    pub runs: (u64, u64),
    /// `[since, until)` in ns since the epoch.
    pub landed: (i64, i64),
    /// Whether `since` or `until` was given.
    pub by_landing: bool,
}

impl RunScope {
    /// Adds the scope to what a listing's cursor is bound to.
    fn bind(&self, binding: Binding) -> Binding {
        binding
            .number(self.runs.0)
            .number(self.runs.1)
            .number(self.landed.0 as u64)
            .number(self.landed.1 as u64)
    }
}

/// A validated `GET /api/v1/logs/search`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchRequest {
    pub filters: Filters,
    /// The run ids still to cover (the cursor lowers the top).
    pub scope: RunScope,
    pub limit: usize,
    pub lines_per_run: usize,
    /// Each line carries where `contains` and `regex` matched it.
    pub highlight: bool,
    /// What the cursor of this query is bound to.
    pub digest: [u8; 8],
}

/// A validated `GET /api/v1/logs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub scope: RunScope,
    pub limit: usize,
    pub digest: [u8; 8],
}

pub fn validate_search(params: &RawParams, key: &CursorKey) -> Result<SearchRequest, ApiError> {
    let mut bad = Problems::default();
    let (levels, sources) = bad.levels_and_sources(params);
    let contains = bad.contains(params, MIN_SEARCH_CONTAINS_CHARS);
    let regex = bad.regex(params, Within::AllRuns);
    let highlight = bad.flag(params, "highlight");
    if contains.is_none()
        && regex.is_none()
        && levels.is_empty()
        && !bad.fields.contains_key("contains")
        && !bad.fields.contains_key("regex")
    {
        let why = "give contains, regex, level, or a combination";
        bad.fields.insert("contains".into(), why.into());
        if !bad.fields.contains_key("level") {
            bad.fields.insert("level".into(), why.into());
        }
    }
    let limit = bad.number(params, "limit", SEARCH_DEFAULT_LIMIT, 1..=MAX_LIMIT);
    let lines_per_run = bad.number(
        params,
        "lines_per_run",
        DEFAULT_LINES_PER_RUN,
        0..=MAX_LINES_PER_RUN,
    );
    let scope = bad.scope(params);
    bad.no_offset(params);
    let filters = Filters {
        levels,
        sources,
        contains,
        signature: None,
        regex,
    };
    let binding = Binding::listing(b"search").number(lines_per_run.unwrap_or_default() as u64);
    let (scope, digest) = bad.resume(params, key, scope, binding, &filters);
    match (scope, limit, lines_per_run) {
        (Some(scope), Some(limit), Some(lines_per_run)) if bad.fields.is_empty() => {
            Ok(SearchRequest {
                filters,
                scope,
                limit,
                lines_per_run,
                highlight,
                digest,
            })
        }
        _ => Err(bad.into_error()),
    }
}

pub fn validate_list(params: &RawParams, key: &CursorKey) -> Result<ListRequest, ApiError> {
    let mut bad = Problems::default();
    let limit = bad.number(params, "limit", LIST_DEFAULT_LIMIT, 1..=MAX_LIMIT);
    let scope = bad.scope(params);
    bad.no_offset(params);
    let (scope, digest) = bad.resume(
        params,
        key,
        scope,
        Binding::listing(b"list"),
        &Filters::default(),
    );
    match (scope, limit) {
        (Some(scope), Some(limit)) if bad.fields.is_empty() => Ok(ListRequest {
            scope,
            limit,
            digest,
        }),
        _ => Err(bad.into_error()),
    }
}

// ---- failure signatures ----

/// Default page of the signature listings.
pub const SIGNATURES_DEFAULT_LIMIT: usize = 50;

/// A validated `GET /api/v1/runs/{run_id}/signatures`.
#[derive(Debug, Clone)]
pub struct RunSignaturesRequest {
    pub run_id: u64,
    pub kinds: Kinds,
    pub order: RunOrder,
    pub limit: usize,
    /// The position of the last signature served, from the cursor.
    pub after: Option<(u64, u64)>,
    pub digest: [u8; 8],
}

/// A validated `GET /api/v1/signatures`.
#[derive(Debug, Clone)]
pub struct SignaturesRequest {
    pub kinds: Kinds,
    pub scope: RunScope,
    /// What the templates must contain or match.
    pub text: TemplateText,
    pub order: WindowOrder,
    pub limit: usize,
    pub after: Option<(u64, u64, u64)>,
    pub digest: [u8; 8],
}

/// A validated `GET /api/v1/signatures/{signature}/runs`.
#[derive(Debug, Clone)]
pub struct SignatureRunsRequest {
    pub signature: SignatureId,
    /// The runs still to cover (the cursor lowers the top).
    pub scope: RunScope,
    pub limit: usize,
    pub digest: [u8; 8],
}

/// The levels the signature listings show when `level` is not given: what
/// went wrong.
const SIGNATURE_LEVELS: [Level; 2] = [Level::Error, Level::Critical];

pub fn validate_run_signatures(
    run_id: &str,
    params: &RawParams,
    key: &CursorKey,
) -> Result<RunSignaturesRequest, ApiError> {
    let mut bad = Problems::default();
    let run = bad.run_id(run_id);
    let kinds = bad.signature_kinds(params);
    let order = bad.choice(
        params,
        "sort",
        &[("first", RunOrder::First), ("count", RunOrder::Count)],
    );
    let limit = bad.number(params, "limit", SIGNATURES_DEFAULT_LIMIT, 1..=MAX_LIMIT);
    bad.no_offset(params);
    let mut binding = Binding::listing(b"run-signatures").number(run.unwrap_or(0));
    binding = binding.number(match order {
        Some(RunOrder::Count) => 1,
        _ => 0,
    });
    let digest = binding.kinds(&kinds).finish();
    let after = bad.position(params, key, digest).map(|[a, b, _]| (a, b));
    match (run, order, limit) {
        (Some(run_id), Some(order), Some(limit)) if bad.fields.is_empty() => {
            Ok(RunSignaturesRequest {
                run_id,
                kinds,
                order,
                limit,
                after,
                digest,
            })
        }
        _ => Err(bad.into_error()),
    }
}

pub fn validate_signatures(
    params: &RawParams,
    key: &CursorKey,
) -> Result<SignaturesRequest, ApiError> {
    let mut bad = Problems::default();
    let kinds = bad.signature_kinds(params);
    let scope = bad.scope(params);
    let contains = bad.contains(params, 0).map(|n| n.as_str().to_owned());
    // On templates, in memory: no text needs to be required of it.
    let regex = bad.regex(params, Within::OneRun);
    let order = bad.choice(
        params,
        "sort",
        &[("runs", WindowOrder::Runs), ("new", WindowOrder::New)],
    );
    let limit = bad.number(params, "limit", SIGNATURES_DEFAULT_LIMIT, 1..=MAX_LIMIT);
    bad.no_offset(params);
    let mut binding = Binding::listing(b"signatures").number(match order {
        Some(WindowOrder::New) => 1,
        _ => 0,
    });
    if let Some(s) = &scope {
        binding = s.bind(binding);
    }
    let mut binding = binding.kinds(&kinds);
    if let Some(r) = &regex {
        binding = binding.regex(r.as_str());
    }
    if let Some(c) = &contains {
        binding = binding.text(c);
    }
    let digest = binding.finish();
    let after = bad.position(params, key, digest).map(|[a, b, c]| (a, b, c));
    match (scope, order, limit) {
        (Some(scope), Some(order), Some(limit)) if bad.fields.is_empty() => Ok(SignaturesRequest {
            kinds,
            scope,
            text: TemplateText { contains, regex },
            order,
            limit,
            after,
            digest,
        }),
        _ => Err(bad.into_error()),
    }
}

pub fn validate_signature_runs(
    signature: &str,
    params: &RawParams,
    key: &CursorKey,
) -> Result<SignatureRunsRequest, ApiError> {
    let mut bad = Problems::default();
    let id = match signature.parse::<SignatureId>() {
        Ok(id) => Some(id),
        Err(e) => {
            bad.fields.insert("signature".into(), e.to_string());
            None
        }
    };
    let limit = bad.number(params, "limit", SIGNATURES_DEFAULT_LIMIT, 1..=MAX_LIMIT);
    let scope = bad.scope(params);
    bad.no_offset(params);
    let binding = Binding::listing(b"signature-runs").number(id.map_or(0, |i| i.0));
    let (scope, digest) = bad.resume(params, key, scope, binding, &Filters::default());
    match (id, scope, limit) {
        (Some(signature), Some(scope), Some(limit)) if bad.fields.is_empty() => {
            Ok(SignatureRunsRequest {
                signature,
                scope,
                limit,
                digest,
            })
        }
        _ => Err(bad.into_error()),
    }
}

/// Everything wrong with a request so far, reported in one 400.
#[derive(Debug, Default)]
struct Problems {
    fields: BTreeMap<String, String>,
    allowed: BTreeMap<String, Vec<&'static str>>,
}

impl Problems {
    fn into_error(self) -> ApiError {
        ApiError::Validation {
            fields: self.fields,
            allowed: self.allowed,
        }
    }

    /// The path's run id.
    fn run_id(&mut self, run_id: &str) -> Option<u64> {
        match parse_run_id(run_id) {
            Ok(id) => Some(id),
            Err(msg) => {
                self.fields.insert("run_id".to_owned(), msg);
                None
            }
        }
    }

    /// An integer parameter in `range`, or `default` when absent.
    fn number(
        &mut self,
        params: &RawParams,
        name: &str,
        default: usize,
        range: std::ops::RangeInclusive<usize>,
    ) -> Option<usize> {
        let msg = format!(
            "must be an integer from {} to {}",
            range.start(),
            range.end()
        );
        match single(params, name) {
            Err(e) => {
                self.fields.insert(name.into(), e);
                None
            }
            Ok(None) => Some(default),
            Ok(Some(v)) => match v.trim().parse::<usize>() {
                Ok(n) if range.contains(&n) => Some(n),
                _ => {
                    self.fields.insert(name.into(), msg);
                    None
                }
            },
        }
    }

    fn no_offset(&mut self, params: &RawParams) {
        if params.sent("offset") {
            self.fields.insert(
                "offset".into(),
                "Cannot mix cursor and offset pagination.".into(),
            );
        }
    }

    fn levels_and_sources(&mut self, params: &RawParams) -> (BTreeSet<Level>, BTreeSet<Source>) {
        let levels = self.list(params, "level", Level::ALL.map(Level::as_str));
        let sources = self.list(params, "source", Source::ALL.map(Source::as_str));
        (levels, sources)
    }

    /// A list parameter of closed-set values; an unknown value is reported
    /// with the allowed ones.
    fn list<T: Ord + std::str::FromStr, const N: usize>(
        &mut self,
        params: &RawParams,
        name: &str,
        allowed: [&'static str; N],
    ) -> BTreeSet<T> {
        match list(params, name, |s| s.parse::<T>().ok()) {
            Ok(v) => v,
            Err(ListError::Malformed(msg)) => {
                self.fields.insert(name.into(), msg);
                BTreeSet::new()
            }
            Err(ListError::Unknown(msg)) => {
                self.fields.insert(name.into(), msg);
                self.allowed.insert(name.into(), allowed.to_vec());
                BTreeSet::new()
            }
        }
    }

    /// A `true`/`false` parameter; absent or empty is false.
    fn flag(&mut self, params: &RawParams, name: &str) -> bool {
        match single(params, name) {
            Ok(None) | Ok(Some("")) | Ok(Some("false")) => false,
            Ok(Some("true")) => true,
            Ok(Some(_)) => {
                self.fields
                    .insert(name.into(), "must be true or false".into());
                false
            }
            Err(msg) => {
                self.fields.insert(name.into(), msg);
                false
            }
        }
    }

    /// `regex`, compiled; empty means absent. Across runs, a pattern must
    /// name text that every match holds: the index finds the runs by it.
    fn regex(&mut self, params: &RawParams, within: Within) -> Option<Pattern> {
        let problem = match single(params, "regex") {
            Err(msg) => msg,
            Ok(None) | Ok(Some("")) => return None,
            Ok(Some(source)) => match Pattern::new(source) {
                Ok(p) if within == Within::AllRuns && p.grams().is_all() => {
                    "names no text of three or more characters that every match must \
                     contain, so the index cannot find the runs it matches; add a literal \
                     word to it (`exit code: -?[1-9]` rather than `-?[1-9]`), or search \
                     one run's log with it"
                        .to_owned()
                }
                Ok(p) => return Some(p),
                Err(PatternError::TooLong) => PatternError::TooLong.to_string(),
                Err(PatternError::Invalid(msg)) => {
                    format!("is not a valid regular expression (Rust regex syntax): {msg}")
                }
            },
        };
        self.fields.insert("regex".into(), problem);
        None
    }

    /// `contains`, as the needle the index matches (lowercased there, once);
    /// empty means absent.
    fn contains(&mut self, params: &RawParams, min_chars: usize) -> Option<Needle> {
        match single(params, "contains") {
            Err(msg) => {
                self.fields.insert("contains".into(), msg);
                None
            }
            Ok(None) | Ok(Some("")) => None,
            Ok(Some(c)) => {
                let n = c.chars().count();
                if n > MAX_CONTAINS_CHARS {
                    self.fields.insert(
                        "contains".into(),
                        format!("must be at most {MAX_CONTAINS_CHARS} characters"),
                    );
                    None
                } else if n < min_chars {
                    self.fields.insert(
                        "contains".into(),
                        format!(
                            "must be at least {min_chars} characters to search across runs; \
                             search one run's log for shorter text"
                        ),
                    );
                    None
                } else {
                    Some(Needle::new(c))
                }
            }
        }
    }

    /// `signature`: an id as the API writes them; its members are looked
    /// up later (an unknown id is a 404, not a bad request).
    fn signature(&mut self, params: &RawParams) -> Option<SignatureFilter> {
        match single(params, "signature") {
            Err(msg) => {
                self.fields.insert("signature".into(), msg);
                None
            }
            Ok(None) | Ok(Some("")) => None,
            Ok(Some(text)) => match text.parse::<SignatureId>() {
                Ok(id) => Some(SignatureFilter {
                    id,
                    members: Vec::new(),
                    grams: Vec::new(),
                }),
                Err(e) => {
                    self.fields.insert("signature".into(), e.to_string());
                    None
                }
            },
        }
    }

    /// `level` (default: error and critical) and `source` of a signature
    /// listing.
    fn signature_kinds(&mut self, params: &RawParams) -> Kinds {
        let (mut levels, sources) = self.levels_and_sources(params);
        if levels.is_empty() && !self.fields.contains_key("level") {
            levels = SIGNATURE_LEVELS.into_iter().collect();
        }
        Kinds { levels, sources }
    }

    /// A parameter with a closed set of named values, the first the
    /// default.
    fn choice<T: Copy>(
        &mut self,
        params: &RawParams,
        name: &str,
        values: &[(&'static str, T)],
    ) -> Option<T> {
        let default = values.first().map(|v| v.1);
        match single(params, name) {
            Err(e) => {
                self.fields.insert(name.into(), e);
                None
            }
            Ok(None) | Ok(Some("")) => default,
            Ok(Some(v)) => match values
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(v.trim()))
            {
                Some((_, t)) => Some(*t),
                None => {
                    let names: Vec<&'static str> = values.iter().map(|v| v.0).collect();
                    self.fields
                        .insert(name.into(), format!("unknown value {:?}", v));
                    self.allowed.insert(name.into(), names);
                    None
                }
            },
        }
    }

    /// The position a listing's cursor resumes after, checked against what
    /// the query binds.
    fn position(
        &mut self,
        params: &RawParams,
        key: &CursorKey,
        digest: [u8; 8],
    ) -> Option<[u64; 3]> {
        self.cursor(params, |c| cursor::decode_position(key, c, digest))
    }

    /// The `cursor` parameter as `decode` reads it; absent or empty is none.
    fn cursor<T>(
        &mut self,
        params: &RawParams,
        decode: impl FnOnce(&str) -> Result<T, cursor::CursorError>,
    ) -> Option<T> {
        match single(params, "cursor") {
            Err(e) => {
                self.fields.insert("cursor".into(), e);
                None
            }
            Ok(None) | Ok(Some("")) => None,
            Ok(Some(c)) => match decode(c) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.fields.insert("cursor".into(), e.to_string());
                    None
                }
            },
        }
    }

    /// `run_min`, `run_max`, `since` and `until`.
    fn scope(&mut self, params: &RawParams) -> Option<RunScope> {
        let mut run = |name: &str, default: u64| match single(params, name) {
            Err(e) => {
                self.fields.insert(name.into(), e);
                None
            }
            Ok(None) | Ok(Some("")) => Some(default),
            Ok(Some(v)) => match parse_run_id(v.trim()) {
                Ok(id) => Some(id),
                Err(msg) => {
                    self.fields.insert(name.into(), msg);
                    None
                }
            },
        };
        let run_min = run("run_min", 1);
        let run_max = run("run_max", MAX_RUN_ID);
        if let (Some(lo), Some(hi)) = (run_min, run_max) {
            if lo > hi {
                self.fields
                    .insert("run_min".into(), "must not be greater than run_max".into());
            }
        }
        let mut time = |name: &str, default: i64| match single(params, name) {
            Err(e) => {
                self.fields.insert(name.into(), e);
                None
            }
            Ok(None) | Ok(Some("")) => Some((default, false)),
            Ok(Some(v)) => match crate::time_format::parse_unix_nanos(v) {
                Some(nanos) => Some((nanos, true)),
                None => {
                    self.fields.insert(
                        name.into(),
                        "must be an RFC 3339 time, e.g. 2026-11-20T08:00:00Z".into(),
                    );
                    None
                }
            },
        };
        let since = time("since", i64::MIN);
        let until = time("until", i64::MAX);
        if let (Some((s, true)), Some((u, true))) = (since, until) {
            if s > u {
                self.fields
                    .insert("since".into(), "must not be later than until".into());
            }
        }
        match (run_min, run_max, since, until) {
            (Some(lo), Some(hi), Some((s, by_since)), Some((u, by_until))) => Some(RunScope {
                runs: (lo, hi),
                landed: (s, u),
                by_landing: by_since || by_until,
            }),
            _ => None,
        }
    }

    /// Binds the query (`binding` so far, the scope, then `filters`) into a
    /// digest, and lowers the scope's top run below the cursor's last run.
    fn resume(
        &mut self,
        params: &RawParams,
        key: &CursorKey,
        scope: Option<RunScope>,
        mut binding: Binding,
        filters: &Filters,
    ) -> (Option<RunScope>, [u8; 8]) {
        if let Some(s) = &scope {
            binding = s.bind(binding);
        }
        let digest = binding.filters(filters).finish();
        let last = self.cursor(params, |c| cursor::decode_runs(key, c, digest));
        let scope = scope.map(|mut s| {
            if let Some(last) = last {
                // Below the last run served; an empty range ends the listing.
                s.runs.1 = s.runs.1.min(last.saturating_sub(1));
            }
            s
        });
        (scope, digest)
    }
}

/// A parameter that is not a list: absent, or given once.
fn single<'a>(params: &'a RawParams, name: &str) -> Result<Option<&'a str>, String> {
    Ok(params.values(name)?.first().map(String::as_str))
}

/// `link` of `GET /api/v1/runs/{run_id}/logs/raw`: absent or `false`
/// streams or redirects, `true` names where the file is.
pub fn validate_link(params: &RawParams) -> Result<bool, ApiError> {
    match single(params, "link") {
        Err(msg) => Err(ApiError::invalid("link", msg)),
        Ok(None) | Ok(Some("false")) => Ok(false),
        Ok(Some("true")) => Ok(true),
        Ok(Some(_)) => Err(ApiError::invalid("link", "must be true or false")),
    }
}

enum ListError {
    /// Not validly encoded.
    Malformed(String),
    /// Values outside the closed set.
    Unknown(String),
}

/// A comma-separated list of closed-set values, possibly repeated
/// (`level=error,critical` or `level=error&level=critical`).
fn list<T: Ord>(
    params: &RawParams,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<BTreeSet<T>, ListError> {
    let mut out = BTreeSet::new();
    let values = params.values(name).map_err(ListError::Malformed)?;
    let mut unknown = Vec::new();
    for value in values {
        if value.trim().is_empty() {
            continue;
        }
        for item in value.split(',') {
            let item = item.trim().to_ascii_lowercase();
            match parse(&item) {
                Some(v) => {
                    out.insert(v);
                }
                None => unknown.push(format!("{item:?}")),
            }
        }
    }
    if unknown.is_empty() {
        Ok(out)
    } else {
        Err(ListError::Unknown(format!(
            "unknown value {}",
            unknown.join(", ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CursorKey {
        CursorKey::new(&[1; 32]).unwrap_or_else(|e| panic!("{e}"))
    }

    fn check(run: &str, q: &str) -> Result<LogRequest, BTreeMap<String, String>> {
        validate(run, &RawParams::parse(Some(q)), &key()).map_err(|e| match e {
            ApiError::Validation { fields, .. } => fields,
            other => panic!("unexpected {other:?}"),
        })
    }

    #[test]
    fn defaults_and_lists() {
        let r = check(
            "12",
            "level=ERROR,critical&source=build&source=web&contains=FooBar&x=1",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(r.run_id, 12);
        assert_eq!(r.limit, 100);
        assert_eq!(
            r.filters.levels,
            BTreeSet::from([Level::Error, Level::Critical])
        );
        assert_eq!(
            r.filters.sources,
            BTreeSet::from([Source::Build, Source::Web])
        );
        assert_eq!(
            r.filters.contains.as_ref().map(Needle::as_str),
            Some("foobar")
        );
        assert_eq!(r.resume, None);
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let long = "x".repeat(101);
        let e = check(
            "0",
            &format!("limit=0&offset=5&level=warn&source=db&contains={long}&cursor=zz"),
        )
        .err()
        .unwrap_or_default();
        let names: Vec<&str> = e.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            ["contains", "level", "limit", "offset", "run_id", "source"]
        );
        for run in ["-1", "abc", "2147483648", "1.0", "+5", ""] {
            assert!(check(run, "").is_err(), "{run}");
        }
        for limit in ["101", "-1", "ten", "1e2", ""] {
            assert!(check("1", &format!("limit={limit}")).is_err(), "{limit}");
        }
        assert!(check("1", "limit=1&limit=2").is_err());
        assert!(check("1", "limit=1&limit=1").is_err());
        assert!(check("1", "contains=a&contains=a").is_err());
        assert!(check("1", "level=error&level=info&source=web&source=build").is_ok());
        assert!(check("1", &format!("contains={}", "é".repeat(100))).is_ok());
        assert!(check("1", "cursor=notacursor").is_err());
        assert!(check("1", "level=error,").is_err());
    }

    #[test]
    fn encoding_is_strict() {
        use crate::api::query::decode;
        assert_eq!(decode("a+b%20c%2B%C3%A9").as_deref(), Ok("a b c+é"));
        assert_eq!(decode("plain").as_deref(), Ok("plain"));
        assert_eq!(decode("%41%4a%4A").as_deref(), Ok("AJJ"));
        for bad in [
            "%",
            "%2",
            "a%zz",
            "%+1",
            "%-1",
            "%ff",
            "%e2%82",
            "%c0%af",
            "%ed%a0%80",
        ] {
            assert!(decode(bad).is_err(), "{bad}");
        }
        for (q, field) in [
            ("contains=%zz", "contains"),
            ("contains=%ff", "contains"),
            ("level=%ff", "level"),
            ("cursor=%", "cursor"),
            ("offset=%zz", "offset"),
        ] {
            let fields = check("1", q).err().unwrap_or_default();
            assert_eq!(fields.keys().collect::<Vec<_>>(), [field], "{q}");
        }
        // Unread parameters are ignored however they are written.
        assert!(check("1", "x=%zz&%ff=1&y=1&y=2").is_ok());
        let p = RawParams::parse(Some("link=true&link=true"));
        assert!(validate_link(&p).is_err());
        assert_eq!(
            validate_link(&RawParams::parse(Some("link=true"))).ok(),
            Some(true)
        );
    }
}
