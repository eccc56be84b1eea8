//! Reed–Solomon parity over the data volumes, stripe by stripe: stripe `j`
//! is bytes `[j·S, (j+1)·S)` of every data volume (zero past a shorter last
//! volume), and parity volume `p` holds the `p`-th recovery shard of every
//! stripe. Only one stripe of every volume is in memory at a time, so
//! memory is bounded by `(data + parity) · S` (`index::shard_bytes_for`)
//! whatever the volume size. The code itself is `reed-solomon-simd`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::FileExt as _;

use reed_solomon_simd::{ReedSolomonDecoder, ReedSolomonEncoder};
use sha2::{Digest as _, Sha256};
use tempfile::NamedTempFile;

use super::writer::WrittenVolume;
use crate::model::Digest;

fn rs_err(e: reed_solomon_simd::Error) -> io::Error {
    io::Error::other(format!("reed-solomon: {e}"))
}

/// A volume being written stripe by stripe.
struct Out {
    file: NamedTempFile,
    out: BufWriter<File>,
    hasher: Sha256,
    size: u64,
}

impl Out {
    fn new(file: NamedTempFile) -> io::Result<Out> {
        let out = BufWriter::with_capacity(1 << 20, file.as_file().try_clone()?);
        Ok(Out {
            file,
            out,
            hasher: Sha256::new(),
            size: 0,
        })
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.hasher.update(bytes);
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn finish(mut self) -> io::Result<WrittenVolume> {
        self.out.flush()?;
        self.out.get_ref().sync_all()?;
        Ok(WrittenVolume {
            file: self.file,
            size: self.size,
            sha256: Digest::from_bytes(self.hasher.finalize().into()),
        })
    }
}

/// The geometry shared by encoding and repair.
pub struct Stripes<'a> {
    /// Sizes of the data volumes, in order.
    pub sizes: &'a [u64],
    pub parity: usize,
    pub shard_bytes: u64,
}

impl Stripes<'_> {
    /// `(offset, length, shard length)` of every stripe.
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
        buf.fill(0);
        let avail = self.sizes[k].saturating_sub(off).min(buf.len() as u64) as usize;
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
    let mut outs = (1..=geo.parity)
        .map(|p| Out::new(new_file(p)?))
        .collect::<io::Result<Vec<_>>>()?;
    let mut enc = ReedSolomonEncoder::new(k, geo.parity, s).map_err(rs_err)?;
    let mut bufs = vec![vec![0u8; s]; k];
    for (off, _, shard) in geo.each() {
        enc.reset(k, geo.parity, shard).map_err(rs_err)?;
        for (i, (f, b)) in data.iter().zip(bufs.iter_mut()).enumerate() {
            geo.read_data(f, i, off, &mut b[..shard])?;
            enc.add_original_shard(&b[..shard]).map_err(rs_err)?;
        }
        let res = enc.encode().map_err(rs_err)?;
        for (out, rec) in outs.iter_mut().zip(res.recovery_iter()) {
            out.put(rec)?;
        }
    }
    outs.into_iter().map(Out::finish).collect()
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
    let mut data_outs = lost_data
        .iter()
        .map(|&i| Ok((i, Out::new(new_file(false, i + 1)?)?)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut parity_outs = lost_parity
        .iter()
        .map(|&i| Ok((i, Out::new(new_file(true, i + 1)?)?)))
        .collect::<io::Result<Vec<_>>>()?;
    let mut bufs = vec![vec![0u8; s]; k];
    let mut pbuf = vec![0u8; s];
    let mut dec = ReedSolomonDecoder::new(k, n, s).map_err(rs_err)?;
    let mut enc = ReedSolomonEncoder::new(k, n, s).map_err(rs_err)?;
    for (off, len, shard) in geo.each() {
        for (i, f) in data.iter().enumerate() {
            if let Some(f) = f {
                geo.read_data(f, i, off, &mut bufs[i][..shard])?;
            }
        }
        if !lost_data.is_empty() {
            dec.reset(k, n, shard).map_err(rs_err)?;
            for (i, f) in data.iter().enumerate() {
                if f.is_some() {
                    dec.add_original_shard(i, &bufs[i][..shard])
                        .map_err(rs_err)?;
                }
            }
            // Just as many recovery shards as there are lost originals.
            for &p in good_parity.iter().take(lost_data.len()) {
                if let Some(f) = &parity[p] {
                    f.read_exact_at(&mut pbuf[..shard], off)?;
                    dec.add_recovery_shard(p, &pbuf[..shard]).map_err(rs_err)?;
                }
            }
            let res = dec.decode().map_err(rs_err)?;
            for &i in &lost_data {
                let restored = res
                    .restored_original(i)
                    .ok_or_else(|| io::Error::other("reed-solomon: a shard was not restored"))?;
                bufs[i][..shard].copy_from_slice(restored);
            }
        }
        for (i, out) in data_outs.iter_mut() {
            out.put(&bufs[*i][..geo.data_len(*i, off, len)])?;
        }
        if !parity_outs.is_empty() {
            enc.reset(k, n, shard).map_err(rs_err)?;
            for b in &bufs {
                enc.add_original_shard(&b[..shard]).map_err(rs_err)?;
            }
            let res = enc.encode().map_err(rs_err)?;
            for (p, out) in parity_outs.iter_mut() {
                let rec = res
                    .recovery(*p)
                    .ok_or_else(|| io::Error::other("reed-solomon: no recovery shard"))?;
                out.put(rec)?;
            }
        }
    }
    let finish = |v: Vec<(usize, Out)>| {
        v.into_iter()
            .map(|(i, o)| Ok((i + 1, o.finish()?)))
            .collect::<io::Result<Vec<_>>>()
    };
    Ok((finish(data_outs)?, finish(parity_outs)?))
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
