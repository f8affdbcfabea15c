//! Payload decoding: from (topic, payload bytes, receive time) to readings, as pure functions.
//!
//! A [`Router`] holds the compiled subscriptions ([`Mapping`]); [`Router::decode`] picks the
//! first mapping whose filter and template fit the topic and reads the payload in that
//! mapping's format. Whatever cannot be read (a value, a timestamp, a quality flag, a whole
//! message) becomes a [`Reject`] with a reason and a detail; everything else in the same
//! message still becomes readings. Nothing here logs or counts: the agent does, so the
//! decoders can be tested, fuzzed and reused by `heatkpi mqtt tap` unchanged.

use super::topic::{Captures, Pattern, Template, TemplateError, filter_matches};
use crate::config::mqtt::{FieldMap, PayloadFormat, Subscription, TimeFormat};
use crate::ingest::Reading;
use crate::ingest::line_protocol::{LineError, Precision, parse_line};
use crate::model::{Quality, Quantity, SeriesKey, TimestampMs, Unit, is_valid_asset_id};
use std::collections::BTreeMap;

mod json;
pub use json::parse_time;
pub(super) use json::{number_from_json, parse_json, record_quality, record_time};

/// Why (part of) a message did not become readings. Labels are metric label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Payload larger than `max_payload_bytes`.
    Oversize,
    /// The topic matched no subscription's filter and template.
    NoMapping,
    /// The payload is not valid JSON (or not UTF-8 for text formats).
    Malformed,
    /// A value is text that is not a number.
    NotANumber,
    /// A value is a boolean, object, array or null where a number belongs.
    WrongType,
    /// A value is NaN or infinite.
    NotFinite,
    /// A configured field is absent from the record.
    MissingField,
    /// The record has no timestamp where one is configured.
    MissingTimestamp,
    /// The timestamp cannot be read, or lies outside 1990..2200.
    BadTimestamp,
    /// The quality flag cannot be read.
    BadQuality,
    /// No unit is declared for the quantity of a number.
    NoUnit,
    /// The topic's quantity level (or a line-protocol field) is not a quantity.
    UnknownQuantity,
    /// The asset id is missing or has characters ids may not have.
    BadAsset,
    /// A wmbusmeters telegram from a meter not listed in `meters`.
    UnknownMeter,
    /// A line-protocol line that cannot be parsed.
    LineSyntax,
}

impl RejectReason {
    /// Label used in metrics, status and logs.
    pub fn label(self) -> &'static str {
        match self {
            RejectReason::Oversize => "oversize",
            RejectReason::NoMapping => "no_mapping",
            RejectReason::Malformed => "malformed",
            RejectReason::NotANumber => "not_a_number",
            RejectReason::WrongType => "wrong_type",
            RejectReason::NotFinite => "not_finite",
            RejectReason::MissingField => "missing_field",
            RejectReason::MissingTimestamp => "missing_timestamp",
            RejectReason::BadTimestamp => "bad_timestamp",
            RejectReason::BadQuality => "bad_quality",
            RejectReason::NoUnit => "no_unit",
            RejectReason::UnknownQuantity => "unknown_quantity",
            RejectReason::BadAsset => "bad_asset",
            RejectReason::UnknownMeter => "unknown_meter",
            RejectReason::LineSyntax => "line_syntax",
        }
    }
}

/// One thing in a message that could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reject {
    /// Why.
    pub reason: RejectReason,
    /// What exactly (field, value), for the log.
    pub detail: String,
}

/// What one message gave.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decoded {
    /// Index of the mapping that handled the message, if any.
    pub mapping: Option<usize>,
    /// Topic captures (asset, quantity and tags).
    pub captures: Captures,
    /// Readings to ingest.
    pub readings: Vec<Reading>,
    /// What could not be read.
    pub rejects: Vec<Reject>,
}

impl Decoded {
    pub(super) fn reject(&mut self, reason: RejectReason, detail: impl Into<String>) {
        self.rejects.push(Reject {
            reason,
            detail: detail.into(),
        });
    }
}

/// A subscription that cannot be used as configured; says which one and what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// Bad template or pattern.
    #[error("mqtt subscription `{name}`: {source}")]
    Template {
        /// Subscription name.
        name: String,
        /// The problem.
        #[source]
        source: TemplateError,
    },
    /// Anything else.
    #[error("mqtt subscription `{name}`: {message}")]
    Invalid {
        /// Subscription name.
        name: String,
        /// What to change.
        message: String,
    },
}

/// A JSON path, split at dots.
type Path = Vec<String>;

fn path(s: &str) -> Path {
    s.split('.').map(str::to_string).collect()
}

#[derive(Debug, Clone)]
struct Field {
    path: Path,
    quantity: Quantity,
    unit: Unit,
    asset: Option<Pattern>,
    optional: bool,
}

/// A compiled subscription.
#[derive(Debug, Clone)]
pub struct Mapping {
    /// Name used in metrics and events.
    pub name: String,
    /// Topic filter.
    pub filter: String,
    /// QoS subscribed with (0 or 1; see the module docs for 2).
    pub qos: u8,
    /// Expected longest silence, ms.
    pub expected_interval_ms: Option<u64>,
    /// Largest accepted payload.
    pub max_payload_bytes: usize,
    format: PayloadFormat,
    template: Option<Template>,
    asset: Option<Pattern>,
    quantity: Option<Quantity>,
    unit: Option<Unit>,
    units: BTreeMap<Quantity, Unit>,
    fields: Vec<Field>,
    records: Option<Path>,
    time_field: Option<Path>,
    time_format: TimeFormat,
    quality_field: Option<Path>,
    quality_map: BTreeMap<String, Quality>,
    meters: BTreeMap<String, String>,
    precision: Precision,
}

impl Mapping {
    /// Compile a subscription, checking everything that can be checked before messages arrive.
    pub fn compile(s: &Subscription) -> Result<Mapping, MappingError> {
        let name = s.name().to_string();
        let invalid = |message: String| MappingError::Invalid {
            name: name.clone(),
            message,
        };
        let tmpl_err = |source| MappingError::Template {
            name: name.clone(),
            source,
        };
        if s.topic.is_empty() || s.topic.contains('\0') {
            return Err(invalid("`topic` must be a non-empty topic filter".into()));
        }
        if s.qos > 2 {
            return Err(invalid(format!("qos = {} must be 0, 1 or 2", s.qos)));
        }
        let template = s.template.as_deref().map(Template::parse).transpose();
        let template = template.map_err(tmpl_err)?;
        let names: Vec<String> = template
            .as_ref()
            .map(|t| t.names().map(str::to_string).collect())
            .unwrap_or_default();
        let has = |n: &str| names.iter().any(|x| x == n);
        let asset = match &s.asset {
            Some(a) => Some(Pattern::parse(a).map_err(tmpl_err)?),
            None if has("asset") => Some(Pattern::parse("{asset}").map_err(tmpl_err)?),
            None => None,
        };
        let check_holes = |p: &Pattern| -> Result<(), MappingError> {
            match p.holes().find(|h| !has(h)) {
                Some(h) => Err(invalid(format!(
                    "`{{{h}}}` is used but `template` has no `{{{h}}}` level"
                ))),
                None => Ok(()),
            }
        };
        if let Some(p) = &asset {
            check_holes(p)?;
        }
        let mut fields = Vec::new();
        for (p, f) in &s.fields {
            fields.push(compile_field(p, f).map_err(tmpl_err)?);
        }
        for f in &fields {
            if let Some(p) = &f.asset {
                check_holes(p)?;
            }
        }
        match s.format {
            PayloadFormat::Number => {
                if s.quantity.is_none() && !has("quantity") {
                    return Err(invalid(
                        "a number payload needs `quantity = \"…\"` or a `{quantity}` level in `template`".into(),
                    ));
                }
                if asset.is_none() {
                    return Err(invalid(
                        "a number payload needs `asset = \"…\"` or an `{asset}` level in `template`"
                            .into(),
                    ));
                }
                if s.unit.is_none() && s.units.is_empty() {
                    return Err(invalid(
                        "declare the unit numbers arrive in: `unit = \"kWh\"` or `units = { heat_energy = \"kWh\" }`".into(),
                    ));
                }
            }
            PayloadFormat::Json => {
                if fields.is_empty() {
                    return Err(invalid(
                        "a json payload needs `fields = { \"path.in.json\" = { quantity = \"…\", unit = \"…\" } }`".into(),
                    ));
                }
                if asset.is_none() && fields.iter().any(|f| f.asset.is_none()) {
                    return Err(invalid(
                        "json readings need an asset: `asset = \"…\"`, an `{asset}` level in `template`, or `asset` on every field".into(),
                    ));
                }
            }
            PayloadFormat::LineProtocol | PayloadFormat::Wmbusmeters => {}
        }
        let precision = s.precision.parse::<Precision>().map_err(invalid)?;
        let time_field = match (&s.time_field, s.format) {
            (Some(t), _) => Some(path(t)),
            (None, PayloadFormat::Wmbusmeters) => Some(path("timestamp")),
            (None, _) => None,
        };
        Ok(Mapping {
            name: name.clone(),
            filter: s.topic.clone(),
            // rumqttc 0.25.1 cannot resume an interrupted QoS 2 exchange (rumqtt #664): see
            // the module docs of collect::mqtt.
            qos: s.qos.min(1),
            expected_interval_ms: s.expected_interval_s.map(|v| v.saturating_mul(1000)),
            max_payload_bytes: s.max_payload_bytes,
            format: s.format,
            template,
            asset,
            quantity: s.quantity,
            unit: s.unit,
            units: s.units.clone(),
            fields,
            records: s.records.as_deref().map(path),
            time_field,
            time_format: s.time_format,
            quality_field: s.quality_field.as_deref().map(path),
            quality_map: s.quality_map.clone(),
            meters: s.meters.clone(),
            precision,
        })
    }

    /// wmbusmeters: the asset of a meter id or name from `meters`.
    pub(super) fn meter_asset(&self, key: &str) -> Option<&str> {
        self.meters.get(key).map(String::as_str)
    }

    /// The asset from `asset` / the `{asset}` level, if configured and filled.
    pub(super) fn asset_from_topic(&self, captures: &Captures) -> Option<String> {
        self.asset.as_ref().and_then(|p| p.fill(captures).ok())
    }

    /// wmbusmeters: what a telegram field measures (configured fields first, then the
    /// built-in table), with the field's own asset if it has one.
    pub(super) fn wmbus_field(
        &self,
        key: &str,
        captures: &Captures,
    ) -> Option<(Quantity, Unit, Option<String>)> {
        if let Some(f) = self
            .fields
            .iter()
            .find(|f| f.path.len() == 1 && f.path[0] == key)
        {
            let asset = f.asset.as_ref().and_then(|p| p.fill(captures).ok());
            return Some((f.quantity, f.unit, asset));
        }
        super::wmbus::KNOWN_FIELDS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, q, u)| (*q, *u, None))
    }

    /// wmbusmeters: configured fields a telegram must have.
    pub(super) fn required_fields(&self) -> impl Iterator<Item = &str> {
        self.fields
            .iter()
            .filter(|f| !f.optional && f.path.len() == 1)
            .map(|f| f.path[0].as_str())
    }

    /// Captures of `topic` if this mapping handles it.
    fn matches(&self, topic: &str) -> Option<Captures> {
        if !filter_matches(&self.filter, topic) {
            return None;
        }
        match &self.template {
            Some(t) => t.captures(topic),
            None => Some(Captures::new()),
        }
    }
}

fn compile_field(p: &str, f: &FieldMap) -> Result<Field, TemplateError> {
    Ok(Field {
        path: path(p),
        quantity: f.quantity,
        unit: f.unit,
        asset: f.asset.as_deref().map(Pattern::parse).transpose()?,
        optional: f.optional,
    })
}

/// Every compiled subscription of one broker.
#[derive(Debug, Clone, Default)]
pub struct Router {
    /// The mappings, in configuration order.
    pub mappings: Vec<Mapping>,
}

impl Router {
    /// Compile subscriptions.
    pub fn new<'a>(subs: impl IntoIterator<Item = &'a Subscription>) -> Result<Self, MappingError> {
        let mappings = subs
            .into_iter()
            .map(Mapping::compile)
            .collect::<Result<_, _>>()?;
        Ok(Router { mappings })
    }

    /// Decode one message received at `received_ms`.
    pub fn decode(&self, topic: &str, payload: &[u8], received_ms: TimestampMs) -> Decoded {
        let mut out = Decoded::default();
        let Some((i, m, caps)) = self
            .mappings
            .iter()
            .enumerate()
            .find_map(|(i, m)| m.matches(topic).map(|c| (i, m, c)))
        else {
            out.reject(
                RejectReason::NoMapping,
                "no subscription's topic filter and template fit this topic",
            );
            return out;
        };
        out.mapping = Some(i);
        out.captures = caps;
        if payload.len() > m.max_payload_bytes {
            out.reject(
                RejectReason::Oversize,
                format!(
                    "{} bytes; max_payload_bytes is {}",
                    payload.len(),
                    m.max_payload_bytes
                ),
            );
            return out;
        }
        match m.format {
            PayloadFormat::Number => decode_number(m, payload, received_ms, &mut out),
            PayloadFormat::Json => json::decode(m, payload, received_ms, &mut out),
            PayloadFormat::LineProtocol => decode_lines(m, payload, received_ms, &mut out),
            PayloadFormat::Wmbusmeters => super::wmbus::decode(m, payload, received_ms, &mut out),
        }
        out
    }
}

/// The asset of a message from the mapping's pattern; `None` after recording a reject.
fn message_asset(m: &Mapping, pattern: Option<&Pattern>, out: &mut Decoded) -> Option<String> {
    let Some(p) = pattern.or(m.asset.as_ref()) else {
        out.reject(
            RejectReason::BadAsset,
            "no asset configured for this reading",
        );
        return None;
    };
    match p.fill(&out.captures) {
        Ok(a) if is_valid_asset_id(&a) => Some(a),
        Ok(a) => {
            out.reject(
                RejectReason::BadAsset,
                format!("asset `{a}` may only use letters, digits, `-` and `_`"),
            );
            None
        }
        Err(hole) => {
            out.reject(RejectReason::BadAsset, format!("no `{hole}` in the topic"));
            None
        }
    }
}

fn decode_number(m: &Mapping, payload: &[u8], received: TimestampMs, out: &mut Decoded) {
    let quantity = match m.quantity {
        Some(q) => q,
        None => {
            let name = out.captures.get("quantity").cloned().unwrap_or_default();
            match name.parse::<Quantity>() {
                Ok(q) => q,
                Err(e) => return out.reject(RejectReason::UnknownQuantity, e.to_string()),
            }
        }
    };
    let Some(unit) = m.units.get(&quantity).copied().or(m.unit) else {
        return out.reject(
            RejectReason::NoUnit,
            format!("no unit declared for `{quantity}`; add it to `units`"),
        );
    };
    let Some(asset) = message_asset(m, None, out) else {
        return;
    };
    let Ok(text) = std::str::from_utf8(payload) else {
        return out.reject(RejectReason::Malformed, "payload is not UTF-8 text");
    };
    let Some(value) = number_from_text(text.trim(), "payload", out) else {
        return;
    };
    out.readings.push(Reading {
        series: SeriesKey::new(asset, quantity),
        ts: received,
        value,
        unit,
        quality: Quality::Good,
    });
}

/// A finite number from text; `None` after recording a reject.
pub(super) fn number_from_text(text: &str, what: &str, out: &mut Decoded) -> Option<f64> {
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Some(v),
        Ok(_) => {
            out.reject(RejectReason::NotFinite, format!("{what} is `{text}`"));
            None
        }
        Err(_) => {
            out.reject(
                RejectReason::NotANumber,
                format!("{what} is `{}`, not a number", excerpt(text, 40)),
            );
            None
        }
    }
}

fn decode_lines(m: &Mapping, payload: &[u8], received: TimestampMs, out: &mut Decoded) {
    let Ok(text) = std::str::from_utf8(payload) else {
        return out.reject(RejectReason::Malformed, "payload is not UTF-8 text");
    };
    let (mut values, mut errors) = (Vec::new(), Vec::new());
    for line in text.lines() {
        parse_line(line, m.precision, Some(received), &mut values, &mut errors);
    }
    for v in values {
        let unit = v.series.quantity.canonical_unit();
        if !v.value.is_finite() {
            out.reject(
                RejectReason::NotFinite,
                format!("{} is {}", v.series, v.value),
            );
            continue;
        }
        out.readings.push(Reading {
            series: v.series,
            ts: v.ts,
            value: v.value,
            unit,
            quality: v.quality,
        });
    }
    for e in errors {
        let reason = match &e {
            LineError::Syntax(_) => RejectReason::LineSyntax,
            LineError::NoAsset | LineError::BadAsset(_) => RejectReason::BadAsset,
            LineError::UnknownField(_) => RejectReason::UnknownQuantity,
            LineError::BadValue { .. } => RejectReason::NotANumber,
            LineError::BadTimestamp(..) => RejectReason::BadTimestamp,
            LineError::BadQuality(_) => RejectReason::BadQuality,
        };
        out.reject(reason, e.to_string());
    }
}

/// At most `max` characters of `s`, marked when cut; for logs.
pub fn excerpt(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests;
