//! One parsed TOML file with positions: the span tree from `toml::de::DeTable`, dotted key
//! paths, and deserialization of one table at a time that reports every bad key in it rather
//! than stopping at the first.

use super::hint::{ErrorKind, classify, closest};
use super::problem::{LineIndex, Problem};
use serde::de::DeserializeOwned;
use std::fmt;
use std::ops::Range;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

/// One step of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seg {
    /// A table key.
    Key(String),
    /// An array index (0-based).
    Index(usize),
}

/// A dotted key path such as `substation[3].network`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct KeyPath(pub(crate) Vec<Seg>);

impl KeyPath {
    /// The root.
    pub(crate) fn root() -> Self {
        KeyPath(Vec::new())
    }
    /// This path followed by table key `k`.
    pub(crate) fn key(&self, k: &str) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Key(k.to_string()));
        KeyPath(v)
    }
    /// This path followed by array index `i`.
    pub(crate) fn index(&self, i: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Seg::Index(i));
        KeyPath(v)
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            match s {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// A parsed TOML file.
pub(crate) struct Doc<'t> {
    /// File name as shown in problems.
    pub(crate) file: String,
    text: &'t str,
    /// The document with spans.
    pub(crate) root: Spanned<DeTable<'t>>,
    lines: LineIndex,
}

impl<'t> Doc<'t> {
    /// Parse `text`; a syntax error is returned as the one problem there is to report.
    pub(crate) fn parse(text: &'t str, file: &str) -> Result<Self, Problem> {
        let lines = LineIndex::new(text);
        match DeTable::parse(text) {
            Ok(root) => Ok(Doc {
                file: file.to_string(),
                text,
                root,
                lines,
            }),
            Err(e) => {
                let (line, column) = e.span().map_or((1, 1), |s| lines.position(text, s.start));
                let (_, message, hint) = classify(e.message());
                Err(Problem {
                    file: file.to_string(),
                    line,
                    column,
                    key: String::new(),
                    message: format!("TOML syntax error: {message}"),
                    hint,
                })
            }
        }
    }

    /// A problem at byte span `span`.
    pub(crate) fn problem(
        &self,
        span: Option<Range<usize>>,
        key: &KeyPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        let (line, column) = span.map_or((0, 0), |s| self.lines.position(self.text, s.start));
        Problem {
            file: self.file.clone(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The node at `path`, if the file has it.
    pub(crate) fn get(&self, path: &KeyPath) -> Option<&Spanned<DeValue<'t>>> {
        let mut segs = path.0.iter();
        let Some(Seg::Key(first)) = segs.next() else {
            return None;
        };
        let mut node = self.root.get_ref().get(first.as_str())?;
        for s in segs {
            node = match (s, node.get_ref()) {
                (Seg::Key(k), DeValue::Table(t)) => t.get(k.as_str())?,
                (Seg::Index(i), DeValue::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// The span to point at for `path`: the value if the file has it, else the nearest
    /// ancestor the file has (a `[[unit]]` header for a key left at its default).
    pub(crate) fn span(&self, path: &KeyPath) -> Option<Range<usize>> {
        (1..=path.0.len())
            .rev()
            .find_map(|n| self.get(&KeyPath(path.0[..n].to_vec())))
            .map(|v| v.span())
    }

    /// A problem at `path` (see [`Doc::span`]).
    pub(crate) fn problem_at(
        &self,
        path: &KeyPath,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Problem {
        self.problem(self.span(path), path, message, hint)
    }

    /// Deserialize the table at `path` as `T`, reporting every bad key in it.
    ///
    /// serde stops at the first error, so after each error the offending key is removed from
    /// a copy of the table and deserialization is tried again: a second typo or a bad value
    /// further down is still found. Returns the value when nothing was wrong, or when only
    /// unknown keys were (so references of an element with a typo are still checked); the
    /// problems are in `problems` either way.
    pub(crate) fn deserialize<T: DeserializeOwned>(
        &self,
        path: &KeyPath,
        value: &Spanned<DeValue<'t>>,
        problems: &mut Vec<Problem>,
    ) -> Option<T> {
        let mut work = value.clone();
        let mut removed: Vec<String> = Vec::new();
        let mut only_unknown = true;
        // Each round removes one key, so the number of keys bounds the rounds.
        for _ in 0..=count_keys(value.get_ref()) {
            let err = match T::deserialize(ValueDeserializer::from(work.clone())) {
                Ok(t) => return only_unknown.then_some(t),
                Err(e) => e,
            };
            let (kind, message, hint) = classify(err.message());
            only_unknown &= matches!(kind, ErrorKind::UnknownField(_));
            let span = err.span().unwrap_or_else(|| value.span());
            let rel = find(work.get_ref(), &span);
            // A key missing only because a bad key (or a misspelling of this one) was taken
            // out in an earlier round is already reported.
            let consequence = matches!(&kind, ErrorKind::MissingField(name)
                if removed.iter().any(|r| r == name || closest(r, [name.as_str()]).is_some()));
            if !consequence {
                let mut full = path.clone();
                full.0.extend(rel.0.iter().cloned());
                problems.push(self.problem(Some(span), &full, message, hint));
            }
            match remove_last_key(&mut work, &rel) {
                Some(k) => removed.push(k),
                None => return None,
            }
        }
        None
    }
}

/// Number of table keys in a value, at every depth.
fn count_keys(v: &DeValue<'_>) -> usize {
    match v {
        DeValue::Table(t) => t.iter().map(|(_, v)| 1 + count_keys(v.get_ref())).sum(),
        DeValue::Array(a) => a.iter().map(|v| count_keys(v.get_ref())).sum(),
        _ => 0,
    }
}

fn contains(outer: &Range<usize>, inner: &Range<usize>) -> bool {
    outer.start <= inner.start && inner.end <= outer.end && outer.start < outer.end
}

/// The path (relative to `v`) of the deepest key or element whose key or value span contains
/// `span`. Table headers span only `[name]`, so children are searched, not just containers.
fn find(v: &DeValue<'_>, span: &Range<usize>) -> KeyPath {
    fn walk(v: &DeValue<'_>, span: &Range<usize>, path: &KeyPath) -> Option<KeyPath> {
        match v {
            DeValue::Table(t) => t.iter().find_map(|(k, val)| {
                let p = path.key(k.get_ref());
                walk(val.get_ref(), span, &p).or_else(|| {
                    (contains(&k.span(), span) || contains(&val.span(), span)).then_some(p)
                })
            }),
            DeValue::Array(a) => a.iter().enumerate().find_map(|(i, val)| {
                let p = path.index(i);
                walk(val.get_ref(), span, &p).or_else(|| contains(&val.span(), span).then_some(p))
            }),
            _ => None,
        }
    }
    walk(v, span, &KeyPath::root()).unwrap_or_default()
}

/// Remove the last table key on `rel` from `v`; returns its name.
fn remove_last_key(v: &mut Spanned<DeValue<'_>>, rel: &KeyPath) -> Option<String> {
    let last = rel.0.iter().rposition(|s| matches!(s, Seg::Key(_)))?;
    let mut node = v;
    for s in &rel.0[..last] {
        node = match (s, node.get_mut()) {
            (Seg::Key(k), DeValue::Table(t)) => t.get_mut(k.as_str())?,
            (Seg::Index(i), DeValue::Array(a)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    let (DeValue::Table(t), Seg::Key(k)) = (node.get_mut(), &rel.0[last]) else {
        return None;
    };
    t.remove(k.as_str()).map(|_| k.clone())
}

/// A copy of table `v` with the arrays under `keys` emptied (they are deserialized element by
/// element instead, so one bad element does not hide the others).
pub(crate) fn without_arrays<'t>(v: &Spanned<DeValue<'t>>, keys: &[&str]) -> Spanned<DeValue<'t>> {
    let mut v = v.clone();
    if let DeValue::Table(t) = v.get_mut() {
        for k in keys {
            if let Some(a) = t.get_mut(*k)
                && matches!(a.get_ref(), DeValue::Array(_))
            {
                let span = a.span();
                *a = Spanned::new(span, DeValue::Array(DeArray::from_iter(std::iter::empty())));
            }
        }
    }
    v
}

/// The string at key `key` of table value `v`, with its span.
pub(crate) fn str_field<'a>(v: &'a DeValue<'_>, key: &str) -> Option<(&'a str, Range<usize>)> {
    let DeValue::Table(t) = v else { return None };
    let f = t.get(key)?;
    f.get_ref().as_str().map(|s| (s, f.span()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        min: f64,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Thing {
        id: String,
        n: u32,
        inner: Option<Inner>,
    }

    #[test]
    fn every_bad_key_of_a_table_is_reported() {
        let text = "[[thing]]\nid = \"a\"\nnn = 1\nn = \"x\"\ncolour = 2\ninner = { mni = 1 }\n";
        let doc = Doc::parse(text, "t.toml").unwrap();
        let path = KeyPath::root().key("thing").index(0);
        let el = doc.get(&path).unwrap().clone();
        let mut problems = Vec::new();
        let got: Option<Thing> = doc.deserialize(&path, &el, &mut problems);
        assert!(got.is_none());
        let mut lines: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        lines.sort();
        assert_eq!(
            lines,
            [
                "t.toml:3:1: thing[0].nn: unknown key `nn`; did you mean `n`?",
                "t.toml:4:5: thing[0].n: invalid type: string \"x\"; expected u32",
                "t.toml:5:1: thing[0].colour: unknown key `colour`; accepted keys: `id`, `n`, `inner`",
                "t.toml:6:11: thing[0].inner.mni: unknown key `mni`; did you mean `min`?",
            ]
        );
    }

    #[test]
    fn paths_and_spans() {
        let text = "[[s]]\nid = \"a\"\n[[s]]\nid = \"b\"\nlist = [\"x\", \"y\"]\n";
        let doc = Doc::parse(text, "t.toml").unwrap();
        let p = KeyPath::root().key("s").index(1).key("list").index(1);
        assert_eq!(p.to_string(), "s[1].list[1]");
        let pr = doc.problem_at(&p, "m", "h");
        assert_eq!((pr.line, pr.column), (5, 14));
        // A key the file leaves out points at its table header.
        let pr = doc.problem_at(&KeyPath::root().key("s").index(1).key("name"), "m", "h");
        assert_eq!((pr.line, pr.column), (3, 1));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = Doc::parse("a = 1\nb = [1, 2\n", "t.toml").err().unwrap();
        assert_eq!(e.line, 2);
        assert!(e.message.starts_with("TOML syntax error"), "{e}");
    }
}
