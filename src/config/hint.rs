//! Hints: "did you mean `kind`?" for near misses, the list of accepted names otherwise, and
//! turning serde's one-line messages into a message and a hint.

/// Largest edit distance still offered as "did you mean".
const MAX_DISTANCE: usize = 2;

/// Names listed in a hint before it is cut short.
const MAX_LISTED: usize = 16;

/// Edit distance between `a` and `b` in characters: insertions, deletions, substitutions and
/// swaps of two neighbouring characters each count one (optimal string alignment), so the
/// common typo `kidn` is one edit from `kind`.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    // d[i][j]: distance between the first i characters of a and the first j of b.
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[a.len()][b.len()]
}

/// The candidate closest to `word` (ignoring case) if it is at most two edits away and the
/// word is longer than the distance (so `x` does not suggest `id`); the first one on a tie.
pub(crate) fn closest<'a, I>(word: &str, candidates: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    let lower = word.to_lowercase();
    let len = word.chars().count();
    let mut best: Option<(usize, &'a str)> = None;
    for c in candidates {
        if c == word {
            continue;
        }
        let d = edit_distance(&lower, &c.to_lowercase());
        if d <= MAX_DISTANCE && d < len && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// `` `a`, `b`, `c` `` (cut after a few names with the count of the rest).
pub(crate) fn list<'a, I>(names: I) -> String
where
    I: IntoIterator<Item = &'a str>,
{
    let names: Vec<&str> = names.into_iter().collect();
    let mut out: Vec<String> = names
        .iter()
        .take(MAX_LISTED)
        .map(|n| format!("`{n}`"))
        .collect();
    if names.len() > MAX_LISTED {
        out.push(format!("and {} more", names.len() - MAX_LISTED));
    }
    out.join(", ")
}

/// "did you mean `x`?" when a candidate is close, else "`what`: `a`, `b`, …", else `none`.
pub(crate) fn suggest<'a, I>(word: &str, candidates: I, what: &str, none: &str) -> String
where
    I: IntoIterator<Item = &'a str> + Clone,
{
    if let Some(c) = closest(word, candidates.clone()) {
        return format!("did you mean `{c}`?");
    }
    let listed = list(candidates);
    if listed.is_empty() {
        none.to_string()
    } else {
        format!("{what}: {listed}")
    }
}

/// What kind of deserialization error a serde message describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// A key the struct does not have.
    UnknownField(String),
    /// A required key that is absent.
    MissingField(String),
    /// Anything else (wrong type, bad enum value, custom message).
    Other,
}

/// The text between the first pair of backticks after `prefix`.
fn quoted_after<'m>(msg: &'m str, prefix: &str) -> Option<&'m str> {
    let rest = msg.strip_prefix(prefix)?;
    let end = rest.find('`')?;
    Some(&rest[..end])
}

/// Every backticked name in `s`.
fn backticked(s: &str) -> Vec<&str> {
    s.split('`').skip(1).step_by(2).collect()
}

/// Split a serde (or model) error message into a message and a hint.
pub(crate) fn classify(msg: &str) -> (ErrorKind, String, String) {
    if let Some(name) = quoted_after(msg, "unknown field `") {
        let accepted = msg.split_once(", expected ").map_or("", |(_, e)| e);
        let hint = suggest(name, backticked(accepted), "accepted keys", "remove it");
        let kind = ErrorKind::UnknownField(name.to_string());
        return (kind, format!("unknown key `{name}`"), hint);
    }
    if let Some(name) = quoted_after(msg, "missing field `") {
        let kind = ErrorKind::MissingField(name.to_string());
        return (
            kind,
            format!("missing key `{name}`"),
            format!("add `{name} = …`"),
        );
    }
    if let Some(name) = quoted_after(msg, "unknown variant `") {
        let (head, expected) = msg.split_once(", expected ").unwrap_or((msg, ""));
        let hint = match closest(name, backticked(expected)) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("expected {expected}"),
        };
        return (ErrorKind::Other, head.to_string(), hint);
    }
    // The model's own names (units, quantities): "unknown unit `Mwh`; expected one of: GJ, …".
    if let Some((head, known)) = msg.split_once("; expected one of: ")
        && let Some(name) = head.split('`').nth(1)
    {
        let known: Vec<&str> = known.split(", ").collect();
        let hint = match closest(name, known.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => format!("expected one of: {}", list(known.iter().copied())),
        };
        return (ErrorKind::Other, head.to_string(), hint);
    }
    if let Some((head, hint)) = msg.split_once("; ") {
        return (ErrorKind::Other, head.to_string(), hint.to_string());
    }
    if let Some((head, expected)) = msg.split_once(", expected ") {
        return (
            ErrorKind::Other,
            head.to_string(),
            format!("expected {expected}"),
        );
    }
    (ErrorKind::Other, msg.to_string(), String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distances() {
        assert_eq!(edit_distance("kind", "kind"), 0);
        assert_eq!(edit_distance("kidn", "kind"), 1); // a swap of neighbours is one edit
        assert_eq!(edit_distance("kidn", "id"), 2);
        assert_eq!(edit_distance("boiller", "boiler"), 1);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("węzeł", "wezel"), 2); // characters, not bytes
        assert_eq!(edit_distance("sources", "source"), 1);
    }

    #[test]
    fn closest_needs_two_edits_or_fewer() {
        let keys = ["id", "source", "kind", "fuel", "rated_heat_mw"];
        assert_eq!(closest("kidn", keys), Some("kind"));
        assert_eq!(closest("rated_heat_kw", keys), Some("rated_heat_mw"));
        assert_eq!(closest("fule", keys), Some("fuel"));
        assert_eq!(closest("capacity", keys), None);
        // One letter is two edits from `id` but is no evidence of a typo.
        assert_eq!(closest("x", keys), None);
        // Case alone is not an edit: `Mwh` means `MWh`.
        assert_eq!(closest("Mwh", ["GJ", "MWh", "kWh"]), Some("MWh"));
    }

    #[test]
    fn suggestions_fall_back_to_the_list() {
        assert_eq!(
            suggest("kidn", ["id", "kind"], "accepted keys", "-"),
            "did you mean `kind`?"
        );
        assert_eq!(
            suggest("colour", ["id", "kind"], "accepted keys", "-"),
            "accepted keys: `id`, `kind`"
        );
        assert_eq!(
            suggest("colour", [], "accepted keys", "remove it"),
            "remove it"
        );
        let many: Vec<String> = (0..20).map(|i| format!("k{i}")).collect();
        let l = list(many.iter().map(String::as_str));
        assert!(l.ends_with("`k15`, and 4 more"), "{l}");
    }

    #[test]
    fn serde_messages_are_split() {
        let (k, m, h) = classify("unknown field `kidn`, expected one of `id`, `kind`, `fuel`");
        assert_eq!(k, ErrorKind::UnknownField("kidn".into()));
        assert_eq!(
            (m.as_str(), h.as_str()),
            ("unknown key `kidn`", "did you mean `kind`?")
        );
        let (_, _, h) = classify("unknown field `colour`, expected `id` or `name`");
        assert_eq!(h, "accepted keys: `id`, `name`");
        let (_, m, h) = classify("unknown variant `boiller`, expected one of `boiler`, `chp`");
        assert_eq!(
            (m.as_str(), h.as_str()),
            ("unknown variant `boiller`", "did you mean `boiler`?")
        );
        let (_, m, h) = classify("unknown unit `Mwh`; expected one of: GJ, MWh, kWh");
        assert_eq!(
            (m.as_str(), h.as_str()),
            ("unknown unit `Mwh`", "did you mean `MWh`?")
        );
        let (k, m, h) = classify("missing field `source`");
        assert_eq!(k, ErrorKind::MissingField("source".into()));
        assert_eq!(
            (m.as_str(), h.as_str()),
            ("missing key `source`", "add `source = …`")
        );
        let (_, m, h) = classify("invalid type: string \"x\", expected u32");
        assert_eq!(
            (m.as_str(), h.as_str()),
            ("invalid type: string \"x\"", "expected u32")
        );
    }
}
