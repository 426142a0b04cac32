//! A folder as a ZIP archive (stored, not compressed): what `CodePipeline` hands a provider
//! that takes an artifact as one object (S3 with `Extract = false`, `CodeDeploy` and Elastic
//! Beanstalk revisions). Limits: files under 4 GiB, at most 65,535 of them (no ZIP64).
#![allow(clippy::disallowed_methods)] // Reason: the runtime reads the artifact's files.

use std::path::Path;

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Writes every regular file under `dir` (sorted, paths relative to it) into `out`.
pub fn write(dir: &Path, out: &Path) -> Result<(), String> {
    let mut files = Vec::new();
    collect(dir, dir, &mut files)?;
    files.sort();
    if files.len() > usize::from(u16::MAX) {
        return Err(format!("`{}` has more than 65,535 files", dir.display()));
    }
    let mut body: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    for name in &files {
        let data =
            std::fs::read(dir.join(name)).map_err(|e| format!("cannot read `{name}`: {e}"))?;
        let size = u32::try_from(data.len()).map_err(|_| format!("`{name}` is over 4 GiB"))?;
        let offset =
            u32::try_from(body.len()).map_err(|_| "the archive is over 4 GiB".to_string())?;
        let crc = crc32(&data);
        let name_len = u16::try_from(name.len()).map_err(|_| format!("`{name}`: name too long"))?;
        let head = |sig: u32, central: bool| {
            let mut h = Vec::new();
            h.extend(sig.to_le_bytes());
            if central {
                h.extend(20u16.to_le_bytes()); // made by
            }
            h.extend(20u16.to_le_bytes()); // needed
            h.extend(0x0800u16.to_le_bytes()); // UTF-8 names
            h.extend(0u16.to_le_bytes()); // stored
            h.extend(0u16.to_le_bytes()); // time
            h.extend(0x21u16.to_le_bytes()); // date: 1980-01-01
            h.extend(crc.to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend(size.to_le_bytes());
            h.extend(name_len.to_le_bytes());
            h.extend(0u16.to_le_bytes()); // extra
            if central {
                h.extend(0u16.to_le_bytes()); // comment
                h.extend(0u16.to_le_bytes()); // disk
                h.extend(0u16.to_le_bytes()); // internal attributes
                h.extend((0o100_644u32 << 16).to_le_bytes()); // external: a regular file
                h.extend(offset.to_le_bytes());
            }
            h.extend(name.as_bytes());
            h
        };
        body.extend(head(0x0403_4b50, false));
        body.extend(&data);
        central.extend(head(0x0201_4b50, true));
    }
    let count = u16::try_from(files.len()).unwrap_or(u16::MAX);
    let start = u32::try_from(body.len()).map_err(|_| "the archive is over 4 GiB".to_string())?;
    let size = u32::try_from(central.len()).unwrap_or(u32::MAX);
    body.extend(central);
    body.extend(0x0605_4b50u32.to_le_bytes());
    body.extend([0u8; 4]); // disks
    body.extend(count.to_le_bytes());
    body.extend(count.to_le_bytes());
    body.extend(size.to_le_bytes());
    body.extend(start.to_le_bytes());
    body.extend(0u16.to_le_bytes());
    std::fs::write(out, body).map_err(|e| format!("cannot write `{}`: {e}", out.display()))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read `{}`: {e}", dir.display()))?;
    for e in entries.flatten() {
        let Ok(t) = e.file_type() else { continue };
        let path = e.path();
        if t.is_dir() {
            collect(root, &path, out)?;
        } else if t.is_file() {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn crc32_of_a_known_text() {
        assert_eq!(super::crc32(b"123456789"), 0xCBF4_3926);
    }
}
