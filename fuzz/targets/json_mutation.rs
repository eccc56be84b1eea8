//! Structure-aware mutation of a JSON document for the fuzz targets that
//! start from a valid signed document: the input bytes choose, through
//! `arbitrary`, which field to change and how.

use std::path::PathBuf;

use arbitrary::{Result, Unstructured};
use base64::Engine as _;
use serde_json::Value;

/// `../shared/fixtures` (where the valid documents come from), seen from
/// the repository root (the replay test) or from `fuzz/` (the fuzzer).
pub fn fixtures() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [
        here.join("../shared/fixtures"),
        here.join("../../shared/fixtures"),
    ]
    .into_iter()
    .find(|p| p.is_dir())
    .expect("../shared/fixtures beside the repository")
}

#[derive(Clone, Debug)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Every path (object keys and array indexes) to a value in `v`, the
/// root included.
pub fn paths(v: &Value) -> Vec<Vec<Step>> {
    let mut out = Vec::new();
    collect(v, &mut Vec::new(), &mut out);
    out
}

fn collect(v: &Value, at: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push(Step::Key(k.clone()));
                collect(child, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                at.push(Step::Index(i));
                collect(child, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, step| match step {
        Step::Key(k) => v.get_mut(k.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

/// One mutation of `doc` at one of `paths`: a string replaced, a base64
/// field's decoded bytes flipped, cut or extended, a number changed, a
/// value nulled, an array element dropped or repeated, an object key
/// removed.
pub fn mutate(u: &mut Unstructured, doc: &mut Value, paths: &[Vec<Step>]) -> Result<()> {
    let path = u.choose(paths)?;
    let Some(v) = at_mut(doc, path) else {
        return Ok(());
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    match u.int_in_range(0..=6)? {
        0 => *v = Value::String(u.arbitrary::<String>()?),
        1 => {
            if let Some(mut bytes) = v.as_str().and_then(|s| b64.decode(s).ok()) {
                if !bytes.is_empty() {
                    let i = u.choose_index(bytes.len())?;
                    bytes[i] ^= u.int_in_range(1..=255)?;
                }
                *v = Value::String(b64.encode(bytes));
            }
        }
        2 => {
            if let Some(bytes) = v.as_str().and_then(|s| b64.decode(s).ok()) {
                let keep = u.choose_index(bytes.len() + 1)?;
                let mut bytes = bytes[..keep].to_vec();
                bytes.extend(u.arbitrary::<Vec<u8>>()?);
                *v = Value::String(b64.encode(bytes));
            }
        }
        3 => {
            *v = match v {
                Value::Number(_) => Value::from(u.arbitrary::<i64>()?),
                Value::String(s) if s.parse::<i64>().is_ok() => {
                    Value::String(u.arbitrary::<i64>()?.to_string())
                }
                _ => Value::Bool(u.arbitrary()?),
            }
        }
        4 => *v = Value::Null,
        5 => {
            if let Value::Array(a) = v {
                if !a.is_empty() {
                    let i = u.choose_index(a.len())?;
                    a.remove(i);
                }
            }
        }
        _ => {
            if let Value::Array(a) = v {
                if !a.is_empty() {
                    let i = u.choose_index(a.len())?;
                    let copy = a[i].clone();
                    a.push(copy);
                }
            } else if let Value::Object(m) = v {
                if !m.is_empty() {
                    let i = u.choose_index(m.len())?;
                    let key = m.keys().nth(i).cloned().unwrap_or_default();
                    m.remove(&key);
                }
            }
        }
    }
    Ok(())
}

/// 1 to 4 mutations of a copy of `base`, as the input decides.
pub fn mutated(data: &[u8], base: &Value, paths: &[Vec<Step>]) -> Value {
    let mut u = Unstructured::new(data);
    let mut doc = base.clone();
    let n = u.int_in_range(1..=4u8).unwrap_or(1);
    for _ in 0..n {
        if mutate(&mut u, &mut doc, paths).is_err() {
            break;
        }
    }
    doc
}
