//! `eth_getLogs` over a long block range through a provider that may cap one query's range or
//! result count (public RPC providers refuse ranges past some thousands of blocks, or answers past
//! some thousands of logs). The whole range is asked first, so a node without a cap (Ganache,
//! a full node) answers in one query; a range the provider refuses is asked again as two halves,
//! earlier half first, so the logs still come in chain order. The requests are `web::session`'s.

/// The block ranges still to ask, in chain order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRanges {
    /// Ranges to ask, the next one last (a stack).
    pending: Vec<(u64, u64)>,
    /// Queries planned so far.
    asked: u32,
}

/// Most queries one scan plans: a cap of 1,000 blocks a query over four million blocks, or a
/// refused range split down to single blocks ten levels deep in many places; past it the refusal
/// is passed on rather than asking forever.
pub const MAX_QUERIES: u32 = 8_192;

impl LogRanges {
    /// The blocks `from..=to` (none when `from > to`).
    pub fn new(from: u64, to: u64) -> Self {
        LogRanges {
            pending: if from <= to {
                vec![(from, to)]
            } else {
                Vec::new()
            },
            asked: 0,
        }
    }

    /// The next range to ask, in chain order.
    pub fn next_range(&mut self) -> Option<(u64, u64)> {
        let next = self.pending.pop()?;
        self.asked = self.asked.saturating_add(1);
        Some(next)
    }

    /// The provider refused `range` (from [`LogRanges::next_range`]): plans its two halves and
    /// answers true, or false when it cannot be split (one block) or the scan would pass
    /// [`MAX_QUERIES`]: then the refusal is the scan's.
    pub fn refused(&mut self, (from, to): (u64, u64)) -> bool {
        let planned = self.asked as usize + self.pending.len() + 2;
        if from >= to || planned > MAX_QUERIES as usize {
            return false;
        }
        let middle = from + (to - from) / 2;
        self.pending.push((middle + 1, to));
        self.pending.push((from, middle));
        true
    }

    /// Whether a JSON-RPC error is a node's refusal of the query's size (too wide a range, too
    /// many results), which a smaller range cures: a node's code (-32602, or -32000..=-32099, as
    /// -32005 "limit exceeded") with a message about the range or the results. Not the wallet's
    /// own errors (4001 rejected, 4100 unauthorised, 4900 disconnected…), a local failure (0), a
    /// rate limit (also -32005 at some providers) or another server error ("header not found"):
    /// splitting would only multiply those.
    pub fn is_range_refusal(code: i64, message: &str) -> bool {
        let m = message.to_ascii_lowercase();
        let from_the_node = code == -32602 || (-32099..=-32000).contains(&code);
        let about_size = [
            "range",
            "too many",
            "more than",
            "exceed",
            "too large",
            "results",
        ]
        .iter()
        .any(|w| m.contains(w));
        let rate_limited = m.contains("rate") || m.contains("too many requests");
        from_the_node && about_size && !rate_limited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a scan of `from..=to` against a provider that refuses ranges wider than `cap` blocks;
    /// returns the ranges it answered, in order, or None when the scan gave up.
    fn scan(from: u64, to: u64, cap: u64) -> Option<Vec<(u64, u64)>> {
        let mut plan = LogRanges::new(from, to);
        let mut answered = Vec::new();
        while let Some(range) = plan.next_range() {
            if range.1 - range.0 < cap {
                answered.push(range);
            } else if !plan.refused(range) {
                return None;
            }
        }
        Some(answered)
    }

    #[test]
    fn an_uncapped_node_answers_in_one_query() {
        assert_eq!(scan(7, 1_000_000, u64::MAX), Some(vec![(7, 1_000_000)]));
        assert_eq!(scan(8, 7, 1), Some(vec![]), "nothing after the head");
    }

    #[test]
    fn a_capped_range_is_covered_exactly_once_in_chain_order() {
        for (from, to, cap) in [
            (0, 99_999, 10_000),
            (5, 12_345, 1_000),
            (3, 3, 1),
            (0, 17, 1),
        ] {
            let ranges = scan(from, to, cap).expect("covered");
            assert_eq!(ranges.first().map(|r| r.0), Some(from));
            assert_eq!(ranges.last().map(|r| r.1), Some(to));
            for pair in ranges.windows(2) {
                assert_eq!(
                    pair[1].0,
                    pair[0].1 + 1,
                    "contiguous and in order: {pair:?}"
                );
            }
            assert!(ranges.iter().all(|r| r.1 - r.0 < cap));
        }
    }

    #[test]
    fn a_scan_gives_up_on_one_refused_block_and_past_its_query_budget() {
        let mut plan = LogRanges::new(4, 4);
        let one = plan.next_range().expect("a range");
        assert!(!plan.refused(one), "one block cannot be split");
        // A cap of one block over a million blocks would take a million queries.
        assert_eq!(scan(0, 999_999, 1), None);
    }

    #[test]
    fn only_the_nodes_refusals_of_a_query_s_size_split_a_range() {
        // What capped providers answer (Infura, Alchemy, QuickNode, geth's own limit).
        for (code, message) in [
            (-32005, "query returned more than 10000 results"),
            (-32602, "Log response size exceeded. You can make eth_getLogs requests with up to a 2K block range"),
            (-32000, "block range too large"),
            (-32005, "query exceeds max block range 16"),
            (-32099, "exceed maximum block range: 5000"),
        ] {
            assert!(LogRanges::is_range_refusal(code, message), "{code} {message}");
        }
        for (code, message) in [
            (0, "block range too large"),
            (4001, "User rejected the request."),
            (4900, "disconnected"),
            (-32601, "method not found"),
            (-32005, "daily request count exceeded, request rate limited"),
            (-32005, "Too Many Requests"),
            (-32000, "header not found"),
        ] {
            assert!(
                !LogRanges::is_range_refusal(code, message),
                "{code} {message}"
            );
        }
    }
}
