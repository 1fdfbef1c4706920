use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::grouping::{MAX_MERGE_TOKENS, MIN_CONSTANTS, MIN_VALUES};
use super::mask::{template_id, STAR};
use super::*;

fn template(message: &str) -> String {
    shape_of(message).template
}

/// Asserts both messages have `expected` as their template and one id.
fn same(a: &str, b: &str, expected: &str) {
    assert_eq!(template(a), expected, "{a}");
    assert_eq!(template(b), expected, "{b}");
    assert_eq!(signature_of(a), signature_of(b), "{a} / {b}");
    assert_eq!(signature_of(a), shape_of(a).id);
}

fn different(a: &str, b: &str) {
    assert_ne!(signature_of(a), signature_of(b), "{a} / {b}");
    assert_ne!(template(a), template(b));
}

#[test]
fn pes_packet_sizes_are_one_signature() {
    same(
        "[ERROR] Warning: Ignoring a broken PES packet (size 184)",
        "[ERROR] Warning: Ignoring a broken PES packet (size 7)",
        "[ERROR] Warning: Ignoring a broken PES packet (size <*>)",
    );
}

#[test]
fn missing_library_masks_the_path_and_the_version() {
    let line = "[ERROR] /repository/ccextractor: error while loading shared libraries: \
                libtesseract.so.5: cannot open shared object file: No such file or directory";
    assert_eq!(
        template(line),
        "[ERROR] <*> error while loading shared libraries: libtesseract.so.<*>: \
         cannot open shared object file: No such file or directory"
    );
    different(
        line,
        "[ERROR] Warning: Ignoring a broken PES packet (size 184)",
    );
}

#[test]
fn retries_exit_codes_and_runtimes() {
    same(
        "Attempt 1/3 failed (curl exit: 7, HTTP: 000)",
        "Attempt 2/3 failed (curl exit: 22, HTTP: 500)",
        "Attempt <*> failed (curl exit: <*>, HTTP: <*>)",
    );
    same(
        "[INFO] Finished entry 1 with exit code: 0",
        "[INFO] Finished entry 86 with exit code: 10",
        "[INFO] Finished entry <*> with exit code: <*>",
    );
    same(
        "[INFO] Runtime: 00:04:12.3456789",
        "[INFO] Runtime: 01:00:00.0000001",
        "[INFO] Runtime: <*>",
    );
    same(
        "Status posted successfully (HTTP 200)",
        "Status posted successfully (HTTP 502)",
        "Status posted successfully (HTTP <*>)",
    );
}

#[test]
fn paths_and_sample_file_names() {
    same(
        "Uploading binary artifact (/repository/vm_data/unsafe-ccextractor/ccextractor)",
        "Uploading binary artifact (/tmp/build/ccextractor)",
        "Uploading binary artifact (<*>)",
    );
    same(
        "Found CCExtractor build artifact at /repository/vm_data/unsafe-ccextractor/ccextractor",
        "Found CCExtractor build artifact at ./ccextractor",
        "Found CCExtractor build artifact at <*>",
    );
    same(
        "Running test /repository/TestFiles/\
         5d2f8c0a1b3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9.ts",
        "Running test TestFiles/broadcast/8e1f.ts",
        "Running test <*>",
    );
    same(
        "Fetching https://github.com/CCExtractor/ccextractor/archive/v0.96.5.tar.gz",
        "Fetching C:\\Users\\ci\\sample.ts",
        "Fetching <*>",
    );
}

#[test]
fn compiler_and_make_positions() {
    same(
        "file.c:12:5: warning: unused variable 'x'",
        "file.c:40:1: warning: unused variable 'x'",
        "file.c:<*>: warning: unused variable 'x'",
    );
    same(
        "make: *** [Makefile:12] Error 1",
        "make: *** [Makefile:30] Error 2",
        "make: *** [Makefile:<*>] Error <*>",
    );
}

#[test]
fn hex_dumps_are_one_value() {
    // Bundled run 9405's packet dumps.
    same(
        "[ERROR] Dump of bad packet: 00 25 4a 6f 94 b9 de 03 28 4d 72 97 bc e1",
        "[ERROR] Dump of bad packet: 47 1F FF 10 ab cd",
        "[ERROR] Dump of bad packet: <*>",
    );
    // Fewer than four in a row may be words.
    assert_eq!(template("we be ad fa ok"), "we be ad fa ok");
    assert_eq!(template("bytes be ad fa de end"), "bytes <*> end");
}

#[test]
fn fixed_words_keep_signatures_apart() {
    different("[ERROR] Path is empty", "[ERROR] Path is missing");
    different(
        "[WARN] Aborting CCExtractor, maximum time elapsed.",
        "[ERROR] Aborting CCExtractor, maximum time elapsed.",
    );
    different(
        "file.c:12:5: warning: unused variable 'x'",
        "file.c:12:5: warning: unused variable 'y'",
    );
    // A word with a digit that is neither a number nor a hex id stays.
    assert_eq!(
        template("Build libfoo2 and abc123 with deadbeef1 and -42 and +x7"),
        "Build libfoo2 and <*> with <*> and <*> and +x7"
    );
}

#[test]
fn addresses_ids_values_and_dates_are_masked() {
    same(
        "segfault at 0x7ffd5a3c ip 00007f3a2b1c4d5e sp 00007ffd5a3c1e80 error 4",
        "segfault at 0xdeadbeef ip 0000aaaa sp 1 error 6",
        "segfault at <*> ip <*> sp <*> error <*>",
    );
    same(
        "Connecting to 10.0.0.1:8080 failed",
        "Connecting to 192.168.122.17:22 failed",
        "Connecting to <*> failed",
    );
    same(
        "job 550e8400-e29b-41d4-a716-446655440000 done",
        "job 6F9619FF-8B86-D011-B42D-00C04FC964FF done",
        "job <*> done",
    );
    same(
        "deploy env=production retries=3 user=alice",
        "deploy env=staging retries=10 user=bob",
        "deploy env=<*> retries=<*> user=<*>",
    );
    // A run of variable tokens is one `<*>`.
    same(
        "Run started Mon Mar 9 23:55:02 2025",
        "Run started Sun Dec 28 01:02:03 2024",
        "Run started <*>",
    );
    same(
        "Git commit: 7a3c1f0e5b2d8c46a9e1b07d3f2c5a8e9d10b4c2",
        "Git commit: 0000000000000000000000000000000000000000",
        "Git commit: <*>",
    );
}

#[test]
fn whitespace_is_one_separator() {
    assert_eq!(template("  a \t b\u{a0}c\r\n"), "a b c");
    assert_eq!(template(""), "");
    assert_eq!(template(" \t "), "");
    assert_eq!(signature_of(""), shape_of("   ").id);
}

#[test]
fn ids_are_pinned() {
    // The word hash of the template's bytes, then the splitmix64
    // finalizer (computed independently of this code). These values are
    // stored: changing them changes every id.
    assert_eq!(
        signature_of("[ERROR] Warning: Ignoring a broken PES packet (size 184)"),
        SignatureId(0x66e6_73d6_9713_b536)
    );
    assert_eq!(
        signature_of("Attempt 1/3 failed (curl exit: 7, HTTP: 000)"),
        SignatureId(0xa04a_3439_d30c_698d)
    );
    assert_eq!(signature_of(""), SignatureId(0x357c_d75d_bee3_0124));
    assert_eq!(signature_of("42"), SignatureId(0x84a5_245b_3009_546e));
    assert_eq!(template_id(STAR), SignatureId(0x84a5_245b_3009_546e));
    assert_eq!(
        signature_of("[ERROR] Warning: Ignoring a broken PES packet (size 184)").to_string(),
        "66e673d69713b536"
    );
}

#[test]
fn display_and_parse_round_trip() {
    for v in [0, 1, 0x5686_a8dd_8504_38b2, u64::MAX, 1 << 63] {
        let id = SignatureId(v);
        let text = id.to_string();
        assert_eq!(text.len(), 16);
        assert_eq!(text.parse::<SignatureId>().unwrap(), id);
        assert_eq!(SignatureId::from_i64(id.as_i64()), id);
    }
    assert_eq!(SignatureId(1).to_string(), "0000000000000001");
    assert_eq!(SignatureId(u64::MAX).as_i64(), -1);
    assert_eq!(SignatureId::from_i64(i64::MIN), SignatureId(1 << 63));
    for bad in [
        "ABC",
        "",
        "5686a8dd850438b",
        "5686a8dd850438b2a",
        "5686A8DD850438B2",
        "5686a8dd850438bg",
        "+686a8dd850438b2",
        " 686a8dd850438b2",
        "0x86a8dd850438b2",
        "５686a8dd850438b",
    ] {
        assert!(bad.parse::<SignatureId>().is_err(), "{bad:?}");
    }
    assert_eq!(
        MalformedSignature.to_string(),
        "a signature is 16 lowercase hexadecimal digits"
    );
}

#[test]
fn long_lines_are_cut() {
    let start = Instant::now();
    let no_spaces = "abcdefgh".repeat(1 << 17);
    let shape = shape_of(&no_spaces);
    assert_eq!(shape.template, no_spaces[..MAX_SIGNATURE_BYTES]);
    assert_eq!(signature_of(&no_spaces), shape.id);

    let many_tokens = "tok 42 ".repeat(100_000);
    let shape = shape_of(&many_tokens);
    assert!(shape.template.starts_with("tok <*> tok <*>"));
    // A number becomes `<*>`: a template may be a little longer than the
    // bytes read, never more than three times.
    assert!(shape.template.len() <= MAX_SIGNATURE_BYTES * 8 / 7 + 3);
    assert_eq!(signature_of(&many_tokens), shape.id);

    // Cut on a char boundary: 341 three-byte chars fit in 1024 bytes.
    let wide = "€".repeat(400_000);
    assert_eq!(shape_of(&wide).template.len(), 1023);

    // The rest of a long line does not matter.
    let mut longer = no_spaces.clone();
    longer.push_str(" different");
    assert_eq!(signature_of(&longer), signature_of(&no_spaces));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
}

proptest! {
    #[test]
    fn signature_is_the_hash_of_the_template(message in "\\PC{0,80}|[ a-f0-9/=:.<*>-]{0,80}") {
        let shape = shape_of(&message);
        prop_assert_eq!(signature_of(&message), shape.id);
        prop_assert_eq!(template_id(&shape.template), shape.id);
        prop_assert!(!shape.template.starts_with(' ') && !shape.template.ends_with(' '));
        prop_assert!(!shape.template.contains("  "));
        let tokens: Vec<&str> = shape.template.split(' ').collect();
        prop_assert!(!tokens.windows(2).any(|w| w == [STAR, STAR]));
    }
}

// ---- Grouping ----

fn shape(template: &str) -> Shape {
    Shape {
        id: template_id(template),
        template: template.to_owned(),
    }
}

fn group(g: &Grouping, template: &str) -> SignatureId {
    g.group_of(template_id(template)).expect("added")
}

#[test]
fn three_names_make_a_variable() {
    let mut g = Grouping::new();
    let users = [
        "Invalid user alice from <*>",
        "Invalid user bob from <*>",
        "Invalid user carol from <*>",
    ];
    g.add(users.map(shape));
    let ids: Vec<SignatureId> = users.iter().map(|t| template_id(t)).collect();
    let min = *ids.iter().min().unwrap();
    for t in users {
        assert_eq!(group(&g, t), min);
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(g.members(min), sorted);
    assert_eq!(
        g.template(min).as_deref(),
        Some("Invalid user <*> from <*>")
    );
    assert_eq!(g.len(), 3);
    // A member that is not the group's id names no group.
    let other = *ids.iter().find(|&&id| id != min).unwrap();
    assert!(g.members(other).is_empty());
    assert_eq!(g.template(other), None);
    assert_eq!(g.template(SignatureId(1)), None);
    assert_eq!(g.group_of(SignatureId(1)), None);
}

#[test]
fn two_names_are_not_enough() {
    let mut g = Grouping::new();
    g.add(["[ERROR] Path is empty", "[ERROR] Path is missing"].map(shape));
    assert_ne!(
        group(&g, "[ERROR] Path is empty"),
        group(&g, "[ERROR] Path is missing")
    );
    assert_eq!(
        g.template(template_id("[ERROR] Path is empty")).as_deref(),
        Some("[ERROR] Path is empty")
    );
}

#[test]
fn upper_case_words_are_not_values() {
    let mut g = Grouping::new();
    let methods = [
        "Handled GET request for <*>",
        "Handled POST request for <*>",
        "Handled DELETE request for <*>",
    ];
    g.add(methods.map(shape));
    let groups: HashSet<_> = methods.iter().map(|t| group(&g, t)).collect();
    assert_eq!(groups.len(), 3);
    // One value that is not an upper-case word makes it a variable.
    g.add([shape("Handled retried request for <*>")]);
    let groups: HashSet<_> = methods.iter().map(|t| group(&g, t)).collect();
    assert_eq!(groups.len(), 1);
}

#[test]
fn single_tokens_and_few_constants_never_merge() {
    let mut g = Grouping::new();
    g.add(["alpha", "beta", "gamma", "delta"].map(shape));
    g.add(["x1 done", "x2 done", "x3 done"].map(shape));
    for t in [
        "alpha", "beta", "gamma", "delta", "x1 done", "x2 done", "x3 done",
    ] {
        assert_eq!(group(&g, t), template_id(t), "{t}");
    }
    assert_eq!(g.len(), 7);
    assert!(!g.is_empty());
    assert!(Grouping::new().is_empty());
}

#[test]
fn token_counts_never_mix() {
    let mut g = Grouping::new();
    g.add(
        [
            "open file a now",
            "open file b now",
            "open file c now please",
        ]
        .map(shape),
    );
    assert_ne!(group(&g, "open file a now"), group(&g, "open file b now"));
    g.add([shape("open file d now")]);
    assert_eq!(group(&g, "open file a now"), group(&g, "open file d now"));
    assert_ne!(
        group(&g, "open file a now"),
        group(&g, "open file c now please")
    );
}

#[test]
fn long_templates_stay_alone() {
    let long = |word: &str| {
        let mut t = vec!["word"; MAX_MERGE_TOKENS];
        t[3] = word;
        t.join(" ")
    };
    let longer = |word: &str| format!("{} more", long(word));
    let mut g = Grouping::new();
    g.add(["a", "b", "c"].map(|w| shape(&long(w))));
    g.add(["a", "b", "c"].map(|w| shape(&longer(w))));
    assert_eq!(group(&g, &long("a")), group(&g, &long("b")));
    let groups: HashSet<_> = ["a", "b", "c"]
        .iter()
        .map(|w| group(&g, &longer(w)))
        .collect();
    assert_eq!(groups.len(), 3);
}

#[test]
fn merged_groups_keep_an_old_id() {
    let mut g = Grouping::new();
    let (a, b, c) = (
        "Invalid user alice from <*>",
        "Invalid user bob from <*>",
        "Invalid user carol from <*>",
    );
    let (ia, ib, ic) = (template_id(a), template_id(b), template_id(c));
    let mut changes = g.add([shape(a), shape(b)]);
    changes.sort();
    let mut expected = vec![(ia, ia), (ib, ib)];
    expected.sort();
    assert_eq!(changes, expected);
    assert_eq!(g.add([shape(a)]), vec![]);

    let changes = g.add([shape(c)]);
    let group = ia.min(ib).min(ic);
    assert_eq!(g.group_of(ia), Some(group));
    assert_eq!(g.group_of(ib), Some(group));
    assert_eq!(g.group_of(ic), Some(group));
    // Exactly the ids whose group is new or changed.
    let mut expected: Vec<_> = [ia, ib, ic]
        .into_iter()
        .filter(|&id| id != group || id == ic)
        .map(|id| (id, group))
        .collect();
    expected.sort();
    assert_eq!(changes, expected);
}

#[test]
fn a_merged_template_takes_part_like_any_other() {
    // `a <*> c d` is made by the first three; with `a <*> x d` and
    // `a <*> y d` it fills the slot at position 2.
    let mut g = Grouping::new();
    let first = ["a p c d", "a q c d", "a r c d"];
    let others = ["a <*> x d", "a <*> y d"];
    g.add(first.map(shape));
    g.add(others.map(shape));
    let all: HashSet<_> = first.iter().chain(&others).map(|t| group(&g, t)).collect();
    assert_eq!(all.len(), 1);
    let id = *all.iter().next().unwrap();
    assert_eq!(g.template(id).as_deref(), Some("a <*> <*> d"));
    assert_eq!(g.members(id).len(), 5);
}

#[test]
fn an_id_given_twice_for_one_template_resolves() {
    let mut g = Grouping::new();
    let t = "Invalid user alice from <*>";
    g.add([shape(t)]);
    let alias = SignatureId(7);
    let changes = g.add([Shape {
        id: alias,
        template: t.to_owned(),
    }]);
    assert_eq!(changes, vec![(alias, alias), (template_id(t), alias)]);
    assert_eq!(g.group_of(template_id(t)), Some(alias));
    assert_eq!(g.members(alias), vec![alias, template_id(t)]);
    assert_eq!(g.len(), 2);
}

/// The closure computed the obvious way: every slot of every template,
/// again and again until nothing changes.
fn reference(templates: &[String]) -> HashMap<SignatureId, SignatureId> {
    fn find(parent: &mut HashMap<Vec<String>, Vec<String>>, t: &[String]) -> Vec<String> {
        let mut t = t.to_vec();
        while parent[&t] != t {
            t = parent[&t].clone();
        }
        t
    }
    let constant = |t: &str| t != STAR && t.replace(STAR, "").chars().any(char::is_alphabetic);
    let upper = |t: &str| {
        let letters: Vec<char> = t.chars().filter(char::is_ascii_alphabetic).collect();
        !letters.is_empty() && letters.iter().all(char::is_ascii_uppercase)
    };
    let mut all: BTreeSet<Vec<String>> = templates
        .iter()
        .map(|t| t.split(' ').map(str::to_owned).collect())
        .collect();
    let mut parent: HashMap<Vec<String>, Vec<String>> =
        all.iter().map(|t| (t.clone(), t.clone())).collect();
    loop {
        let mut changed = false;
        let mut slots: HashMap<(usize, Vec<String>), Vec<Vec<String>>> = HashMap::new();
        for t in all.iter().filter(|t| t.len() <= MAX_MERGE_TOKENS) {
            for k in (0..t.len()).filter(|&k| t[k] != STAR) {
                let mut key = t.clone();
                key[k] = STAR.to_owned();
                slots.entry((k, key)).or_default().push(t.clone());
            }
        }
        for ((k, key), members) in slots {
            if key.iter().filter(|t| constant(t)).count() < MIN_CONSTANTS
                || members.len() < MIN_VALUES
                || members.iter().all(|m| upper(&m[k]))
            {
                continue;
            }
            if all.insert(key.clone()) {
                parent.insert(key.clone(), key.clone());
                changed = true;
            }
            for m in members {
                let (a, b) = (find(&mut parent, &m), find(&mut parent, &key));
                if a != b {
                    parent.insert(a, b);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    let mut min: HashMap<Vec<String>, SignatureId> = HashMap::new();
    let bases: Vec<(SignatureId, Vec<String>)> = templates
        .iter()
        .map(|t| (template_id(t), t.split(' ').map(str::to_owned).collect()))
        .collect();
    for (id, t) in &bases {
        let root = find(&mut parent, t);
        let entry = min.entry(root).or_insert(*id);
        *entry = (*entry).min(*id);
    }
    bases
        .iter()
        .map(|(id, t)| (*id, min[&find(&mut parent, t)]))
        .collect()
}

/// Templates that are variations of a few stems (so that slots fill and
/// fire), over few tokens: upper-case words and tokens that are no
/// constants exercise the guards.
fn templates_strategy() -> impl Strategy<Value = Vec<String>> {
    let token = || prop::sample::select(vec!["a", "b", "c", "GET", "PUT", "<*>", "x<*>", "7"]);
    let stems = prop::collection::vec(prop::collection::vec(token(), 1..=5), 1..=4);
    let edits = prop::collection::vec(
        (
            any::<prop::sample::Index>(),
            prop::collection::vec((any::<prop::sample::Index>(), token()), 0..=2),
        ),
        0..100,
    );
    (stems, edits).prop_map(|(stems, edits)| {
        edits
            .into_iter()
            .map(|(stem, changes)| {
                let mut t = stem.get(&stems).clone();
                for (at, token) in changes {
                    let i = at.index(t.len());
                    t[i] = token;
                }
                t.join(" ")
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The groups depend only on the set of templates: not on the order,
    /// nor the batches, of `add` calls.
    #[test]
    fn groups_depend_only_on_the_set(
        (templates, order, cuts) in templates_strategy()
            .prop_flat_map(|t| {
                let n = t.len();
                (
                    Just(t),
                    Just((0..n).collect::<Vec<_>>()).prop_shuffle(),
                    prop::collection::vec(0..=n, 0..6),
                )
            })
    ) {
        let expected = reference(&templates);

        let mut whole = Grouping::new();
        whole.add(templates.iter().map(|t| shape(t)));

        let mut cuts = cuts;
        cuts.push(order.len());
        cuts.sort_unstable();
        let mut batched = Grouping::new();
        let mut reported = HashMap::new();
        let mut from = 0;
        for cut in cuts {
            let batch = order[from..cut.max(from)].iter().map(|&i| shape(&templates[i]));
            for (member, group) in batched.add(batch) {
                reported.insert(member, group);
            }
            from = cut.max(from);
        }

        for (id, group) in &expected {
            prop_assert_eq!(whole.group_of(*id), Some(*group));
            prop_assert_eq!(batched.group_of(*id), Some(*group));
            // What `add` reported adds up to the groups.
            prop_assert_eq!(reported.get(id), Some(group));
            prop_assert!(batched.members(*group).contains(id));
        }
        prop_assert_eq!(reported.len(), expected.len());
        prop_assert_eq!(batched.len(), expected.len());
        for group in expected.values() {
            prop_assert_eq!(whole.template(*group), batched.template(*group));
        }
    }
}
