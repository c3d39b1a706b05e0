//! Sponsored transactions in words and numbers (docs/api.md "Sponsored transactions"): how much
//! gas a forward request asks for, and what the app says of who paid. The sending is
//! `web::relay`'s.

use alloy_primitives::Address;

use crate::format::short_address;

/// Gas a forward request forwards to its call: the node's estimate of the call sent directly, with
/// a quarter more and 20,000 besides for what the forwarded call adds (its 20 more bytes of
/// calldata and the core's reading of the sender from them), at most the relayer's bound.
pub fn forwarded_gas(estimate: u64, max_gas: u64) -> u64 {
    estimate
        .saturating_add(estimate / 4)
        .saturating_add(20_000)
        .min(max_gas)
}

/// Gas enough for any one of the core's sponsored calls (the relayer forwards at most 2,000,000
/// by default): a wallet holding this much at the gas price pays its own way without the app
/// asking the node for an estimate.
pub const AMPLE_GAS: u64 = 3_000_000;

/// How long a signed forward request stays valid, in seconds of the chain's time: long enough for
/// the relayer to send it, short enough that one left unsent is soon of no use.
pub const DEADLINE_SECS: u64 = 600;

/// What the app says after a transaction the relayer paid for; `window_secs` is the period its
/// quota counts over.
pub fn paid_by(
    function: &str,
    relayer: Address,
    used: u32,
    quota: u32,
    window_secs: u64,
) -> String {
    format!(
        "medledger's relayer ({}) paid the network fee of your last transaction ({function}), since your wallet holds too little ether for it; you paid nothing. It has now paid for {used} of the {quota} transactions it pays for you in {}.",
        short_address(&relayer),
        period(window_secs)
    )
}

/// A quota's period in words.
fn period(secs: u64) -> String {
    match secs {
        86_400 => "a day".to_string(),
        s if s % 86_400 == 0 => format!("{} days", s / 86_400),
        s if s % 3_600 == 0 => format!("{} hours", s / 3_600),
        s => format!("{s} seconds"),
    }
}

/// What the app says when the relayer answered `code` (an escrow error code, `network` when it
/// could not be reached) with `reason` in words. A relayed transaction that failed, or an answer
/// that never came, may have been sent: the words say so, and not to send it again blindly.
pub fn refused(code: &str, reason: &str) -> String {
    match code {
        "relay-failed" | "network" => format!(
            "Your transaction was handed to medledger's relayer, and it may have been sent: {reason} Check the page (refresh it) before trying again."
        ),
        _ => format!(
            "Your wallet holds too little ether for this transaction, and medledger's relayer did not send it for you: {reason}"
        ),
    }
}

/// Why neither the wallet nor the relayer can pay: the relayer is off, or this account used its
/// quota (`used` of `quota`).
pub fn nobody_pays(available: bool, used: u32, quota: u32) -> String {
    if available {
        format!(
            "Your wallet holds too little ether for this transaction, and medledger's relayer has already paid for {used} of the {quota} transactions it pays for you in its period. Try again later, or add a little ether to your wallet."
        )
    } else {
        "Your wallet holds too little ether for this transaction, and this medledger does not pay network fees for its users. Add a little ether to your wallet.".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gas_has_a_margin_and_a_bound() {
        assert_eq!(forwarded_gas(100_000, 2_000_000), 145_000);
        assert_eq!(forwarded_gas(1_900_000, 2_000_000), 2_000_000);
        assert_eq!(forwarded_gas(u64::MAX, 2_000_000), 2_000_000);
    }

    #[test]
    fn a_relay_that_may_have_been_sent_is_not_called_unsent() {
        let failed = refused("relay-failed", "it reverted.");
        assert!(failed.contains("may have been sent"));
        assert!(!failed.contains("did not send"));
        assert!(refused("network", "no answer.").contains("may have been sent"));
        assert!(refused("relay-quota", "quota.").contains("did not send it"));
        assert!(nobody_pays(true, 50, 50).contains("50 of the 50"));
        assert!(nobody_pays(false, 0, 0).contains("does not pay"));
    }

    #[test]
    fn the_notice_names_the_payer_and_the_quota() {
        let relayer: Address = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
            .parse()
            .expect("address");
        let text = paid_by("grant", relayer, 2, 50, 86_400);
        assert!(text.contains("grant"));
        assert!(text.contains(&short_address(&relayer)));
        assert!(text.contains("2 of the 50 transactions it pays for you in a day"));
        assert!(paid_by("grant", relayer, 1, 5, 7_200).ends_with("in 2 hours."));
    }
}
