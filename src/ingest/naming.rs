//! Which files in `LogFiles/` are run logs: `{run_id}.txt`, where the run id is
//! a positive integer the API can address (1..=2147483647), written without
//! sign or leading zeros so that exactly one file name maps to each run.

/// The largest run id the API accepts.
pub const MAX_RUN_ID: u64 = 2_147_483_647;

/// The run id a file name stands for, or `None` for any other file.
pub fn run_id_from_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".txt")?;
    if digits.is_empty()
        || digits.starts_with('0')
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || digits.len() > 10
    {
        return None;
    }
    let id: u64 = digits.parse().ok()?;
    (1..=MAX_RUN_ID).contains(&id).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_positive_ids_are_run_files() {
        assert_eq!(run_id_from_file_name("1.txt"), Some(1));
        assert_eq!(run_id_from_file_name("9401.txt"), Some(9401));
        assert_eq!(run_id_from_file_name("2147483647.txt"), Some(MAX_RUN_ID));
        for bad in [
            "0.txt",
            "007.txt",
            "-1.txt",
            "+1.txt",
            "2147483648.txt",
            "99999999999999999999.txt",
            "12.txt.tmp",
            ".12.txt",
            "12.TXT",
            "abc.txt",
            ".txt",
            "README.txt",
            "1 .txt",
        ] {
            assert_eq!(run_id_from_file_name(bad), None, "{bad}");
        }
    }
}
