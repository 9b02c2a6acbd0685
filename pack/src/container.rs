//! The zip container of a pack: the one canonical form of a ZIP file
//! (PKWARE APPNOTE.TXT 6.3.10) that packs are written in, and a reader that
//! accepts that form and nothing else.
//!
//! ```text
//! [local file header 1][name 1][data 1]       4.3.7, then the stored bytes
//! ...
//! [local file header n][name n][data n]
//! [central directory header 1][name 1]        4.3.12
//! ...
//! [central directory header n][name n]
//! [end of central directory record]           4.3.16, no comment
//! ```
//!
//! Every field has one value: members are *stored* (method 0), never
//! compressed; no encryption, data descriptor, extra field, comment or
//! ZIP64 record; the time is 1980-01-01 00:00 (the earliest DOS time); the
//! central directory lists the members in the order they are stored, with
//! no gap between them and nothing before the first or after the end
//! record. Names are relative paths of `[A-Za-z0-9._-]` segments.
//!
//! Why so strict: the reader then checks every byte of the file. A byte of
//! a header is either a fixed value or one the other copy must equal, a
//! byte of data is covered by the member's CRC-32 here and by the SHA-256
//! the signed manifest lists, so no byte of a pack can change unnoticed.
//! Deflate would break that (a deflate stream has padding bits its decoder
//! ignores) and would let a small member inflate to gigabytes; stored data
//! is its own size, so the reader never allocates more than it was given.

use std::collections::HashSet;

use thiserror::Error;

/// Largest zip accepted, and written.
pub const MAX_ZIP_SIZE: usize = 256 * 1024 * 1024;
/// Most members a zip may hold (the format's 16-bit count, without ZIP64).
pub const MAX_MEMBERS: usize = 65_535;
/// Longest member name, in bytes.
pub const MAX_NAME_LEN: usize = 255;

const LOCAL_SIGNATURE: u32 = 0x0403_4b50;
const CENTRAL_SIGNATURE: u32 = 0x0201_4b50;
const END_SIGNATURE: u32 = 0x0605_4b50;
const LOCAL_HEADER_LEN: usize = 30;
const CENTRAL_HEADER_LEN: usize = 46;
const END_RECORD_LEN: usize = 22;
/// Version needed to extract: 1.0, enough for stored members (4.4.3.2).
const VERSION_NEEDED: u16 = 10;
/// Version made by: UNIX (3) in the high byte, so the external attributes
/// are a mode; spec version 1.0 in the low byte (4.4.2).
const VERSION_MADE_BY: u16 = 0x030A;
/// No flag bits: no encryption, no data descriptor, names in ASCII.
const FLAGS: u16 = 0;
/// Compression method 0, stored (4.4.5).
const METHOD_STORED: u16 = 0;
/// DOS time 00:00:00 (4.4.6).
const DOS_TIME: u16 = 0;
/// DOS date 1980-01-01: day 1, month 1, year 0 (4.4.6).
const DOS_DATE: u16 = (1 << 5) | 1;
/// External attributes: a regular file, mode 0644, in the high 16 bits.
const EXTERNAL_ATTRIBUTES: u32 = 0o100_644 << 16;

/// A zip that is not in the canonical form, or too large to write.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ContainerError {
    /// The file is larger than [`MAX_ZIP_SIZE`].
    #[error("the zip is {size} bytes, more than the {MAX_ZIP_SIZE} accepted")]
    TooLarge {
        /// Its size.
        size: usize,
    },
    /// More members than [`MAX_MEMBERS`], or than the caller allows.
    #[error("the zip holds {count} members, more than the {limit} accepted")]
    TooManyMembers {
        /// Members the end record declares (or the writer was given).
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A structure is malformed or not canonical; `at` is its byte offset.
    #[error("zip structure at byte {at}: {what}")]
    Malformed {
        /// Offset of the record at fault.
        at: usize,
        /// What is wrong with it.
        what: String,
    },
    /// A member name is not a plain relative path.
    #[error("member name {name:?} is not a relative path of [A-Za-z0-9._-] segments")]
    BadName {
        /// The name, lossily decoded.
        name: String,
    },
    /// Two members have one name.
    #[error("member {name:?} appears twice")]
    Duplicate {
        /// The name.
        name: String,
    },
    /// A member's data does not match its CRC-32.
    #[error("member {name:?}: data does not match its CRC-32")]
    Crc {
        /// The member.
        name: String,
    },
}

/// One member of a read zip: its name and its stored bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member<'a> {
    /// The name, a checked relative path.
    pub name: &'a str,
    /// The bytes.
    pub data: &'a [u8],
}

/// Whether `name` may name a member: 1 to [`MAX_NAME_LEN`] bytes of
/// `/`-separated segments of `[A-Za-z0-9._-]`, none empty, `.` or `..`
/// (so no absolute path, no traversal, no backslash, no directory entry).
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.split('/').all(|segment| {
            !segment.is_empty()
                && segment != "."
                && segment != ".."
                && segment
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        })
}

fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

/// `n` as a header field of the format's width; the writer checks the
/// totals first, so every value it converts fits.
fn field<T: TryFrom<usize>>(n: usize, at: usize, what: &str) -> Result<T, ContainerError> {
    T::try_from(n).map_err(|_| ContainerError::Malformed {
        at,
        what: format!("{what} {n} does not fit its field"),
    })
}

/// Writes `members` in the canonical form, in the order given.
///
/// # Errors
///
/// [`ContainerError::BadName`] or [`ContainerError::Duplicate`] for a name
/// the reader would refuse, [`ContainerError::TooManyMembers`] and
/// [`ContainerError::TooLarge`] past the limits: what this writes, [`read`]
/// accepts.
pub fn write(members: &[(&str, &[u8])]) -> Result<Vec<u8>, ContainerError> {
    if members.len() > MAX_MEMBERS {
        return Err(ContainerError::TooManyMembers {
            count: members.len(),
            limit: MAX_MEMBERS,
        });
    }
    let mut names = HashSet::new();
    let mut size = END_RECORD_LEN;
    for (name, data) in members {
        if !is_valid_name(name) {
            return Err(ContainerError::BadName {
                name: name.to_string(),
            });
        }
        if !names.insert(*name) {
            return Err(ContainerError::Duplicate {
                name: name.to_string(),
            });
        }
        size = size.saturating_add(LOCAL_HEADER_LEN + CENTRAL_HEADER_LEN + 2 * name.len());
        size = size.saturating_add(data.len());
    }
    if size > MAX_ZIP_SIZE {
        return Err(ContainerError::TooLarge { size });
    }
    // From here every offset and size is below MAX_ZIP_SIZE < 4 GiB and
    // every name below 256 bytes: each fits its 32- or 16-bit field.
    let mut out = Vec::with_capacity(size);
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len();
        let crc = crc32(data);
        let len: u32 = field(data.len(), offset, "size")?;
        let name_len: u16 = field(name.len(), offset, "name length")?;
        let offset32: u32 = field(offset, offset, "offset")?;

        put32(&mut out, LOCAL_SIGNATURE);
        for value in [VERSION_NEEDED, FLAGS, METHOD_STORED, DOS_TIME, DOS_DATE] {
            put16(&mut out, value);
        }
        for value in [crc, len, len] {
            put32(&mut out, value);
        }
        put16(&mut out, name_len);
        put16(&mut out, 0); // extra field length
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);

        put32(&mut central, CENTRAL_SIGNATURE);
        for value in [
            VERSION_MADE_BY,
            VERSION_NEEDED,
            FLAGS,
            METHOD_STORED,
            DOS_TIME,
            DOS_DATE,
        ] {
            put16(&mut central, value);
        }
        for value in [crc, len, len] {
            put32(&mut central, value);
        }
        // Name length; extra, comment lengths, disk start, internal attributes.
        for value in [name_len, 0, 0, 0, 0] {
            put16(&mut central, value);
        }
        put32(&mut central, EXTERNAL_ATTRIBUTES);
        put32(&mut central, offset32);
        central.extend_from_slice(name.as_bytes());
    }
    let central_offset: u32 = field(out.len(), out.len(), "central directory offset")?;
    let central_size: u32 = field(central.len(), out.len(), "central directory size")?;
    let count: u16 = field(members.len(), out.len(), "member count")?;
    out.extend_from_slice(&central);
    put32(&mut out, END_SIGNATURE);
    // This disk, the central directory's disk, its members here and in all.
    for value in [0, 0, count, count] {
        put16(&mut out, value);
    }
    put32(&mut out, central_size);
    put32(&mut out, central_offset);
    put16(&mut out, 0); // comment length
    debug_assert_eq!(out.len(), size);
    Ok(out)
}

fn put16(out: &mut Vec<u8>, value: u16) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put32(out: &mut Vec<u8>, value: u32) {
    out.extend_from_slice(&value.to_le_bytes());
}

/// A little-endian reader over a record that knows where it starts, so
/// each complaint names the offset.
struct Record<'a> {
    bytes: &'a [u8],
    start: usize,
    pos: usize,
}

impl<'a> Record<'a> {
    /// The `len` bytes of `zip` at `start`, if they are all there.
    fn at(zip: &'a [u8], start: usize, len: usize, what: &str) -> Result<Self, ContainerError> {
        let bytes = start
            .checked_add(len)
            .and_then(|end| zip.get(start..end))
            .ok_or_else(|| ContainerError::Malformed {
                at: start,
                what: format!("{what} runs past the end of the file"),
            })?;
        Ok(Self {
            bytes,
            start,
            pos: 0,
        })
    }

    fn u16(&mut self) -> u16 {
        // Callers read exactly the record's fixed length: in bounds.
        let value = u16::from_le_bytes([self.bytes[self.pos], self.bytes[self.pos + 1]]);
        self.pos += 2;
        value
    }

    fn u32(&mut self) -> u32 {
        let b = &self.bytes[self.pos..self.pos + 4];
        self.pos += 4;
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Reads a 16-bit field that must hold `expected`.
    fn expect16(&mut self, expected: u16, what: &str) -> Result<(), ContainerError> {
        let at = self.start + self.pos;
        let found = self.u16();
        if found == expected {
            Ok(())
        } else {
            Err(ContainerError::Malformed {
                at,
                what: format!("{what} is {found:#06x}, not {expected:#06x}"),
            })
        }
    }

    /// Reads a 32-bit field that must hold `expected`.
    fn expect32(&mut self, expected: u32, what: &str) -> Result<(), ContainerError> {
        let at = self.start + self.pos;
        let found = self.u32();
        if found == expected {
            Ok(())
        } else {
            Err(ContainerError::Malformed {
                at,
                what: format!("{what} is {found:#010x}, not {expected:#010x}"),
            })
        }
    }
}

/// A central directory header's variable fields; the fixed ones are checked
/// as it is read.
struct CentralEntry<'a> {
    crc: u32,
    size: u32,
    name: &'a str,
    offset: usize,
}

/// Reads a zip in the canonical form, accepting at most `max_members`
/// members (and never more than [`MAX_MEMBERS`]).
///
/// Checks, in order: the size; the end record (last 22 bytes, no comment);
/// that the central directory ends where the end record starts and holds
/// exactly the members declared; each central header's fixed fields, its
/// name (valid, not seen before) and that its local header starts where the
/// previous member's data ended; the local header's fields equal the
/// central ones; that the last member's data ends where the central
/// directory starts; each member's CRC-32. Nothing is allocated beyond the
/// member list: data are slices of `zip`.
///
/// # Errors
///
/// [`ContainerError`] naming the record or member at fault.
pub fn read(zip: &[u8], max_members: usize) -> Result<Vec<Member<'_>>, ContainerError> {
    if zip.len() > MAX_ZIP_SIZE {
        return Err(ContainerError::TooLarge { size: zip.len() });
    }
    let end_at = zip
        .len()
        .checked_sub(END_RECORD_LEN)
        .ok_or(ContainerError::Malformed {
            at: 0,
            what: "shorter than an end of central directory record".into(),
        })?;
    let mut end = Record::at(zip, end_at, END_RECORD_LEN, "the end record")?;
    end.expect32(END_SIGNATURE, "end record signature (the last 22 bytes)")?;
    end.expect16(0, "number of this disk")?;
    end.expect16(0, "disk of the central directory")?;
    let here = end.u16();
    end.expect16(here, "total members (must equal the members on this disk)")?;
    let central_size = end.u32() as usize;
    let central_offset = end.u32() as usize;
    end.expect16(0, "comment length")?;

    let count = usize::from(here);
    let limit = max_members.min(MAX_MEMBERS);
    if count > limit {
        return Err(ContainerError::TooManyMembers { count, limit });
    }
    if central_offset.checked_add(central_size) != Some(end_at) {
        return Err(ContainerError::Malformed {
            at: end_at,
            what: format!(
                "central directory at {central_offset} of {central_size} bytes does not end at the end record"
            ),
        });
    }

    // The central directory, member by member.
    let mut entries: Vec<CentralEntry<'_>> = Vec::with_capacity(count);
    let mut pos = central_offset;
    for _ in 0..count {
        let mut header = Record::at(zip, pos, CENTRAL_HEADER_LEN, "a central directory header")?;
        header.expect32(CENTRAL_SIGNATURE, "central directory header signature")?;
        header.expect16(VERSION_MADE_BY, "version made by")?;
        header.expect16(VERSION_NEEDED, "version needed to extract")?;
        header.expect16(FLAGS, "general purpose flags")?;
        header.expect16(
            METHOD_STORED,
            "compression method (only stored is accepted)",
        )?;
        header.expect16(DOS_TIME, "modification time")?;
        header.expect16(DOS_DATE, "modification date")?;
        let crc = header.u32();
        let size = header.u32();
        header.expect32(size, "uncompressed size (must equal the stored size)")?;
        let name_len = usize::from(header.u16());
        header.expect16(0, "extra field length")?;
        header.expect16(0, "file comment length")?;
        header.expect16(0, "disk number start")?;
        header.expect16(0, "internal file attributes")?;
        header.expect32(EXTERNAL_ATTRIBUTES, "external file attributes")?;
        let offset = header.u32() as usize;
        let name_at = pos + CENTRAL_HEADER_LEN;
        let name = Record::at(zip, name_at, name_len, "a central directory name")?.bytes;
        let name = std::str::from_utf8(name)
            .ok()
            .filter(|n| is_valid_name(n))
            .ok_or_else(|| ContainerError::BadName {
                name: String::from_utf8_lossy(name).into_owned(),
            })?;
        pos = name_at + name_len;
        if pos > end_at {
            return Err(ContainerError::Malformed {
                at: name_at,
                what: "central directory runs into the end record".into(),
            });
        }
        entries.push(CentralEntry {
            crc,
            size,
            name,
            offset,
        });
    }
    if pos != end_at {
        return Err(ContainerError::Malformed {
            at: pos,
            what: "bytes between the central directory and the end record".into(),
        });
    }

    // The members, in order, back to back from byte 0.
    let mut seen = HashSet::with_capacity(count);
    let mut members = Vec::with_capacity(count);
    let mut next = 0usize;
    for entry in &entries {
        if !seen.insert(entry.name) {
            return Err(ContainerError::Duplicate {
                name: entry.name.to_string(),
            });
        }
        if entry.offset != next {
            return Err(ContainerError::Malformed {
                at: next,
                what: format!(
                    "member {:?} starts at {}, not right after the previous one",
                    entry.name, entry.offset
                ),
            });
        }
        let mut local = Record::at(zip, next, LOCAL_HEADER_LEN, "a local file header")?;
        local.expect32(LOCAL_SIGNATURE, "local file header signature")?;
        local.expect16(VERSION_NEEDED, "version needed to extract")?;
        local.expect16(FLAGS, "general purpose flags")?;
        local.expect16(
            METHOD_STORED,
            "compression method (only stored is accepted)",
        )?;
        local.expect16(DOS_TIME, "modification time")?;
        local.expect16(DOS_DATE, "modification date")?;
        local.expect32(entry.crc, "CRC-32 (must equal the central directory's)")?;
        local.expect32(
            entry.size,
            "compressed size (must equal the central directory's)",
        )?;
        local.expect32(
            entry.size,
            "uncompressed size (must equal the central directory's)",
        )?;
        // A name's length came from a u16: it fits.
        local.expect16(entry.name.len() as u16, "name length")?;
        local.expect16(0, "extra field length")?;
        let name_at = next + LOCAL_HEADER_LEN;
        let name = Record::at(zip, name_at, entry.name.len(), "a local file name")?.bytes;
        if name != entry.name.as_bytes() {
            return Err(ContainerError::Malformed {
                at: name_at,
                what: format!(
                    "local name {:?} differs from the central directory's {:?}",
                    String::from_utf8_lossy(name),
                    entry.name
                ),
            });
        }
        let data_at = name_at + entry.name.len();
        let data = Record::at(zip, data_at, entry.size as usize, "member data")?.bytes;
        next = data_at + data.len();
        if next > central_offset {
            return Err(ContainerError::Malformed {
                at: data_at,
                what: format!("member {:?} runs into the central directory", entry.name),
            });
        }
        if crc32(data) != entry.crc {
            return Err(ContainerError::Crc {
                name: entry.name.to_string(),
            });
        }
        members.push(Member {
            name: entry.name,
            data,
        });
    }
    if next != central_offset {
        return Err(ContainerError::Malformed {
            at: next,
            what: "bytes between the last member and the central directory".into(),
        });
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::hostile::{declare_deflated, deflate_bomb, rename};
    use super::*;

    fn sample() -> Vec<u8> {
        write(&[
            ("a.txt", b"hello".as_slice()),
            ("dir/b.bin", &[0u8, 1, 2, 255]),
            ("empty", b""),
        ])
        .expect("writing")
    }

    #[test]
    fn what_is_written_reads_back_in_order() {
        let zip = sample();
        let members = read(&zip, MAX_MEMBERS).expect("reading");
        let got: Vec<(&str, &[u8])> = members.iter().map(|m| (m.name, m.data)).collect();
        assert_eq!(
            got,
            vec![
                ("a.txt", b"hello".as_slice()),
                ("dir/b.bin", &[0u8, 1, 2, 255]),
                ("empty", b""),
            ]
        );
        assert_eq!(read(&write(&[]).expect("empty zip"), 0), Ok(vec![]));
    }

    #[test]
    fn an_independent_zip_reader_reads_the_canonical_form() {
        // The zip crate as the oracle: the same names, order, data and mode.
        use std::io::Read;
        let zip = sample();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&zip)).expect("zip crate");
        let mut got = Vec::new();
        for i in 0..archive.len() {
            let mut file = archive.by_index(i).expect("member");
            assert_eq!(file.compression(), zip::CompressionMethod::Stored);
            assert_eq!(file.unix_mode(), Some(0o100_644));
            let mut data = Vec::new();
            file.read_to_end(&mut data).expect("data");
            got.push((file.name().expect("a name").to_string(), data));
        }
        assert_eq!(
            got,
            vec![
                ("a.txt".to_string(), b"hello".to_vec()),
                ("dir/b.bin".to_string(), vec![0, 1, 2, 255]),
                ("empty".to_string(), vec![]),
            ]
        );
    }

    #[test]
    fn every_changed_byte_is_refused() {
        let zip = sample();
        for at in 0..zip.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut bad = zip.clone();
                bad[at] ^= flip;
                assert!(
                    read(&bad, MAX_MEMBERS).is_err(),
                    "byte {at} ^ {flip:#04x} was accepted"
                );
            }
        }
    }

    #[test]
    fn bytes_added_or_cut_anywhere_are_refused() {
        let zip = sample();
        for at in 0..=zip.len() {
            let mut longer = zip.clone();
            longer.insert(at, 0);
            assert!(read(&longer, MAX_MEMBERS).is_err(), "0 inserted at {at}");
        }
        for len in 0..zip.len() {
            assert!(read(&zip[..len], MAX_MEMBERS).is_err(), "cut to {len}");
            assert!(
                read(&zip[len + 1..], MAX_MEMBERS).is_err(),
                "cut from {len}"
            );
        }
    }

    #[test]
    fn names_must_be_plain_relative_paths() {
        for good in [
            "a",
            "entries/5.leaf",
            "blobs/sha256/ab",
            "README.md",
            "a-b_c.d",
        ] {
            assert!(is_valid_name(good), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a/./b",
            "a//b",
            "a/",
            "a\\b",
            "C:x",
            "a b",
            "é",
            &"x".repeat(MAX_NAME_LEN + 1),
        ] {
            assert!(!is_valid_name(bad), "{bad:?}");
            assert!(matches!(
                write(&[(bad, b"")]),
                Err(ContainerError::BadName { .. })
            ));
        }
    }

    #[test]
    fn duplicate_names_are_refused_by_writer_and_reader() {
        assert!(matches!(
            write(&[("a", b"1"), ("a", b"2")]),
            Err(ContainerError::Duplicate { .. })
        ));
        // Written as two names of one length, then renamed in both headers.
        let mut zip = write(&[("a", b"1".as_slice()), ("b", b"2")]).expect("writing");
        rename(&mut zip, 1, b"a");
        // The CRCs are of the data, unchanged; only the names collide.
        assert_eq!(
            read(&zip, MAX_MEMBERS),
            Err(ContainerError::Duplicate { name: "a".into() })
        );
        // And a name that escapes the directory it is extracted into.
        let mut zip = write(&[("abcd", b"1".as_slice())]).expect("writing");
        rename(&mut zip, 0, b"../a");
        assert!(matches!(
            read(&zip, MAX_MEMBERS),
            Err(ContainerError::BadName { .. })
        ));
    }

    #[test]
    fn member_count_is_bounded_before_anything_is_read() {
        let zip = sample();
        assert_eq!(
            read(&zip, 2),
            Err(ContainerError::TooManyMembers { count: 3, limit: 2 })
        );
        let huge = vec![0u8; MAX_ZIP_SIZE + 1];
        assert_eq!(
            read(&huge, MAX_MEMBERS),
            Err(ContainerError::TooLarge {
                size: MAX_ZIP_SIZE + 1
            })
        );
    }

    #[test]
    fn a_deflated_member_is_refused_without_inflating_it() {
        // A zip bomb: 64 MiB of zeros deflated to some 64 KiB, declared to
        // inflate to 10 bytes. Refused at the method field of its central
        // header, before any of its data is looked at.
        let bomb = deflate_bomb(64);
        let mut zip = write(&[("README.md", bomb.as_slice())]).expect("writing");
        declare_deflated(&mut zip, 0, 10);
        let started = std::time::Instant::now();
        let err = read(&zip, MAX_MEMBERS).expect_err("a deflated member");
        assert!(err.to_string().contains("compression method"), "{err}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}

/// Test tools other modules' tests share: hostile zips.
#[cfg(test)]
pub(crate) mod hostile {
    use super::*;

    /// `mib` MiB of zeros as a raw deflate stream.
    pub(crate) fn deflate_bomb(mib: usize) -> Vec<u8> {
        use std::io::Write;
        let mut encoder =
            flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..mib {
            encoder.write_all(&zeros).expect("deflating in memory");
        }
        encoder.finish().expect("deflating in memory")
    }

    /// Offsets of member `index`'s local and central headers in a
    /// canonical zip.
    fn headers(zip: &[u8], index: usize) -> (usize, usize) {
        let end = zip.len() - END_RECORD_LEN;
        let u32_at = |at: usize| {
            u32::from_le_bytes([zip[at], zip[at + 1], zip[at + 2], zip[at + 3]]) as usize
        };
        let mut central = u32_at(end + 16);
        for _ in 0..index {
            let name_len = usize::from(u16::from_le_bytes([zip[central + 28], zip[central + 29]]));
            central += CENTRAL_HEADER_LEN + name_len;
        }
        (u32_at(central + 42), central)
    }

    /// Rewrites member `index` of a canonical zip as deflated (method 8),
    /// declaring `inflated` as its uncompressed size, in both headers: the
    /// zip a bomb-maker would send, every other field still canonical.
    pub(crate) fn declare_deflated(zip: &mut [u8], index: usize, inflated: u32) {
        let (local, central) = headers(zip, index);
        zip[central + 10..central + 12].copy_from_slice(&8u16.to_le_bytes());
        zip[central + 24..central + 28].copy_from_slice(&inflated.to_le_bytes());
        zip[local + 8..local + 10].copy_from_slice(&8u16.to_le_bytes());
        zip[local + 22..local + 26].copy_from_slice(&inflated.to_le_bytes());
    }

    /// Renames member `index` in both headers to `name`, of the same length
    /// (so every offset stays right, and the CRC is of the data alone).
    pub(crate) fn rename(zip: &mut [u8], index: usize, name: &[u8]) {
        let (local, central) = headers(zip, index);
        let len = usize::from(u16::from_le_bytes([zip[local + 26], zip[local + 27]]));
        assert_eq!(len, name.len(), "a rename keeps the length");
        zip[local + LOCAL_HEADER_LEN..local + LOCAL_HEADER_LEN + len].copy_from_slice(name);
        zip[central + CENTRAL_HEADER_LEN..central + CENTRAL_HEADER_LEN + len].copy_from_slice(name);
    }
}
