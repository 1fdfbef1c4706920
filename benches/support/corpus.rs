//! A deterministic generator of realistic run logs, for benchmarks.
//!
//! The benches (`benches/*.rs`) and the comparison script
//! (`benches/compare.sh`) need the same data every time, shaped like the real
//! `LogFiles/{run_id}.txt` described in `log-format.md`: the runner script's
//! lines (`Posting ...`, `Status posted successfully (HTTP 200)`, a sticky `OK`,
//! retries), the binary's version block, and the test runner's
//! `[INFO] Starting with entry N of M` / `[ERROR] ...` / `[WARN] ...` lines with
//! the tested program's unmarked output between them. Odd run ids are Windows
//! runs (CRLF endings, echoed commands, some Windows-1252 bytes that are not
//! valid UTF-8), even ones Linux runs.
//!
//! Sizes: the first `large_runs` runs ([`large_run_id`]) are Linux runs of
//! `large_bytes` each that loop on errors (about 100 bytes a line, so 100 MB is
//! about a million lines); the other runs share what is left of `total_bytes`
//! (each between half and one and a half times the mean, at least
//! [`MIN_SMALL_BYTES`]).
//!
//! The strings the benchmarks search for are constants here so that every
//! tool searches for the same thing: [`RARE_NEEDLE`] occurs in exactly
//! [`RARE_LINES_PER_LARGE_RUN`] lines of each large run and nowhere else,
//! [`COMMON_NEEDLE`] in a large share of every run's lines, and
//! [`ABSENT_NEEDLE`] nowhere. Needles are lowercase (the API's `contains` is
//! case-insensitive); the rare token is written in mixed case in the file.
//!
//! Everything derives from `seed` through a small built-in PRNG (splitmix64),
//! so the bytes do not change when a dependency's generator does.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Run id of the first run; runs are numbered consecutively from it.
pub const FIRST_RUN_ID: u64 = 9000;

/// A needle found in exactly [`RARE_LINES_PER_LARGE_RUN`] lines of each large
/// run and in no small run (lowercase; the file spells it `CCX_Rare_7F3A9C`).
pub const RARE_NEEDLE: &str = "ccx_rare_7f3a9c";
/// How the rare token is spelled in the file.
const RARE_TOKEN_IN_FILE: &str = "CCX_Rare_7F3A9C";
/// A regular expression matching the rare token as the file spells it (and
/// nothing else): its one required literal, `CCX_Rare_`, is as rare as the
/// token.
pub const RARE_PATTERN: &str = "CCX_Rare_[0-9A-F]{6}";
/// A regular expression that requires no trigram (every line with a
/// decimal number may match): the index cannot narrow it, a run is read.
pub const NO_TRIGRAM_PATTERN: &str = r"\d+\.\d+";
/// How many lines of each large run hold [`RARE_NEEDLE`], spread evenly
/// through the run (at 1/6, 2/6, ... 5/6 of its bytes).
pub const RARE_LINES_PER_LARGE_RUN: u64 = 5;
/// A needle in a large share of lines (the shared-library loader error), so
/// the first page of matches comes from the first few hundred lines.
pub const COMMON_NEEDLE: &str = "shared libraries";
/// A needle that occurs nowhere in any generated log.
pub const ABSENT_NEEDLE: &str = "zebra_unicorn_qx";

/// Small runs are never smaller than this.
pub const MIN_SMALL_BYTES: u64 = 8 * 1024;

/// What to generate.
#[derive(Debug, Clone)]
pub struct CorpusSpec {
    /// Number of run logs.
    pub runs: usize,
    /// Approximate total size of all logs, in bytes.
    pub total_bytes: u64,
    /// How many of the runs are large (at least `large_bytes` each).
    pub large_runs: usize,
    /// Size of each large run, in bytes.
    pub large_bytes: u64,
    pub seed: u64,
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorpusSummary {
    pub files: usize,
    pub bytes: u64,
    pub lines: u64,
}

/// The run id of the `i`-th large run (0-based). Large runs are even ids
/// (Linux runs), so they are the runs `FIRST_RUN_ID + 2 * i`.
pub fn large_run_id(i: usize) -> u64 {
    FIRST_RUN_ID + 2 * i as u64
}

/// Run ids of all runs, in generation order, with whether each is large.
fn plan(spec: &CorpusSpec) -> Vec<(u64, bool)> {
    let large = spec.large_runs.min(spec.runs);
    let mut ids = Vec::with_capacity(spec.runs);
    // Large runs take the first even ids; small runs fill every other id.
    let large_ids: Vec<u64> = (0..large).map(large_run_id).collect();
    ids.extend(large_ids.iter().map(|&id| (id, true)));
    let mut next = FIRST_RUN_ID;
    while ids.len() < spec.runs {
        if !large_ids.contains(&next) {
            ids.push((next, false));
        }
        next += 1;
    }
    ids.sort_unstable();
    ids
}

/// Writes `{run_id}.txt` files into `log_dir`.
pub fn generate(log_dir: &Path, spec: &CorpusSpec) -> std::io::Result<CorpusSummary> {
    std::fs::create_dir_all(log_dir)?;
    let runs = plan(spec);
    let large_count = runs.iter().filter(|(_, large)| *large).count() as u64;
    let small_count = runs.len() as u64 - large_count;
    let small_total = spec
        .total_bytes
        .saturating_sub(large_count.saturating_mul(spec.large_bytes));
    let small_mean = small_total
        .checked_div(small_count)
        .unwrap_or(0)
        .max(MIN_SMALL_BYTES);

    let mut summary = CorpusSummary::default();
    for (run_id, large) in runs {
        // Each run has its own stream, so one run's bytes do not depend on
        // the size of the others.
        let mut rng = Rng::new(spec.seed ^ run_id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let target = if large {
            spec.large_bytes
        } else {
            // Uniform in [mean/2, 3*mean/2).
            (small_mean / 2 + rng.below(small_mean.max(1))).max(MIN_SMALL_BYTES)
        };
        let windows = !large && run_id % 2 == 1;
        let file = File::create(log_dir.join(format!("{run_id}.txt")))?;
        let mut w = LogWriter {
            out: BufWriter::with_capacity(1 << 20, file),
            rng,
            crlf: windows,
            bytes: 0,
            lines: 0,
        };
        if large {
            w.large_run(target)?;
        } else {
            w.small_run(target, windows)?;
        }
        w.out.flush()?;
        summary.files += 1;
        summary.bytes += w.bytes;
        summary.lines += w.lines;
    }
    Ok(summary)
}

/// splitmix64: tiny, fast, and stable across versions.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..n` (`n > 0`; 0 when `n == 0`).
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            ((self.next() >> 32) * n) >> 32
        }
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }

    /// True with probability `percent` / 100.
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const SAMPLES: &[&str] = &[
    "b22260d065ab537899baaf34e78a5184671f4bcb2df0414d05e6345adfd7812f.ts",
    "5df914ce773d212423591cce19a5e0d0ffd0e3a3.mpg",
    "132d7df7e993e5d8fe88f23ca37a1fcf0d5cc5e3.wtv",
    "7236304cfcd7a82d3b8c8d5a1d2c1c0cf4e30b6b.mp4",
    "e274a73653ce35b52ef0c6a6b0e5d4b1b0c4f3a2.mkv",
    "a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4.bin",
    "0c2a6f2e1d5c4b3a29180706f5e4d3c2b1a09f8e.m2ts",
];

const STDERR_ERRORS: &[&str] = &[
    "/repository/ccextractor: error while loading shared libraries: libtesseract.so.5: cannot open shared object file: No such file or directory",
    "/repository/ccextractor: error while loading shared libraries: liblept.so.5: cannot open shared object file: No such file or directory",
    "The remote server returned an error: (500) INTERNAL SERVER ERROR.",
    "Path is empty",
    "Error: Unable to open input file, not found.",
    "Failed to open output file for writing: Permission denied",
];

const PROGRAM_OUTPUT: &[&str] = &[
    "Input: /repository/TestFiles/",
    "[Extract: 1] [Stream mode: Autodetect]",
    "[Program : Auto ] [Hauppage mode: No] [Use MythTV code: Auto]",
    "[Timing mode: Auto] [Debug: No] [Buffer input: No]",
    "[Use pic_order_cnt_lsb for H.264: No] [Print CC decoder traces: No]",
    "[Target format: .srt] [Encoding: UTF-8] [Delay: 0] [Trim lines: No]",
    "Opening file: /repository/TestFiles/",
    "File seems to be a transport stream, enabling TS mode",
    "Analyzing data in general mode",
    "New video information found",
    "[720 * 480] [AR: 03 - 4:3] [FR: 04 - 29.97] [Bitrate: 12000000]",
    "Number of NAL_type_7: 0",
    "Number of VCL_NAL: 0",
    "Done, processing time = 4 seconds",
    "Issues? Open a ticket here",
    "https://github.com/CCExtractor/ccextractor/issues",
];

struct LogWriter {
    out: BufWriter<File>,
    rng: Rng,
    crlf: bool,
    bytes: u64,
    lines: u64,
}

impl LogWriter {
    /// Writes one line from its parts, then the line ending.
    fn line(&mut self, parts: &[&[u8]]) -> std::io::Result<()> {
        for p in parts {
            self.out.write_all(p)?;
            self.bytes += p.len() as u64;
        }
        let end: &[u8] = if self.crlf { b"\r\n" } else { b"\n" };
        self.out.write_all(end)?;
        self.bytes += end.len() as u64;
        self.lines += 1;
        Ok(())
    }

    fn text(&mut self, s: &str) -> std::io::Result<()> {
        self.line(&[s.as_bytes()])
    }

    fn hex(&mut self, len: usize) -> String {
        let mut s = String::with_capacity(len);
        while s.len() < len {
            let v = self.rng.next();
            for i in 0..16 {
                if s.len() < len {
                    let d = ((v >> (4 * i)) & 0xF) as u8;
                    s.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
                }
            }
        }
        s
    }

    /// The runner script posting a status, with an occasional failed attempt
    /// and the platform's `OK` (which may stick to the next line).
    fn post(&mut self, what: &str, windows: bool) -> std::io::Result<()> {
        if windows {
            self.text(&format!("Posting status {what} (attempt 1/3)"))?;
        } else {
            self.text(&format!("Posting {what} to the server:"))?;
        }
        if self.rng.chance(10) {
            self.text("Attempt 1/3 failed (curl exit: 7, HTTP: 000)")?;
            self.text("Retrying in 5 seconds...")?;
        }
        self.text("Status posted successfully (HTTP 200)")?;
        if self.rng.chance(50) {
            self.text("OK")
        } else {
            // No newline after the reply: it sticks to what the script says next.
            self.out.write_all(b"OK")?;
            self.bytes += 2;
            Ok(())
        }
    }

    fn preamble(&mut self, windows: bool) -> std::io::Result<()> {
        if windows {
            self.text("cd .")?;
            self.text("call ./rustx86.bat")?;
        }
        self.post(
            "preparation - Loaded variables, created log file and checking for CCExtractor build artifact",
            windows,
        )?;
        if windows {
            self.text("Uploading binary artifact (C:\\repository\\vm_data\\unsafe-ccextractor\\ccextractorwinfull.exe)")?;
        } else {
            self.text(
                "Uploading binary artifact (/repository/vm_data/unsafe-ccextractor/ccextractor)",
            )?;
        }
        if self.rng.chance(20) {
            self.text("src/lib_ccx/ccx_decoders_608.c:112:5: warning: unused variable 'pos' [-Wunused-variable]")?;
            self.text("CMake Warning at CMakeLists.txt:42 (message):")?;
        }
        if self.rng.chance(5) {
            self.text("make: *** [Makefile:12] Error 1")?;
        }
        let commit = self.hex(40);
        let sha = self.hex(64);
        self.text("=== CCExtractor Binary Version ===")?;
        self.text("CCExtractor 0.96.5, Carlos Fernandez Sanz, Volker Quetschke.")?;
        self.text("Version: 0.96.5")?;
        self.text(&format!("Git commit: {commit}"))?;
        self.text("Compilation date: 2025-03-09")?;
        self.text(&format!("File SHA256: {sha}"))?;
        self.text("Libraries used by CCExtractor")?;
        self.text("-tesseract version: 5.3.0")?;
        self.text("-leptonica version: 1.82.0")?;
        self.text("-libgpac version: 2.2.1")?;
        self.text("-zlib version: 1.2.13")?;
        self.text("=== End Version Info ===")?;
        self.post("testing - Running tests", windows)?;
        if windows {
            self.text("\"C:\\repository\\ccx_testsuite\\CCExtractorTester.exe\" --entries \"C:\\repository\\TestAll.xml\" --executable \"ccextractorwinfull.exe\" --tempfolder \"C:\\repository\\temp\" --timeout 600")?;
        }
        self.text("[INFO] Test suite version: 1.0.3.0")?;
        self.text("[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)")?;
        self.text("[INFO] Overriding timeout with: 600")?;
        let minute = self.rng.below(60);
        self.text(&format!(
            "[INFO] Multitest, overriding report folder to: /repository/reports/Testsuite_Report_2025-03-09_23{minute:02}02"
        ))
    }

    fn trailer(&mut self, windows: bool) -> std::io::Result<()> {
        self.text("Artifact coredump: no file at '', skipping")?;
        if self.rng.chance(15) {
            self.text("Artifact combined_stdout: upload failed (curl exit 22)")?;
        } else {
            self.text(
                "Uploading combined_stdout artifact (/repository/vm_data/combined_stdout.log)",
            )?;
        }
        if windows {
            self.text("Command exited with 1")?;
            self.text("Sending log to server (attempt 1/3)")
        } else {
            self.text("Sending log to the server:")
        }
    }

    /// One test entry: start, the program's output, maybe stderr, the verdict.
    fn entry(&mut self, n: u64, of: u64, windows: bool) -> std::io::Result<()> {
        let nb = itoa(n);
        let ofb = itoa(of);
        self.line(&[
            b"[INFO] Starting with entry ",
            nb.as_bytes(),
            b" of ",
            ofb.as_bytes(),
        ])?;
        let sample = self.rng.pick(SAMPLES);
        let outputs = 3 + self.rng.below(10);
        for _ in 0..outputs {
            let o = self.rng.pick(PROGRAM_OUTPUT);
            if o.ends_with('/') {
                if windows && self.rng.chance(50) {
                    // A file name in the console code page: not valid UTF-8.
                    self.line(&[o.as_bytes(), b"Caf\xe9_\x80_", sample.as_bytes()])?;
                } else {
                    self.line(&[o.as_bytes(), sample.as_bytes()])?;
                }
            } else {
                self.text(o)?;
            }
        }
        if self.rng.chance(30) {
            let e = self.rng.pick(STDERR_ERRORS);
            self.line(&[b"[ERROR] ", e.as_bytes()])?;
        }
        if self.rng.chance(5) {
            self.text("[WARN] Aborting CCExtractor, maximum time elapsed.")?;
        }
        let code = if self.rng.chance(20) { "1" } else { "0" };
        self.line(&[
            b"[INFO] Finished entry ",
            nb.as_bytes(),
            b" with exit code: ",
            code.as_bytes(),
        ])?;
        let (m, s, f) = (
            self.rng.below(10),
            self.rng.below(60),
            self.rng.below(10_000_000),
        );
        self.text(&format!("[INFO] Runtime: 00:{m:02}:{s:02}.{f:07}"))
    }

    fn small_run(&mut self, target: u64, windows: bool) -> std::io::Result<()> {
        self.preamble(windows)?;
        // Roughly 700 bytes an entry; keep room for the trailer.
        let of = (target / 700).max(1);
        let mut n = 1;
        while self.bytes + 300 < target {
            self.entry(n, of.max(n), windows)?;
            n += 1;
        }
        self.trailer(windows)
    }

    /// A run whose tests loop on errors: mostly `[ERROR]` lines from the
    /// program's stderr, with the runner's retries and occasional entries.
    fn large_run(&mut self, target: u64) -> std::io::Result<()> {
        self.preamble(false)?;
        let mut next_rare = 1;
        let rare_at = |k: u64| target / (RARE_LINES_PER_LARGE_RUN + 1) * k;
        let mut entry = 1;
        let of = 86;
        let mut attempt: u64 = 0;
        // At least `target` bytes: the trailer comes on top.
        while self.bytes < target {
            if next_rare <= RARE_LINES_PER_LARGE_RUN && self.bytes >= rare_at(next_rare) {
                let addr = self.hex(8);
                self.line(&[
                    b"[ERROR] Assertion failed in demuxer (",
                    RARE_TOKEN_IN_FILE.as_bytes(),
                    b") at 0x",
                    addr.as_bytes(),
                    b": stream id out of range",
                ])?;
                next_rare += 1;
                continue;
            }
            attempt += 1;
            let attempt_b = itoa(attempt);
            match self.rng.below(20) {
                0..=6 => {
                    let e = self.rng.pick(STDERR_ERRORS);
                    self.line(&[b"[ERROR] ", e.as_bytes()])?;
                }
                7..=8 => self.line(&[
                    b"[WARN] Retrying entry after failure, attempt ",
                    attempt_b.as_bytes(),
                    b"; previous run aborted, maximum time elapsed.",
                ])?,
                9..=15 => {
                    let o = self.rng.pick(PROGRAM_OUTPUT);
                    let sample = self.rng.pick(SAMPLES);
                    if o.ends_with('/') {
                        self.line(&[o.as_bytes(), sample.as_bytes()])?;
                    } else {
                        self.text(o)?;
                    }
                }
                16 => self.line(&[
                    b"[INFO] Starting with entry ",
                    itoa(entry).as_bytes(),
                    b" of ",
                    itoa(of).as_bytes(),
                ])?,
                17 => {
                    self.line(&[
                        b"[INFO] Finished entry ",
                        itoa(entry).as_bytes(),
                        b" with exit code: 127",
                    ])?;
                    entry = entry % of + 1;
                }
                18 => self.line(&[
                    b"[ERROR] Entry failed (attempt ",
                    attempt_b.as_bytes(),
                    b"): ccextractor exited with code 127 after 0 seconds",
                ])?,
                _ => self.text("[INFO] Runtime: 00:00:00.0123456")?,
            }
        }
        self.trailer(false)
    }
}

fn itoa(n: u64) -> String {
    n.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(seed: u64) -> CorpusSpec {
        CorpusSpec {
            runs: 6,
            total_bytes: 3 << 20,
            large_runs: 1,
            large_bytes: 2 << 20,
            seed,
        }
    }

    fn read_all(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let (a, b, c) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let sa = generate(a.path(), &spec(7)).unwrap();
        let sb = generate(b.path(), &spec(7)).unwrap();
        generate(c.path(), &spec(8)).unwrap();
        assert_eq!(sa, sb);
        assert_eq!(read_all(a.path()), read_all(b.path()));
        assert_ne!(read_all(a.path()), read_all(c.path()));
    }

    #[test]
    fn sizes_needles_and_shapes_are_as_documented() {
        let dir = tempfile::tempdir().unwrap();
        let s = generate(dir.path(), &spec(1)).unwrap();
        assert_eq!(s.files, 6);
        let total = 3u64 << 20;
        assert!(
            s.bytes > total * 8 / 10 && s.bytes < total * 12 / 10,
            "{s:?}"
        );
        let files = read_all(dir.path());
        let on_disk: u64 = files.iter().map(|(_, b)| b.len() as u64).sum();
        assert_eq!(on_disk, s.bytes);
        let lines: u64 = files
            .iter()
            .map(|(_, b)| b.iter().filter(|&&c| c == b'\n').count() as u64)
            .sum();
        assert_eq!(lines, s.lines);

        let count = |bytes: &[u8], needle: &str| {
            bytes
                .split(|&c| c == b'\n')
                .filter(|l| String::from_utf8_lossy(l).to_lowercase().contains(needle))
                .count() as u64
        };
        let large_name = format!("{}.txt", large_run_id(0));
        for (name, bytes) in &files {
            let rare = count(bytes, RARE_NEEDLE);
            assert_eq!(count(bytes, ABSENT_NEEDLE), 0, "{name}");
            if *name == large_name {
                assert_eq!(rare, RARE_LINES_PER_LARGE_RUN);
                let len = bytes.len() as u64;
                assert!((2 << 20..(2 << 20) + 1024).contains(&len), "{len}");
                assert!(count(bytes, COMMON_NEEDLE) > len / 100 / 20);
            } else {
                assert_eq!(rare, 0, "{name}");
                assert!(bytes.len() as u64 >= MIN_SMALL_BYTES);
            }
        }
        // Odd ids are Windows runs: CRLF endings and Windows-1252 bytes.
        let windows = &files
            .iter()
            .find(|(n, _)| *n == format!("{}.txt", FIRST_RUN_ID + 1))
            .unwrap()
            .1;
        assert!(windows.windows(2).any(|w| w == b"\r\n"));
        assert!(std::str::from_utf8(windows).is_err());
        assert!(!files[0].1.contains(&b'\r'));
    }
}
