//! Warnings as stderr shows them: the same warning about many images is one
//! line with a count and the first few names, so a pack of thousands of
//! images stays readable. `--output json` keeps every warning in full.

pub use crate::model::warning::{no_evidence, Warning};

/// Names listed in a folded line before "and N more".
const SHOWN: usize = 3;
/// Distinct lines printed before the rest are only counted.
const MAX_LINES: usize = 10;

/// The stderr lines for `warnings` of `command`: warnings with the same
/// message fold into one line (first-seen order kept); past `MAX_LINES`
/// the rest are counted, not printed.
pub fn lines(command: &str, warnings: &[Warning]) -> Vec<String> {
    // (message, subjects, count); few distinct messages, so a linear scan.
    let mut groups: Vec<(&str, Vec<&str>, usize)> = Vec::new();
    for w in warnings {
        let i = match groups.iter().position(|g| g.0 == w.message) {
            Some(i) => i,
            None => {
                groups.push((&w.message, Vec::new(), 0));
                groups.len() - 1
            }
        };
        if let Some(g) = groups.get_mut(i) {
            g.2 += 1;
            g.1.extend(w.subject.as_deref());
        }
    }
    let mut out: Vec<String> = groups
        .iter()
        .take(MAX_LINES)
        .map(|(message, subjects, count)| {
            let prefix = format!("airlock {command}: warning:");
            match (subjects.as_slice(), count) {
                ([], 1) => format!("{prefix} {message}"),
                ([], n) => format!("{prefix} {message} ({n} times)"),
                ([one], 1) => format!("{prefix} {one}: {message}"),
                (many, _) => {
                    let names = many[..many.len().min(SHOWN)].join(", ");
                    let rest = many.len().saturating_sub(SHOWN);
                    let more = if rest > 0 {
                        format!(" and {rest} more")
                    } else {
                        String::new()
                    };
                    format!(
                        "{prefix} {message} for {} images: {names}{more}",
                        many.len()
                    )
                }
            }
        })
        .collect();
    let hidden: usize = groups.iter().skip(MAX_LINES).map(|g| g.2).sum();
    if hidden > 0 {
        out.push(format!(
            "airlock {command}: warning: {hidden} more warning(s) not shown (--output json lists them all)"
        ));
    }
    out
}

/// Print [`lines`] to stderr.
pub fn print(command: &str, warnings: &[Warning]) {
    for l in lines(command, warnings) {
        eprintln!("{l}");
    }
}

/// Append every warning, in full, to the report's `warnings` array.
pub fn add_to_json(report: &mut serde_json::Value, warnings: &[Warning]) {
    use serde_json::Value;
    let texts = warnings.iter().map(|w| Value::String(w.text()));
    if let Some(obj) = report.as_object_mut() {
        let list = obj
            .entry("warnings")
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Some(a) = list.as_array_mut() {
            a.extend(texts);
        }
    }
}

/// Print plain-text warnings (the gate's) the same way.
pub fn print_texts(command: &str, texts: &[String]) {
    let w: Vec<Warning> = texts.iter().map(Warning::general).collect();
    print(command, &w);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn about(subject: &str, message: &str) -> Warning {
        Warning {
            subject: Some(subject.into()),
            message: message.into(),
        }
    }

    #[test]
    fn one_warning_reads_as_before() {
        let l = lines("pack", &[about("a:1 (linux/amd64)", "no evidence")]);
        assert_eq!(l, ["airlock pack: warning: a:1 (linux/amd64): no evidence"]);
        let l = lines("verify", &[Warning::general("--no-rekor")]);
        assert_eq!(l, ["airlock verify: warning: --no-rekor"]);
    }

    #[test]
    fn same_message_folds_with_count_and_first_names() {
        let w: Vec<Warning> = (0..800)
            .map(|i| about(&format!("a:{i}"), "no evidence"))
            .collect();
        let l = lines("pack", &w);
        assert_eq!(
            l,
            ["airlock pack: warning: no evidence for 800 images: a:0, a:1, a:2 and 797 more"]
        );
        let l = lines("pack", &w[..2]);
        assert_eq!(
            l,
            ["airlock pack: warning: no evidence for 2 images: a:0, a:1"]
        );
    }

    #[test]
    fn distinct_messages_keep_first_seen_order_and_are_capped() {
        let mut w = vec![
            Warning::general("z"),
            about("a", "y"),
            Warning::general("z"),
        ];
        assert_eq!(
            lines("unpack", &w),
            [
                "airlock unpack: warning: z (2 times)",
                "airlock unpack: warning: a: y"
            ]
        );
        w.extend((0..20).map(|i| Warning::general(format!("m{i}"))));
        let l = lines("unpack", &w);
        assert_eq!(l.len(), MAX_LINES + 1);
        assert_eq!(
            l.last().map(String::as_str),
            Some("airlock unpack: warning: 12 more warning(s) not shown (--output json lists them all)")
        );
    }
}
