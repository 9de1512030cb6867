//! C2SP `tlog-tiles` paths.
//!
//! ```text
//! tile/<L>/<N>[.p/<W>]        hash tile: level L, index N, partial width W (1..=255)
//! tile/entries/<N>[.p/<W>]    entry bundle: entries N*256 .. N*256+W
//! ```
//!
//! `N` is written in groups of three decimal digits, every group but the last prefixed with `x`
//! (`1234067` → `x001/x234/067`, `5` → `005`). Only the canonical spelling is accepted, so each
//! tile has exactly one path (important for caches).
//!
//! A level-`L` tile holds the hashes of the nodes at height `8·L` with indices
//! `N·256 .. N·256+W`: level 0 holds leaf hashes, level 1 the roots of 256-leaf subtrees, and so
//! on. An entry bundle is the concatenation of `uint16` big-endian length-prefixed entries.

use std::fmt;

/// Hashes (or entries) in a full tile.
pub const TILE_WIDTH: u64 = 256;

/// Tree height covered by one tile level.
pub const TILE_HEIGHT: u32 = 8;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TilePath {
    /// A hash tile.
    Hashes {
        /// Tile level (node height `8 * level`).
        level: u8,
        /// Tile index within the level.
        index: u64,
        /// Partial width, `None` for a full tile.
        width: Option<u8>,
    },
    /// An entry bundle.
    Entries {
        /// Bundle index (entries `index * 256 ..`).
        index: u64,
        /// Partial width, `None` for a full bundle.
        width: Option<u8>,
    },
}

/// A path that is not a canonical tlog-tiles path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path:?} is not a tile path: {reason}")]
pub struct TilePathError {
    /// The offending path.
    pub path: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TilePath {
    /// Number of hashes or entries the tile holds.
    pub fn width(&self) -> u64 {
        match self {
            Self::Hashes { width, .. } | Self::Entries { width, .. } => {
                width.map_or(TILE_WIDTH, u64::from)
            }
        }
    }

    /// Parses a canonical tile path (with or without a leading `/`).
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        let err = |reason| TilePathError {
            path: path.to_owned(),
            reason,
        };
        let rest = path.strip_prefix('/').unwrap_or(path);
        let rest = rest
            .strip_prefix("tile/")
            .ok_or(err("missing tile/ prefix"))?;
        let (kind, rest) = rest.split_once('/').ok_or(err("missing tile index"))?;
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, w)) => {
                let w = crate::checkpoint::parse_decimal(w)
                    .filter(|w| (1..TILE_WIDTH).contains(w))
                    .ok_or(err("partial width must be 1..=255"))?;
                (index_part, Some(w as u8))
            }
            None => (rest, None),
        };
        let index = parse_index(index_part).ok_or(err("tile index is not canonical"))?;
        let tile = if kind == "entries" {
            Self::Entries { index, width }
        } else {
            let level = crate::checkpoint::parse_decimal(kind)
                .and_then(|l| u8::try_from(l).ok())
                .ok_or(err("level must be a decimal number"))?;
            Self::Hashes {
                level,
                index,
                width,
            }
        };
        Ok(tile)
    }
}

fn parse_index(s: &str) -> Option<u64> {
    let groups: Vec<&str> = s.split('/').collect();
    let (last, prefix) = groups.split_last()?;
    let mut n: u64 = 0;
    for (i, group) in prefix.iter().enumerate() {
        let digits = group.strip_prefix('x')?;
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if i == 0 && digits == "000" {
            return None;
        }
        n = n
            .checked_mul(1000)?
            .checked_add(digits.parse::<u64>().ok()?)?;
    }
    if last.len() != 3 || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.checked_mul(1000)?.checked_add(last.parse::<u64>().ok()?)
}

fn write_index(f: &mut fmt::Formatter<'_>, n: u64) -> fmt::Result {
    let mut groups = Vec::new();
    let mut rest = n;
    loop {
        groups.push(rest % 1000);
        rest /= 1000;
        if rest == 0 {
            break;
        }
    }
    for (i, g) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            write!(f, "x{g:03}/")?;
        } else {
            write!(f, "{g:03}")?;
        }
    }
    Ok(())
}

impl fmt::Display for TilePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (index, width) = match *self {
            Self::Hashes {
                level,
                index,
                width,
            } => {
                write!(f, "tile/{level}/")?;
                (index, width)
            }
            Self::Entries { index, width } => {
                f.write_str("tile/entries/")?;
                (index, width)
            }
        };
        write_index(f, index)?;
        if let Some(w) = width {
            write!(f, ".p/{w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_in_canonical_form() {
        let cases = [
            (
                "tile/0/005",
                TilePath::Hashes {
                    level: 0,
                    index: 5,
                    width: None,
                },
            ),
            (
                "tile/1/x001/x234/067",
                TilePath::Hashes {
                    level: 1,
                    index: 1_234_067,
                    width: None,
                },
            ),
            (
                "tile/2/x001/000.p/17",
                TilePath::Hashes {
                    level: 2,
                    index: 1000,
                    width: Some(17),
                },
            ),
            (
                "tile/entries/000.p/1",
                TilePath::Entries {
                    index: 0,
                    width: Some(1),
                },
            ),
            (
                "tile/entries/x999/999",
                TilePath::Entries {
                    index: 999_999,
                    width: None,
                },
            ),
        ];
        for (text, tile) in cases {
            assert_eq!(TilePath::parse(text).unwrap(), tile, "{text}");
            assert_eq!(tile.to_string(), text);
        }
    }

    #[test]
    fn non_canonical_paths_are_rejected() {
        for bad in [
            "tile/0/5",
            "tile/0/x000/005",
            "tile/0/001/005",
            "tile/00/005",
            "tile/0/005.p/0",
            "tile/0/005.p/256",
            "tile/0/005.p/017",
            "tiles/0/005",
            "tile/entries/x1/005",
            "tile/0/",
            "tile/-1/005",
            "tile/0/x99999999999999999/000",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }
}
