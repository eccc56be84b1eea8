//! Split archives: the archive byte stream cut into numbered volumes
//! (`NAME.001`, `NAME.002`…, whose concatenation is the archive), optional
//! Reed–Solomon parity volumes (`NAME.p01`…) and the index
//! `NAME.volumes.json`. `docs/format.md` ("Volumes") is the specification.
//!
//! - `index`: the index file, its limits and names;
//! - `joined`: the data volumes read by offset as the one archive they make;
//! - `writer`: a `Write` that cuts the stream into volumes (pack);
//! - `parity`: parity encoding and rebuilding, stripe by stripe;
//! - `set`: opening a set from any of its files and checking its files;
//! - `reader`: a `Read` across the data volumes that checks each one as it
//!   ends, and the check of a single volume;
//! - `work`: hashing whole volume files, several at once.
//!
//! Any reader of archives opens a set with [`open`] and reads it with
//! [`VolumeReader`]; the pipeline's archive input does exactly that.

pub mod index;
pub mod joined;
pub mod parity;
pub mod reader;
pub mod set;
pub mod work;
pub mod writer;

pub use index::{VolumeId, VolumeIndex};
pub use reader::{check_data, check_one, survey, OneVolume, VolumeReader};
pub use set::{locate, VolumeSet};
pub use writer::{VolumeWriter, WrittenVolume};

use crate::error::Error;

/// Open the volume set `path` belongs to (its index, or any volume's name)
/// and check its files: every data volume present with its size, nothing
/// extra. Returns the set and warnings (e.g. a missing parity volume).
/// `Ok(None)`: `path` is not part of a volume set.
pub fn open(path: &std::path::Path) -> Result<Option<(VolumeSet, Vec<String>)>, Error> {
    let Some(index) = locate(path) else {
        return Ok(None);
    };
    let set = VolumeSet::open(&index)?;
    let warnings = set.check_files()?;
    Ok(Some((set, warnings)))
}

/// Parse a `--volume-size`: plain bytes, or a number with a decimal
/// (`K`, `M`, `G`, `T`, optionally followed by `B`) or binary (`KiB`,
/// `MiB`, `GiB`, `TiB`) unit. At least 1 MiB.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 4G, 4GiB, 700M, 1048576)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "t" | "tb" => 1_000_000_000_000,
        "kib" => 1 << 10,
        "mib" => 1 << 20,
        "gib" => 1 << 30,
        "tib" => 1 << 40,
        _ => {
            return Err(format!(
                "{text:?}: unknown unit {unit:?} (use K, M, G, T or KiB, MiB, GiB, TiB)"
            ))
        }
    };
    let size = n
        .checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))?;
    if size < index::MIN_VOLUME_SIZE {
        return Err(format!(
            "{text:?} is {size} bytes; volumes must be at least 1 MiB ({} bytes)",
            index::MIN_VOLUME_SIZE
        ));
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_size("4G"), Ok(4_000_000_000));
        assert_eq!(parse_size("4GiB"), Ok(4 << 30));
        assert_eq!(parse_size("700M"), Ok(700_000_000));
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("2mib"), Ok(2 << 20));
        assert!(parse_size("1048575").is_err());
        assert!(parse_size("512K").is_err());
        assert!(parse_size("4X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999T").is_err());
    }
}
