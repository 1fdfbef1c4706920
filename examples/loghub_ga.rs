//! Grouping accuracy of `runlogd::signature` on the Loghub-2k benchmark: a
//! tuning tool for the masking and grouping rules.
//!
//! ```text
//! cargo run --release --example loghub_ga -- <dir> [--templates]
//! ```
//!
//! `<dir>` holds Loghub's `*_structured_corrected.csv` files (columns
//! `Content`, the line, and `EventTemplate`, the true group). For each
//! system the lines' base shapes go into one `Grouping`; a line's predicted
//! group is the group of its base id. The grouping accuracy (GA) of a
//! system is the share of lines whose predicted group holds exactly the
//! lines of their true group. Prints GA per system and the average; with
//! `--templates`, prints instead each line's base template, one a line.

use std::collections::HashMap;
use std::hash::Hash;
use std::path::{Path, PathBuf};

use runlogd::signature::{shape_of, Grouping};

fn main() {
    let mut dir = None;
    let mut templates = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--templates" => templates = true,
            _ if dir.is_none() => dir = Some(PathBuf::from(arg)),
            _ => usage(),
        }
    }
    let Some(dir) = dir else { usage() };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("_structured_corrected.csv"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        fail(&format!(
            "{}: no *_structured_corrected.csv files",
            dir.display()
        ));
    }
    let mut total = 0.0;
    for file in &files {
        let (content, truth) = read_system(file);
        let shapes: Vec<_> = content.iter().map(|line| shape_of(line)).collect();
        if templates {
            for shape in &shapes {
                println!("{}", shape.template);
            }
            continue;
        }
        let mut grouping = Grouping::new();
        grouping.add(shapes.iter().cloned());
        let predicted: Vec<_> = shapes
            .iter()
            .map(|s| grouping.group_of(s.id).expect("every added id has a group"))
            .collect();
        let ga = grouping_accuracy(&predicted, &truth);
        total += ga;
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.split('_').next())
            .unwrap_or("?");
        println!("{name:12} {ga:.3}");
    }
    if !templates {
        println!("{:12} {:.3}", "average", total / files.len() as f64);
    }
}

fn usage() -> ! {
    fail("usage: loghub_ga <dir with *_structured_corrected.csv> [--templates]")
}

fn fail(message: &str) -> ! {
    eprintln!("{message}");
    std::process::exit(2)
}

/// The `Content` and `EventTemplate` columns of a system's file.
fn read_system(path: &Path) -> (Vec<String>, Vec<String>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    let text = String::from_utf8_lossy(&bytes);
    let mut records = parse_csv(&text).into_iter();
    let header = records
        .next()
        .unwrap_or_else(|| fail(&format!("{}: empty", path.display())));
    let column = |name: &str| {
        header
            .iter()
            .position(|h| h == name)
            .unwrap_or_else(|| fail(&format!("{}: no column {name}", path.display())))
    };
    let (content, template) = (column("Content"), column("EventTemplate"));
    records
        .filter(|r| r.len() > content.max(template))
        .map(|mut r| {
            (
                std::mem::take(&mut r[content]),
                std::mem::take(&mut r[template]),
            )
        })
        .unzip()
}

/// RFC 4180 records: fields separated by commas, records by CRLF or LF; a
/// field in double quotes may hold commas, line breaks and `""` (a quote).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    // Whether the current record has begun (a blank line is no record).
    let mut started = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => {
                in_quotes = true;
                started = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                started = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                if started {
                    record.push(std::mem::take(&mut field));
                    records.push(std::mem::take(&mut record));
                }
                started = false;
            }
            _ => {
                field.push(c);
                started = true;
            }
        }
    }
    if started {
        record.push(field);
        records.push(record);
    }
    records
}

/// The share of lines whose predicted group is exactly their true group.
fn grouping_accuracy<P: Hash + Eq, T: Hash + Eq>(predicted: &[P], truth: &[T]) -> f64 {
    let mut by_truth: HashMap<&T, usize> = HashMap::new();
    for t in truth {
        *by_truth.entry(t).or_default() += 1;
    }
    let mut by_predicted: HashMap<&P, (Option<&T>, bool, usize)> = HashMap::new();
    for (p, t) in predicted.iter().zip(truth) {
        let entry = by_predicted.entry(p).or_insert((Some(t), true, 0));
        entry.1 &= entry.0 == Some(t);
        entry.2 += 1;
    }
    let right: usize = by_predicted
        .values()
        .filter_map(|&(t, pure, n)| (pure && t.map(|t| by_truth[t]) == Some(n)).then_some(n))
        .sum();
    right as f64 / truth.len().max(1) as f64
}
