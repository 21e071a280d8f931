//! Metric families and their two renderings: the Prometheus text exposition (version 0.0.4) and
//! the same figures as JSON.

use std::fmt::Write as _;

use actors::stats::HistogramSnapshot;
use serde_json::{json, Map, Value};

const PREFIX: &str = "wanderer_kills_";

pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(&self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

pub enum Samples {
    /// `(labels, value)`.
    Values(Vec<(Vec<(&'static str, String)>, f64)>),
    /// `(labels, histogram)`.
    Histograms(Vec<(Vec<(&'static str, String)>, HistogramSnapshot)>),
}

/// One metric family: name (without the prefix), help, type, samples.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    pub samples: Samples,
}

pub fn one(name: &'static str, help: &'static str, kind: Kind, value: f64) -> Family {
    Family {
        name,
        help,
        kind,
        samples: Samples::Values(vec![(Vec::new(), value)]),
    }
}

pub fn labelled(
    name: &'static str,
    help: &'static str,
    kind: Kind,
    label: &'static str,
    values: &[(&str, f64)],
) -> Family {
    let samples = values
        .iter()
        .map(|(l, v)| (vec![(label, (*l).to_owned())], *v))
        .collect();
    Family {
        name,
        help,
        kind,
        samples: Samples::Values(samples),
    }
}

fn label_text(labels: &[(&'static str, String)], extra: Option<(&str, String)>) -> String {
    let all: Vec<String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain(extra.map(|(k, v)| (k.to_owned(), v)))
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    if all.is_empty() {
        String::new()
    } else {
        format!("{{{}}}", all.join(","))
    }
}

fn number(v: f64) -> String {
    if v.is_infinite() {
        "+Inf".into()
    } else {
        format!("{v}")
    }
}

impl Family {
    /// The exposed name: the service's prefix, except for the `process_*` families every
    /// Prometheus client exports under their own names.
    pub fn full_name(&self) -> String {
        if self.name.starts_with("process_") {
            self.name.to_owned()
        } else {
            format!("{PREFIX}{}", self.name)
        }
    }
}

/// The text format: `# HELP`, `# TYPE`, then the samples of each family.
pub fn exposition(families: &[Family]) -> String {
    let mut out = String::with_capacity(8 * 1024);
    for f in families {
        let name = f.full_name();
        let _ = writeln!(out, "# HELP {name} {}", f.help);
        let _ = writeln!(out, "# TYPE {name} {}", f.kind.as_str());
        match &f.samples {
            Samples::Values(values) => {
                for (labels, value) in values {
                    let _ = writeln!(out, "{name}{} {}", label_text(labels, None), number(*value));
                }
            }
            Samples::Histograms(histograms) => {
                for (labels, h) in histograms {
                    for (bound, count) in &h.buckets {
                        let le = Some(("le", number(*bound)));
                        let _ = writeln!(out, "{name}_bucket{} {count}", label_text(labels, le));
                    }
                    let _ = writeln!(
                        out,
                        "{name}_sum{} {}",
                        label_text(labels, None),
                        h.sum_seconds
                    );
                    let _ = writeln!(out, "{name}_count{} {}", label_text(labels, None), h.count);
                }
            }
        }
    }
    out
}

/// `{"<name>": value}` for unlabelled families, `{"<name>": {"<label value>": value}}` for
/// labelled ones; histograms as `{"count", "sum_seconds", "buckets": {"<le>": count}}`.
pub fn as_json(families: &[Family]) -> Value {
    let mut out = Map::new();
    for f in families {
        let value = match &f.samples {
            Samples::Values(values) => by_label(values, |v| json!(v)),
            Samples::Histograms(histograms) => by_label(histograms, |h| {
                let buckets: Map<String, Value> = h
                    .buckets
                    .iter()
                    .map(|(bound, count)| (number(*bound), json!(count)))
                    .collect();
                json!({"count": h.count, "sum_seconds": h.sum_seconds, "buckets": buckets})
            }),
        };
        out.insert(f.name.to_owned(), value);
    }
    json!({"metrics": out, "timestamp": actors::model::now_iso()})
}

/// One unlabelled sample as its value; labelled ones as `{"<label values>": value}`.
fn by_label<T>(samples: &[(Vec<(&'static str, String)>, T)], value: impl Fn(&T) -> Value) -> Value {
    match samples {
        [(labels, v)] if labels.is_empty() => value(v),
        many => Value::Object(
            many.iter()
                .map(|(labels, v)| {
                    let key: Vec<&str> = labels.iter().map(|(_, l)| l.as_str()).collect();
                    (key.join(","), value(v))
                })
                .collect(),
        ),
    }
}
