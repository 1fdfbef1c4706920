//! The run-log request's parameters, checked all at once so one 400 names
//! every bad parameter in `details.fields`.

use std::collections::{BTreeMap, BTreeSet};

use crate::index::Filters;
use crate::ingest::MAX_RUN_ID;
use crate::parse::{Level, Source};

use super::cursor::{self, CursorKey, Resume};
use super::error::ApiError;

pub const DEFAULT_LIMIT: usize = 100;
pub const MAX_LIMIT: usize = 100;
pub const MAX_CONTAINS_CHARS: usize = 100;

/// A validated request for a page of a run's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRequest {
    pub run_id: u64,
    pub limit: usize,
    pub filters: Filters,
    pub resume: Option<Resume>,
}

/// Query parameters as sent; a parameter given twice keeps every value.
#[derive(Debug, Default)]
pub struct RawParams(BTreeMap<String, Vec<String>>);

impl RawParams {
    pub fn parse(query: Option<&str>) -> RawParams {
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        RawParams(map)
    }

    fn get(&self, name: &str) -> Option<&[String]> {
        self.0.get(name).map(Vec::as_slice)
    }
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
    let mut fields = BTreeMap::new();
    let mut allowed = BTreeMap::new();

    let run = match parse_run_id(run_id) {
        Ok(id) => Some(id),
        Err(msg) => {
            fields.insert("run_id".to_owned(), msg);
            None
        }
    };

    let limit = match single(params, "limit") {
        Err(msg) => {
            fields.insert("limit".into(), msg);
            None
        }
        Ok(None) => Some(DEFAULT_LIMIT),
        Ok(Some(v)) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => Some(n),
            _ => {
                fields.insert(
                    "limit".into(),
                    format!("must be an integer from 1 to {MAX_LIMIT}"),
                );
                None
            }
        },
    };

    if params.get("offset").is_some() {
        fields.insert(
            "offset".into(),
            "Cannot mix cursor and offset pagination.".into(),
        );
    }

    let levels = match list(params, "level", |s| s.parse::<Level>().ok()) {
        Ok(v) => v,
        Err(msg) => {
            fields.insert("level".into(), msg);
            allowed.insert("level".into(), Level::ALL.map(Level::as_str).to_vec());
            BTreeSet::new()
        }
    };
    let sources = match list(params, "source", |s| s.parse::<Source>().ok()) {
        Ok(v) => v,
        Err(msg) => {
            fields.insert("source".into(), msg);
            allowed.insert("source".into(), Source::ALL.map(Source::as_str).to_vec());
            BTreeSet::new()
        }
    };

    let contains = match single(params, "contains") {
        Err(msg) => {
            fields.insert("contains".into(), msg);
            None
        }
        Ok(None) => None,
        Ok(Some("")) => None,
        Ok(Some(c)) if c.chars().count() > MAX_CONTAINS_CHARS => {
            fields.insert(
                "contains".into(),
                format!("must be at most {MAX_CONTAINS_CHARS} characters"),
            );
            None
        }
        Ok(Some(c)) => Some(c.to_lowercase()),
    };

    let filters = Filters {
        levels,
        sources,
        contains,
    };

    let resume = match (single(params, "cursor"), run) {
        (Err(msg), _) => {
            fields.insert("cursor".into(), msg);
            None
        }
        (Ok(None), _) => None,
        (Ok(Some("")), _) => None,
        (Ok(Some(c)), Some(run)) => match cursor::decode(key, c, run, &filters) {
            Ok(r) => Some(r),
            Err(e) => {
                fields.insert("cursor".into(), e.to_string());
                None
            }
        },
        // The run id is already wrong; the cursor cannot be checked against it.
        (Ok(Some(_)), None) => None,
    };

    match (run, limit) {
        (Some(run_id), Some(limit)) if fields.is_empty() => Ok(LogRequest {
            run_id,
            limit,
            filters,
            resume,
        }),
        _ => Err(ApiError::Validation { fields, allowed }),
    }
}

/// A parameter that may be given at most once.
fn single<'a>(params: &'a RawParams, name: &str) -> Result<Option<&'a str>, String> {
    match params.get(name) {
        None => Ok(None),
        Some([one]) => Ok(Some(one.as_str())),
        Some(_) => Err("given more than once".into()),
    }
}

/// A comma-separated list of closed-set values, possibly repeated
/// (`level=error,critical` or `level=error&level=critical`).
fn list<T: Ord>(
    params: &RawParams,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<BTreeSet<T>, String> {
    let mut out = BTreeSet::new();
    let Some(values) = params.get(name) else {
        return Ok(out);
    };
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
        Err(format!("unknown value {}", unknown.join(", ")))
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
        assert_eq!(r.filters.contains.as_deref(), Some("foobar"));
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
        assert!(check("1", &format!("contains={}", "é".repeat(100))).is_ok());
        assert!(check("1", "cursor=notacursor").is_err());
        assert!(check("1", "level=error,").is_err());
    }
}
