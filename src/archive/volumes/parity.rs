//! Reed–Solomon parity over the data volumes, stripe by stripe: stripe `j`
//! is bytes `[j·S, (j+1)·S)` of every data volume (zero past a shorter last
//! volume), and parity volume `p` holds the `p`-th recovery shard of every
//! stripe. Only one stripe of every volume is in memory at a time, so
//! memory is bounded by `(data + parity) · S` (`index::shard_bytes_for`)
//! whatever the volume size. The code itself is `reed-solomon-simd`.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt as _;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};
use tempfile::NamedTempFile;

use super::work;
use super::writer::WrittenVolume;
use crate::model::timings;

fn rs_err(e: reed_solomon_simd::Error) -> io::Error {
    io::Error::other(format!("reed-solomon: {e}"))
}

/// Threads coding stripes at once. Each holds one stripe of every volume
/// and its codec's work space (within 16 MiB, `index::shard_bytes_for`),
/// so two keep pack and repair under 64 MiB.
const CODERS: usize = 2;

/// Run `code` over every stripe, on up to [`CODERS`] threads that each take
/// a contiguous run of stripes (so their reads and writes stay sequential).
fn each_run(
    geo: &Stripes,
    code: impl Fn(&[(u64, usize, usize)]) -> io::Result<()> + Sync,
) -> io::Result<()> {
    let stripes: Vec<_> = geo.each().collect();
    let threads = work::cores().min(CODERS);
    let per = stripes.len().div_ceil(threads).max(1);
    let runs: Vec<&[(u64, usize, usize)]> = stripes.chunks(per).collect();
    work::map(&runs, threads, |run| code(run))
        .into_iter()
        .collect()
}

/// The codec's own CPU time, summed over threads (`--timings` "parity").
fn coded<T>(f: impl FnOnce() -> T) -> T {
    timings::cpu("parity", f)
}

/// Outputs written stripe by stripe at their offsets, then hashed (on all
/// cores) and synced once complete.
fn finish(outs: Vec<(usize, NamedTempFile)>) -> io::Result<Vec<(usize, WrittenVolume)>> {
    let hashed = work::map(&outs, work::cores(), |(_, t)| {
        let f = t.as_file();
        f.sync_all()?;
        work::hash_file(f, u64::MAX)
    });
    outs.into_iter()
        .zip(hashed)
        .map(|((n, file), h)| {
            let (size, sha256) = h?;
            Ok((n, WrittenVolume { file, size, sha256 }))
        })
        .collect()
}

/// The geometry shared by encoding and repair.
pub struct Stripes<'a> {
    /// Sizes of the data volumes, in order.
    pub sizes: &'a [u64],
    pub parity: usize,
    pub shard_bytes: u64,
}

impl Stripes<'_> {
    /// `(offset, length, shard length)` of every stripe. A stripe's shards
    /// sit at its offset in every volume, parity volumes included.
    fn each(&self) -> impl Iterator<Item = (u64, usize, usize)> + '_ {
        let total = self.sizes.first().copied().unwrap_or(0);
        let s = self.shard_bytes.max(2);
        (0..total.div_ceil(s)).map(move |j| {
            let off = j * s;
            let len = (total - off).min(s) as usize;
            (off, len, len + (len & 1))
        })
    }

    /// Read stripe bytes `[off, off+len)` of data volume `k` into `buf`
    /// (zeros past its end).
    fn read_data(&self, file: &File, k: usize, off: u64, buf: &mut [u8]) -> io::Result<()> {
        let avail = self.data_len(k, off, buf.len());
        buf[avail..].fill(0);
        file.read_exact_at(&mut buf[..avail], off)
    }

    /// The bytes of stripe `(off, len)` that belong to data volume `k`.
    fn data_len(&self, k: usize, off: u64, len: usize) -> usize {
        self.sizes[k].saturating_sub(off).min(len as u64) as usize
    }
}

/// Compute the parity volumes of the data volumes `data` (open for
/// reading), writing each into a file made by `new_file(p)`.
pub fn encode(
    geo: &Stripes,
    data: &[File],
    mut new_file: impl FnMut(usize) -> io::Result<NamedTempFile>,
) -> io::Result<Vec<WrittenVolume>> {
    let k = data.len();
    let s = geo.shard_bytes as usize;
    let outs = (1..=geo.parity)
        .map(|p| Ok((p, new_file(p)?)))
        .collect::<io::Result<Vec<_>>>()?;
    each_run(geo, |run| {
        let mut enc = ReedSolomonEncoder::new(k, geo.parity, s).map_err(rs_err)?;
        let mut buf = vec![0u8; s];
        for &(off, _, shard) in run {
            enc.reset(k, geo.parity, shard).map_err(rs_err)?;
            for (i, f) in data.iter().enumerate() {
                geo.read_data(f, i, off, &mut buf[..shard])?;
                coded(|| enc.add_original_shard(&buf[..shard])).map_err(rs_err)?;
            }
            let res = coded(|| enc.encode()).map_err(rs_err)?;
            for ((_, out), rec) in outs.iter().zip(res.recovery_iter()) {
                out.as_file().write_all_at(rec, off)?;
            }
        }
        Ok(())
    })?;
    Ok(finish(outs)?.into_iter().map(|(_, v)| v).collect())
}

/// Rebuilt volumes by number (1-based): data, then parity.
pub type Rebuilt = (Vec<(usize, WrittenVolume)>, Vec<(usize, WrittenVolume)>);

/// Rebuild the volumes marked lost: `data[k]`/`parity[p]` is `Some(file)`
/// for a good volume, `None` for one to rebuild (written into a file made
/// by `new_file(is_parity, n)`). Needs at least as many good volumes as
/// there are data volumes. Returns the rebuilt data volumes, then parity.
pub fn rebuild(
    geo: &Stripes,
    data: &[Option<File>],
    parity: &[Option<File>],
    mut new_file: impl FnMut(bool, usize) -> io::Result<NamedTempFile>,
) -> io::Result<Rebuilt> {
    let k = data.len();
    let n = parity.len();
    let s = geo.shard_bytes as usize;
    let lost_data: Vec<usize> = (0..k).filter(|&i| data[i].is_none()).collect();
    let lost_parity: Vec<usize> = (0..n).filter(|&i| parity[i].is_none()).collect();
    let good_parity: Vec<usize> = (0..n).filter(|&i| parity[i].is_some()).collect();
    if lost_data.len() > good_parity.len() {
        return Err(io::Error::other(format!(
            "{} data volumes are lost but only {} parity volumes are good",
            lost_data.len(),
            good_parity.len()
        )));
    }
    let data_outs = lost_data
        .iter()
        .map(|&i| Ok((i, new_file(false, i + 1)?)))
        .collect::<io::Result<Vec<_>>>()?;
    let parity_outs = lost_parity
        .iter()
        .map(|&i| Ok((i, new_file(true, i + 1)?)))
        .collect::<io::Result<Vec<_>>>()?;
    each_run(geo, |run| {
        // One read buffer: the code copies each shard it is given.
        let mut buf = vec![0u8; s];
        let mut dec = match lost_data.is_empty() {
            true => None,
            false => Some(ReedSolomonDecoder::new(k, n, s).map_err(rs_err)?),
        };
        let mut enc = match parity_outs.is_empty() {
            true => None,
            false => Some(ReedSolomonEncoder::new(k, n, s).map_err(rs_err)?),
        };
        for &(off, len, shard) in run {
            let restored = match dec.as_mut() {
                None => None,
                Some(dec) => {
                    dec.reset(k, n, shard).map_err(rs_err)?;
                    for (i, f) in data.iter().enumerate() {
                        if let Some(f) = f {
                            geo.read_data(f, i, off, &mut buf[..shard])?;
                            coded(|| dec.add_original_shard(i, &buf[..shard])).map_err(rs_err)?;
                        }
                    }
                    // Just as many recovery shards as there are lost originals.
                    for &p in good_parity.iter().take(lost_data.len()) {
                        if let Some(f) = &parity[p] {
                            f.read_exact_at(&mut buf[..shard], off)?;
                            coded(|| dec.add_recovery_shard(p, &buf[..shard])).map_err(rs_err)?;
                        }
                    }
                    Some(coded(|| dec.decode()).map_err(rs_err)?)
                }
            };
            let restored_shard = |i: usize| {
                restored
                    .as_ref()
                    .and_then(|r| r.restored_original(i))
                    .ok_or_else(|| io::Error::other("reed-solomon: a shard was not restored"))
            };
            for (i, out) in &data_outs {
                let shard_bytes = restored_shard(*i)?;
                let bytes = &shard_bytes[..geo.data_len(*i, off, len)];
                out.as_file().write_all_at(bytes, off)?;
            }
            if let Some(enc) = enc.as_mut() {
                enc.reset(k, n, shard).map_err(rs_err)?;
                for (i, f) in data.iter().enumerate() {
                    match f {
                        Some(f) => {
                            geo.read_data(f, i, off, &mut buf[..shard])?;
                            coded(|| enc.add_original_shard(&buf[..shard])).map_err(rs_err)?;
                        }
                        None => {
                            let r = restored_shard(i)?;
                            coded(|| enc.add_original_shard(r)).map_err(rs_err)?;
                        }
                    }
                }
                let res = coded(|| enc.encode()).map_err(rs_err)?;
                for (p, out) in &parity_outs {
                    let rec = res
                        .recovery(*p)
                        .ok_or_else(|| io::Error::other("reed-solomon: no recovery shard"))?;
                    out.as_file().write_all_at(rec, off)?;
                }
            }
        }
        Ok(())
    })?;
    let number = |v: Vec<(usize, WrittenVolume)>| v.into_iter().map(|(i, w)| (i + 1, w)).collect();
    Ok((number(finish(data_outs)?), number(finish(parity_outs)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(dir: &std::path::Path, name: &str, bytes: &[u8]) -> File {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        File::open(p).unwrap()
    }

    #[test]
    fn lost_volumes_are_rebuilt_byte_for_byte() {
        let dir = tempfile::tempdir().unwrap();
        let vols: Vec<Vec<u8>> = [1000usize, 1000, 999]
            .iter()
            .enumerate()
            .map(|(v, &n)| (0..n).map(|i| (i * 7 + v * 13) as u8).collect())
            .collect();
        let sizes: Vec<u64> = vols.iter().map(|v| v.len() as u64).collect();
        let geo = Stripes {
            sizes: &sizes,
            parity: 2,
            shard_bytes: 128,
        };
        let files: Vec<File> = vols
            .iter()
            .enumerate()
            .map(|(i, v)| file_with(dir.path(), &format!("d{i}"), v))
            .collect();
        let parity = encode(&geo, &files, |_| NamedTempFile::new_in(dir.path())).unwrap();
        assert!(parity.iter().all(|p| p.size == 1000));
        // Lose data volumes 1 and 3; keep both parity volumes.
        let data = vec![None, Some(files[1].try_clone().unwrap()), None];
        let par: Vec<Option<File>> = parity
            .iter()
            .map(|p| Some(File::open(p.file.path()).unwrap()))
            .collect();
        let (rebuilt, _) =
            rebuild(&geo, &data, &par, |_, _| NamedTempFile::new_in(dir.path())).unwrap();
        assert_eq!(rebuilt.len(), 2);
        for (i, v) in rebuilt {
            assert_eq!(std::fs::read(v.file.path()).unwrap(), vols[i - 1]);
        }
        // Lose one data volume and one parity volume.
        let data = vec![
            Some(files[0].try_clone().unwrap()),
            None,
            Some(files[2].try_clone().unwrap()),
        ];
        let par = vec![None, Some(File::open(parity[1].file.path()).unwrap())];
        let (d, p) = rebuild(&geo, &data, &par, |_, _| NamedTempFile::new_in(dir.path())).unwrap();
        assert_eq!(std::fs::read(d[0].1.file.path()).unwrap(), vols[1]);
        assert_eq!(p[0].1.sha256, parity[0].sha256);
    }
}
