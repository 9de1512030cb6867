//! Interoperability with an independent tlog client: `tlog_tiles` (Cloudflare's port of Go's
//! `golang.org/x/mod/sumdb/tlog`, the code behind the Go checksum database) parses Cairn's
//! checkpoint, fetches Cairn's hash tiles by the paths it computes itself, authenticates them
//! against the checkpoint's root, and proves and checks inclusion of entries — sharing no code
//! with Cairn's Merkle, tile or checkpoint modules.

use std::cell::Cell;
use std::time::Duration;

use cairn_ledger::{Ledger, LedgerOptions};
use tlog_tiles::checkpoint::Checkpoint;
use tlog_tiles::tile::{Tile, TileHashReader, TileReader};
use tlog_tiles::tlog::{self, Hash};

use super::{entry, fill};

/// Cairn's `Ledger::tile` as a `tlog_tiles` tile source (tiles of height 8, as C2SP fixes).
struct CairnTiles<'a> {
    ledger: &'a Ledger,
    /// Flips a bit in the first tile fetched at this C2SP path, to check tampering is caught.
    tamper: Option<&'a str>,
    fetched: Cell<usize>,
}

impl TileReader for CairnTiles<'_> {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog::Error> {
        tiles
            .iter()
            .map(|tile| {
                // `tlog_tiles` spells the Go checksum database's paths, `tile/<H>/<L>/<N>`;
                // C2SP tlog-tiles drops the height: `tile/<L>/<N>`. The rest is the same encoding.
                let go_path = tile.path();
                let path = format!(
                    "tile/{}",
                    go_path.strip_prefix("tile/8/").expect("height-8 tile path")
                );
                let mut data = self
                    .ledger
                    .tile(&path)
                    .map_err(|e| tlog::Error::InvalidInput(format!("{path}: {e}")))?
                    .ok_or_else(|| tlog::Error::InvalidInput(format!("{path}: no such tile")))?;
                if self.tamper == Some(path.as_str()) {
                    data[0] ^= 1;
                }
                self.fetched.set(self.fetched.get() + 1);
                Ok(data)
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

fn ledger_of(dir: &std::path::Path, size: u64) -> Ledger {
    let opts = LedgerOptions {
        origin: Some("cairn/interop".to_owned()),
        checkpoint_interval: Duration::from_secs(3600),
        segment_size: 16 << 20,
        ..LedgerOptions::default()
    };
    let ledger = Ledger::open(dir, opts).expect("open ledger");
    fill(&ledger, 0, size, 4096);
    assert!(ledger.checkpoint().expect("sign a checkpoint"));
    ledger
}

/// The checkpoint body (origin, size, root) of Cairn's latest signed note, parsed by `tlog_tiles`.
fn checkpoint_of(ledger: &Ledger) -> Checkpoint {
    let note = ledger.latest_checkpoint().expect("a signed checkpoint");
    let body_end = note.find("\n\n").expect("a signed note has a blank line") + 1;
    Checkpoint::from_bytes(&note.as_bytes()[..body_end]).expect("tlog_tiles parses the checkpoint")
}

#[test]
fn tlog_tiles_client_verifies_cairn_tiles_and_inclusion() {
    // Sizes around tile edges, and one past 256² so level-1 tiles are full and level 2 exists.
    for size in [1u64, 255, 256, 257, 600, 65_537] {
        let dir = tempfile::tempdir().unwrap();
        let ledger = ledger_of(dir.path(), size);
        let checkpoint = checkpoint_of(&ledger);
        assert_eq!(checkpoint.origin(), "cairn/interop");
        assert_eq!(checkpoint.size(), size);
        let root = *checkpoint.hash();

        let tiles = CairnTiles {
            ledger: &ledger,
            tamper: None,
            fetched: Cell::new(0),
        };
        let reader = TileHashReader::new(size, root, &tiles);
        // The client recomputes the root from the tiles it fetched: it must be the signed one.
        assert_eq!(
            tlog::tree_hash(size, &reader).expect("tree hash from Cairn's tiles"),
            root,
            "size {size}"
        );
        assert!(tiles.fetched.get() > 0);
        let picks = [0, size / 3, size / 2, size - 1];
        for n in picks {
            let proof = tlog::prove_record(size, n, &reader)
                .unwrap_or_else(|e| panic!("size {size}: prove entry {n}: {e}"));
            let leaf = tlog::record_hash(&entry(n));
            tlog::check_record(&proof, size, root, n, leaf)
                .unwrap_or_else(|e| panic!("size {size}: entry {n} not proven: {e}"));
            // The proof does not fit another entry.
            let other = tlog::record_hash(&entry(n + 1));
            assert!(tlog::check_record(&proof, size, root, n, other).is_err());
        }
    }
}

#[test]
fn tlog_tiles_client_rejects_a_tampered_tile() {
    let size = 600;
    let dir = tempfile::tempdir().unwrap();
    let ledger = ledger_of(dir.path(), size);
    let root = *checkpoint_of(&ledger).hash();
    for path in ["tile/0/001", "tile/0/002.p/88", "tile/1/000.p/2"] {
        let tiles = CairnTiles {
            ledger: &ledger,
            tamper: Some(path),
            fetched: Cell::new(0),
        };
        let reader = TileHashReader::new(size, root, &tiles);
        let proven = tlog::prove_record(size, 300, &reader).and_then(|proof| {
            tlog::check_record(&proof, size, root, 300, tlog::record_hash(&entry(300)))
        });
        assert!(proven.is_err(), "a flipped bit in {path} went unnoticed");
    }
    // And a root that is not the signed one proves nothing.
    let tiles = CairnTiles {
        ledger: &ledger,
        tamper: None,
        fetched: Cell::new(0),
    };
    let wrong = Hash([7; 32]);
    let reader = TileHashReader::new(size, wrong, &tiles);
    assert!(tlog::tree_hash(size, &reader).is_err());
}
