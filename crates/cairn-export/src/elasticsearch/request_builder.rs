//! Groups encoded documents into `_bulk` request bodies bounded by bytes.
//!
//! The count bound is the runner's batch size; this adds the byte bound on the NDJSON actually
//! sent (before compression), so a batch of large spans becomes several requests. A document
//! larger than the bound is sent alone rather than never.

/// One `_bulk` request body and which batch items it carries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BulkRequest {
    /// NDJSON, every line newline-terminated.
    pub(crate) body: Vec<u8>,
    /// Positions in the batch of the documents in `body`, in order.
    pub(crate) positions: Vec<usize>,
}

/// Packs `(position, ndjson)` pairs into requests of at most `max_bytes` each.
pub(crate) fn build_requests(
    encoded: impl IntoIterator<Item = (usize, Vec<u8>)>,
    max_bytes: usize,
) -> Vec<BulkRequest> {
    let mut requests: Vec<BulkRequest> = Vec::new();
    for (position, ndjson) in encoded {
        match requests.last_mut() {
            Some(last)
                if !last.positions.is_empty()
                    && last.body.len().saturating_add(ndjson.len()) <= max_bytes =>
            {
                last.body.extend_from_slice(&ndjson);
                last.positions.push(position);
            }
            _ => requests.push(BulkRequest {
                body: ndjson,
                positions: vec![position],
            }),
        }
    }
    requests
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_by_bytes_and_keeps_order() {
        let docs = (0..5).map(|i| (i, vec![b'x'; 40]));
        let requests = build_requests(docs, 100);
        let positions: Vec<Vec<usize>> = requests.iter().map(|r| r.positions.clone()).collect();
        assert_eq!(positions, vec![vec![0, 1], vec![2, 3], vec![4]]);
        assert!(requests.iter().all(|r| r.body.len() <= 100));
    }

    #[test]
    fn an_oversized_document_goes_alone() {
        let docs = vec![
            (0, vec![b'a'; 10]),
            (1, vec![b'b'; 500]),
            (2, vec![b'c'; 10]),
        ];
        let requests = build_requests(docs, 100);
        let sizes: Vec<usize> = requests.iter().map(|r| r.body.len()).collect();
        assert_eq!(sizes, vec![10, 500, 10]);
    }
}
