//! The `pagination` object of every paged answer, made one way: a page
//! knows whether more follows (the index reads one more than it returns, or
//! a listing asks the store for one more), and `next_cursor`, made from the
//! page's last item, is non-null exactly when it does.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Pagination {
    limit: usize,
    next_cursor: Option<String>,
    has_more: bool,
}

impl Pagination {
    /// The pagination of a page of at most `limit` items whose last is
    /// `last`; `cursor` makes the cursor that resumes after it.
    pub fn new<T>(
        limit: usize,
        has_more: bool,
        last: Option<T>,
        cursor: impl FnOnce(T) -> String,
    ) -> Pagination {
        let next_cursor = match (has_more, last) {
            (true, Some(last)) => Some(cursor(last)),
            _ => None,
        };
        Pagination {
            limit,
            has_more: next_cursor.is_some(),
            next_cursor,
        }
    }

    /// The pagination of `items`, read with up to one more than `limit`:
    /// the extra one is dropped, and says that more follows.
    pub fn cut<T>(
        items: &mut Vec<T>,
        limit: usize,
        cursor: impl FnOnce(&T) -> String,
    ) -> Pagination {
        let has_more = items.len() > limit;
        items.truncate(limit);
        Pagination::new(limit, has_more, items.last(), cursor)
    }
}

/// How many items to read for a page of `limit`: one more, to know whether
/// more follow (see [`Pagination::cut`]).
pub fn with_one_more(limit: usize) -> usize {
    limit + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_exactly_when_more_follows() {
        let mut items = vec![5, 4, 3];
        let p = Pagination::cut(&mut items, 2, |last| format!("after {last}"));
        assert_eq!(items, [5, 4]);
        assert_eq!(
            (p.has_more, p.next_cursor.as_deref()),
            (true, Some("after 4"))
        );
        let mut items = vec![5, 4];
        let p = Pagination::cut(&mut items, 2, |last| format!("after {last}"));
        assert_eq!((p.has_more, p.next_cursor), (false, None));
        // More said to follow, but nothing to resume after: no cursor.
        let p = Pagination::new(2, true, None::<u64>, |l| l.to_string());
        assert_eq!((p.has_more, p.next_cursor), (false, None));
        assert_eq!(with_one_more(100), 101);
    }
}
