//! Tests of the parser: every example line of `log-format.md` in a realistic
//! file, the byte-level edge cases, chunked parsing and operator rules.

use super::*;
use Level::{Critical, Debug, Error, Info, Warning};
use Source::{Build, Orchestrator, TestRunner, Web, Worker};

fn parser() -> Parser {
    Parser::new(&[]).expect("no rules")
}

/// Parses a complete file in one go.
fn parse_all(parser: &Parser, bytes: &[u8]) -> Vec<ParsedLine> {
    let mut state = ParseState::default();
    let (lines, used) = parser.parse(&mut state, bytes, true);
    assert_eq!(used, bytes.len(), "a complete file is consumed entirely");
    lines
}

/// Joins `lines` with `ending`, parses the result and checks every line's
/// number, message, level and source.
fn check_file(lines: &[(&str, Level, Source)], ending: &str) -> Vec<ParsedLine> {
    let text: String = lines
        .iter()
        .map(|(l, _, _)| format!("{l}{ending}"))
        .collect();
    let parsed = parse_all(&parser(), text.as_bytes());
    assert_eq!(parsed.len(), lines.len());
    for (i, ((text, level, source), got)) in lines.iter().zip(&parsed).enumerate() {
        assert_eq!(got.line, i as u64 + 1);
        assert_eq!(got.message, *text);
        assert_eq!(
            (got.level, got.source),
            (*level, *source),
            "line {}: {text:?}",
            i + 1
        );
    }
    parsed
}

const LINUX_RUN: &[(&str, Level, Source)] = &[
    ("", Info, Worker),
    ("Posting preparation - Loaded variables, created log file and checking for CCExtractor build artifact to the server:", Info, Worker),
    ("Attempt 1/3 failed (curl exit: 7, HTTP: 000)", Warning, Worker),
    ("Retrying in 5 seconds...", Warning, Worker),
    ("curl: (7) Failed to connect to sampleplatform.ccextractor.org port 443", Info, Worker),
    ("Status posted successfully (HTTP 200)", Info, Orchestrator),
    ("OK", Info, Orchestrator),
    ("Uploading binary artifact (/repository/vm_data/unsafe-ccextractor/ccextractor)", Info, Worker),
    ("=== CCExtractor Binary Version ===", Info, Build),
    ("CCExtractor 0.96.5, Carlos Fernandez Sanz, Volker Quetschke.", Info, Build),
    ("Teletext portions taken from Petr Kutalek's telxcc", Info, Build),
    ("--------------------------------------------------------------------------", Info, Build),
    ("Version: 0.96.5", Info, Build),
    ("Git commit: 4f2a9c1e", Info, Build),
    ("Libraries used by CCExtractor", Info, Build),
    ("  Tesseract Version: 5.3.0", Info, Build),
    ("", Info, Build),
    ("=== End Version Info ===", Info, Build),
    ("Posting testing - Running tests to the server:", Info, Worker),
    ("Status posted successfully (HTTP 200)", Info, Orchestrator),
    ("OK", Info, Orchestrator),
    ("[INFO] Test suite version: 1.0.3.0", Info, TestRunner),
    ("[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)", Warning, TestRunner),
    ("[INFO] Overriding timeout with: 600", Info, TestRunner),
    ("[INFO] Multitest, overriding report folder to: /repository/reports/Testsuite_Report_2025-03-09_235502", Info, TestRunner),
    ("[INFO] Starting with entry 1 of 86", Info, TestRunner),
    ("[ERROR] /repository/ccextractor: error while loading shared libraries: libtesseract.so.5: cannot open shared object file: No such file or directory", Error, TestRunner),
    ("[ERROR] Path is empty", Error, TestRunner),
    // Unmarked lines while the test runner runs are its own; "error" inside
    // them does not make them errors.
    ("Unhandled exception: the remote server returned an error: (500) INTERNAL SERVER ERROR.", Info, TestRunner),
    ("   at System.Net.HttpWebRequest.GetResponse()", Info, TestRunner),
    ("", Info, TestRunner),
    ("[ERROR] The remote server returned an error: (500) INTERNAL SERVER ERROR.", Error, TestRunner),
    ("[WARN] Aborting CCExtractor, maximum time elapsed.", Warning, TestRunner),
    ("[INFO] Finished entry 1 with exit code: 0", Info, TestRunner),
    ("[INFO] Runtime: 00:04:12.3456789", Info, TestRunner),
    ("Posting completed - Ran all tests to the server:", Info, Worker),
    ("Attempt 3/3 failed (curl exit: 22, HTTP: 500)", Warning, Worker),
    ("ERROR: Failed to post status after 3 attempts", Error, Worker),
    ("Artifact coredump: no file at '', skipping", Info, Worker),
    ("Uploading combined_stdout artifact (/repository/reports/combined_stdout.txt)", Info, Worker),
    ("Artifact combined_stdout: upload failed (curl exit 22)", Warning, Worker),
    ("Uploading test_report artifact (/repository/reports/report.html)", Info, Worker),
    ("OKUploading combined_stdout artifact (/repository/reports/combined_stdout.txt)", Info, Worker),
    ("Sending log to the server:", Info, Worker),
];

#[test]
fn linux_run_log_every_example_line() {
    check_file(LINUX_RUN, "\n");
}

const WINDOWS_RUN: &[(&str, Level, Source)] = &[
    ("Posting status preparation - Copy testsuite to local folder (attempt 1/3)", Info, Worker),
    ("Status posted successfully (HTTP 200)", Info, Orchestrator),
    ("OK", Info, Orchestrator),
    ("cd .", Info, Worker),
    ("call ./rustx86.bat", Info, Worker),
    ("\"C:\\Program Files (x86)\\MSBuild\\14.0\\Bin\\MSBuild\" ccextractor.sln /p:Configuration=Release-Full /p:Platform=Win32", Info, Worker),
    ("C:\\ccx\\src\\lib_ccx\\utility.c(12,5): warning C4996: 'strcpy': This function or variable may be unsafe.", Warning, Build),
    ("LINK : fatal error LNK1181: cannot open input file 'tesseract.lib'", Error, Build),
    ("Posting status testing - Running tests (attempt 1/3)", Info, Worker),
    ("OK", Info, Orchestrator),
    ("cd .", Info, Worker),
    ("\"C:\\TestSuite\\CCExtractorTester.exe\" --entries \"C:\\TestFiles\\TestAll.xml\" --timeout 3000", Info, Worker),
    ("[INFO] Test suite version: 1.0.3.0", Info, TestRunner),
    ("[WARN] Provided no config or an invalid one; reverting to default config (CCExtractorTester.exe.config)", Warning, TestRunner),
    ("[ERROR] Path is empty", Error, TestRunner),
    ("Command exited with 1", Error, Worker),
    ("Sending log to server (attempt 1/3)", Info, Worker),
];

#[test]
fn windows_run_log_every_example_line_with_crlf() {
    let parsed = check_file(WINDOWS_RUN, "\r\n");
    assert!(parsed.iter().all(|l| !l.message.contains('\r')));
}

#[test]
fn command_exited_with_zero_is_info() {
    let p = parser();
    let mut state = ParseState::default();
    assert_eq!(
        p.classify(&mut state, "Command exited with 0"),
        (Info, Worker)
    );
    assert_eq!(
        p.classify(&mut state, "Command exited with 255"),
        (Error, Worker)
    );
}

const OTHER_WRITERS: &[(&str, Level, Source)] = &[
    ("INFO worker: Starting", Info, Worker),
    ("ERROR build: Failed", Error, Build),
    ("WARNING web: slow response", Warning, Web),
    ("CRITICAL orchestrator: queue lost", Critical, Orchestrator),
    ("DEBUG test_runner: entry 3", Debug, TestRunner),
    ("WARN worker: disk almost full", Warning, Worker),
    ("FATAL web: out of memory", Critical, Web),
    ("error build: lower case level word", Error, Build),
    ("warn: no source word", Warning, Worker),
    ("INFO scheduler: not one of the five sources", Info, Worker),
    ("ERROR something went wrong", Error, Worker),
    ("2025-03-09T23:55:02Z INFO worker: Starting", Info, Worker),
    (
        "2025-03-09T23:55:02.123+01:00 ERROR build: Failed",
        Error,
        Build,
    ),
    ("2025-03-09 23:55:02 WARNING web: slow", Warning, Web),
    (
        "[2025-03-09 23:55:02] CRITICAL orchestrator: down",
        Critical,
        Orchestrator,
    ),
    (
        "2025-03-09T23:55:02.123456Z  INFO runlogd::ingest: indexed run 9400",
        Info,
        Worker,
    ),
    (
        "src/lib_ccx/ccx_decoders_608.c:12:5: warning: unused variable 'x' [-Wunused-variable]",
        Warning,
        Build,
    ),
    (
        "src/lib_ccx/ccx_decoders_608.c:12:5: error: expected ';' before '}' token",
        Error,
        Build,
    ),
    (
        "file.c:3:10: fatal error: stdio.h: No such file or directory",
        Error,
        Build,
    ),
    ("file.c:40: note: declared here", Info, Build),
    ("CMake Error at CMakeLists.txt:10 (message):", Error, Build),
    (
        "CMake Warning (dev) at CMakeLists.txt:5 (project):",
        Warning,
        Build,
    ),
    ("make: *** [Makefile:12] Error 1", Error, Build),
    (
        "make[2]: *** [src/CMakeFiles/ccx.dir/build.make:76: ccx] Error 1",
        Error,
        Build,
    ),
    ("collect2: error: ld returned 1 exit status", Error, Build),
    ("Segmentation fault (core dumped)", Critical, Worker),
    (
        "./runCI: line 42:  1234 Segmentation fault      (core dumped) ./ccextractor",
        Critical,
        Worker,
    ),
    (
        "/repository/ccextractor: error while loading shared libraries: libtesseract.so.5",
        Error,
        Worker,
    ),
];

#[test]
fn level_source_shapes_build_tools_and_crashes() {
    check_file(OTHER_WRITERS, "\n");
}

#[test]
fn level_words_only_count_at_the_start() {
    let lines: &[(&str, Level, Source)] = &[
        ("Checking for errors: ERROR none found", Info, Worker),
        ("The build found no error in file.c", Info, Worker),
        ("Compiling with -Werror, WARNING: none", Info, Worker),
        ("Error while reading the sample, retrying", Info, Worker),
        ("information: not a level word", Info, Worker),
        ("Errors: 0", Info, Worker),
        ("Aborted the upload by request", Info, Worker),
        ("Attempt to open the file", Info, Worker),
        ("[INFORMATION] not a bracketed level", Info, Worker),
        ("notes.c:12: error is not the gcc shape", Info, Worker),
    ];
    check_file(lines, "\n");
}

#[test]
fn ok_sticking_to_the_next_line_is_classified_by_what_follows() {
    let lines: &[(&str, Level, Source)] = &[
        (
            "OKUploading combined_stdout artifact (/repository/x)",
            Info,
            Worker,
        ),
        (
            "OKArtifact combined_stdout: upload failed (curl exit 22)",
            Warning,
            Worker,
        ),
        (
            "OKAttempt 2/3 failed (curl exit: 7, HTTP: 000)",
            Warning,
            Worker,
        ),
        ("OKOK", Info, Orchestrator),
        ("OK[INFO] Test suite version: 1.0.3.0", Info, TestRunner),
        ("OKAY, this is prose", Info, TestRunner),
        ("OK=== CCExtractor Binary Version ===", Info, Build),
        ("CCExtractor 0.96.5", Info, Build),
        ("=== End Version Info ===", Info, Build),
        ("OK \t", Info, Orchestrator),
    ];
    check_file(lines, "\n");
}

#[test]
fn sections_start_and_end_where_the_writers_change() {
    let lines: &[(&str, Level, Source)] = &[
        ("plain runner output", Info, Worker),
        ("[DEBUG] test runner starts", Debug, TestRunner),
        ("unmarked test runner output", Info, TestRunner),
        ("[WARNING] tolerated spelling", Warning, TestRunner),
        ("[CRITICAL] tolerated", Critical, TestRunner),
        ("[FATAL] tolerated", Critical, TestRunner),
        ("[warn] any case", Warning, TestRunner),
        ("Sending log to the server:", Info, Worker),
        ("plain runner output again", Info, Worker),
        ("=== CCExtractor Binary Version ===", Info, Build),
        ("Segmentation fault", Critical, Build),
        // A version block whose end marker never came ends with the test runner.
        ("[INFO] Test suite version: 1.0.3.0", Info, TestRunner),
        ("still the test runner", Info, TestRunner),
        ("=== CCExtractor Binary Version ===", Info, Build),
        // ... or with the runner script.
        (
            "Posting testing - Running tests to the server:",
            Info,
            Worker,
        ),
        ("after the block", Info, Worker),
    ];
    check_file(lines, "\n");
}

#[test]
fn section_codes_are_stable() {
    assert_eq!(Section::default(), Section::Runner);
    assert_eq!(Section::Runner.as_u8(), 0);
    for s in [Section::Runner, Section::VersionBlock, Section::TestRunner] {
        assert_eq!(Section::from_u8(s.as_u8()), Some(s));
    }
    assert_eq!(Section::from_u8(3), None);
    assert_eq!(
        ParseState::default(),
        ParseState {
            next_line: 1,
            section: Section::Runner
        }
    );
}

#[test]
fn level_and_source_names_and_codes() {
    for (i, l) in Level::ALL.into_iter().enumerate() {
        assert_eq!(l.as_u64(), i as u64);
        assert_eq!(Level::from_u64(i as u64), Some(l));
        assert_eq!(l.as_str().parse::<Level>(), Ok(l));
    }
    for (i, s) in Source::ALL.into_iter().enumerate() {
        assert_eq!(s.as_u64(), i as u64);
        assert_eq!(Source::from_u64(i as u64), Some(s));
        assert_eq!(s.as_str().parse::<Source>(), Ok(s));
    }
    assert_eq!(
        Level::ALL.map(Level::as_str),
        ["debug", "info", "warning", "error", "critical"]
    );
    assert_eq!(
        Source::ALL.map(Source::as_str),
        ["orchestrator", "worker", "build", "test_runner", "web"]
    );
    assert!(Level::Debug < Level::Info && Level::Error < Level::Critical);
    assert_eq!(Level::from_u64(5), None);
    assert_eq!(Source::from_u64(5), None);
    assert_eq!("ERROR".parse::<Level>(), Err(UnknownValue("ERROR".into())));
    assert!("warn".parse::<Level>().is_err());
    assert!("test-runner".parse::<Source>().is_err());
    assert_eq!(UnknownValue("x".into()).to_string(), "unknown value \"x\"");
}

#[test]
fn windows_1252_bytes_are_decoded() {
    assert_eq!(decode_line(b"\x80 5 caf\xe9"), "€ 5 café");
    // Valid UTF-8 stays UTF-8 (and borrowed).
    assert!(matches!(
        decode_line("café €".as_bytes()),
        std::borrow::Cow::Borrowed("café €")
    ));
    let bytes = b"[INFO] Fichier trait\xe9\r\n[ERROR] co\xfbt \x80\r\nd\xe9j\xe0 vu";
    let lines = parse_all(&parser(), bytes);
    let got: Vec<_> = lines
        .iter()
        .map(|l| (l.message.as_str(), l.level))
        .collect();
    assert_eq!(
        got,
        [
            ("[INFO] Fichier traité", Info),
            ("[ERROR] coût €", Error),
            ("déjà vu", Info)
        ]
    );
}

#[test]
fn views_borrow_utf8_lines_and_own_decoded_ones() {
    use std::borrow::Cow;
    let p = parser();
    let bytes = "[INFO] café\r\nplain\n[ERROR] co\u{fb}t"
        .as_bytes()
        .to_vec();
    let mut latin = b"d\xe9j\xe0 vu\n".to_vec();
    latin.extend_from_slice(&bytes);
    let (views, used) = p.parse_views(&mut ParseState::default(), &latin, true, Encoding::Utf8);
    assert_eq!(used, latin.len());
    let got: Vec<(bool, &str)> = views
        .iter()
        .map(|v| (matches!(v.message, Cow::Borrowed(_)), v.message.as_ref()))
        .collect();
    assert_eq!(
        got,
        [
            (false, "déjà vu"),
            (true, "[INFO] café"),
            (true, "plain"),
            (true, "[ERROR] coût")
        ]
    );
    // The owned lines are the same lines.
    let owned = parse_all(&p, &latin);
    let from_views: Vec<ParsedLine> = views.into_iter().map(LineView::into_owned).collect();
    assert_eq!(from_views, owned);
}

#[test]
fn crlf_is_stripped_but_a_lone_cr_is_kept() {
    let lines = parse_all(&parser(), b"a\rb\r\nc\r\r\nd\r");
    let msgs: Vec<_> = lines.iter().map(|l| l.message.as_str()).collect();
    assert_eq!(msgs, ["a\rb", "c\r", "d"]);
}

#[test]
fn final_line_without_newline_waits_for_eof() {
    let p = parser();
    let bytes = b"Posting x\r\n[INFO] partial line";
    let mut state = ParseState::default();
    let (lines, used) = p.parse(&mut state, bytes, false);
    assert_eq!(lines.len(), 1);
    assert_eq!(used, b"Posting x\r\n".len());
    assert_eq!(state.next_line, 2);

    let mut state = ParseState::default();
    let (lines, used) = p.parse(&mut state, bytes, true);
    assert_eq!(used, bytes.len());
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].message, "[INFO] partial line");
    assert_eq!((lines[1].line, lines[1].level), (2, Info));
    assert_eq!(lines[1].source, TestRunner);
    assert_eq!(state.next_line, 3);
    assert_eq!(state.section, Section::TestRunner);

    // A final "\r" without "\n" is a line ending too.
    let (lines, _) = p.parse(&mut ParseState::default(), b"x\ny\r", true);
    assert_eq!(lines[1].message, "y");
}

#[test]
fn empty_input_gives_no_lines() {
    let p = parser();
    for eof in [false, true] {
        let mut state = ParseState::default();
        assert_eq!(p.parse(&mut state, b"", eof), (vec![], 0));
        assert_eq!(state, ParseState::default());
    }
    // A file ending in "\n" has no extra empty line at the end.
    assert_eq!(parse_all(&p, b"a\n").len(), 1);
}

#[test]
fn empty_lines_are_lines() {
    let lines = parse_all(&parser(), b"\n\na\n\r\n\nb");
    let got: Vec<_> = lines.iter().map(|l| (l.line, l.message.as_str())).collect();
    assert_eq!(
        got,
        [(1, ""), (2, ""), (3, "a"), (4, ""), (5, ""), (6, "b")]
    );
    assert!(lines
        .iter()
        .all(|l| l.level == Info && l.timestamp.is_none()));
}

#[test]
fn binary_junk_does_not_panic_and_lines_are_counted() {
    let mut junk = Vec::new();
    for i in 0..4096u32 {
        junk.push((i.wrapping_mul(2_654_435_761) >> 13) as u8);
    }
    junk.extend_from_slice(b"\0\0\n\xff\xfe\xc3\n\0[ERR\0R]\n2025-13-45T99:99:99Z\n\xc3(");
    let newlines = junk.iter().filter(|&&b| b == b'\n').count();
    let lines = parse_all(&parser(), &junk);
    // Every "\n" ends a line and the tail after the last one is a line too.
    assert_eq!(lines.len(), newlines + 1);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l.line, i as u64 + 1);
        assert!(!l.message.contains('\n'));
    }
    let tail: Vec<_> = lines[lines.len() - 4..]
        .iter()
        .map(|l| (l.message.as_str(), l.timestamp.as_deref()))
        .collect();
    assert_eq!(
        tail,
        [
            ("ÿþÃ", None),
            ("\0[ERR\0R]", None),
            ("2025-13-45T99:99:99Z", None),
            ("Ã(", None)
        ]
    );
    assert!(lines[lines.len() - 5].message.ends_with("\0\0"));
}

#[test]
fn pseudo_random_bytes_never_panic_and_chunks_agree() {
    const ALPHABET: &[u8] = b"\n\r\0\x80\xe9\xc3\xff[]:-. 0123456789TZOKINFOERRORWARN/*make";
    let p = parser();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for _ in 0..200 {
        let len = (next() % 300) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
            .collect();
        let whole = parse_all(&p, &bytes);
        let split = (next() as usize) % (len + 1);
        assert_eq!(parse_in_two(&p, &bytes, split), whole);
    }
}

#[test]
fn a_one_megabyte_line_is_cut_to_the_indexed_length_and_still_classified() {
    let mut bytes = b"[ERROR] ".to_vec();
    bytes.extend(std::iter::repeat_n(b'x', 1 << 20));
    bytes.extend_from_slice(b": error: \n");
    bytes.extend(std::iter::repeat_n(b':', 1 << 20));
    bytes.push(b'\n');
    let lines = parse_all(&parser(), &bytes);
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].message.len(), crate::parse::MAX_LINE_BYTES);
    assert!(lines[0].message.starts_with("[ERROR] xxx"));
    assert_eq!(lines[0].level, Error);
    assert_eq!(lines[1].message.len(), crate::parse::MAX_LINE_BYTES);
    assert_eq!((lines[1].level, lines[1].source), (Info, TestRunner));
}

/// Parses `bytes[..split]` without eof, then resumes where that stopped.
fn parse_in_two(p: &Parser, bytes: &[u8], split: usize) -> Vec<ParsedLine> {
    let mut state = ParseState::default();
    let (mut lines, used) = p.parse(&mut state, &bytes[..split], false);
    assert!(used <= split);
    // The resumed call must start exactly at a line start.
    assert!(used == 0 || bytes[used - 1] == b'\n');
    let (rest, used2) = p.parse(&mut state, &bytes[used..], true);
    assert_eq!(used + used2, bytes.len());
    lines.extend(rest);
    lines
}

#[test]
fn chunked_parsing_gives_the_same_lines() {
    let p = parser();
    let mut file = String::new();
    for (text, _, _) in LINUX_RUN.iter().chain(OTHER_WRITERS).chain(WINDOWS_RUN) {
        file.push_str(text);
        file.push_str(if text.len() % 2 == 0 { "\n" } else { "\r\n" });
    }
    file.push_str("[INFO] unterminated");
    let bytes = file.as_bytes();
    let whole = parse_all(&p, bytes);
    assert_eq!(
        whole.len(),
        LINUX_RUN.len() + OTHER_WRITERS.len() + WINDOWS_RUN.len() + 1
    );
    // Every split point, including inside a "\r\n" and inside the version block.
    for split in 0..=bytes.len() {
        assert_eq!(parse_in_two(&p, bytes, split), whole, "split at {split}");
    }
    // And line by line, as a tailing indexer would see a growing file.
    let mut state = ParseState::default();
    let (mut pos, mut lines) = (0, Vec::new());
    for end in 1..=bytes.len() {
        let (got, used) = p.parse(&mut state, &bytes[pos..end], end == bytes.len());
        lines.extend(got);
        pos += used;
    }
    assert_eq!(lines, whole);
}

#[test]
fn chunked_parsing_carries_the_section_in_the_state() {
    let p = parser();
    let mut state = ParseState::default();
    let (_, used) = p.parse(&mut state, b"[INFO] start\nunmarked", false);
    assert_eq!(used, 13);
    assert_eq!(
        state,
        ParseState {
            next_line: 2,
            section: Section::TestRunner
        }
    );
    // A state restored from storage (as_u8/from_u8) continues the same way.
    let mut restored = ParseState {
        next_line: state.next_line,
        section: Section::from_u8(state.section.as_u8()).unwrap_or_default(),
    };
    let (lines, _) = p.parse(&mut restored, b"unmarked\n", true);
    assert_eq!((lines[0].line, lines[0].source), (2, TestRunner));
}

#[test]
fn timestamps_are_recognised_and_normalised() {
    let p = parser();
    let cases: &[(&str, Option<&str>)] = &[
        (
            "2025-03-09T23:55:02Z INFO worker: Starting",
            Some("2025-03-09T23:55:02Z"),
        ),
        (
            "2025-03-09T23:55:02.123+01:00 x",
            Some("2025-03-09T23:55:02.123+01:00"),
        ),
        ("2025-03-09 23:55:02 x", Some("2025-03-09T23:55:02Z")),
        ("[2025-03-09 23:55:02] x", Some("2025-03-09T23:55:02Z")),
        ("[2025-03-09 23:55:02]x", Some("2025-03-09T23:55:02Z")),
        ("2025-03-09 23:55:02,5 x", Some("2025-03-09T23:55:02.5Z")),
        (
            "2025-03-09t23:55:02-0530 x",
            Some("2025-03-09T23:55:02-05:30"),
        ),
        (
            "2025-03-09T23:55:02.1234567891Z",
            Some("2025-03-09T23:55:02.123456789Z"),
        ),
        ("2025-03-09T23:55:02+00:00", Some("2025-03-09T23:55:02Z")),
        ("2025-03-09T23:55:02Z", Some("2025-03-09T23:55:02Z")),
        // A line that only starts with a timestamp still gets it.
        (
            "2025-03-09 23:55:02 plain text",
            Some("2025-03-09T23:55:02Z"),
        ),
        // Not timestamps.
        ("2025-02-30 23:55:02 impossible date", None),
        ("2025-03-09 24:00:00 impossible time", None),
        ("2025-03-09T23:55:02Zx glued", None),
        ("2025-03-09 23:55 no seconds", None),
        ("[2025-03-09 23:55:02 unclosed", None),
        ("2025-03-09T23:55:02+25:00 bad offset", None),
        ("Runtime 2025-03-09 23:55:02 not at the start", None),
        ("[INFO] 2025-03-09 23:55:02 after a level", None),
        ("2025", None),
    ];
    for (text, want) in cases {
        let lines = parse_all(&p, text.as_bytes());
        assert_eq!(lines[0].timestamp.as_deref(), *want, "{text:?}");
        assert_eq!(lines[0].message, *text, "the message keeps the timestamp");
    }
    // The level after a timestamp counts; the runner rules still apply after one.
    let lines = parse_all(
        &p,
        b"[2025-03-09 23:55:02] [ERROR] x\n2025-03-09T23:55:02Z Posting y\n",
    );
    assert_eq!((lines[0].level, lines[0].source), (Error, TestRunner));
    assert_eq!((lines[1].level, lines[1].source), (Info, Worker));
}

#[test]
fn classify_agrees_with_parse() {
    let p = parser();
    let mut state = ParseState::default();
    for (text, level, source) in LINUX_RUN.iter().chain(OTHER_WRITERS) {
        assert_eq!(p.classify(&mut state, text), (*level, *source), "{text:?}");
    }
    // classify does not number lines.
    assert_eq!(state.next_line, 1);
}

fn rule(pattern: &str, level: Option<Level>, source: Option<Source>) -> RuleConfig {
    RuleConfig {
        pattern: pattern.into(),
        level,
        source,
    }
}

#[test]
fn operator_rules_come_first_field_by_field() {
    let p = Parser::new(&[
        rule(r"^\[SKIP\]", Some(Warning), None),
        rule("flaky", None, Some(Web)),
        rule("flaky", Some(Debug), Some(Orchestrator)),
        rule("^Posting", None, Some(Orchestrator)),
        rule("Path is empty", Some(Critical), None),
        rule(r"^2025-\S+ x", Some(Error), None),
    ])
    .expect("valid rules");
    let lines = parse_all(
        &p,
        b"[SKIP] sample 3\n\
          [ERROR] flaky sample\n\
          flaky\n\
          Posting testing - Running tests to the server:\n\
          after posting\n\
          [ERROR] Path is empty\n\
          [INFO] untouched\n\
          2025-03-09T23:55:02Z x sees the whole line\n",
    );
    let got: Vec<_> = lines.iter().map(|l| (l.level, l.source)).collect();
    assert_eq!(
        got,
        [
            (Warning, Worker), // level from the rule, source built in
            (Debug, Web),      // source from the first rule setting it, level from the next
            (Debug, Web),
            (Info, Orchestrator), // source overridden...
            (Info, Worker),       // ...but the built-in section change still happened
            (Critical, TestRunner),
            (Info, TestRunner),
            (Error, TestRunner),
        ]
    );
}

#[test]
fn operator_rules_do_not_change_sections() {
    let p = Parser::new(&[rule(r"^\[INFO\]", None, Some(Web))]).expect("valid rule");
    let lines = parse_all(&p, b"[INFO] start\nunmarked\n");
    assert_eq!(lines[0].source, Web);
    assert_eq!(lines[1].source, TestRunner);
}

#[test]
fn bad_and_empty_rules_are_refused_with_their_index() {
    let ok = rule("x", Some(Info), None);
    match Parser::new(&[ok.clone(), rule("(unclosed", Some(Info), None)]) {
        Err(e @ RulesError::BadPattern { index: 1, .. }) => {
            assert!(e
                .to_string()
                .starts_with("parser rule 1 has an invalid pattern: "));
            assert!(std::error::Error::source(&e).is_some());
        }
        other => panic!("expected BadPattern at 1, got {other:?}"),
    }
    match Parser::new(&[ok.clone(), ok, rule("x", None, None)]) {
        Err(e @ RulesError::EmptyRule { index: 2 }) => {
            assert_eq!(e.to_string(), "parser rule 2 sets neither level nor source");
        }
        other => panic!("expected EmptyRule at 2, got {other:?}"),
    }
    assert!(Parser::new(&[]).is_ok());
}

#[test]
fn the_documented_operator_rule_example_works() {
    // The TOML example of docs-parser-rules.md, as the config loader builds it.
    let p = Parser::new(&[
        rule(
            r"^Traceback \(most recent call last\)",
            Some(Error),
            Some(Web),
        ),
        rule(r"^\[WARN\] Provided no config", Some(Debug), None),
        rule("^gsutil: ", None, Some(Orchestrator)),
    ])
    .expect("the documented rules compile");
    let lines = parse_all(
        &p,
        b"Traceback (most recent call last):\n\
          [WARN] Provided no config or an invalid one\n\
          [WARN] Aborting CCExtractor, maximum time elapsed.\n\
          gsutil: copied 1 file\n",
    );
    let got: Vec<_> = lines.iter().map(|l| (l.level, l.source)).collect();
    assert_eq!(
        got,
        [
            (Error, Web),
            (Debug, TestRunner),
            (Warning, TestRunner),
            (Info, Orchestrator)
        ]
    );
}
