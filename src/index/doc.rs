//! The documents the writer hands tantivy: each field's values kept as
//! they were added, in two flat lists.
//!
//! tantivy's own `TantivyDocument` packs every value into a compact byte
//! form as it is added, and unpacks it each time tantivy walks the
//! document: to index it, to store its stored fields and to fill its fast
//! fields. A chunk document carries a few thousand trigram values, and
//! that packing and unpacking was about 5% of the indexing CPU in a
//! profile (see `docs/design/indexing-throughput.md`). The stored
//! form is tantivy's whatever the document type, so documents are still
//! read back as `TantivyDocument`.
//!
//! Fields should be added in the schema's order (a block's u64 fields,
//! then its text): tantivy sorts a document's values by field before it
//! indexes them, and sorted input costs that sort one pass.

use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field;

/// A document being written: its u64 values, then its text values.
#[derive(Debug, Default)]
pub struct IndexDoc {
    numbers: Vec<(Field, u64)>,
    texts: Vec<(Field, String)>,
}

impl IndexDoc {
    pub fn add_u64(&mut self, field: Field, value: u64) {
        self.numbers.push((field, value));
    }

    /// Reserves room for `more` u64 values (a chunk's trigrams).
    pub fn reserve_u64(&mut self, more: usize) {
        self.numbers.reserve(more);
    }

    pub fn add_text(&mut self, field: Field, text: String) {
        self.texts.push((field, text));
    }
}

/// One value of an [`IndexDoc`], as tantivy reads it.
#[derive(Debug, Clone, Copy)]
pub enum DocValue<'a> {
    U64(u64),
    Str(&'a str),
}

impl<'a> Value<'a> for DocValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            DocValue::U64(v) => ReferenceValue::Leaf(ReferenceValueLeaf::U64(v)),
            DocValue::Str(s) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(s)),
        }
    }
}

/// The values of an [`IndexDoc`]: its numbers, then its texts.
pub struct DocValues<'a> {
    numbers: std::slice::Iter<'a, (Field, u64)>,
    texts: std::slice::Iter<'a, (Field, String)>,
}

impl<'a> Iterator for DocValues<'a> {
    type Item = (Field, DocValue<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        match self.numbers.next() {
            Some(&(field, v)) => Some((field, DocValue::U64(v))),
            None => self
                .texts
                .next()
                .map(|(field, text)| (*field, DocValue::Str(text))),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.numbers.len() + self.texts.len();
        (n, Some(n))
    }
}

impl Document for IndexDoc {
    type Value<'a> = DocValue<'a>;
    type FieldsValuesIter<'a> = DocValues<'a>;

    fn iter_fields_and_values(&self) -> DocValues<'_> {
        DocValues {
            numbers: self.numbers.iter(),
            texts: self.texts.iter(),
        }
    }
}
