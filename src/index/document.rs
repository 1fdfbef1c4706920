//! The documents runlogd hands to tantivy's writer: a list of (field, u64)
//! values and at most one text.
//!
//! tantivy's own document type packs every value into a tree of nodes and
//! unpacks each one again as it is indexed and as it is stored. A block
//! document holds about a thousand trigram values, so that round trip cost
//! about a twentieth of the indexing time; this type hands each value over
//! as it is.

use tantivy::schema::document::{Document, ReferenceValue, ReferenceValueLeaf, Value};
use tantivy::schema::Field;

/// A document being written: numeric values, in the order added, then
/// the text (the stored body).
#[derive(Debug, Default)]
pub struct IndexDoc {
    numbers: Vec<(Field, u64)>,
    text: Option<(Field, String)>,
}

impl IndexDoc {
    pub fn with_capacity(numbers: usize) -> IndexDoc {
        IndexDoc {
            numbers: Vec::with_capacity(numbers),
            text: None,
        }
    }

    pub fn add_u64(&mut self, field: Field, value: u64) {
        self.numbers.push((field, value));
    }

    /// Sets the document's one text value.
    pub fn set_text(&mut self, field: Field, text: String) {
        self.text = Some((field, text));
    }
}

/// One value of an [`IndexDoc`], as tantivy reads it.
#[derive(Debug, Clone, Copy)]
pub enum IndexValue<'a> {
    Number(u64),
    Text(&'a str),
}

impl<'a> Value<'a> for IndexValue<'a> {
    type ArrayIter = std::iter::Empty<Self>;
    type ObjectIter = std::iter::Empty<(&'a str, Self)>;

    fn as_value(&self) -> ReferenceValue<'a, Self> {
        match *self {
            IndexValue::Number(n) => ReferenceValue::Leaf(ReferenceValueLeaf::U64(n)),
            IndexValue::Text(t) => ReferenceValue::Leaf(ReferenceValueLeaf::Str(t)),
        }
    }
}

type Numbers<'a> = std::iter::Map<
    std::slice::Iter<'a, (Field, u64)>,
    fn(&'a (Field, u64)) -> (Field, IndexValue<'a>),
>;
type Texts<'a> = std::iter::Map<
    std::option::Iter<'a, (Field, String)>,
    fn(&'a (Field, String)) -> (Field, IndexValue<'a>),
>;

impl Document for IndexDoc {
    type Value<'a> = IndexValue<'a>;
    type FieldsValuesIter<'a> = std::iter::Chain<Numbers<'a>, Texts<'a>>;

    fn iter_fields_and_values(&self) -> Self::FieldsValuesIter<'_> {
        let numbers: Numbers<'_> = self
            .numbers
            .iter()
            .map(|&(field, n)| (field, IndexValue::Number(n)));
        let texts: Texts<'_> = self
            .text
            .iter()
            .map(|(field, t)| (*field, IndexValue::Text(t.as_str())));
        numbers.chain(texts)
    }
}
