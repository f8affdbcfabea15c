//! Topics: MQTT filter matching, topic templates (`dh/{network}/{asset}/{quantity}`) and
//! id patterns (`{network}-{asset}`) filled from a template's captures. Pure functions.

use std::collections::BTreeMap;

/// Whether `topic` matches the MQTT topic filter `filter` (`+` one level, `#` the rest).
/// Topics starting with `$` (broker internals) match only filters that name them, as the
/// MQTT specification requires (4.7.2).
pub fn filter_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && !filter.starts_with('$') {
        return false;
    }
    let mut f = filter.split('/');
    let mut t = topic.split('/');
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// One level of a topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Level {
    /// Must equal the topic level.
    Literal(String),
    /// Captured under a name.
    Capture(String),
    /// Any one level, not kept.
    Skip,
    /// Any number of remaining levels (last only).
    Rest,
}

/// A compiled topic template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    levels: Vec<Level>,
}

/// Names captured from a topic, e.g. `asset` → `ss-042`.
pub type Captures = BTreeMap<String, String>;

/// Why a template or pattern is not usable; the message says what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `#` somewhere other than the last level.
    #[error("`#` may only be the last level of template `{0}`")]
    HashNotLast(String),
    /// A level mixes braces and text, or braces are unbalanced.
    #[error("level `{level}` of `{template}` must be a whole `{{name}}`, `+`, `#` or plain text")]
    BadLevel {
        /// The template.
        template: String,
        /// The level.
        level: String,
    },
    /// The same capture name twice.
    #[error("capture `{{{name}}}` appears twice in template `{template}`")]
    Duplicate {
        /// The template.
        template: String,
        /// The name.
        name: String,
    },
    /// A pattern with unbalanced braces.
    #[error("unbalanced braces in `{0}`")]
    Braces(String),
}

impl Template {
    /// Compile a template.
    pub fn parse(template: &str) -> Result<Self, TemplateError> {
        let parts: Vec<&str> = template.split('/').collect();
        let mut levels = Vec::with_capacity(parts.len());
        for (i, p) in parts.iter().enumerate() {
            let level = match *p {
                "#" if i + 1 == parts.len() => Level::Rest,
                "#" => return Err(TemplateError::HashNotLast(template.into())),
                "+" | "_" => Level::Skip,
                _ if p.starts_with('{') && p.ends_with('}') && p.len() > 2 => {
                    let name = &p[1..p.len() - 1];
                    if name.contains(['{', '}']) {
                        return Err(bad_level(template, p));
                    }
                    if levels
                        .iter()
                        .any(|l| matches!(l, Level::Capture(n) if n == name))
                    {
                        return Err(TemplateError::Duplicate {
                            template: template.into(),
                            name: name.into(),
                        });
                    }
                    Level::Capture(name.into())
                }
                _ if p.contains(['{', '}', '+', '#']) => return Err(bad_level(template, p)),
                _ => Level::Literal((*p).into()),
            };
            levels.push(level);
        }
        Ok(Template { levels })
    }

    /// Capture names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.levels.iter().filter_map(|l| match l {
            Level::Capture(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Captures of `topic`, or `None` when the topic does not have the template's shape.
    pub fn captures(&self, topic: &str) -> Option<Captures> {
        let mut out = Captures::new();
        let mut t = topic.split('/');
        for level in &self.levels {
            match level {
                Level::Rest => return Some(out),
                _ => {
                    let part = t.next()?;
                    match level {
                        Level::Literal(l) if l != part => return None,
                        Level::Capture(n) => {
                            out.insert(n.clone(), part.to_string());
                        }
                        _ => {}
                    }
                }
            }
        }
        t.next().is_none().then_some(out)
    }
}

fn bad_level(template: &str, level: &str) -> TemplateError {
    TemplateError::BadLevel {
        template: template.into(),
        level: level.into(),
    }
}

/// A text with `{name}` holes filled from captures, e.g. `{network}-{asset}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Hole(String),
}

impl Pattern {
    /// Compile a pattern.
    pub fn parse(s: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if rest[..open].contains('}') {
                return Err(TemplateError::Braces(s.into()));
            }
            if open > 0 {
                parts.push(Part::Text(rest[..open].into()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| TemplateError::Braces(s.into()))?;
            let name = &after[..close];
            if name.is_empty() || name.contains('{') {
                return Err(TemplateError::Braces(s.into()));
            }
            parts.push(Part::Hole(name.into()));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(TemplateError::Braces(s.into()));
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.into()));
        }
        Ok(Pattern { parts })
    }

    /// Hole names.
    pub fn holes(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Hole(n) => Some(n.as_str()),
            Part::Text(_) => None,
        })
    }

    /// The text with holes filled; `None` names the first hole without a capture.
    pub fn fill(&self, captures: &Captures) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Hole(n) => out.push_str(captures.get(n).ok_or_else(|| n.clone())?),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_follow_mqtt_rules() {
        assert!(filter_matches("dh/+/+/+", "dh/city/ss-1/flow"));
        assert!(!filter_matches("dh/+/+/+", "dh/city/ss-1"));
        assert!(!filter_matches("dh/+/+/+", "dh/city/ss-1/flow/x"));
        assert!(filter_matches("dh/#", "dh"));
        assert!(filter_matches("dh/#", "dh/a/b"));
        assert!(filter_matches("#", "a/b"));
        assert!(!filter_matches("#", "$SYS/broker/version"));
        assert!(filter_matches("$SYS/#", "$SYS/broker/version"));
        assert!(filter_matches("a//b", "a//b"));
        assert!(!filter_matches("a/b", "a/c"));
    }

    #[test]
    fn templates_capture_levels() {
        let t = Template::parse("dh/{network}/{asset}/{quantity}").unwrap();
        let c = t.captures("dh/city/ss-042/supply_temp").unwrap();
        assert_eq!(c["network"], "city");
        assert_eq!(c["asset"], "ss-042");
        assert_eq!(c["quantity"], "supply_temp");
        assert!(t.captures("dh/city/ss-042").is_none());
        assert!(t.captures("xx/city/ss-042/flow").is_none());
        assert!(t.captures("dh/city/ss-042/flow/extra").is_none());
        let t = Template::parse("wmbusmeters/{asset}/#").unwrap();
        assert_eq!(t.captures("wmbusmeters/m1/a/b").unwrap()["asset"], "m1");
        let t = Template::parse("site/+/{asset}").unwrap();
        assert_eq!(t.captures("site/x/ss-1").unwrap().len(), 1);
        assert_eq!(t.names().collect::<Vec<_>>(), ["asset"]);
    }

    #[test]
    fn template_errors() {
        assert!(matches!(
            Template::parse("a/#/b"),
            Err(TemplateError::HashNotLast(_))
        ));
        assert!(matches!(
            Template::parse("a/x{asset}"),
            Err(TemplateError::BadLevel { .. })
        ));
        assert!(matches!(
            Template::parse("{a}/{a}"),
            Err(TemplateError::Duplicate { .. })
        ));
    }

    #[test]
    fn patterns_fill_from_captures() {
        let p = Pattern::parse("{network}-{asset}").unwrap();
        let mut c = Captures::new();
        c.insert("network".into(), "north".into());
        c.insert("asset".into(), "ss-1".into());
        assert_eq!(p.fill(&c).unwrap(), "north-ss-1");
        assert_eq!(Pattern::parse("fixed").unwrap().fill(&c).unwrap(), "fixed");
        assert_eq!(
            Pattern::parse("{x}").unwrap().fill(&c).unwrap_err(),
            "x".to_string()
        );
        assert!(Pattern::parse("{a").is_err());
        assert!(Pattern::parse("a}").is_err());
        assert!(Pattern::parse("{}").is_err());
    }
}
